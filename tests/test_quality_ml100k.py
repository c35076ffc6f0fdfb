"""Ranking quality on real data (MovieLens 100K; skipped where absent)."""

import os

import pytest

import fastwmf
from fastwmf.metrics import evaluate
from fastwmf.model_selection import split_per_user

ML100K = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "ml-100k.zip")

pytestmark = [pytest.mark.realdata,
              pytest.mark.skipif(not os.path.isfile(ML100K),
                                 reason="../shared/datasets/ml-100k.zip absent")]


def test_tuned_wals_ndcg_on_binarised_ml100k():
    # The setting benchmarks/quality_ml100k_ndcg.py selects on the validation split.
    X = fastwmf.datasets.load_movielens("ml-100k", path=ML100K).matrix.copy()
    X.data[:] = 1.0
    train, test = split_per_user(X, test_fraction=0.2, seed=0)
    model = fastwmf.WALS(factors=64, w0=0.3, regularization=0.02, nu=1.0, iterations=15,
                         random_state=0)
    model.fit(train, user_weights=fastwmf.activity_weights(train, 0.5))
    wals = evaluate(model, train, test, k=10, metrics=["ndcg"])["ndcg@10"]
    svd = evaluate(fastwmf.TruncatedSVD(factors=16, random_state=0).fit(train), train, test,
                   k=10, metrics=["ndcg"])["ndcg@10"]
    assert wals >= 0.455
    assert wals > svd + 0.01
