"""Weighted Gramian ``F^T diag(w) F`` accumulated in float64."""

import numpy as np

from .._threading import run_tasks

#: Bytes of one block of rows multiplied per BLAS call (the block, its
#: weighted copy and the product stay in the L2 cache), unless
#: :data:`GRAMIAN_BLOCK_DEPTH` ``* d`` rows take more.
GRAMIAN_BLOCK_BYTES = 256 * 1024

#: A block (and a chunk) has at least this many times ``d`` rows, so that its
#: product's ``rows d^2`` multiply-adds outweigh adding the ``d x d`` result
#: into the float64 sum (benchmarks/README.md, "Gramian and rotation blocks
#: for large d").
GRAMIAN_BLOCK_DEPTH = 4


def weighted_gramian(factors, weights, chunk_bounds):
    """Return ``sum_r weights[r] * outer(factors[r], factors[r])`` as float64.

    Each chunk of rows is summed block by block: the block's rows scaled by
    ``sqrt(weights)``, then ``B^T B``, which NumPy hands to BLAS ``syrk``
    (half the work of a general product, exactly symmetric, GIL released),
    on :func:`fastwmf._threading.run_tasks`'s threads (nothing to compile).
    A block's product is taken in the factors' dtype and added into the
    chunk's float64 sum, as the half-steps' register tiles are: float32
    factors carry float32 rounding already, and no float64 copy of each block
    is made (benchmarks/README.md, "Gramians in the factors' dtype"). A
    block has at least :data:`GRAMIAN_BLOCK_DEPTH` ``* d`` rows, so that its
    ``d x d`` product is not mostly a write of the sum; a shorter chunk is
    merged with the next (:func:`merge_short_chunks`).

    Parameters
    ----------
    factors : ndarray, shape (n, d)
    weights : ndarray of float64, shape (n,)
        Non-negative (as every unobserved weight is).
    chunk_bounds : ndarray of int64
        Row chunk boundaries; per-chunk partial sums are added in chunk order,
        so the result does not depend on the thread count. Use a few chunks
        (see :func:`fastwmf._threading.uniform_chunks`): each holds a d x d
        partial.
    """
    d = factors.shape[1]
    chunk_bounds = merge_short_chunks(chunk_bounds, GRAMIAN_BLOCK_DEPTH * d)
    n_chunks = len(chunk_bounds) - 1
    block_rows = max(64, GRAMIAN_BLOCK_BYTES // (factors.itemsize * max(d, 1)),
                     GRAMIAN_BLOCK_DEPTH * d)
    roots = np.sqrt(np.asarray(weights, dtype=np.float64)).astype(factors.dtype)
    unit = bool(np.all(roots == 1.0))
    partial = np.zeros((max(n_chunks, 1), d, d))

    def chunk(c):
        total = partial[c]
        for start in range(chunk_bounds[c], chunk_bounds[c + 1], block_rows):
            stop = min(start + block_rows, chunk_bounds[c + 1])
            block = factors[start:stop]
            if not unit:
                block = block * roots[start:stop, None]
            total += np.dot(block.T, block)  # one operand twice: syrk

    run_tasks(chunk, n_chunks)
    out = partial[0]
    for c in range(1, n_chunks):
        out += partial[c]
    return out


def merge_short_chunks(chunk_bounds, min_rows):
    """Chunk boundaries with each chunk of fewer than ``min_rows`` rows merged
    into the next (the last into the one before); the first and last
    boundaries are kept. Depends on the boundaries alone, never on the
    thread count."""
    bounds = np.asarray(chunk_bounds, dtype=np.int64)
    if len(bounds) <= 2:
        return bounds
    kept = [int(bounds[0])]
    for bound in bounds[1:-1]:
        if bound - kept[-1] >= min_rows:
            kept.append(int(bound))
    if len(kept) > 1 and bounds[-1] - kept[-1] < min_rows:
        kept.pop()
    kept.append(int(bounds[-1]))
    return np.array(kept, dtype=np.int64)
