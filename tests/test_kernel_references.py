"""Kernels without a test of their own against plain numpy: the weighted
Gramian, the loss sums and the small Cholesky solves."""

import numba
import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from fastwmf._threading import thread_limits, uniform_chunks
from fastwmf.kernels.gramian import merge_short_chunks, weighted_gramian
from fastwmf.kernels.linalg import cholesky_solve_spd, cholesky_solve_upper, identity_plus_gram
from fastwmf.kernels.loss import observed_loss, observed_loss_entries, weighted_squared_norm

SEEDS = st.integers(0, 2**32 - 1)


@settings(max_examples=40, deadline=None)
@given(SEEDS, st.integers(0, 700), st.integers(1, 40), st.sampled_from([np.float32, np.float64]),
       st.booleans(), st.integers(1, 64))
def test_weighted_gramian_is_the_weighted_product(seed, n, d, dtype, unit, chunk_rows):
    """Chunks shorter than ``GRAMIAN_BLOCK_DEPTH * d`` rows (up to 160) are merged."""
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, d)).astype(dtype)
    w = np.ones(n) if unit else rng.uniform(0.0, 3.0, n)
    G = weighted_gramian(F, w, uniform_chunks(n, min_rows=chunk_rows))
    F64 = F.astype(np.float64)
    want = (F64 * w[:, None]).T @ F64
    if dtype == np.float32:  # blocks of rows summed in float32: the standard dot-product bound
        magnitude = (np.abs(F64) * w[:, None]).T @ np.abs(F64)
        bound = 2 * (n + 2) * np.finfo(np.float32).eps * magnitude
        assert np.all(np.abs(G - want) <= bound + 1e-30)
    else:
        np.testing.assert_allclose(G, want, rtol=1e-12,
                                   atol=1e-12 * max(1.0, np.abs(want).max()))
    assert G.dtype == np.float64 and np.array_equal(G, G.T)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=12), st.integers(1, 60))
def test_merge_short_chunks(lengths, min_rows):
    bounds = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    merged = merge_short_chunks(bounds, min_rows)
    assert merged[0] == bounds[0] and merged[-1] == bounds[-1]
    assert set(merged.tolist()) <= set(bounds.tolist())
    sizes = np.diff(merged)
    if len(bounds) > 2 and len(sizes) > 1:
        assert np.all(sizes >= min_rows)
    # as many chunks as possible: no kept chunk could be split at an original bound
    for lo, hi in zip(merged[:-1], merged[1:]):
        inner = bounds[(bounds > lo) & (bounds < hi)]
        assert not np.any((inner - lo >= min_rows) & (hi - inner >= min_rows))


@settings(max_examples=40, deadline=None)
@given(SEEDS, st.integers(0, 13), st.integers(1, 40), st.sampled_from([np.float32, np.float64]))
def test_identity_plus_gram_is_the_upper_triangle(seed, n, d, dtype):
    """Blocks of four rows and the rows past them (n % 4) alike; rows of T
    past n and columns past d are not read."""
    rng = np.random.default_rng(seed)
    T = rng.standard_normal((n + 2, d + 3)).astype(dtype)
    T[n:] = np.nan
    T[:, d:] = np.nan
    K = np.full((n + 1, n + 1), -7.0)
    identity_plus_gram(T, n, d, K, dtype(0.0))
    T64 = T[:n, :d].astype(np.float64)
    want = np.eye(n) + T64 @ T64.T
    upper = np.triu(np.ones((n, n), dtype=bool))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(K[:n, :n][upper], want[upper], rtol=tol, atol=tol * d)
    assert np.all(K[n] == -7.0) and np.all(K[:, n] == -7.0)


