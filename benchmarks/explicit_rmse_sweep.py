"""A validation sweep of SGD settings for the explicit MovieLens 100K folds (issue 22).

Usage::

    python benchmarks/explicit_rmse_sweep.py [path/to/ml-100k.zip]

Chooses factors, regularization, learning rate and epochs on a 10% entry
split of ``u1.base`` (never on a test fold), then prints the test RMSE of
that setting and of the defaults on each official fold u1..u5 and their
means.
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

GRID = {"factors": [100, 200], "regularization": [1.0, 1.5, 2.5],
        "learning_rate": [0.02, 0.01], "epochs": [50, 100]}


def folds_rmse(path, **params):
    scores = []
    for k in range(1, 6):
        train = read_ml100k_file(path, f"u{k}.base")
        test = read_ml100k_file(path, f"u{k}.test")
        scores.append(rmse(fastwmf.SGD(random_state=0, **params).fit(train), test))
    return scores


def main(path=DEFAULT_ZIP):
    fit_part, val = split_entries(read_ml100k_file(path, "u1.base"), 0.1, seed=0)
    results = []
    for values in itertools.product(*GRID.values()):
        setting = dict(zip(GRID, values))
        started = time.perf_counter()
        score = rmse(fastwmf.SGD(random_state=0, **setting).fit(fit_part), val)
        results.append((score, setting))
        print(f"validation rmse {score:.4f} {setting} {time.perf_counter() - started:.1f} s",
              flush=True)
    best = min(results, key=lambda r: r[0])[1]
    for name, params in (("chosen " + str(best), best), ("defaults", {})):
        scores = folds_rmse(path, **params)
        print(f"{name}: u1..u5 {np.round(scores, 4).tolist()} mean {np.mean(scores):.4f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
