"""Top-k recommendation and similarity against brute-force numpy."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastwmf
from fastwmf._threading import row_chunks

from . import naive
from .conftest import random_interactions


@pytest.fixture(scope="module")
def fitted():
    X = random_interactions(40, 30, 0.2, seed=3)
    return X, fastwmf.WALS(factors=4, iterations=3, dtype="float64", random_state=0).fit(X)


def test_recommend_matches_brute_force(fitted):
    X, model = fitted
    users = np.arange(X.shape[0])
    ids, scores = model.recommend(users, k=7, exclude=X)
    dense = model.user_factors_ @ model.item_factors_.T
    for user in users:
        expected = naive.topk(dense[user], 7, set(X[user].indices))
        np.testing.assert_array_equal(ids[user], expected)
        np.testing.assert_allclose(scores[user], dense[user, expected], rtol=1e-12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_recommend_never_returns_an_excluded_item(fitted, data):
    X, model = fitted
    n_users, n_items = model.n_users, model.n_items
    users = data.draw(st.lists(st.integers(0, n_users - 1), min_size=1, max_size=8))
    k = data.draw(st.integers(1, n_items))
    density = data.draw(st.floats(0.0, 1.0))
    seed = data.draw(st.integers(0, 1000))
    exclude = sp.random(len(users), n_items, density=density, random_state=seed, format="csr")
    filtered = data.draw(st.lists(st.integers(0, n_items - 1), max_size=10))
    ids, scores = model.recommend(users, k=k, exclude=exclude, filter_items=filtered,
                                  exclude_seen=False)
    for row in range(len(users)):
        banned = set(exclude[row].indices) | set(filtered)
        returned = ids[row][ids[row] >= 0]
        assert not banned & set(returned.tolist())
        assert len(set(returned.tolist())) == len(returned)
        eligible = n_items - len(banned)
        assert len(returned) == min(k, eligible)
        assert np.all(ids[row][len(returned):] == -1)
        assert np.all(np.isneginf(scores[row][len(returned):]))
        assert np.all(np.diff(scores[row][:len(returned)]) <= 0)


def test_scalar_user_gives_one_row(fitted):
    X, model = fitted
    ids, scores = model.recommend(2, k=5)
    assert ids.shape == (5,) and scores.shape == (5,)
    batch_ids, _ = model.recommend([2], k=5)
    np.testing.assert_array_equal(ids, batch_ids[0])


def test_ties_prefer_lower_item_ids():
    model = fastwmf.DenseSVD(factors=2)
    model.user_factors_ = np.ones((3, 2))
    model.item_factors_ = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [2.0, -1.0], [0.0, 0.5]])
    ids, scores = model.recommend(0, k=4, exclude_seen=False)  # items 0-3 tie at 1.0
    np.testing.assert_array_equal(ids, [0, 1, 2, 3])
    ids, _ = model.recommend(0, k=2, filter_items=[0], exclude_seen=False)
    np.testing.assert_array_equal(ids, [1, 2])


def test_similar_items_matches_cosine_brute_force(fitted):
    _, model = fitted
    V = model.item_factors_
    unit = V / np.linalg.norm(V, axis=1, keepdims=True)
    cosine = unit @ unit.T
    ids, scores = model.similar_items([0, 5, 9], k=4)
    for row, item in enumerate([0, 5, 9]):
        expected = naive.topk(cosine[item], 4, {item})
        np.testing.assert_array_equal(ids[row], expected)
        np.testing.assert_allclose(scores[row], cosine[item, expected], rtol=1e-10)


def test_predict_matches_dot_products(fitted):
    _, model = fitted
    users = np.array([0, 3, 3, 7])
    items = np.array([1, 1, 2, 29])
    expected = np.einsum("ij,ij->i", model.user_factors_[users], model.item_factors_[items])
    np.testing.assert_allclose(model.predict(users, items), expected)
    assert model.predict(3, 2) == pytest.approx(expected[2])
    np.testing.assert_allclose(model.predict(3, [1, 2]), expected[1:3])


def test_recommend_new_excludes_seen_items(fitted):
    X, model = fitted
    rows = X[:5]
    ids, _ = model.recommend_new(rows, k=5)
    for r in range(5):
        assert not set(rows[r].indices) & set(ids[r].tolist())
    dense = model.fold_in(rows) @ model.item_factors_.T
    for r in range(5):
        np.testing.assert_array_equal(ids[r], naive.topk(dense[r], 5, set(rows[r].indices)))


@pytest.mark.parametrize("row_cost", [0.0, 1.0, 50.0])
def test_row_chunks_cover_rows_in_order(row_cost):
    counts = np.random.default_rng(0).integers(0, 100, size=1000)
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    bounds = row_chunks(indptr, row_cost, max_chunks=16, min_work=0)
    assert bounds[0] == 0 and bounds[-1] == 1000
    assert np.all(np.diff(bounds) > 0)
    work = np.add.reduceat(counts + row_cost, bounds[:-1])
    assert work.max() <= 1.5 * work.mean() + 100 + row_cost
    assert len(row_chunks(np.zeros(1, dtype=np.int64))) == 1
    # small data: no chunk carries less than min_work, however many rows
    few = row_chunks(indptr, row_cost, max_chunks=16, min_work=work.sum() / 3.5)
    assert len(few) - 1 == 3
    assert len(row_chunks(indptr, row_cost, max_chunks=16, min_work=1e12)) - 1 == 1


def test_popularity_recommends_most_interacted_unseen_items():
    X = random_interactions(30, 12, 0.4, seed=8)
    model = fastwmf.Popularity().fit(X)
    counts = np.bincount(X.indices, minlength=12)
    ids, scores = model.recommend([0, 1], k=3, exclude=X[[0, 1]])
    for row, user in enumerate([0, 1]):
        expected = naive.topk(counts.astype(float), 3, set(X[user].indices))
        np.testing.assert_array_equal(ids[row], expected)
        np.testing.assert_array_equal(scores[row], counts[expected])
    new_ids, _ = model.recommend_new(X[:2], k=3)
    np.testing.assert_array_equal(new_ids, ids)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_topk_kernel_across_query_blocks_and_candidate_tiles(dtype):
    from fastwmf.kernels.topk import CANDIDATE_BLOCK, QUERY_BLOCK, topk_inner_product

    rng = np.random.default_rng(0)
    n_queries, n_candidates, k = QUERY_BLOCK + 9, 2 * CANDIDATE_BLOCK + 300, 7
    Q = rng.standard_normal((n_queries, 3)).astype(dtype)
    C = rng.standard_normal((n_candidates, 3)).astype(dtype)
    excl = sp.random(n_queries, n_candidates, density=0.01, format="csr", random_state=1)
    excl.sort_indices()
    allowed = rng.random(n_candidates) > 0.1
    ids = np.empty((n_queries, k), dtype=np.int64)
    scores = np.empty((n_queries, k))
    topk_inner_product(Q, C, excl.indptr.astype(np.int64), excl.indices.astype(np.int32),
                       allowed, k, ids, scores)
    dense = Q.astype(np.float64) @ C.astype(np.float64).T
    for r in range(n_queries):
        banned = set(excl[r].indices.tolist()) | set(np.flatnonzero(~allowed).tolist())
        expected = naive.topk(dense[r], k, banned)
        # float32 products may order near-ties (1e-7 relative) differently
        if dtype == np.float64:
            np.testing.assert_array_equal(ids[r], expected)
        else:
            assert len(set(ids[r].tolist()) & set(expected)) >= k - 1
        np.testing.assert_allclose(scores[r], dense[r, ids[r]], rtol=1e-12)
        assert np.all(np.diff(scores[r]) <= 0)
