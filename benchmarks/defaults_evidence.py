"""Untuned defaults against each other and against implicit's (issue 22, item 3).

Usage::

    python benchmarks/defaults_evidence.py [path/to/ml-100k.zip]

Every model is fitted with its library's defaults at factors = 64 (fewer
where the data has fewer items) on a per-user 80% of binarised interactions
and scored by NDCG@10 on the other 20%, training items left out: MovieLens
100K (when the archive is found) and two synthetic generators of
:mod:`fastwmf.datasets` at two seeds each (planted low-rank ratings and
power-law counts). "previous" is WALS(w0=0.1, regularization=0.1, nu=0), the
defaults before this change.
"""

import os
import sys
from types import SimpleNamespace

import numpy as np

import fastwmf
from fastwmf.datasets import load_movielens, make_implicit_interactions, make_planted_ratings
from fastwmf.metrics import evaluate
from fastwmf.model_selection import split_per_user

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ZIP = os.path.join(HERE, "..", "..", "shared", "datasets", "ml-100k.zip")


def datasets(path):
    if os.path.isfile(path):
        yield "ml-100k", load_movielens("ml-100k", path=path).matrix
    for seed in (11, 12):
        yield f"planted seed {seed}", make_planted_ratings(3_000, 1_500, rank=10,
                                                           density=0.02, seed=seed)
        yield f"power-law seed {seed}", make_implicit_interactions(20_000, 5_000, 300_000,
                                                                   seed=seed)


def ndcg(model, train, test):
    return evaluate(model, train, test, k=10, metrics=["ndcg"])["ndcg@10"]


def main(path=DEFAULT_ZIP):
    try:
        from implicit.als import AlternatingLeastSquares
    except ImportError:
        AlternatingLeastSquares = None
    print("| data | WALS() | previous defaults | implicit ALS() |")
    print("|---|---|---|---|")
    for name, X in datasets(path):
        X = X.tocsr(copy=True)
        X.data[:] = 1.0
        train, test = split_per_user(X, test_fraction=0.2, seed=0)
        d = min(64, min(X.shape) - 1)
        new = ndcg(fastwmf.WALS(factors=d, random_state=0).fit(train), train, test)
        old = ndcg(fastwmf.WALS(factors=d, w0=0.1, regularization=0.1, nu=0.0,
                                random_state=0).fit(train), train, test)
        peer = float("nan")
        if AlternatingLeastSquares is not None:
            model = AlternatingLeastSquares(factors=d, random_state=0)
            model.fit(train.astype(np.float32), show_progress=False)
            peer = ndcg(SimpleNamespace(user_factors_=np.asarray(model.user_factors),
                                        item_factors_=np.asarray(model.item_factors),
                                        num_threads=0), train, test)
        print(f"| {name} | {new:.4f} | {old:.4f} | {peer:.4f} |", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
