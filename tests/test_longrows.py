"""Long rows solved in lockstep over tiles of the fixed factors (kernels/longrows.py)."""

import numpy as np
import pytest
import scipy.sparse as sp

import fastwmf
from fastwmf._threading import max_threads, row_chunks, thread_limits
from fastwmf.kernels import als, longrows
from fastwmf.kernels.halfstep import HalfStepRows, row_spans
from fastwmf.models import _problem

from .naive import conjugate_gradient


def _long_row_problem(d, dtype, seed=0, m=30, n=90, long=5):
    """Rows with sorted columns, the first ``long`` of them dense, one of those
    with weights that make its first CG step stop at once (zero residual)."""
    rng = np.random.default_rng(seed)
    X = sp.random(m, n, density=0.1, random_state=seed, format="lil")
    for i in range(long):
        X[i, :] = rng.random(n) + 0.1
    X[long, :] = 0.0                                  # an empty row after them
    X = X.tocsr()
    X.eliminate_zeros()
    X.sort_indices()
    X.data[:] = rng.random(X.nnz) + 0.1
    indptr = X.indptr.astype(np.int64)
    other = rng.standard_normal((n, d)).astype(dtype)
    values = np.sort(rng.random(d) * 5.0 + 0.5)[::-1]  # the Gramian, diagonal in its basis
    col_weights = rng.random(n) + 0.5
    row_weights = rng.random(m) + 0.5
    rows = HalfStepRows(indptr, X.indices.astype(np.int32), X.data.astype(dtype),
                        (1.0 + 2.0 * X.data).astype(dtype), row_weights, np.full(m, 0.3),
                        row_chunks(indptr, 4.0, min_work=0))
    start = rng.standard_normal((m, d)).astype(dtype)
    return rows, other, values, 0.7, col_weights, start


def _plan(rows, other, tile_rows, min_entries=1):
    starts, ends = row_spans(rows.indptr)
    return longrows.plan_long_rows(starts, ends, rows.indices, rows.chunk_bounds,
                                   other.shape[0], other.shape[1], other.itemsize,
                                   tile_rows=tile_rows, min_entries=min_entries,
                                   min_other_bytes=0)


def _dense_reference(rows, other, values, w0, q, start, steps):
    """Each row's normal equations, solved by numpy CG from ``start``, and the
    half-step's sums at the result."""
    Y = other.astype(np.float64)
    out = start.astype(np.float64).copy()
    observed = 0.0
    for i in range(len(rows.indptr) - 1):
        sl = slice(rows.indptr[i], rows.indptr[i + 1])
        j = rows.indices[sl]
        c, a = rows.confidence[sl].astype(np.float64), rows.targets[sl].astype(np.float64)
        wi = w0 * rows.row_weights[i]
        A = np.diag(wi * values) + rows.row_reg[i] * np.eye(Y.shape[1]) \
            + (Y[j].T * (c - wi * q[j])) @ Y[j]
        out[i] = conjugate_gradient(A, Y[j].T @ (c * a), out[i], steps)
        pred = Y[j] @ out[i]
        observed += np.sum(c * (a - pred) ** 2 - wi * q[j] * pred ** 2)
    norms = np.sum(out ** 2, axis=1)
    return out, np.array([observed, np.sum(rows.row_reg * norms), np.sum(norms)])


