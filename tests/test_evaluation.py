"""Splits (fastwmf.model_selection) and metrics (fastwmf.metrics) against brute-force
references."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastwmf
from fastwmf.metrics import METRICS, evaluate, mae, recall_at_k, rmse
from fastwmf.model_selection import (
    kfold_entries, leave_k_out, split_entries, split_per_user, split_temporal)
from fastwmf.models.base import NotFittedError

from . import naive_metrics as naive
from .conftest import random_interactions

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def fixed_model(U, V, num_threads=0):
    """A model whose scores are exactly ``U V^T``."""
    model = fastwmf.DenseSVD(factors=U.shape[1], num_threads=num_threads)
    model.user_factors_ = np.ascontiguousarray(U)
    model.item_factors_ = np.ascontiguousarray(V)
    return model


def triples(matrix):
    """Sorted (row, col, value) triples of the stored entries."""
    coo = sp.coo_matrix(matrix)
    return sorted(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()))


def assert_partition(X, train, test):
    assert isinstance(train, sp.csr_matrix) and isinstance(test, sp.csr_matrix)
    assert train.shape == X.shape and test.shape == X.shape
    assert sorted(triples(train) + triples(test)) == triples(sp.csr_matrix(X))
    train_cells = {(r, c) for r, c, _ in triples(train)}
    assert not train_cells & {(r, c) for r, c, _ in triples(test)}


def assert_same_metrics(got, expected):
    for key, value in expected.items():
        if key not in got:
            continue
        if isinstance(value, float) and np.isnan(value):
            assert np.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


# ------------------------------------------------------------------ metrics

def test_hand_computed_example():
    # one user, 6 items, scores 6..1 for items 0..5 (rank order = id order)
    U = np.array([[1.0]])
    V = np.array([[6.0], [5.0], [4.0], [3.0], [2.0], [1.0]])
    train = sp.csr_matrix(([1.0], ([0], [1])), shape=(1, 6))      # item 1 excluded
    test = sp.csr_matrix(([1.0, 1.0], ([0, 0], [2, 5])), shape=(1, 6))
    # ranking of candidates: 0, 2, 3, 4, 5; relevant at positions 2 and 5
    result = evaluate(fixed_model(U, V), train, test, k=[2, 3])
    assert result["precision@2"] == pytest.approx(1 / 2)
    assert result["recall@2"] == pytest.approx(1 / 2)
    assert result["ndcg@2"] == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    assert result["map@2"] == pytest.approx((1 / 2) / 2)
    assert result["hit_rate@2"] == 1.0
    assert result["precision@3"] == pytest.approx(1 / 3)
    assert result["coverage@3"] == pytest.approx(3 / 6)
    # pairs: item 2 beats 3 and 4 but not 0; item 5 beats none -> 2 of 6
    assert result["auc"] == pytest.approx(2 / 6)
    assert result["n_users"] == 1 and result["n_users_skipped"] == 0


def test_every_metric_matches_brute_force_on_a_fitted_model():
    X = random_interactions(60, 40, 0.2, seed=4)
    train, test = split_per_user(X, test_fraction=0.3, seed=1)
    model = fastwmf.WALS(factors=3, iterations=2, random_state=0).fit(train)
    ks = [1, 5, 10]
    result = evaluate(model, train, test, k=ks)
    expected = naive.evaluate(model.user_factors_, model.item_factors_, train, test, ks)
    assert list(result) == (
        [f"{name}@{k}" for name in ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")
         for k in ks] + ["auc", "rmse", "mae", "n_users", "n_users_skipped", "n_users_auc"])
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    assert recall_at_k(model, train, test, k=5) == result["recall@5"]


@SETTINGS
@given(data=st.data())
def test_metrics_match_brute_force_with_ties(data):
    """Small integer factors make ties common and every score exact."""
    m = data.draw(st.integers(1, 6), label="m")
    n = data.draw(st.integers(1, 8), label="n")
    d = data.draw(st.integers(1, 2), label="d")
    values = st.integers(-2, 2)
    U = np.array(data.draw(st.lists(values, min_size=m * d, max_size=m * d)), float).reshape(m, d)
    V = np.array(data.draw(st.lists(values, min_size=n * d, max_size=n * d)), float).reshape(n, d)
    cells = st.lists(st.booleans(), min_size=m * n, max_size=m * n)
    train = sp.csr_matrix(np.array(data.draw(cells), float).reshape(m, n))
    test_mask = np.array(data.draw(cells)).reshape(m, n)
    if not data.draw(st.booleans(), label="overlap"):
        test_mask &= train.toarray() == 0
    if not test_mask.any():
        test_mask[data.draw(st.integers(0, m - 1)), data.draw(st.integers(0, n - 1))] = True
    test = sp.csr_matrix(test_mask.astype(float) * 3.0)
    ks = sorted(set(data.draw(st.lists(st.integers(1, n + 3), min_size=1, max_size=3))))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    model = fixed_model(U.astype(dtype), V.astype(dtype))
    expected = naive.evaluate(U, V, train, test, ks)
    if expected["n_users"] == 0:
        with pytest.raises(ValueError, match="test"):
            evaluate(model, train, test, k=ks)
        return
    result = evaluate(model, train, test, k=ks, batch_size=data.draw(st.integers(1, 4)))
    assert_same_metrics(result, expected)
    assert set(result) == set(expected)


def test_duplicated_item_factors_tie_to_the_lower_id():
    U = np.array([[1.0, 1.0]])
    V = np.array([[1.0, 0.0], [0.0, 0.0], [0.5, 0.5], [1.0, 0.0]])  # items 0, 2, 3 tie
    test = sp.csr_matrix(([1.0], ([0], [3])), shape=(1, 4))
    model = fixed_model(U, V)
    result = evaluate(model, None, test, k=[1, 2, 3])
    assert result["hit_rate@1"] == 0.0 and result["hit_rate@2"] == 0.0
    assert result["hit_rate@3"] == 1.0
    assert result["ndcg@3"] == pytest.approx(1 / np.log2(4))
    assert result["coverage@2"] == pytest.approx(2 / 4)
    # item 3 beats item 1 and ties with 0 and 2: (1 + 0.5 + 0.5) / 3
    assert result["auc"] == pytest.approx(2 / 3)
    assert result["coverage@1"] == pytest.approx(1 / 4)
    # the top-k agrees with model.recommend
    ids, _ = model.recommend(0, k=3, exclude_seen=False)
    np.testing.assert_array_equal(ids, [0, 2, 3])


def test_users_without_test_items_are_skipped_and_counted():
    U = np.array([[1.0], [2.0], [-1.0], [1.0]])
    V = np.array([[1.0], [2.0], [3.0]])
    train = sp.csr_matrix(np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0], [1, 0, 0]], float))
    # user 0: no test items; user 1: every item in train (test item 2 also in
    # train, so ignored); user 2 and 3: evaluated
    test = sp.csr_matrix(np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]], float))
    result = evaluate(fixed_model(U, V), train, test, k=5)
    assert result["n_users"] == 2 and result["n_users_skipped"] == 2
    expected = naive.evaluate(U, V, train, test, [5])
    assert_same_metrics(result, expected)
    # users 2 and 3 each rank their relevant item first among 2 candidates
    assert result["precision@5"] == pytest.approx((1 / 2 + 1 / 2) / 2)


def test_auc_leaves_out_users_whose_candidates_are_all_relevant():
    U = np.array([[1.0], [1.0]])
    V = np.array([[1.0], [2.0], [3.0]])
    train = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0]], float))
    test = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0]], float))
    result = evaluate(fixed_model(U, V), train, test, k=2)
    assert result["n_users"] == 2 and result["n_users_auc"] == 1
    assert result["auc"] == pytest.approx(0.0)  # user 1's item 0 scores lowest
    assert result["precision@2"] == pytest.approx((1.0 + 0.0) / 2)
    only_auc = evaluate(fixed_model(U[:1], V), train[:1], test[:1], metrics="auc")
    assert np.isnan(only_auc["auc"]) and only_auc["n_users_auc"] == 0


def test_auc_with_many_relevant_items_and_ties():
    """Users with more relevant items than the kernel scans linearly take its sorted path."""
    from fastwmf.kernels.metrics import _AUC_LINEAR_MAX
    rng = np.random.default_rng(3)
    n = 3 * _AUC_LINEAR_MAX + 40
    U = rng.integers(-2, 3, size=(3, 2)).astype(float)
    V = rng.integers(-3, 4, size=(n, 2)).astype(float)  # few distinct scores: many ties
    relevant = [_AUC_LINEAR_MAX + 1, 2 * _AUC_LINEAR_MAX, 5]
    test = sp.vstack([sp.csr_matrix((np.ones(r), (np.zeros(r, int), rng.choice(n, r, False))),
                                    shape=(1, n)) for r in relevant]).tocsr()
    train = sp.csr_matrix((np.ones(3), ([0, 1, 2], [0, 1, 2])), shape=(3, n))
    result = evaluate(fixed_model(U, V), train, test, k=[10, n])
    assert_same_metrics(result, naive.evaluate(U, V, train, test, [10, n]))


def test_k_larger_than_the_catalogue_is_clamped_to_the_candidates():
    X = random_interactions(20, 7, 0.4, seed=2)
    train, test = split_per_user(X, test_fraction=0.4, seed=0)
    model = fastwmf.WALS(factors=3, iterations=2, random_state=0).fit(train)
    big = evaluate(model, train, test, k=50)
    full = evaluate(model, train, test, k=7)
    for name in ("precision", "recall", "ndcg", "map", "hit_rate", "coverage"):
        assert big[f"{name}@50"] == full[f"{name}@7"]
    assert big["recall@50"] == 1.0 and big["hit_rate@50"] == 1.0
    expected = naive.evaluate(model.user_factors_, model.item_factors_, train, test, [50])
    for key in ("precision@50", "ndcg@50", "map@50"):
        assert big[key] == pytest.approx(expected[key], rel=1e-6)
    assert recall_at_k(model, train, test, k=50) == 1.0


def test_float32_and_float64_factors_agree():
    rng = np.random.default_rng(0)
    U = rng.integers(-3, 4, size=(15, 3)).astype(float) / 4
    V = rng.integers(-3, 4, size=(12, 3)).astype(float) / 4
    X = random_interactions(15, 12, 0.4, seed=5)
    train, test = split_per_user(X, test_fraction=0.5, seed=2)
    r64 = evaluate(fixed_model(U, V), train, test, k=[3, 20])
    r32 = evaluate(fixed_model(U.astype(np.float32), V.astype(np.float32)), train, test,
                   k=[3, 20])
    assert r64 == r32
    assert_same_metrics(r64, naive.evaluate(U, V, train, test, [3, 20]))


def test_results_do_not_depend_on_batches_or_threads():
    import numba
    X = random_interactions(50, 30, 0.2, seed=6)
    train, test = split_per_user(X, test_fraction=0.3, seed=0)
    model = fastwmf.WALS(factors=4, iterations=2, random_state=0).fit(train)
    reference = evaluate(model, train, test, k=[3, 10], batch_size=7)
    assert evaluate(model, train, test, k=[3, 10], batch_size=1000) == pytest.approx(reference)
    if numba.config.NUMBA_NUM_THREADS > 1:
        model.num_threads = 1
        assert evaluate(model, train, test, k=[3, 10], batch_size=7) == reference


def test_metric_subsets_and_key_order():
    X = random_interactions(20, 10, 0.3, seed=1)
    train, test = split_per_user(X, test_fraction=0.3, seed=0)
    model = fastwmf.WALS(factors=2, iterations=2, random_state=0).fit(train)
    result = evaluate(model, train, test, k=[10, 5], metrics=["ndcg", "mae", "recall"])
    assert list(result) == ["ndcg@10", "ndcg@5", "recall@10", "recall@5", "mae", "n_users",
                            "n_users_skipped"]
    only_rating = evaluate(model, train, test, metrics=["rmse"])
    assert set(only_rating) == {"rmse", "n_users", "n_users_skipped"}
    full = evaluate(model, train, test, k=5)
    assert full["ndcg@5"] == result["ndcg@5"] and full["mae"] == result["mae"]
    assert set(METRICS) <= {key.split("@")[0] for key in full}


def test_rmse_and_mae_match_numpy():
    X = random_interactions(30, 20, 0.3, seed=3)
    train, test = split_entries(X, 0.3, seed=0)
    model = fastwmf.WALS(factors=3, iterations=2, random_state=0).fit(train)
    dense = naive.dense_scores(model.user_factors_, model.item_factors_)
    coo = test.tocoo()
    errors = dense[coo.row, coo.col] - coo.data
    assert rmse(model, test) == pytest.approx(np.sqrt(np.mean(errors ** 2)), rel=1e-10)
    assert mae(model, test) == pytest.approx(np.mean(np.abs(errors)), rel=1e-10)
    result = evaluate(model, train, test, metrics=["rmse", "mae"])
    assert result["rmse"] == rmse(model, test) and result["mae"] == mae(model, test)
    # fewer rows than the model's users is fine for the pointwise metrics
    head = test[:10]
    coo = head.tocoo()
    errors = dense[coo.row, coo.col] - coo.data
    assert mae(model, head) == pytest.approx(np.mean(np.abs(errors)), rel=1e-10)


def test_bad_arguments_raise_named_errors():
    X = random_interactions(10, 8, 0.4, seed=0)
    train, test = split_per_user(X, test_fraction=0.3, seed=0)
    model = fastwmf.WALS(factors=2, iterations=1, random_state=0).fit(train)
    with pytest.raises(ValueError, match="^k "):
        evaluate(model, train, test, k=0)
    with pytest.raises(TypeError, match="^k "):
        evaluate(model, train, test, k=2.5)
    with pytest.raises(TypeError, match="^k "):
        evaluate(model, train, test, k="10")
    with pytest.raises(ValueError, match="^k "):
        evaluate(model, train, test, k=[])
    with pytest.raises(ValueError, match="^metrics .*'ndgc'"):
        evaluate(model, train, test, metrics=["ndgc"])
    with pytest.raises(ValueError, match="^batch_size "):
        evaluate(model, train, test, batch_size=0)
    with pytest.raises(ValueError, match="^test "):
        evaluate(model, train, test[:5])
    with pytest.raises(ValueError, match="^test "):
        evaluate(model, train, sp.csr_matrix((10, 9)))
    with pytest.raises(ValueError, match="^train "):
        evaluate(model, train[:5], test)
    with pytest.raises(ValueError, match="^test "):
        evaluate(model, train, train)          # nothing outside train to rank
    with pytest.raises(ValueError, match="^test "):
        evaluate(model, train, sp.csr_matrix((10, 8)))
    with pytest.raises(NotFittedError):
        evaluate(fastwmf.WALS(), train, test)
    with pytest.raises(ValueError, match="^model.item_factors_"):
        evaluate(fixed_model(np.ones((10, 2)), np.full((8, 2), np.nan)), train, test)
    with pytest.raises(ValueError, match="^test "):
        rmse(model, sp.csr_matrix(([1.0], ([10], [0])), shape=(11, 8)))
    with pytest.raises(ValueError, match="^k "):
        recall_at_k(model, train, test, k=0)


# ------------------------------------------------------------------- splits

def test_split_per_user_by_fraction_and_by_count():
    X = random_interactions(80, 30, 0.2, seed=7)
    counts = np.diff(X.indptr)
    for kwargs in ({"test_fraction": 0.25}, {"test_count": 2}, {"test_count": 2, "min_train": 3},
                   {"test_fraction": 0.5, "min_train": 0}, {}):
        train, test = split_per_user(X, seed=3, **kwargs)
        assert_partition(X, train, test)
        params = {"test_fraction": 0.2, "min_train": 1, **kwargs}
        if "test_count" in kwargs:
            params.pop("test_fraction")
        np.testing.assert_array_equal(np.diff(test.indptr),
                                      naive.per_user_test_sizes(counts, **params))


def test_split_per_user_keeps_small_users_in_train():
    X = sp.csr_matrix(np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]], float))
    train, test = leave_k_out(X, k=1, seed=0)
    np.testing.assert_array_equal(np.diff(test.indptr), [0, 1, 1])
    train, test = split_per_user(X, test_count=2, min_train=2, seed=0)
    np.testing.assert_array_equal(np.diff(test.indptr), [0, 0, 2])
    train, test = split_per_user(X, test_fraction=1.0, min_train=0, seed=0)
    assert test.nnz == X.nnz and train.nnz == 0


def test_splits_are_reproducible_by_seed():
    X = random_interactions(50, 40, 0.2, seed=8)
    calls = [lambda s: split_entries(X, 0.3, seed=s),
             lambda s: split_per_user(X, test_fraction=0.3, seed=s),
             lambda s: leave_k_out(X, k=2, seed=s),
             lambda s: list(kfold_entries(X, n_folds=3, seed=s))[1]]
    for call in calls:
        a, b = call(5), call(5)
        assert triples(a[1]) == triples(b[1]) and triples(a[0]) == triples(b[0])
        assert triples(call(6)[1]) != triples(a[1])
        g1, g2 = call(np.random.default_rng(11)), call(np.random.default_rng(11))
        assert triples(g1[1]) == triples(g2[1])


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 8), n=st.integers(1, 8), density=st.floats(0.05, 1.0),
       seed=st.integers(0, 2 ** 16), fraction=st.floats(0.01, 1.0),
       count=st.integers(1, 4), min_train=st.integers(0, 3), by_count=st.booleans())
def test_split_per_user_rules_on_random_matrices(m, n, density, seed, fraction, count,
                                                 min_train, by_count):
    X = random_interactions(m, n, density, seed)
    if X.nnz == 0:
        return
    kwargs = {"test_count": count} if by_count else {"test_fraction": fraction}
    train, test = split_per_user(X, seed=seed, min_train=min_train, **kwargs)
    assert_partition(X, train, test)
    expected = naive.per_user_test_sizes(np.diff(X.indptr), min_train=min_train, **kwargs)
    np.testing.assert_array_equal(np.diff(test.indptr), expected)


def test_split_per_user_draws_every_entry_uniformly():
    X = sp.csr_matrix(np.ones((1, 6)))
    hits = np.zeros(6)
    for seed in range(600):
        _, test = split_per_user(X, test_count=1, seed=seed)
        hits[test.indices] += 1
    assert hits.min() > 60  # each item ~100 times


def test_temporal_split_holds_out_the_latest_entries():
    rng = np.random.default_rng(0)
    X = random_interactions(40, 25, 0.3, seed=9)
    times = sp.csr_matrix(((rng.permutation(X.nnz) + 1.0) * 10, X.indices, X.indptr),
                          shape=X.shape)
    train, test = split_temporal(X, times, test_fraction=0.3)
    assert_partition(X, train, test)
    counts = np.diff(X.indptr)
    np.testing.assert_array_equal(np.diff(test.indptr),
                                  naive.per_user_test_sizes(counts, test_fraction=0.3))
    for user in range(X.shape[0]):
        held = set(test[user].indices.tolist())
        row = times[user]
        order = np.array(sorted(zip(row.data, row.indices)))[:, 1].astype(int)
        assert set(order[len(order) - len(held):].tolist()) == held
    # global cut: the latest 30% of all entries
    train, test = split_temporal(X, times, test_fraction=0.3, per_user=False)
    assert_partition(X, train, test)
    n_test = int(np.floor(0.3 * X.nnz + 0.5))
    assert test.nnz == n_test
    cut = np.sort(times.data)[X.nnz - n_test]
    assert times.multiply(test.astype(bool)).data.min() == cut
    assert train.nnz == 0 or times.multiply(train.astype(bool)).data.max() < cut


def test_temporal_split_breaks_ties_by_item_id_and_aligns_arrays():
    # user 0 items 0..3 at times 5, 7, 7, 1 -> latest is item 2 (tie 1 vs 2: higher id later)
    rows = np.array([0, 0, 0, 0, 1, 1])
    cols = np.array([3, 1, 2, 0, 0, 1])
    t = np.array([1, 7, 7, 5, 3, 3])          # aligned with this (unsorted) entry order
    X = sp.coo_matrix((np.ones(6), (rows, cols)), shape=(2, 4))
    train, test = split_temporal(X, t, test_count=1)
    assert triples(test) == [(0, 2, 1.0), (1, 1, 1.0)]
    train2, test2 = split_temporal((rows, cols, np.ones(6)), t, test_count=1)
    assert triples(test2) == triples(test)
    dates = np.array(t, dtype="datetime64[D]")
    assert triples(split_temporal(X, dates, test_count=1)[1]) == triples(test)
    # count 2: items 1 and 2 of user 0; user 1 has 2 entries and min_train=1 -> keeps 1
    assert triples(split_temporal(X, t, test_count=2)[1]) == [(0, 1, 1.0), (0, 2, 1.0)]
    # global: ordered by (time, user, item); the last two are (0, 1) and (0, 2) at time 7
    assert triples(split_temporal(X, t, test_count=3, per_user=False)[1]) == [
        (0, 0, 1.0), (0, 1, 1.0), (0, 2, 1.0)]


def test_every_per_user_time_ordering_path_matches_lexsort():
    from types import SimpleNamespace
    from fastwmf.model_selection._splits import _row_time_order
    rng = np.random.default_rng(0)
    n = 300
    rows = np.sort(rng.integers(0, 12, n))
    ints = rng.integers(0, 20, n)                                  # packed-key path
    cases = [(ints, (12, 40)), (ints * 0.5, (12, 40)),             # rank path (floats)
             (rng.choice([-2 ** 62, 0, 2 ** 62], n), (12, 40)),    # span too wide: rank path
             (ints, (2 ** 62, 40))]                                # rows x nnz too wide
    for times, shape in cases:
        data = SimpleNamespace(nnz=n, shape=shape)
        # canonical entry order breaks time ties (it is the column order)
        expected = np.lexsort((np.arange(n), times, rows))
        np.testing.assert_array_equal(_row_time_order(data, rows, times), expected)


def test_temporal_split_duplicates_take_the_latest_time():
    rows, cols = np.array([0, 0, 0]), np.array([0, 1, 0])
    X = sp.coo_matrix((np.ones(3), (rows, cols)), shape=(1, 2))
    train, test = split_temporal(X, np.array([1, 5, 9]), test_count=1)
    assert triples(test) == [(0, 0, 2.0)] and triples(train) == [(0, 1, 1.0)]


def test_temporal_split_rejects_misaligned_timestamps():
    X = random_interactions(5, 5, 0.5, seed=1)
    with pytest.raises(ValueError, match="^timestamps "):
        split_temporal(X, np.arange(X.nnz + 1))
    with pytest.raises(ValueError, match="^timestamps "):
        split_temporal(X, sp.csr_matrix(np.ones((5, 5))))
    with pytest.raises(ValueError, match="^timestamps "):
        split_temporal(X, sp.csr_matrix(np.ones((5, 4))))
    with pytest.raises(ValueError, match="^timestamps "):
        split_temporal(X, np.full(X.nnz, np.nan))
    with pytest.raises(TypeError, match="^timestamps "):
        split_temporal(X, np.array(["a"] * X.nnz))
    with pytest.raises(ValueError, match="^test_fraction and test_count"):
        split_temporal(X, np.arange(X.nnz), test_fraction=0.2, test_count=1)


def test_kfold_folds_partition_the_entries():
    X = random_interactions(30, 20, 0.3, seed=10)
    folds = list(kfold_entries(X, n_folds=4, seed=1))
    assert len(folds) == 4
    seen = []
    for train, test in folds:
        assert_partition(X, train, test)
        seen += triples(test)
    assert sorted(seen) == triples(X)
    sizes = [test.nnz for _, test in folds]
    assert max(sizes) - min(sizes) <= 1


def test_split_arguments_are_checked_eagerly():
    X = random_interactions(6, 5, 0.5, seed=2)
    with pytest.raises(ValueError, match="^n_folds "):
        kfold_entries(X, n_folds=1)
    with pytest.raises(ValueError, match="^n_folds "):
        kfold_entries(X, n_folds=X.nnz + 1)
    with pytest.raises(ValueError, match="^test_fraction and test_count"):
        split_per_user(X, test_fraction=0.2, test_count=1)
    with pytest.raises(ValueError, match="^test_fraction "):
        split_per_user(X, test_fraction=0.0)
    with pytest.raises(ValueError, match="^test_count "):
        split_per_user(X, test_count=0)
    with pytest.raises(ValueError, match="^min_train "):
        split_per_user(X, min_train=-1)
    with pytest.raises(ValueError, match="^seed "):
        split_per_user(X, seed=-1)
    with pytest.raises(TypeError, match="^seed "):
        leave_k_out(X, seed="a")
    with pytest.raises(ValueError, match="^k "):
        leave_k_out(X, k=0)
    with pytest.raises(TypeError, match="^per_user "):
        split_temporal(X, np.arange(X.nnz), per_user="yes")
    with pytest.raises(ValueError, match="^X "):
        split_per_user(sp.csr_matrix((3, 3)))


def test_earlier_module_names_reexport_the_same_objects():
    import fastwmf.evaluation
    import fastwmf.metrics
    import fastwmf.model_selection
    import fastwmf.tuning
    for module in (fastwmf.evaluation, fastwmf.tuning):
        for name in module.__all__:
            home = (fastwmf.metrics if hasattr(fastwmf.metrics, name)
                    else fastwmf.model_selection)
            assert getattr(module, name) is getattr(home, name), name
