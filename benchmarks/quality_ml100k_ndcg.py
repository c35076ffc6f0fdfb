"""NDCG@10 on MovieLens 100K binarised: WALS tuned on validation vs baselines.

Protocol (issue 4): every rating is an interaction; a per-user random 20%
holdout is the test split; hyperparameters are chosen on a second per-user
20% holdout carved from the training part (never on test); NDCG@10 with
training items excluded.

The searches: the fixed WALS grid below (its wall time T), then
:func:`fastwmf.model_selection.search` on the same validation split with a
budget of 2 T and of ``LONG_BUDGET`` seconds, and implicit's ALS tuned by a
random search on the same split and the long budget (skipped without
implicit). The untuned rows fit each library's defaults at factors = 64.

Run: python benchmarks/quality_ml100k_ndcg.py [path/to/ml-100k.zip] [LONG_BUDGET]
"""

import itertools
import os
import sys
import time
from types import SimpleNamespace

import numpy as np

import fastwmf
from fastwmf.datasets import load_movielens
from fastwmf.metrics import evaluate
from fastwmf.model_selection import search, split_per_user

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


#: implicit's random search: factors, regularization, alpha and iterations.
IMPLICIT_FACTORS = [32, 64, 128, 256]


def implicit_ndcg(model, train, test):
    fitted = SimpleNamespace(user_factors_=np.asarray(model.user_factors),
                             item_factors_=np.asarray(model.item_factors), num_threads=0)
    return ndcg(fitted, train, test)


def implicit_search(fit_part, val, budget, seed=0):
    """Best (validation ndcg, settings) of implicit ALS by random search on ``budget`` s."""
    from implicit.als import AlternatingLeastSquares
    rng = np.random.default_rng(seed)
    started, best, trials = time.perf_counter(), None, 0
    while time.perf_counter() - started < budget:
        setting = dict(factors=int(rng.choice(IMPLICIT_FACTORS)),
                       regularization=float(np.exp(rng.uniform(np.log(1e-3), np.log(10.0)))),
                       alpha=float(np.exp(rng.uniform(np.log(0.1), np.log(100.0)))),
                       iterations=int(rng.integers(5, 31)))
        model = AlternatingLeastSquares(random_state=seed, **setting)
        model.fit(fit_part.astype(np.float32), show_progress=False)
        score = implicit_ndcg(model, fit_part, val)
        trials += 1
        if best is None or score > best[0]:
            best = (score, setting)
    return best[0], best[1], trials


def main(path=DEFAULT_ZIP, long_budget=60.0):
    long_budget = float(long_budget)
    data = load_movielens("ml-100k", path=path)
    X = data.matrix.copy()
    X.data[:] = 1.0
    train, test = split_per_user(X, test_fraction=0.2, seed=0)
    fit_part, val = split_per_user(train, test_fraction=0.2, seed=1)

    rows = []
    best = None
    grid_started = time.perf_counter()
    for values in itertools.product(*WALS_GRID.values()):
        setting = dict(zip(WALS_GRID, values))
        score = ndcg(fit_wals(fit_part, **setting), fit_part, val)
        rows.append((setting, score))
        if best is None or score > best[1]:
            best = (setting, score)
        print(f"  validation ndcg@10 {score:.4f}  {setting}", flush=True)

    grid_seconds = time.perf_counter() - grid_started
    table = []
    started = time.perf_counter()
    wals = fit_wals(train, **best[0])
    table.append((f"WALS {best[0]}", best[1], ndcg(wals, train, test),
                  time.perf_counter() - started))
    table[-1] = (f"WALS grid {best[0]} (grid {grid_seconds:.1f} s)",) + table[-1][1:]
    for budget in (2 * grid_seconds, long_budget):
        result = search(fit_part, validation=val, budget=budget, seed=0, refit=False)
        params = {k: (round(v, 4) if isinstance(v, float) else v)
                  for k, v in result.best_params.items()}
        started = time.perf_counter()
        model = result.refit(train)
        table.append((f"WALS search {budget:.1f} s ({len(result.table)} trials) {params}",
                      result.best_score, ndcg(model, train, test),
                      time.perf_counter() - started))
    try:
        import implicit  # noqa: F401
    except ImportError:
        print("implicit is not installed: its rows are skipped")
    else:
        from implicit.als import AlternatingLeastSquares
        score, setting, trials = implicit_search(fit_part, val, long_budget)
        started = time.perf_counter()
        model = AlternatingLeastSquares(random_state=0, **setting)
        model.fit(train.astype(np.float32), show_progress=False)
        table.append((f"implicit search {long_budget:.0f} s ({trials} trials) {setting}", score,
                      implicit_ndcg(model, train, test), time.perf_counter() - started))
        started = time.perf_counter()
        model = AlternatingLeastSquares(factors=64, random_state=0)
        model.fit(train.astype(np.float32), show_progress=False)
        table.append(("implicit untuned (factors=64)", float("nan"),
                      implicit_ndcg(model, train, test), time.perf_counter() - started))
    started = time.perf_counter()
    untuned = fastwmf.WALS(factors=64, random_state=0).fit(train)
    table.append(("WALS untuned (factors=64)", float("nan"), ndcg(untuned, train, test),
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
