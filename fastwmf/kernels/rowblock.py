"""Dense helpers over one row's gathered factor vectors.

Every helper takes the vector length ``D`` as an argument. LLVM inlines the
helpers into a kernel compiled for one factor count (see
:mod:`fastwmf.kernels.specialise`), where ``D`` is a constant, and emits
unrolled SIMD code there. (Numba-level ``inline="always"`` was measured
and not kept: benchmarks/README.md, "Kernel constants".) Rows are
processed four at a time so that each load of the shared vector serves four
dot products, and each load and store of the accumulator serves four updates.
"""

import numpy as np
from numba import njit

from .._config import SERIAL
from .._hardware import CACHE_LINE_BYTES
from ._llvm import prefetch, prefetch_row

#: Rows :func:`gather_rows` prefetches ahead: far enough to overlap the cache
#: misses of successive rows, near enough that the lines are still cached when
#: read (chosen by measurement: benchmarks/README.md, "Kernel constants").
GATHER_AHEAD = 16


@njit(**SERIAL)
def longest_span(starts, ends, first, stop):
    """The most stored entries of rows ``first .. stop-1`` (``ends[i] - starts[i]``)."""
    longest = 0
    for i in range(first, stop):
        longest = max(longest, ends[i] - starts[i])
    return longest


@njit(**SERIAL)
def gather_rows(other, indices, start, count, block, d):
    """``block[q, :d] = other[indices[start + q], :d]`` for ``q < count``.

    Columns ``d:`` of ``block`` are left as they are (zero padding). The row
    :data:`GATHER_AHEAD` entries ahead is prefetched, so that the cache misses
    of successive rows overlap (their addresses come from ``indices``, which
    the hardware prefetchers cannot follow).
    """
    for q in range(count):
        if q + GATHER_AHEAD < count:
            prefetch_row(other, indices[start + q + GATHER_AHEAD], d)
        j = indices[start + q]
        for t in range(d):
            block[q, t] = other[j, t]


