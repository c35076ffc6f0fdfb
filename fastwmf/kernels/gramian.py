"""Weighted Gramian ``F^T diag(w) F`` accumulated in float64."""

import numpy as np
from numba import njit, prange

from .._config import PARALLEL


@njit(**PARALLEL)
def weighted_gramian(factors, weights, chunk_bounds):
    """Return ``sum_r weights[r] * outer(factors[r], factors[r])`` as float64.

    Parameters
    ----------
    factors : ndarray, shape (n, d)
    weights : ndarray of float64, shape (n,)
    chunk_bounds : ndarray of int64
        Row chunk boundaries; per-chunk partial sums are added in chunk order,
        so the result does not depend on the thread count.
    """
    n_chunks = chunk_bounds.shape[0] - 1
    d = factors.shape[1]
    partial = np.zeros((max(n_chunks, 1), d, d))
    for c in prange(n_chunks):
        lo = chunk_bounds[c]
        hi = chunk_bounds[c + 1]
        block = np.empty((hi - lo, d))
        scaled = np.empty((hi - lo, d))
        for r in range(lo, hi):
            w = weights[r]
            for a in range(d):
                x = np.float64(factors[r, a])
                block[r - lo, a] = x
                scaled[r - lo, a] = w * x
        partial[c] = np.dot(scaled.T, block)
    out = np.zeros((d, d))
    for c in range(n_chunks):
        out += partial[c]
    for a in range(d):  # exact symmetry regardless of BLAS rounding
        for b in range(a + 1, d):
            s = 0.5 * (out[a, b] + out[b, a])
            out[a, b] = s
            out[b, a] = s
    return out
