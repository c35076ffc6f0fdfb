"""Change of basis of factor rows, in place and in parallel."""

import numpy as np

from .._threading import run_tasks

#: Bytes of one block of rows of :func:`rotate_rows_parallel`: a block and its
#: product stay in the L2 cache, unless that is fewer than
#: :data:`ROTATE_MIN_ROWS` rows.
ROTATE_BLOCK_BYTES = 256 * 1024

#: Fewest rows per block: each product packs the whole ``d x d`` rotation,
#: which a block of few rows does not amortise at large d
#: (benchmarks/README.md, "Gramian and rotation blocks for large d").
ROTATE_MIN_ROWS = 512


def rotate_rows_parallel(rows, rotation, block_rows=None):
    """``rows[:] = rows @ rotation`` in place, blocks of rows on several threads.

    Each block is one BLAS product on :func:`fastwmf._threading.run_tasks`'s
    threads; under a BLAS limit of one thread (as in a fit, see
    :func:`fastwmf._threading.thread_limits`) each product runs on one core
    (the result is the same either way). Returns ``rows``.

    Parameters
    ----------
    rows : ndarray, shape (m, d), C-contiguous
    rotation : ndarray, shape (d, d), of ``rows``' dtype
    block_rows : int, optional
        Rows per block (default: :data:`ROTATE_BLOCK_BYTES` of them, at least
        :data:`ROTATE_MIN_ROWS`).
    """
    m, d = rows.shape
    if block_rows is None:
        block_rows = max(ROTATE_MIN_ROWS, ROTATE_BLOCK_BYTES // (rows.itemsize * max(d, 1)))
    n_blocks = -(-m // block_rows)

    def block(b):
        start = b * block_rows
        stop = min(start + block_rows, m)
        rows[start:stop] = np.dot(rows[start:stop], rotation)

    run_tasks(block, n_blocks)
    return rows
