"""BayesianMF on the explicit MovieLens 100K folds (issue 22, item 4).

Usage::

    python benchmarks/explicit_rmse_bayes.py [path/to/ml-100k.zip]

Chooses ``factors`` and ``samples`` on a 10% entry split of ``u1.base``
(never on a test fold; the same split as explicit_rmse_sweep.py), then
prints the test RMSE of the chosen setting, of the defaults and of SGD's
defaults on each official fold u1..u5, their means and the fit times.
"""

import itertools
import os
import sys
import time

import numpy as np

import fastwmf
from fastwmf.datasets import read_ml100k_file
from fastwmf.metrics import rmse
from fastwmf.model_selection import split_entries

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ZIP = os.path.join(HERE, "..", "..", "shared", "datasets", "ml-100k.zip")

GRID = {"factors": [16, 32, 64], "samples": [100, 200]}


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


if __name__ == "__main__":
    main(*sys.argv[1:])
