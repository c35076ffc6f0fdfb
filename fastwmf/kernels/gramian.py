"""Weighted Gramian ``F^T diag(w) F`` accumulated in float64."""

import numpy as np

from .._threading import run_tasks

#: Bytes of one float64 block of rows converted and multiplied per BLAS call
#: (the block, its weighted copy and the product stay in the L2 cache).
GRAMIAN_BLOCK_BYTES = 256 * 1024


def weighted_gramian(factors, weights, chunk_bounds):
    """Return ``sum_r weights[r] * outer(factors[r], factors[r])`` as float64.

    Each chunk of rows is summed block by block in BLAS products on
    :func:`fastwmf._threading.run_tasks`'s threads (nothing to compile).

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
    n_chunks = len(chunk_bounds) - 1
    d = factors.shape[1]
    block_rows = max(64, GRAMIAN_BLOCK_BYTES // (8 * max(d, 1)))
    partial = np.zeros((max(n_chunks, 1), d, d))
    weights = np.asarray(weights, dtype=np.float64)

    def chunk(c):
        total = partial[c]
        product = np.empty((d, d))
        for start in range(chunk_bounds[c], chunk_bounds[c + 1], block_rows):
            stop = min(start + block_rows, chunk_bounds[c + 1])
            block = factors[start:stop].astype(np.float64)
            scaled = np.multiply(factors[start:stop], weights[start:stop, None],
                                 dtype=np.float64)
            np.dot(scaled.T, block, out=product)
            total += product

    run_tasks(chunk, n_chunks)
    out = partial[0].copy()
    for c in range(1, n_chunks):
        out += partial[c]
    return 0.5 * (out + out.T)  # exactly symmetric regardless of BLAS rounding
