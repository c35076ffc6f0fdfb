"""The subspace (block) ALS solver against numpy references."""

import numpy as np
import pytest

import fastwmf
from fastwmf._threading import uniform_chunks
from fastwmf.kernels.halfstep import HalfStepRows
from fastwmf.kernels.block import SOLVED_BLOCK, half_step_block

from . import naive
from .conftest import random_interactions


def reference_sweep(W, A, Y, reg, X0, b, observed, shares):
    """The block half-step with dense numpy: a row with at most ``b`` entries
    whose weights ``c - w0 p q`` are all >= 0 is set to its exact minimiser;
    for every other row, each block of ``b`` columns in turn is set to the
    exact minimiser with the rest fixed (block coordinate descent)."""
    X = X0.copy()
    d = Y.shape[1]
    for i in range(X.shape[0]):
        H = (Y * W[i][:, None]).T @ Y + reg[i] * np.eye(d)
        beta = Y.T @ (W[i] * A[i])
        cols = observed[i]
        if len(cols) <= b and np.all(W[i, cols] - shares[i, cols] >= 0):
            X[i] = np.linalg.solve(H, beta)
            continue
        for first in range(0, d, b):
            B = slice(first, min(first + b, d))
            rest = np.ones(d, dtype=bool)
            rest[B] = False
            X[i, B] = np.linalg.solve(H[B, B], beta[B] - H[B][:, rest] @ X[i, rest])
    return X


@pytest.mark.parametrize("d, b", [(7, 1), (7, 3), (7, 4), (7, 7), (16, 8), (16, 16), (16, 5)])
@pytest.mark.parametrize("w0", [0.0, 0.4, 3.0])
def test_one_sweep_is_block_coordinate_descent(d, b, w0):
    """Rows of 0 to 20 entries take every route (Woodbury up to b entries,
    register tiles where 8 divides b, loops elsewhere); w0 = 3 makes some
    weights c - w0 p q negative, which the Woodbury route must leave alone."""
    rng = np.random.default_rng(d * 10 + b)
    X = random_interactions(14, 30, 0.3, seed=1)
    m, n = X.shape
    Y = rng.standard_normal((n, d))
    X0 = rng.standard_normal((m, d))
    p, q = 0.5 + rng.random(m), 0.5 + rng.random(n)
    conf = 1.0 + rng.random(X.nnz)
    reg = 0.1 + rng.random(m)
    # the kernel's contract: factors in the eigenbasis of Y^T diag(q) Y
    lam, Q = np.linalg.eigh(Y.T @ (q[:, None] * Y))
    Y, X0 = Y @ Q, X0 @ Q
    coo = X.tocoo()
    W = naive.dense_weights((m, n), coo.row, coo.col, conf, w0, p, q)
    A = naive.dense_targets((m, n), coo.row, coo.col, coo.data)
    out = X0.copy()
    rows = HalfStepRows(X.indptr.astype(np.int64), X.indices, X.data, conf, p, reg,
                        uniform_chunks(m))
    sums = half_step_block(rows, Y, lam, w0, q, b, out, track_observed=True)
    observed = np.split(X.indices, X.indptr[1:-1])
    expected = reference_sweep(W, A, Y, reg, X0, b, observed, w0 * np.outer(p, q))
    np.testing.assert_allclose(out, expected, rtol=1e-8, atol=1e-10)
    # the observed part of the objective at the new rows
    pred = out @ Y.T
    observed = sum(conf[e] * (coo.data[e] - pred[coo.row[e], coo.col[e]]) ** 2
                   - w0 * p[coo.row[e]] * q[coo.col[e]] * pred[coo.row[e], coo.col[e]] ** 2
                   for e in range(X.nnz))
    assert sums.observed == pytest.approx(observed, rel=1e-9)
    assert sums.penalty == pytest.approx(float(reg @ np.sum(out * out, axis=1)), rel=1e-9)


def sweep_case(X, d, b, seed, dtype=np.float64):
    """One block half-step on a random problem, and the reference's result.

    Returns ``(out, expected, observed)``: the kernel's rows (``dtype``
    factors and values), :func:`reference_sweep`'s float64 rows and each
    row's stored columns."""
    rng = np.random.default_rng(seed)
    m, n = X.shape
    Y = rng.standard_normal((n, d)) / np.sqrt(d)
    X0 = rng.standard_normal((m, d)) / np.sqrt(d)
    p, q = 0.5 + rng.random(m), 0.5 + rng.random(n)
    conf = 1.0 + rng.random(X.nnz)
    reg = 0.1 + rng.random(m)
    w0 = 0.4
    lam, Q = np.linalg.eigh(Y.T @ (q[:, None] * Y))
    Y, X0 = Y @ Q, X0 @ Q
    coo = X.tocoo()
    W = naive.dense_weights((m, n), coo.row, coo.col, conf, w0, p, q)
    A = naive.dense_targets((m, n), coo.row, coo.col, coo.data)
    out = X0.astype(dtype)
    rows = HalfStepRows(X.indptr.astype(np.int64), X.indices, X.data.astype(dtype),
                        conf.astype(dtype), p, reg, uniform_chunks(m))
    half_step_block(rows, Y.astype(dtype), lam, w0, q, b, out)
    observed = np.split(X.indices, X.indptr[1:-1])
    expected = reference_sweep(W, A, Y, reg, X0, b, observed, w0 * np.outer(p, q))
    return out, expected, observed


