"""Renumbered layouts: the transposition and row permutation kernels against numpy,
and WALS fits whose factor rows are kept by activity against plain fits."""

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import fastwmf
from fastwmf.kernels.layout import (
    gather_csr_rows, gather_rows_in_place, transpose_entries, transpose_renumbered)
from fastwmf.models import _problem
from fastwmf.models._problem import by_activity, inverse_permutation

from . import naive
from .conftest import random_interactions
from .test_wals_numerics import CASES, _case, _setup


def _csr(m, n, density, seed):
    X = sp.random(m, n, density=density, format="csr", random_state=seed, dtype=np.float64)
    X.sort_indices()
    return X


@pytest.mark.parametrize("runs", [None, 1, 2, 3, 7, 100])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_transpose_renumbered_is_the_permuted_csc(seed, runs):
    rng = np.random.default_rng(seed)
    X = _csr(37, 23, 0.2, seed)
    row_order = rng.permutation(37)
    new_col = rng.permutation(23).astype(np.int32)
    conf = rng.random(X.nnz)
    out = np.empty(X.nnz, np.int32), np.empty(X.nnz), np.empty(X.nnz)
    indptr = transpose_renumbered(X.indptr[row_order], X.indptr[row_order + 1], X.indices,
                                  X.data, conf, new_col, *out, runs=runs)
    old_col = inverse_permutation(new_col)
    want = X[row_order][:, old_col].T.tocsr()
    want.sort_indices()
    np.testing.assert_array_equal(indptr, want.indptr)
    np.testing.assert_array_equal(out[0], want.indices)
    np.testing.assert_array_equal(out[1], want.data)
    C = sp.csr_matrix((conf, X.indices, X.indptr), shape=X.shape)[row_order][:, old_col].T.tocsr()
    C.sort_indices()
    np.testing.assert_array_equal(out[2], C.data)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gather_csr_rows_is_the_permuted_csr(seed):
    rng = np.random.default_rng(seed)
    X = _csr(41, 19, 0.25, seed)  # some rows empty
    order = rng.permutation(41)
    new_col = rng.permutation(19).astype(np.int32)
    conf = rng.random(X.nnz)
    indptr = np.concatenate(([0], np.cumsum(np.diff(X.indptr)[order])))
    out = np.empty(X.nnz, np.int32), np.empty(X.nnz, np.float32), np.empty(X.nnz)
    gather_csr_rows(X.indptr.astype(np.int64), order, X.indices, X.data, conf, new_col,
                    indptr, *out)
    permuted = X[order]
    np.testing.assert_array_equal(out[0], new_col[permuted.indices])
    np.testing.assert_array_equal(out[1], permuted.data.astype(np.float32))  # converted
    C = sp.csr_matrix((conf, X.indices, X.indptr), shape=X.shape)[order]
    np.testing.assert_array_equal(out[2], C.data)
    # an empty output is left alone (one shared value needs no copy)
    skipped = np.empty(X.nnz, np.int32), np.empty(0), np.empty(0)
    gather_csr_rows(X.indptr.astype(np.int64), order, X.indices, X.data, conf, new_col,
                    indptr, *skipped)
    np.testing.assert_array_equal(skipped[0], out[0])


def test_transpose_entries_is_the_csc():
    X = _csr(30, 12, 0.3, 5)
    out = np.empty(X.nnz, np.int32), np.empty(X.nnz), np.empty(X.nnz)
    indptr = transpose_entries(X.indptr, X.indices, X.data, 2 * X.data, 12, *out)
    want = X.tocsc()
    np.testing.assert_array_equal(indptr, want.indptr)
    np.testing.assert_array_equal(out[0], want.indices)
    np.testing.assert_array_equal(out[1], want.data)
    np.testing.assert_array_equal(out[2], 2 * want.data)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 40).flatmap(lambda n: st.permutations(list(range(n)))),
       st.integers(1, 5))
def test_gather_rows_in_place_equals_fancy_indexing(order, d):
    source = np.asarray(order, dtype=np.int64)
    rows = np.arange(len(order) * d, dtype=np.float32).reshape(len(order), d)
    want = rows[source]
    gather_rows_in_place(rows, source)
    np.testing.assert_array_equal(rows, want)


def test_by_activity_puts_the_most_active_first_ties_in_id_order():
    order = by_activity(np.array([2, 5, 0, 5, 1]))
    np.testing.assert_array_equal(order, [1, 3, 0, 4, 2])
    np.testing.assert_array_equal(inverse_permutation(order)[order], np.arange(5))