@njit(**SERIAL)
def gather_columns_dot(other, indices, start, count, first, b, block, x, dots, zero):
    """``block[q, :b] = other[indices[start + q], first:first + b]`` and
    ``dots[q] = block[q, :b] . x[:b]`` for ``q < count``, in one pass.

    The block's columns of the row :data:`GATHER_AHEAD` entries ahead are
    prefetched, as in :func:`gather_rows`; ``zero`` sets the sum type.
    """
    line = max(CACHE_LINE_BYTES // other.itemsize, 1)
    # an unsigned column: without it each load carries negative-index
    # wraparound code, and the loop does not vectorise
    column = np.uint64(first)
    for q in range(count):
        if q + GATHER_AHEAD < count:
            ahead = indices[start + q + GATHER_AHEAD]
            for t in range(first, first + b, line):
                prefetch(other, (ahead, t))
            prefetch(other, (ahead, first + b - 1))
        j = indices[start + q]
        s = zero
        for t in range(b):
            y = other[j, column + np.uint64(t)]
            block[q, t] = y
            s += y * x[t]
        dots[q] = s


@njit(**SERIAL)
def indexed_rows_dot(other, indices, start, count, x, dots, D, zero):
    """``dots[q] = other[indices[start + q], :D] . x[:D]`` for ``q < count``,
    four rows at a time, read where they lie (the row :data:`GATHER_AHEAD`
    entries ahead prefetched); ``zero`` sets the sum type."""
    q = 0
    while q + 4 <= count:
        if q + 4 + GATHER_AHEAD <= count:
            for k in range(4):
                prefetch_row(other, indices[start + q + GATHER_AHEAD + k], D)
        dots[q], dots[q + 1], dots[q + 2], dots[q + 3] = four_dots(
            other, indices[start + q], indices[start + q + 1], indices[start + q + 2],
            indices[start + q + 3], x, D, zero)
        q += 4
    while q < count:
        dots[q] = row_dot(other, indices[start + q], x, D, zero)
        q += 1


@njit(**SERIAL)
def four_dots(other, j0, j1, j2, j3, x, D, zero):
    """``other[j, :D] . x[:D]`` for the four rows ``j0 .. j3``, in one pass over ``x``."""
    d0 = zero
    d1 = zero
    d2 = zero
    d3 = zero
    for t in range(D):
        xt = x[t]
        d0 += other[j0, t] * xt
        d1 += other[j1, t] * xt
        d2 += other[j2, t] * xt
        d3 += other[j3, t] * xt
    return d0, d1, d2, d3


@njit(**SERIAL)
def row_dot(other, j, x, D, zero):
    """``other[j, :D] . x[:D]``."""
    d0 = zero
    for t in range(D):
        d0 += other[j, t] * x[t]
    return d0


@njit(**SERIAL)
def four_rows_axpy(other, j0, j1, j2, j3, w0, w1, w2, w3, out, D):
    """``out[:D] += w0 other[j0, :D] + ... + w3 other[j3, :D]``."""
    for t in range(D):
        out[t] += (w0 * other[j0, t] + w1 * other[j1, t]
                   + w2 * other[j2, t] + w3 * other[j3, t])


@njit(**SERIAL)
def rows_dot(block, count, x, dots, D, zero):
    """``dots[q] = block[q, :D] . x[:D]`` for ``q < count``; ``zero`` sets the sum type."""
    q = 0
    while q + 4 <= count:
        d0 = zero
        d1 = zero
        d2 = zero
        d3 = zero
        for t in range(D):
            xt = x[t]
            d0 += block[q, t] * xt
            d1 += block[q + 1, t] * xt
            d2 += block[q + 2, t] * xt
            d3 += block[q + 3, t] * xt
        dots[q] = d0
        dots[q + 1] = d1
        dots[q + 2] = d2
        dots[q + 3] = d3
        q += 4
    while q < count:
        d0 = zero
        for t in range(D):
            d0 += block[q, t] * x[t]
        dots[q] = d0
        q += 1


@njit(**SERIAL)
def rows_axpy(block, count, weights, out, D):
    """``out[:D] += sum_q weights[q] * block[q, :D]`` for ``q < count``."""
    q = 0
    while q + 4 <= count:
        w0 = weights[q]
        w1 = weights[q + 1]
        w2 = weights[q + 2]
        w3 = weights[q + 3]
        for t in range(D):
            out[t] += (w0 * block[q, t] + w1 * block[q + 1, t]
                       + w2 * block[q + 2, t] + w3 * block[q + 3, t])
        q += 4
    while q < count:
        w0 = weights[q]
        for t in range(D):
            out[t] += w0 * block[q, t]
        q += 1


@njit(**SERIAL)
def rows_dot_axpy(block, count, x, coef, offset, dots, out, D, zero):
    """``dots[q] = block[q, :D] . x[:D]``, then ``out[:D] += sum_q coef[offset + q]
    * dots[q] * block[q, :D]``, for ``q < count``, four rows at a time.

    The same sums as :func:`rows_dot` followed by :func:`rows_axpy` with
    weights ``coef[offset + q] * dots[q]`` (rounded to ``x``'s type), in one
    pass over the block: each group of four rows is added while it is still in
    the first-level cache. ``dots`` keeps the plain dot products.
    """
    q = 0
    while q + 4 <= count:
        d0 = zero
        d1 = zero
        d2 = zero
        d3 = zero
        for t in range(D):
            xt = x[t]
            d0 += block[q, t] * xt
            d1 += block[q + 1, t] * xt
            d2 += block[q + 2, t] * xt
            d3 += block[q + 3, t] * xt
        dots[q] = d0
        dots[q + 1] = d1
        dots[q + 2] = d2
        dots[q + 3] = d3
        w0 = d0 * coef[offset + q]
        w1 = d1 * coef[offset + q + 1]
        w2 = d2 * coef[offset + q + 2]
        w3 = d3 * coef[offset + q + 3]
        for t in range(D):
            out[t] += (w0 * block[q, t] + w1 * block[q + 1, t]
                       + w2 * block[q + 2, t] + w3 * block[q + 3, t])
        q += 4
    while q < count:
        d0 = zero
        for t in range(D):
            d0 += block[q, t] * x[t]
        dots[q] = d0
        w0 = d0 * coef[offset + q]
        for t in range(D):
            out[t] += w0 * block[q, t]
        q += 1


@njit(**SERIAL)
def diagonal_apply(values, x, scale, shift, out, D):
    """``out[:D] = (scale * values[:D] + shift) * x[:D]``: ``scale * G x + shift * x``
    for ``G = diag(values)``."""
    for t in range(D):
        out[t] = (scale * values[t] + shift) * x[t]
