"""Approximate top-k through faiss (the ``ann`` extra): recall, filters, safety."""

import sys

import numpy as np
import pytest
import scipy.sparse as sp

import fastwmf
from fastwmf.models._ann import recall_at

from .conftest import random_interactions


@pytest.fixture(scope="module")
def indexed():
    pytest.importorskip("faiss", reason="faiss is not installed (pip install 'fastwmf[ann]')")
    X = random_interactions(400, 4000, 0.01, seed=0)
    model = fastwmf.WALS(factors=8, iterations=4, random_state=0).fit(X)
    return X, model.build_index(recall=0.95, random_state=0)


def test_recall_and_exact_scores(indexed):
    X, model = indexed
    users = np.arange(400)
    approx, scores = model.recommend(users, k=10)
    exact, _ = model.recommend(users, k=10, approximate=False)
    assert recall_at(approx, exact) >= 0.9
    dense = model.user_factors_.astype(np.float64) @ model.item_factors_.T.astype(np.float64)
    np.testing.assert_allclose(scores, np.take_along_axis(dense, approx, axis=1), rtol=1e-6)
    assert np.all(np.diff(scores, axis=1) <= 0)
    for u in users:
        assert not set(X[u].indices.tolist()) & set(approx[u].tolist())
    assert model.index_["recommend"].recall >= 0.95 or \
        model.index_["recommend"].nprobe >= model.index_["recommend"].nlist // 2


def test_filters_and_unfillable_rows(indexed):
    _, model = indexed
    banned = list(range(0, 4000, 3))
    ids, _ = model.recommend([1, 2], k=5, filter_items=banned)
    assert not set(banned) & set(ids.ravel().tolist())
    whitelist = [5, 17, 3999]
    ids, _ = model.recommend([1, 2], k=5, candidates=whitelist, exclude_seen=False)
    exact, _ = model.recommend([1, 2], k=5, candidates=whitelist, exclude_seen=False,
                               approximate=False)
    np.testing.assert_array_equal(ids, exact)


def test_similar_items_from_the_index(indexed):
    _, model = indexed
    items = np.arange(0, 4000, 40)
    approx, scores = model.similar_items(items, k=10)
    exact, _ = model.similar_items(items, k=10, approximate=False)
    assert recall_at(approx, exact) >= 0.85
    assert not np.any(approx == items[:, None])


def test_index_safety(indexed):
    X, model = indexed
    plain = fastwmf.WALS(factors=8, iterations=2, random_state=1).fit(X)
    with pytest.raises(ValueError, match="build_index"):
        plain.recommend(0, approximate=True)
    plain.index_ = model.index_  # another model's index
    with pytest.raises(ValueError, match="other item factors"):
        plain.recommend(0)
    with pytest.raises(TypeError, match="approximate"):
        model.recommend(0, approximate="yes")
    with pytest.raises(ValueError, match="method"):
        model.build_index("annoy")
    with pytest.raises(ValueError, match="recall"):
        model.build_index(recall=0.0)
    grown = fastwmf.WALS(factors=8, iterations=2, random_state=1).fit(X).build_index()
    grown.partial_fit_items(sp.random(400, 1, density=0.1, random_state=0, format="csr"))
    assert getattr(grown, "index_", None) is None  # dropped with the old items
    grown.recommend(0)


def test_a_missing_faiss_says_how_to_install(monkeypatch):
    X = random_interactions(30, 20, 0.3, seed=0)
    model = fastwmf.WALS(factors=2, iterations=2, random_state=0).fit(X)
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match=r"fastwmf\[ann\]"):
        model.build_index()