@pytest.fixture
def renumber_everything(monkeypatch):
    """Keep the factor rows by activity on any data, not only from 10^6 entries on."""
    monkeypatch.setattr(_problem, "RENUMBER_MIN_ENTRIES", 0)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_renumbered_fit_equals_the_plain_fit(small_matrix, name, solver, monkeypatch):
    case = _case(name, sp.coo_matrix(small_matrix))
    extra = {key: case.pop(key) for key in ("weights", "user_weights", "item_weights")
             if key in case}
    fits = {}
    for renumber in (False, True):
        monkeypatch.setattr(_problem, "RENUMBER_MIN_ENTRIES", 0 if renumber else 10**12)
        model = fastwmf.WALS(factors=4, iterations=4, solver=solver, dtype="float64",
                             random_state=3, **case)
        _, problem = model._prepare(small_matrix, **extra)
        assert problem.renumbered == renumber
        fits[renumber] = model.fit(small_matrix, **extra)
    plain, renumbered = fits[False], fits[True]
    np.testing.assert_allclose(renumbered.user_factors_, plain.user_factors_, rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(renumbered.item_factors_, plain.item_factors_, rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(renumbered.loss_history_, plain.loss_history_, rtol=1e-10)
    np.testing.assert_array_equal(renumbered.item_weights_, plain.item_weights_)
    # the kept pattern is the input's, in the caller's numbering
    np.testing.assert_array_equal(renumbered.seen_indptr_, plain.seen_indptr_)
    np.testing.assert_array_equal(renumbered.seen_indices_, plain.seen_indices_)
    assert renumbered.loss(small_matrix, **extra) == pytest.approx(
        plain.loss(small_matrix, **extra), rel=1e-10)


@pytest.mark.usefixtures("renumber_everything")
def test_renumbered_sides_are_the_input_in_factor_order(small_matrix):
    X = sp.csr_matrix(small_matrix)
    _, problem = fastwmf.WALS(factors=4, dtype="float64")._prepare(X)
    assert problem.renumbered
    want = X[problem.user_order][:, problem.item_order].tocsr()
    want.sort_indices()
    users = problem.users  # rows in factor order, each row's entries as in the input
    got = sp.csr_matrix((users.targets, users.indices, users.indptr), shape=want.shape)
    np.testing.assert_array_equal(users.indptr, want.indptr)
    assert (got != want).nnz == 0
    items = problem.items  # rows ascending
    expected = want.T.tocsr()
    expected.sort_indices()
    np.testing.assert_array_equal(items.indptr, expected.indptr)
    np.testing.assert_array_equal(items.indices, expected.indices)
    np.testing.assert_array_equal(items.targets, expected.data)


@pytest.mark.usefixtures("renumber_everything")
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_renumbered_callback_sees_factors_in_the_input_order(small_matrix, solver):
    case = dict(CASES["user-and-item-weights"])
    case.pop("user_weights"), case.pop("item_weights")
    _, W, A, reg_u, reg_v, _, _ = _setup(small_matrix, **case)
    dense = []

    def callback(iteration, loss, U, V):
        dense.append(naive.objective(W, A, U, V, reg_u, reg_v))

    model = fastwmf.WALS(factors=4, iterations=3, solver=solver, dtype="float64",
                         random_state=2, callback=callback, **case).fit(small_matrix)
    np.testing.assert_allclose(model.loss_history_, dense, rtol=1e-10)


@pytest.mark.usefixtures("renumber_everything")
def test_renumbered_fit_is_bit_identical_for_any_thread_count():
    X = random_interactions(2000, 800, 0.02, seed=4)
    runs = {}
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        for solver in ("cholesky", "cg"):
            model = fastwmf.WALS(factors=4, iterations=3, solver=solver, random_state=9,
                                 num_threads=threads).fit(X)
            runs.setdefault(solver, []).append(model)
    for models in runs.values():
        for other in models[1:]:
            assert np.array_equal(models[0].user_factors_, other.user_factors_)
            assert np.array_equal(models[0].item_factors_, other.item_factors_)
            assert models[0].loss_history_ == other.loss_history_


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("renumber", [False, True])
def test_unit_targets_and_confidence_are_shared_views(small_matrix, solver, renumber,
                                                      monkeypatch):
    monkeypatch.setattr(_problem, "RENUMBER_MIN_ENTRIES", 0 if renumber else 10**12)
    X = sp.csr_matrix(small_matrix, copy=True)
    X.data[:] = 1.0
    case = dict(w0=0.3, regularization=0.1, nu=0.0)
    model = fastwmf.WALS(factors=4, iterations=3, solver=solver, dtype="float64",
                         random_state=2, **case)
    _, problem = model._prepare(X)
    for side in (problem.users, problem.items):
        assert side.targets.strides == (0,) and side.confidence.strides == (0,)
        assert side.targets.shape == side.confidence.shape == (X.nnz,)
    _, W, A, reg_u, reg_v, _, _ = _setup(X, **case)
    dense = []

    def callback(iteration, loss, U, V):
        dense.append(naive.objective(W, A, U, V, reg_u, reg_v))

    model.set_params(callback=callback).fit(X)
    np.testing.assert_allclose(model.loss_history_, dense, rtol=1e-10)
    # counts as targets keep their array; the unit confidence is still shared
    _, problem = fastwmf.WALS(factors=4)._prepare(small_matrix)
    assert problem.items.targets.strides != (0,) and problem.items.confidence.strides == (0,)
