"""CG for a half-step's long rows, in lockstep over tiles of the fixed factors.

The CG kernel of :mod:`.als` solves one row at a time: it gathers the fixed
factor rows of the row's entries and takes its CG steps over them. On a
power-law side a few rows hold much of the data (the most popular items),
and their entries reach rows all over the fixed factor matrix. When that
matrix is larger than the caches, each gather waits for memory, and a row
too long to keep gathered is gathered again in each step.

Here the long rows are solved together instead. Each pass of CG (the
residual at the warm start, then the product of each step) walks the fixed
factor matrix once, one *tile* of its rows at a time, sized to stay in the
second-level cache, and adds the entries of every long row that fall in the
tile, reading the factor rows where they lie. A factor row is then loaded
from memory about once per pass for all long rows together, instead of once
per entry. The CG recurrence of each row is that of :mod:`.als` (same
scalars, same stopping rules); only the order of the sums over a row's
entries is grouped differently at tile edges, so the results agree to
rounding. Each row's sums follow its entries in order whatever the thread
count, and the half-step's sums are added row by row, so the result does not
depend on how rows are shared out among threads.

A long row's entries must be sorted by column (as on the item side, which is
built by transposing the user rows), so that each tile's entries of a row
are one contiguous run.
"""

from typing import NamedTuple

import numpy as np
from numba import njit

from .._config import CHUNK, SERIAL
from ._llvm import prefetch_row
from .rowblock import GATHER_AHEAD, diagonal_apply, four_dots, four_rows_axpy, row_dot
from .specialise import exact_width, specialised

#: Bytes of fixed factor rows in one tile: half of a second-level cache of
#: 1 MB, so that the long rows' own vectors fit beside it (chosen by
#: measurement: benchmarks/README.md, "Long rows in lockstep").
TILE_BYTES = 512 << 10

#: A row is solved in lockstep when it has at least this many stored entries
#: per tile of the fixed factors, on average: fewer, and the per-tile cost of
#: loading and storing its vectors outweighs what the tiling saves.
MIN_ENTRIES_PER_TILE = 24

#: Lockstep pays only where the fixed factors do not fit in the caches: the
#: fixed factor matrix must hold at least this many bytes.
MIN_OTHER_BYTES = 32 << 20


class LongRows(NamedTuple):
    """Which rows of a half-step are solved in lockstep, and how.

    Attributes
    ----------
    count : int
        Rows ``0 .. count-1`` are solved in lockstep; the CG kernel of
        :mod:`.als` solves the rest.
    offsets : ndarray of int64, shape (count, n_tiles + 1)
        ``offsets[i, b]``: where row ``i``'s entries in tile ``b`` begin
        (absolute positions in the rows' ``indices``); ``offsets[i, -1]`` is
        the row's end.
    chunk_bounds : ndarray of int64
        The chunks of the other rows, from row ``count`` on.
    tile_rows : int
        Fixed factor rows per tile.
    """

    count: int
    offsets: np.ndarray
    chunk_bounds: np.ndarray
    tile_rows: int