@pytest.mark.parametrize("d", [64, 70, 128])
def test_the_default_block_size_sweeps_like_the_reference(d):
    """Blocks of ``SOLVED_BLOCK`` columns take a Cholesky compiled for that size;
    rows of 70-85 entries sweep them (d = 70: a last block of 6 columns)."""
    X = random_interactions(6, 90, 0.85, seed=3)
    out, expected, observed = sweep_case(X, d, SOLVED_BLOCK, seed=d)
    assert all(len(cols) > SOLVED_BLOCK for cols in observed)
    np.testing.assert_allclose(out, expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("d, b, density", [(16, 8, 0.15), (16, 16, 0.3), (24, 5, 0.1)])
def test_float32_sweep_matches_the_float64_reference(d, b, density):
    """The passes over the gathered rows and the Woodbury route's ``T`` run
    in the factors' dtype: in float32 they must still reach the float64
    minimisers to float32 accuracy, on every route."""
    X = random_interactions(40, 60, density, seed=2)
    out, expected, observed = sweep_case(X, d, b, seed=d + b, dtype=np.float32)
    assert any(len(cols) <= b for cols in observed) and any(len(cols) > b for cols in observed)
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_warm_starts_rotated_as_they_are_read(dtype):
    """With ``start_rotation`` the rows come in another basis: the swept rows
    start from ``out @ R`` and every row ends in ``other``'s basis, as if all
    of ``out`` had been rotated first."""
    X = random_interactions(50, 40, 0.2, seed=5)
    d, b = 12, 8
    rng = np.random.default_rng(6)
    m, n = X.shape
    Y = rng.standard_normal((n, d)).astype(dtype)
    lam = np.linalg.eigvalsh(Y.T.astype(np.float64) @ Y)  # any diagonal serves here
    R = np.linalg.qr(rng.standard_normal((d, d)))[0].astype(dtype)
    X0 = rng.standard_normal((m, d)).astype(dtype)
    rows = HalfStepRows(X.indptr.astype(np.int64), X.indices, X.data.astype(dtype),
                        X.data.astype(dtype), np.ones(m), np.full(m, 0.1), uniform_chunks(m))
    counts = np.diff(X.indptr)
    assert (counts <= b).any() and (counts > b).any()  # both routes
    rotated_first = X0 @ R
    half_step_block(rows, Y, lam, 0.3, np.ones(n), b, rotated_first)
    lazily = X0.copy()
    half_step_block(rows, Y, lam, 0.3, np.ones(n), b, lazily, start_rotation=R)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(lazily, rotated_first, rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="start_rotation must have shape"):
        half_step_block(rows, Y, lam, 0.3, np.ones(n), b, lazily, start_rotation=R[:, :3])


def test_a_block_of_all_columns_is_the_exact_solver():
    X = random_interactions(40, 30, 0.2, seed=2)
    common = dict(factors=6, iterations=3, dtype="float64", random_state=0)
    exact = fastwmf.WALS(solver="cholesky", **common).fit(X)
    block = fastwmf.WALS(solver="block", block_size=6, **common).fit(X)
    np.testing.assert_allclose(block.user_factors_, exact.user_factors_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(block.item_factors_, exact.item_factors_, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("block_size", [1, 4, 5])
def test_the_objective_never_increases(block_size):
    X = random_interactions(60, 40, 0.15, seed=3)
    model = fastwmf.WALS(factors=10, solver="block", block_size=block_size, iterations=8,
                         dtype="float64", random_state=0).fit(X)
    history = np.array(model.loss_history_)
    assert np.all(np.diff(history) <= 1e-9 * np.abs(history[:-1]))
    loss = model.loss(X)
    assert loss == pytest.approx(history[-1], rel=1e-9)


def test_bit_identical_across_thread_counts(monkeypatch):
    import fastwmf.models._problem as problem
    monkeypatch.setattr(problem, "RENUMBER_MIN_ENTRIES", 1)  # the renumbered layout too
    X = random_interactions(80, 50, 0.2, seed=4)
    fits = []
    for threads in (1, 2):
        model = fastwmf.WALS(factors=8, solver="block", block_size=3, iterations=3,
                             random_state=0, num_threads=threads)
        fits.append(model.fit(X))
    np.testing.assert_array_equal(fits[0].user_factors_, fits[1].user_factors_)
    np.testing.assert_array_equal(fits[0].item_factors_, fits[1].item_factors_)


@pytest.mark.parametrize("block_size, match", [(0, "block_size must be >= 1"),
                                               (9, "block_size must be <= factors"),
                                               (2.5, "block_size must be an integer")])
def test_bad_block_sizes(block_size, match):
    X = random_interactions(20, 15, 0.3, seed=0)
    with pytest.raises((ValueError, TypeError), match=match):
        fastwmf.WALS(factors=8, solver="block", block_size=block_size).fit(X)
