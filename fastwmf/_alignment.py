"""Arrays whose rows start on cache-line boundaries.

numpy aligns large allocations to 16 bytes only, so a 256-byte factor row
(64 float32) usually spans five 64-byte cache lines instead of four: a kernel
that reads rows at random then moves a quarter more data than it uses.
"""

import numpy as np

from ._hardware import CACHE_LINE_BYTES


def aligned_empty(shape, dtype, alignment=CACHE_LINE_BYTES):
    """An uninitialised C-contiguous array whose first byte is ``alignment``-aligned.

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy dtype
    alignment : int, default 64
        A power of two.

    Returns
    -------
    ndarray
        A view into a slightly larger buffer (its ``base``); with rows of a
        multiple of ``alignment`` bytes, every row starts on a boundary.
    """
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes == 0:
        return np.empty(shape, dtype)  # no bytes to align
    buffer = np.empty(nbytes + alignment, dtype=np.uint8)
    offset = -buffer.ctypes.data % alignment
    return buffer[offset:offset + nbytes].view(dtype).reshape(shape)
