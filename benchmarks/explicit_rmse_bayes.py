"""BayesianMF on the explicit MovieLens 100K folds (issue 22, item 4).

Usage::

    python benchmarks/explicit_rmse_bayes.py [path/to/ml-100k.zip]

Chooses ``factors`` and ``samples`` on a 10% entry split of ``u1.base``
(never on a test fold; the same split as explicit_rmse_sweep.py), then
prints the test RMSE of the chosen setting, of the defaults and of SGD's
defaults on each official fold u1..u5, their means and the fit times; then
both defaults on planted-rating matrices of other shapes and seeds (20% of
the entries held out), to check that the choice carries over.
"""

import itertools
import os
import sys
import time

import numpy as np

import fastwmf
from fastwmf.datasets import make_planted_ratings, read_ml100k_file
from fastwmf.metrics import rmse
from fastwmf.model_selection import split_entries

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ZIP = os.path.join(HERE, "..", "..", "shared", "datasets", "ml-100k.zip")

GRID = {"factors": [16, 32, 64], "samples": [100, 200]}

#: (users, items, density, rank, noise, seed) of the planted-rating checks.
SYNTHETIC = [(3000, 1500, 0.03, 8, 0.5, 21), (3000, 1500, 0.03, 8, 0.5, 22),
             (10000, 3000, 0.01, 16, 0.8, 23), (2000, 2000, 0.005, 4, 0.3, 24)]


def folds_rmse(path, make):
    scores, seconds = [], []
    for k in range(1, 6):
        train = read_ml100k_file(path, f"u{k}.base")
        test = read_ml100k_file(path, f"u{k}.test")
        started = time.perf_counter()
        model = make().fit(train)
        seconds.append(time.perf_counter() - started)
        scores.append(rmse(model, test))
    return scores, seconds


def main(path=DEFAULT_ZIP):
    fit_part, val = split_entries(read_ml100k_file(path, "u1.base"), 0.1, seed=0)
    fastwmf.BayesianMF(factors=4, samples=2, burn_in=1).fit(fit_part)  # compile
    results = []
    for values in itertools.product(*GRID.values()):
        setting = dict(zip(GRID, values))
        started = time.perf_counter()
        score = rmse(fastwmf.BayesianMF(random_state=0, **setting).fit(fit_part), val)
        results.append((score, setting))
        print(f"validation rmse {score:.4f} {setting} {time.perf_counter() - started:.1f} s",
              flush=True)
    best = min(results, key=lambda r: r[0])[1]
    rows = (("BayesianMF chosen " + str(best), lambda: fastwmf.BayesianMF(random_state=0, **best)),
            ("BayesianMF defaults", lambda: fastwmf.BayesianMF(random_state=0)),
            ("SGD defaults", lambda: fastwmf.SGD(random_state=0)))
    print("\n| model | u1 | u2 | u3 | u4 | u5 | mean | fit s (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, make in rows:
        scores, seconds = folds_rmse(path, make)
        cells = " | ".join(f"{s:.4f}" for s in scores)
        print(f"| {name} | {cells} | **{np.mean(scores):.4f}** | {np.median(seconds):.1f} |",
              flush=True)
    print("\n| planted ratings (users, items, density, rank, noise, seed) | entries "
          "| mean-rating RMSE | SGD() | BayesianMF() |")
    print("|---|---|---|---|---|")
    for users, items, density, rank, noise, seed in SYNTHETIC:
        X = make_planted_ratings(users, items, rank=rank, density=density, noise=noise,
                                 seed=seed)
        train, test = split_entries(X, 0.2, seed=0)
        mean = np.sqrt(np.mean((test.data - train.data.mean()) ** 2))
        cells = [f"{rmse(cls(random_state=0).fit(train), test):.4f}"
                 for cls in (fastwmf.SGD, fastwmf.BayesianMF)]
        print(f"| {users} x {items}, {density}, {rank}, {noise}, {seed} | {X.nnz} "
              f"| {mean:.4f} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
