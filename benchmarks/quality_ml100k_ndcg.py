"""NDCG@10 on MovieLens 100K binarised: WALS tuned on validation vs baselines.

Protocol (issue 4): every rating is an interaction; a per-user random 20%
holdout is the test split; hyperparameters are chosen on a second per-user
20% holdout carved from the training part (never on test); NDCG@10 with
training items excluded.

Run: python benchmarks/quality_ml100k_ndcg.py [path/to/ml-100k.zip]
"""

import itertools
import os
import sys
import time

import fastwmf
from fastwmf.datasets import load_movielens
from fastwmf.metrics import evaluate
from fastwmf.model_selection import split_per_user

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ZIP = os.path.join(HERE, "..", "..", "shared", "datasets", "ml-100k.zip")

#: The WALS search: frequency-scaled regularization (nu = 1) and per-user
#: unobserved weights growing with activity (exponent), w0 and lambda.
WALS_GRID = {"w0": [0.2, 0.3, 0.5], "regularization": [0.01, 0.015, 0.02],
             "activity": [0.0, 0.25, 0.5]}
WALS_FIXED = {"factors": 64, "nu": 1.0, "iterations": 15, "random_state": 0}
SVD_FACTORS = [8, 16, 32, 64]


def ndcg(model, train, test):
    return evaluate(model, train, test, k=10, metrics=["ndcg"])["ndcg@10"]


def fit_wals(train, w0, regularization, activity):
    model = fastwmf.WALS(w0=w0, regularization=regularization, **WALS_FIXED)
    return model.fit(train, user_weights=fastwmf.activity_weights(train, activity))


def main(path=DEFAULT_ZIP):
    data = load_movielens("ml-100k", path=path)
    X = data.matrix.copy()
    X.data[:] = 1.0
    train, test = split_per_user(X, test_fraction=0.2, seed=0)
    fit_part, val = split_per_user(train, test_fraction=0.2, seed=1)

    rows = []
    best = None
    for values in itertools.product(*WALS_GRID.values()):
        setting = dict(zip(WALS_GRID, values))
        score = ndcg(fit_wals(fit_part, **setting), fit_part, val)
        rows.append((setting, score))
        if best is None or score > best[1]:
            best = (setting, score)
        print(f"  validation ndcg@10 {score:.4f}  {setting}", flush=True)

    table = []
    started = time.perf_counter()
    wals = fit_wals(train, **best[0])
    table.append((f"WALS {best[0]}", best[1], ndcg(wals, train, test),
                  time.perf_counter() - started))
    for cls, name in ((fastwmf.DenseSVD, "DenseSVD"), (fastwmf.TruncatedSVD, "TruncatedSVD")):
        extra = {"random_state": 0} if cls is fastwmf.TruncatedSVD else {}
        scores = {f: ndcg(cls(factors=f, **extra).fit(fit_part), fit_part, val)
                  for f in SVD_FACTORS}
        f = max(scores, key=scores.get)
        started = time.perf_counter()
        model = cls(factors=f, **extra).fit(train)
        table.append((f"{name} factors={f}", scores[f], ndcg(model, train, test),
                      time.perf_counter() - started))
    started = time.perf_counter()
    popularity = fastwmf.Popularity().fit(train)
    table.append(("Popularity", ndcg(popularity, fit_part, val), ndcg(popularity, train, test),
                  time.perf_counter() - started))

    print("\n| model (chosen on validation) | validation ndcg@10 | test ndcg@10 | fit s |")
    print("|---|---|---|---|")
    for name, val_score, test_score, seconds in table:
        print(f"| {name} | {val_score:.4f} | {test_score:.4f} | {seconds:.2f} |")
    return table


if __name__ == "__main__":
    main(*sys.argv[1:])