def _problem(seed, m, n, density, d, dtype):
    rng = np.random.default_rng(seed)
    X = sp.random(m, n, density=density, format="csr", random_state=seed)
    X.sort_indices()
    conf = rng.uniform(0.5, 2.0, X.nnz).astype(dtype)
    U = rng.standard_normal((m, d)).astype(dtype)
    V = rng.standard_normal((n, d)).astype(dtype)
    p, q = rng.uniform(0.2, 2.0, m), rng.uniform(0.2, 2.0, n)
    return X, X.data.astype(dtype), conf, U, V, p, q


def _observed_reference(X, targets, conf, U, V, w0, p, q):
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    cols = X.indices
    pred = np.sum(U[rows].astype(np.float64) * V[cols].astype(np.float64), axis=1)
    err = targets.astype(np.float64) - pred
    return float(np.sum(conf * err**2 - w0 * p[rows] * q[cols] * pred**2)), rows, cols


@settings(max_examples=30, deadline=None)
@given(SEEDS, st.integers(1, 60), st.integers(1, 40), st.floats(0.0, 0.5), st.integers(1, 9),
       st.sampled_from([np.float32, np.float64]), st.floats(0.0, 2.0))
def test_loss_sums_match_numpy(seed, m, n, density, d, dtype, w0):
    X, targets, conf, U, V, p, q = _problem(seed, m, n, density, d, dtype)
    want, rows, cols = _observed_reference(X, targets, conf, U, V, w0, p, q)
    rtol = 1e-5 if dtype == np.float32 else 1e-11
    scale = max(1.0, abs(want), float(np.sum(conf)))
    for threads in (1, 2):
        with thread_limits(min(threads, numba.config.NUMBA_NUM_THREADS)):
            got = observed_loss(X.indptr.astype(np.int64), X.indices, targets, conf, U, V, w0,
                                p, q, uniform_chunks(m, n_chunks=7))
            shuffled = np.random.default_rng(seed).permutation(X.nnz)
            entries = observed_loss_entries(
                rows[shuffled].astype(np.int32), cols[shuffled].astype(np.int32),
                targets[shuffled], conf[shuffled], U, V, w0, p, q,
                uniform_chunks(X.nnz, n_chunks=5))
        assert abs(got - want) <= rtol * scale
        assert abs(entries - want) <= rtol * scale
    reg = np.random.default_rng(seed + 1).uniform(0.0, 1.0, m)
    norm = weighted_squared_norm(U, reg, uniform_chunks(m, n_chunks=3))
    want_norm = float(np.sum(reg * np.sum(U.astype(np.float64) ** 2, axis=1)))
    assert abs(norm - want_norm) <= 1e-12 * max(1.0, want_norm)


def _spd(rng, size, unit_bound):
    T = rng.standard_normal((size + 3, size))
    K = T.T @ T
    return K + np.eye(size) if unit_bound else K + 1e-3 * np.eye(size)


@settings(max_examples=40, deadline=None)
@given(SEEDS, st.integers(1, 40))
def test_cholesky_solve_spd_solves_unit_bounded_systems(seed, size):
    rng = np.random.default_rng(seed)
    K = _spd(rng, size, unit_bound=True)
    b = rng.standard_normal(size)
    work = np.triu(K) + np.tril(np.full_like(K, np.nan), -1)  # reads the upper triangle only
    x = b.copy()
    cholesky_solve_spd(work, x, size)
    np.testing.assert_allclose(x, np.linalg.solve(K, b), rtol=1e-9, atol=1e-11)


@settings(max_examples=40, deadline=None)
@given(SEEDS, st.integers(1, 40))
def test_cholesky_solve_upper_solves_positive_definite_systems(seed, size):
    rng = np.random.default_rng(seed)
    K = _spd(rng, size, unit_bound=False)
    b = rng.standard_normal(size)
    work = np.triu(K) + np.tril(np.full_like(K, np.nan), -1)
    x = b.copy()
    cholesky_solve_upper(work, x, size)
    np.testing.assert_allclose(K @ x, b, rtol=1e-7, atol=1e-8 * np.abs(b).max())