@pytest.mark.parametrize("tile_rows", [1, 3, 7, 1000])
@pytest.mark.parametrize("d", [8, 16])
def test_lockstep_rows_match_numpy_cg(d, tile_rows):
    rows, other, values, w0, q, start = _long_row_problem(d, np.float64, seed=d + tile_rows)
    plan = _plan(rows, other, tile_rows, min_entries=40)
    assert plan.count == 5 and plan.chunk_bounds[0] == 5
    expected, expected_sums = _dense_reference(rows, other, values, w0, q, start, 3)
    out = start.copy()
    sums = als.half_step_cg_eigenbasis(rows, other, values, w0, q, 3, out, long_rows=plan,
                                       track_observed=True)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(sums, expected_sums, rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lockstep_agrees_with_the_row_kernel(dtype):
    rows, other, values, w0, q, start = _long_row_problem(64, dtype, seed=5, n=300, long=8)
    alone, together = start.copy(), start.copy()
    sums = als.half_step_cg_eigenbasis(rows, other, values, w0, q, 3, alone,
                                       track_observed=True)
    plan = _plan(rows, other, tile_rows=16, min_entries=100)
    assert plan.count == 8
    lockstep = als.half_step_cg_eigenbasis(rows, other, values, w0, q, 3, together,
                                           long_rows=plan, track_observed=True)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(together, alone, rtol=tol, atol=tol * np.abs(alone).max())
    np.testing.assert_allclose(lockstep, sums, rtol=tol)
    untracked = als.half_step_cg_eigenbasis(rows, other, values, w0, q, 3, start.copy(),
                                            long_rows=plan)
    assert untracked.observed == 0.0 and untracked.penalty == pytest.approx(lockstep.penalty)


def test_partial_sums_stay_within_their_budget(monkeypatch):
    rows, other, *_ = _long_row_problem(16, np.float64, seed=4, n=90, long=5)
    monkeypatch.setattr(longrows, "PARTIAL_BYTES", 5 * 16 * 8 * 3)   # three runs' worth
    plan = _plan(rows, other, tile_rows=1, min_entries=40)
    assert len(plan.ranges) - 1 == 3
    monkeypatch.setattr(longrows, "PARTIAL_BYTES", 1)
    assert len(_plan(rows, other, tile_rows=1, min_entries=40).ranges) == 2


@pytest.mark.skipif(max_threads() < 2, reason="needs two Numba threads")
def test_lockstep_results_do_not_depend_on_the_thread_count():
    rows, other, values, w0, q, start = _long_row_problem(32, np.float32, seed=2, n=400,
                                                          long=9)
    plan = _plan(rows, other, tile_rows=32, min_entries=100)
    results = []
    for threads in (1, 2):
        out = start.copy()
        with thread_limits(threads):
            sums = als.half_step_cg_eigenbasis(rows, other, values, w0, q, 3, out,
                                               long_rows=plan, track_observed=True)
        results.append((out, tuple(sums)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


def test_plan_long_rows_tiles_and_rules():
    rows, other, *_ = _long_row_problem(16, np.float32, seed=1, n=90, long=5)
    starts, ends = row_spans(rows.indptr)
    plan = _plan(rows, other, tile_rows=7, min_entries=40)
    assert plan.count == 5 and plan.tile_rows == 7
    n_tiles = -(-other.shape[0] // 7)
    assert plan.offsets.shape == (5, n_tiles + 1)
    for i in range(plan.count):
        columns = rows.indices[starts[i]:ends[i]]
        expected = starts[i] + np.searchsorted(columns, 7 * np.arange(n_tiles))
        np.testing.assert_array_equal(plan.offsets[i, :-1], expected)
        assert plan.offsets[i, -1] == ends[i]
    assert plan.chunk_bounds[0] == 5 and plan.chunk_bounds[-1] == len(starts)
    assert np.all(np.diff(plan.chunk_bounds) > 0)
    # runs of tiles: every tile in one run, at most TILE_RANGES of them
    assert plan.ranges[0] == 0 and plan.ranges[-1] == n_tiles
    assert np.all(np.diff(plan.ranges) > 0) and len(plan.ranges) - 1 <= longrows.TILE_RANGES
    few = _plan(rows, other, tile_rows=1, min_entries=40)
    assert len(few.ranges) - 1 == longrows.TILE_RANGES
    # the default rule: enough entries per tile, fixed factors too large to cache
    assert longrows.plan_long_rows(starts, ends, rows.indices, rows.chunk_bounds,
                                   other.shape[0], 16, 4) is None
    assert _plan(rows, other, tile_rows=7, min_entries=10_000) is None
    odd = np.zeros((other.shape[0], 12), np.float32)    # no kernel for 12 columns
    assert _plan(rows, odd, tile_rows=7) is None
    with pytest.raises(ValueError, match="tile_rows"):
        _plan(rows, other, tile_rows=0)


def test_only_the_sorted_side_is_solved_in_lockstep(monkeypatch):
    monkeypatch.setattr(longrows, "MIN_OTHER_BYTES", 0)
    X = fastwmf.datasets.make_implicit_interactions(200, 60, 3000, seed=0)
    problem = fastwmf.WALS(factors=8, random_state=0)._prepare(X)[1]
    other = np.zeros((200, 8), np.float32)
    assert problem.users.long_rows(np.zeros((60, 8), np.float32)) is None
    plan = problem.items.long_rows(other)
    assert plan is None or plan.count >= 1
    assert problem.items.long_rows(other) is plan        # made once


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_with_long_rows_in_lockstep(monkeypatch, dtype):
    """A whole fit, its long item rows solved in lockstep: the same factors as
    without, to rounding, and a reported loss that is the objective."""
    X = fastwmf.datasets.make_implicit_interactions(400, 120, 8000, seed=3)
    settings = dict(factors=16, iterations=4, solver="cg", dtype=dtype, random_state=0,
                    num_threads=1)
    monkeypatch.setattr(_problem, "RENUMBER_MIN_ENTRIES", 0)  # longest rows first
    plain = fastwmf.WALS(**settings).fit(X)
    monkeypatch.setattr(longrows, "MIN_OTHER_BYTES", 0)
    monkeypatch.setattr(longrows, "TILE_BYTES", 16 * 16 * np.dtype(dtype).itemsize)  # 16 rows
    monkeypatch.setattr(longrows, "MIN_ENTRIES_PER_TILE", 2)
    model = fastwmf.WALS(**settings)
    lockstep = model.fit(X)
    _, problem = model._prepare(X)
    plan = problem.items.long_rows(np.zeros((X.shape[0], 16), dtype))
    assert plan is not None and plan.count > 5
    tol = 2e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(lockstep.user_factors, plain.user_factors, rtol=tol,
                               atol=tol * np.abs(plain.user_factors).max())
    np.testing.assert_allclose(lockstep.loss_history_, plain.loss_history_, rtol=tol)
    assert lockstep.loss_history_[-1] == pytest.approx(lockstep.loss(X), rel=10 * tol)