def tile_rows_for(d, itemsize):
    """Fixed factor rows of ``d`` values of ``itemsize`` bytes in one tile of
    :data:`TILE_BYTES` (at least 1)."""
    return max(1, TILE_BYTES // (d * itemsize))


def plan_long_rows(starts, ends, indices, chunk_bounds, n_other, d, itemsize, *,
                   tile_rows=None, min_entries=None, min_other_bytes=None):
    """The :class:`LongRows` of a half-step, or None when none are worth it.

    The long rows are the leading rows with at least ``min_entries`` stored
    entries each (a side kept by activity has its longest rows first; others
    get the leading run that qualifies, often none).

    Parameters
    ----------
    starts, ends : ndarray of int64
        Where each row's entries begin and end; every long row's entries must
        be sorted by column.
    indices : ndarray of int32
        Column (fixed factor row) of each stored entry.
    chunk_bounds : ndarray of int64
        The half-step's row chunks.
    n_other : int
        Rows of the fixed factor matrix.
    d, itemsize : int
        Its columns and the bytes of one value.
    tile_rows : int, optional
        Fixed factor rows per tile (default :func:`tile_rows_for`).
    min_entries : int, optional
        Fewest entries of a long row (default :data:`MIN_ENTRIES_PER_TILE`
        per tile).
    min_other_bytes : int, optional
        None is returned for a smaller fixed factor matrix (default
        :data:`MIN_OTHER_BYTES`), and for a ``d`` with no kernel compiled for
        it (:func:`.specialise.exact_width`).
    """
    if min_other_bytes is None:
        min_other_bytes = MIN_OTHER_BYTES
    if (n_other * d * itemsize < min_other_bytes or len(starts) == 0
            or exact_width(d) == 0):
        return None
    if tile_rows is None:
        tile_rows = tile_rows_for(d, itemsize)
    if tile_rows < 1:
        raise ValueError(f"tile_rows must be positive, got {tile_rows}")
    n_tiles = -(-n_other // tile_rows)
    if min_entries is None:
        min_entries = MIN_ENTRIES_PER_TILE * n_tiles
    lengths = ends - starts
    short = np.flatnonzero(lengths < max(min_entries, 1))
    count = int(short[0]) if short.size else len(starts)
    if count == 0:
        return None
    offsets = tile_offsets(starts[:count], ends[:count], indices, tile_rows, n_tiles)
    rest = np.unique(np.maximum(chunk_bounds, count))
    return LongRows(count, offsets, rest.astype(np.int64), int(tile_rows))


@njit(**SERIAL)
def tile_offsets(starts, ends, indices, tile_rows, n_tiles):
    """``offsets[i, b]``: the first entry of row ``i`` whose column is in tile
    ``b`` or later (columns sorted within each row); ``offsets[i, n_tiles]``
    is the row's end."""
    count = len(starts)
    offsets = np.empty((count, n_tiles + 1), np.int64)
    for i in range(count):
        e = starts[i]
        stop = ends[i]
        for b in range(n_tiles):
            offsets[i, b] = e
            edge = (b + 1) * tile_rows
            while e < stop and indices[e] < edge:
                e += 1
        offsets[i, n_tiles] = stop
    return offsets


def long_row_groups(offsets, n_groups):
    """Bounds of up to ``n_groups`` runs of long rows with about equal entries each."""
    count = offsets.shape[0]
    if count == 0:
        return np.zeros(1, np.int64)
    work = np.cumsum(offsets[:, -1] - offsets[:, 0] + 1, dtype=np.float64)
    n_groups = max(1, min(int(n_groups), count))
    inner = np.searchsorted(work, work[-1] * np.arange(1, n_groups) / n_groups) + 1
    bounds = np.unique(np.concatenate(([0], inner, [count]))).astype(np.int64)
    return bounds


@njit(**SERIAL)
def segment_add(other, entries, col_weights, wi, start, count, v, out, weights, residual,
                D, zero):
    """Add stored entries ``start .. start+count-1`` of ``entries = (indices,
    targets, confidence)`` to ``out[:D]``, four at a time, reading the rows
    ``y_j`` of ``other`` where they lie (the row :data:`GATHER_AHEAD` entries
    ahead prefetched).

    With ``residual``, ``out += sum_e (c_e a_e - (c_e - wi q_j) y_j.v) y_j``
    (the data part of ``b - A v``); without, ``out += sum_e (c_e - wi q_j)
    (y_j.v) y_j`` (that of ``A v``). ``weights`` is scratch of 4 in the
    factors' dtype: each entry's weight is rounded there as in the CG kernel
    of :mod:`.als`.
    """
    indices = entries[0]
    e = start
    stop = start + count
    while e + 4 <= stop:
        if e + 4 + GATHER_AHEAD <= stop:
            for k in range(4):
                prefetch_row(other, indices[e + GATHER_AHEAD + k], D)
        j0 = indices[e]
        j1 = indices[e + 1]
        j2 = indices[e + 2]
        j3 = indices[e + 3]
        d0, d1, d2, d3 = four_dots(other, j0, j1, j2, j3, v, D, zero)
        _entry_weight(entries, col_weights, wi, e, j0, d0, residual, weights, 0)
        _entry_weight(entries, col_weights, wi, e + 1, j1, d1, residual, weights, 1)
        _entry_weight(entries, col_weights, wi, e + 2, j2, d2, residual, weights, 2)
        _entry_weight(entries, col_weights, wi, e + 3, j3, d3, residual, weights, 3)
        four_rows_axpy(other, j0, j1, j2, j3, weights[0], weights[1], weights[2], weights[3],
                       out, D)
        e += 4
    while e < stop:
        j0 = indices[e]
        d0 = row_dot(other, j0, v, D, zero)
        _entry_weight(entries, col_weights, wi, e, j0, d0, residual, weights, 0)
        w0 = weights[0]
        for t in range(D):
            out[t] += w0 * other[j0, t]
        e += 1


@njit(**SERIAL)
def _entry_weight(entries, col_weights, wi, e, j, dot, residual, weights, k):
    """``weights[k]``: entry ``e``'s weight in :func:`segment_add`, ``c a -
    (c - wi q_j) dot`` rounded once, or ``(c - wi q_j)`` rounded, times ``dot``."""
    _, targets, confidence = entries
    conf = np.float64(confidence[e])
    cq = conf - wi * col_weights[j]
    if residual:
        weights[k] = conf * np.float64(targets[e]) - cq * np.float64(dot)
    else:
        weights[k] = cq
        weights[k] = dot * weights[k]


@njit(**SERIAL)
def segment_observed(other, entries, col_weights, wi, start, count, x, D, zero):
    """``sum_e c_e (a_e - y_j.x)^2 - wi q_j (y_j.x)^2`` over entries
    ``start .. start+count-1``, in float64, four at a time."""
    indices, targets, confidence = entries
    total = 0.0
    e = start
    stop = start + count
    while e + 4 <= stop:
        j0 = indices[e]
        j1 = indices[e + 1]
        j2 = indices[e + 2]
        j3 = indices[e + 3]
        d0, d1, d2, d3 = four_dots(other, j0, j1, j2, j3, x, D, zero)
        total += _entry_loss(targets, confidence, col_weights, wi, e, j0, d0)
        total += _entry_loss(targets, confidence, col_weights, wi, e + 1, j1, d1)
        total += _entry_loss(targets, confidence, col_weights, wi, e + 2, j2, d2)
        total += _entry_loss(targets, confidence, col_weights, wi, e + 3, j3, d3)
        e += 4
    while e < stop:
        j0 = indices[e]
        d0 = row_dot(other, j0, x, D, zero)
        total += _entry_loss(targets, confidence, col_weights, wi, e, j0, d0)
        e += 1
    return total


@njit(**SERIAL)
def _entry_loss(targets, confidence, col_weights, wi, e, j, dot):
    """``c (a - dot)^2 - wi q_j dot^2`` of entry ``e``, in float64."""
    pred = np.float64(dot)
    conf = np.float64(confidence[e])
    err = np.float64(targets[e]) - pred
    return conf * err * err - wi * col_weights[j] * pred * pred


@specialised("cg-long", widths=exact_width)
def _cg_long_kernel(width, float_type):
    """The lockstep CG of a run of long rows, compiled for ``width`` columns
    (0: any; rows of ``other`` are read in place, so no padding) and one
    dtype. ``entries`` is ``(indices, targets, confidence)``, ``weights`` as
    in :mod:`.als`, ``settings`` ``(cg_steps, track, residual_tolerance,
    tiny, curvature_tolerance)``: the steps and the stopping rules of the CG
    kernel of :mod:`.als`."""

    @njit(**CHUNK)
    def cg_long_rows(g, groups, entries, offsets, other, diagonal, weights, settings,
                     row_sums, out):
        """Solve long rows ``groups[g] .. groups[g+1]-1`` into ``out`` and store
        each row's ``(observed, penalty, squares)`` in ``row_sums``."""
        w0, row_weights, col_weights, row_reg = weights
        cg_steps, track, residual_tolerance, tiny, curvature_tolerance = settings
        D = width if width else other.shape[1]
        zero = float_type(0.0)
        first = groups[g]
        count = groups[g + 1] - first
        n_tiles = offsets.shape[1] - 1
        r = np.empty((count, D), other.dtype)
        p = np.empty((count, D), other.dtype)
        Ap = np.empty((count, D), other.dtype)
        rs = np.zeros(count)
        rs_stop = np.zeros(count)
        max_curvature = np.zeros(count)
        live = np.ones(count, np.bool_)
        scratch = np.empty(4, other.dtype)
        for k in range(count):
            i = first + k
            diagonal_apply(diagonal, out[i], -float_type(w0 * row_weights[i]),
                           -float_type(row_reg[i]), r[k], D)
        # r = b - A x, one tile of other's rows at a time
        for b in range(n_tiles):
            for k in range(count):
                i = first + k
                lo = offsets[i, b]
                n = offsets[i, b + 1] - lo
                if n:
                    segment_add(other, entries, col_weights, w0 * row_weights[i], lo, n,
                                out[i], r[k], scratch, True, D, zero)
        for k in range(count):
            total = 0.0
            for t in range(D):
                p[k, t] = r[k, t]
                total += np.float64(r[k, t]) * np.float64(r[k, t])
            rs[k] = total
            rs_stop[k] = residual_tolerance * total
        for _ in range(cg_steps):
            active = False
            for k in range(count):
                # written so that NaN also stops (see the CG kernel of .als)
                if live[k] and not (rs[k] > rs_stop[k] and rs[k] > tiny):
                    live[k] = False
                if live[k]:
                    i = first + k
                    diagonal_apply(diagonal, p[k], float_type(w0 * row_weights[i]),
                                   float_type(row_reg[i]), Ap[k], D)
                    active = True
            if not active:
                break
            for b in range(n_tiles):
                for k in range(count):
                    if live[k]:
                        i = first + k
                        lo = offsets[i, b]
                        n = offsets[i, b + 1] - lo
                        if n:
                            segment_add(other, entries, col_weights, w0 * row_weights[i],
                                        lo, n, p[k], Ap[k], scratch, False, D, zero)
            for k in range(count):
                if not live[k]:
                    continue
                i = first + k
                pAp = 0.0
                pp = 0.0
                for t in range(D):
                    pAp += np.float64(p[k, t]) * np.float64(Ap[k, t])
                    pp += np.float64(p[k, t]) * np.float64(p[k, t])
                if not (pp > tiny and pAp > 0.0):
                    live[k] = False
                    continue
                curvature = pAp / pp
                max_curvature[k] = max(max_curvature[k], curvature)
                if not (curvature > curvature_tolerance * max_curvature[k]):
                    live[k] = False
                    continue
                alpha = float_type(rs[k] / pAp)
                rs_new = 0.0
                for t in range(D):
                    out[i, t] += alpha * p[k, t]
                    r[k, t] -= alpha * Ap[k, t]
                    rs_new += np.float64(r[k, t]) * np.float64(r[k, t])
                beta = float_type(rs_new / rs[k])
                for t in range(D):
                    p[k, t] = r[k, t] + beta * p[k, t]
                rs[k] = rs_new
        for k in range(count):
            i = first + k
            norm = 0.0
            for t in range(D):
                norm += np.float64(out[i, t]) * np.float64(out[i, t])
            row_sums[i, 0] = 0.0
            row_sums[i, 1] = row_reg[i] * norm
            row_sums[i, 2] = norm
        if track:
            for b in range(n_tiles):
                for k in range(count):
                    i = first + k
                    lo = offsets[i, b]
                    n = offsets[i, b + 1] - lo
                    if n:
                        row_sums[i, 0] += segment_observed(
                            other, entries, col_weights, w0 * row_weights[i], lo, n, out[i],
                            D, zero)

    return cg_long_rows
