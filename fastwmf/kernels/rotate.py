"""Change of basis of factor rows, in place and in parallel."""

import numpy as np
from numba import njit, prange

from .._config import PARALLEL

#: Rows per block of :func:`rotate_rows_parallel`: a block and its product
#: stay in the L2 cache at d = 256 in float64.
ROTATE_BLOCK_ROWS = 256


@njit(**PARALLEL)
def _rotate_blocks(rows, rotation, block_rows):
    m = rows.shape[0]
    n_blocks = (m + block_rows - 1) // block_rows
    for b in prange(n_blocks):
        start = b * block_rows
        stop = min(start + block_rows, m)
        rows[start:stop] = np.dot(rows[start:stop], rotation)


def rotate_rows_parallel(rows, rotation, block_rows=ROTATE_BLOCK_ROWS):
    """``rows[:] = rows @ rotation`` in place, blocks of rows on Numba's threads.

    Each block is one BLAS product; under a BLAS limit of one thread (as in a
    fit, see :func:`fastwmf._threading.thread_limits`) the work runs on Numba's
    threads alone, otherwise each of them may also start BLAS threads (the
    result is the same). Returns ``rows``.
    """
    if rows.shape[0]:
        _rotate_blocks(rows, rotation, block_rows)
    return rows
