"""BayesianMF and SGD against Surprise on the explicit MovieLens 100K folds.

Usage::

    python benchmarks/explicit_rmse_surprise.py [path/to/ml-100k.zip]

Every model at its defaults, as a new user would run it, on the official
folds u1..u5: fastwmf's ``BayesianMF()`` and ``SGD()``, Surprise's ``SVD()``
and ``SVDpp()`` (``pip install scikit-surprise``, part of the ``peers``
extra; without it their rows are skipped). Prints the test RMSE per fold,
the mean and the median fit seconds.
"""

import os
import sys
import time

import numpy as np

import fastwmf
from fastwmf.datasets import read_ml100k_file
from fastwmf.metrics import rmse

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ZIP = os.path.join(HERE, "..", "..", "shared", "datasets", "ml-100k.zip")


def surprise_fold(algorithm, train, test):
    """Fit a Surprise algorithm on ``train`` (CSR ratings); test RMSE and seconds."""
    import pandas as pd
    from surprise import Dataset, Reader
    coo = train.tocoo()
    frame = pd.DataFrame({"user": coo.row, "item": coo.col, "rating": coo.data})
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(1, 5))).build_full_trainset()
    started = time.perf_counter()
    algorithm.fit(trainset)
    seconds = time.perf_counter() - started
    rows, cols = test.nonzero()
    truth = np.asarray(test[rows, cols]).ravel()
    predicted = np.array([algorithm.predict(int(r), int(c)).est for r, c in zip(rows, cols)])
    return float(np.sqrt(np.mean((predicted - truth) ** 2))), seconds


def fastwmf_fold(make, train, test):
    started = time.perf_counter()
    model = make().fit(train)
    return rmse(model, test), time.perf_counter() - started


def main(path=DEFAULT_ZIP):
    folds = [(read_ml100k_file(path, f"u{k}.base"), read_ml100k_file(path, f"u{k}.test"))
             for k in range(1, 6)]
    rows = [("fastwmf BayesianMF()", lambda tr, te: fastwmf_fold(
                lambda: fastwmf.BayesianMF(random_state=0), tr, te)),
            ("fastwmf SGD()", lambda tr, te: fastwmf_fold(
                lambda: fastwmf.SGD(random_state=0), tr, te))]
    try:
        import surprise
    except ImportError:
        print("scikit-surprise is not installed: its rows are skipped")
    else:
        rows += [(f"Surprise {surprise.__version__} SVD()", lambda tr, te: surprise_fold(
                     surprise.SVD(random_state=0), tr, te)),
                 (f"Surprise {surprise.__version__} SVDpp()", lambda tr, te: surprise_fold(
                     surprise.SVDpp(random_state=0), tr, te))]
    fastwmf.BayesianMF(factors=2, samples=2, burn_in=1).fit(folds[0][0])  # compile
    fastwmf.SGD(factors=2, epochs=1).fit(folds[0][0])
    print("| model (defaults) | u1 | u2 | u3 | u4 | u5 | mean | fit s (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, run in rows:
        results = [run(train, test) for train, test in folds]
        scores = [r for r, _ in results]
        cells = " | ".join(f"{s:.4f}" for s in scores)
        print(f"| {name} | {cells} | **{np.mean(scores):.4f}** "
              f"| {np.median([s for _, s in results]):.1f} |", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
