"""Weighted Gramian ``F^T diag(w) F`` accumulated in float64."""

import numpy as np
from numba import njit, prange

from .._config import PARALLEL

#: Rows copied to float64 and multiplied per BLAS call (bounds scratch memory).
GRAMIAN_BLOCK_ROWS = 512


@njit(**PARALLEL)
def weighted_gramian(factors, weights, chunk_bounds):
    """Return ``sum_r weights[r] * outer(factors[r], factors[r])`` as float64.

    Parameters
    ----------
    factors : ndarray, shape (n, d)
    weights : ndarray of float64, shape (n,)
    chunk_bounds : ndarray of int64
        Row chunk boundaries; per-chunk partial sums are added in chunk order,
        so the result does not depend on the thread count. Use a few chunks
        (see :func:`fastwmf._threading.uniform_chunks`): each holds a d x d
        partial.
    """
    n_chunks = chunk_bounds.shape[0] - 1
    d = factors.shape[1]
    partial = np.zeros((max(n_chunks, 1), d, d))
    for c in prange(n_chunks):
        rows_max = min(GRAMIAN_BLOCK_ROWS, chunk_bounds[c + 1] - chunk_bounds[c])
        block = np.empty((rows_max, d))
        scaled = np.empty((rows_max, d))
        for start in range(chunk_bounds[c], chunk_bounds[c + 1], GRAMIAN_BLOCK_ROWS):
            stop = min(start + GRAMIAN_BLOCK_ROWS, chunk_bounds[c + 1])
            rows = stop - start
            for r in range(rows):
                w = weights[start + r]
                for a in range(d):
                    x = np.float64(factors[start + r, a])
                    block[r, a] = x
                    scaled[r, a] = w * x
            partial[c] += np.dot(scaled[:rows].T, block[:rows])
    out = np.zeros((d, d))
    for c in range(n_chunks):
        out += partial[c]
    for a in range(d):  # exact symmetry regardless of BLAS rounding
        for b in range(a + 1, d):
            s = 0.5 * (out[a, b] + out[b, a])
            out[a, b] = s
            out[b, a] = s
    return out
