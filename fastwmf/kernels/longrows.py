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
per entry. Threads share out each pass by runs of consecutive tiles
(:data:`TILE_RANGES` runs, fixed by the data, not by the thread count), so
the fixed factors are read once per pass however many threads there are.
Each run sums its entries of every row in entry order, and the runs' sums
are added in run order between passes, where each row takes its CG step:
the recurrence and stopping rules of :mod:`.als`, with the sums over a
row's entries grouped differently, so the results agree to rounding and do
not depend on the thread count.

A long row's entries must be sorted by column (as on the item side, which is
built by transposing the user rows), so that each tile's entries of a row
are one contiguous run.
"""

from typing import NamedTuple

import numpy as np
from numba import njit

from .._config import CHUNK, SERIAL
from .._threading import run_tasks
from ._llvm import prefetch_row
from .rowblock import GATHER_AHEAD, diagonal_apply, four_dots, four_rows_axpy, row_dot
from .specialise import exact_width, specialised

#: Bytes of fixed factor rows in one tile: few enough to stay in a core's
#: second-level cache beside the long rows' own vectors (benchmarks/README.md,
#: "Long rows in lockstep").
TILE_BYTES = 512 << 10

#: A row is solved in lockstep when it has at least this many stored entries
#: per tile of the fixed factors, on average: fewer, and the per-tile cost of
#: loading and storing its vectors outweighs what the tiling saves.
MIN_ENTRIES_PER_TILE = 24

#: Lockstep pays only where the fixed factors do not fit in the caches: the
#: fixed factor matrix must hold at least this many bytes.
MIN_OTHER_BYTES = 32 << 20

#: Runs of tiles that threads take one at a time in each pass: every thread
#: walks its own part of the fixed factors, and each run's sums are added in
#: run order, so the result does not depend on the thread count.
TILE_RANGES = 16

#: Most bytes of the runs' partial sums (``runs x long rows x d`` values):
#: fewer runs where many long rows would need more.
PARTIAL_BYTES = 32 << 20


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
    ranges : ndarray of int64
        Tile bounds of the runs of tiles that threads take one at a time:
        run ``g`` is tiles ``ranges[g] .. ranges[g+1]-1``, with about equal
        long-row entries each.
    """

    count: int
    offsets: np.ndarray
    chunk_bounds: np.ndarray
    tile_rows: int
    ranges: np.ndarray


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
    n_ranges = min(TILE_RANGES, n_tiles,
                   max(1, PARTIAL_BYTES // (count * d * itemsize)))
    ranges = _balanced_bounds(np.diff(offsets, axis=1).sum(axis=0), n_ranges)
    return LongRows(count, offsets, rest.astype(np.int64), int(tile_rows), ranges)


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


def _balanced_bounds(work, n_parts):
    """Bounds of up to ``n_parts`` runs of consecutive items with about equal
    ``work`` each (every run non-empty)."""
    total = np.cumsum(work + 1, dtype=np.float64)
    inner = np.searchsorted(total, total[-1] * np.arange(1, n_parts) / n_parts) + 1
    return np.unique(np.concatenate(([0], inner, [len(work)]))).astype(np.int64)


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

    Returns ``(sum_e c_e a_e^2, sum_e c_e a_e y_j.v)`` in float64 with
    ``residual`` (the scalars :func:`observed_from_residuals` needs), else
    ``(0, 0)``.
    """
    indices = entries[0]
    squares = 0.0
    cross = 0.0
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
        if residual:
            squares, cross = _entry_scalars(entries, e, d0, squares, cross)
            squares, cross = _entry_scalars(entries, e + 1, d1, squares, cross)
            squares, cross = _entry_scalars(entries, e + 2, d2, squares, cross)
            squares, cross = _entry_scalars(entries, e + 3, d3, squares, cross)
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
        if residual:
            squares, cross = _entry_scalars(entries, e, d0, squares, cross)
        _entry_weight(entries, col_weights, wi, e, j0, d0, residual, weights, 0)
        w0 = weights[0]
        for t in range(D):
            out[t] += w0 * other[j0, t]
        e += 1
    return squares, cross


@njit(**SERIAL)
def _entry_scalars(entries, e, dot, squares, cross):
    """``squares + c a^2`` and ``cross + c a dot`` for entry ``e``, in float64."""
    _, targets, confidence = entries
    ca = np.float64(confidence[e]) * np.float64(targets[e])
    return squares + ca * np.float64(targets[e]), cross + ca * np.float64(dot)


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


def solve_long_rows(long_rows, entries, other, diagonal, weights, cg_steps, track, rules,
                    out):
    """CG for the long rows ``0 .. long_rows.count-1`` of a half-step, in lockstep.

    Parameters
    ----------
    long_rows : LongRows
    entries : tuple
        ``(indices, targets, confidence)`` of the half-step's rows.
    other : ndarray, shape (n_other, d)
        The fixed factors in the eigenbasis of their Gramian.
    diagonal : ndarray, shape (d,) or longer
        The Gramian's eigenvalues.
    weights : tuple
        ``(w0, row_weights, col_weights, row_reg)``, as the CG kernel of
        :mod:`.als` takes them.
    cg_steps : int
    track : bool
        Also sum the observed part of the objective at the solved rows.
    rules : tuple of float
        ``(residual_tolerance, tiny, curvature_tolerance)``: the stopping
        rules of the CG kernel of :mod:`.als`.
    out : ndarray, shape (n_rows, d)
        Warm starts on entry, the solved rows on exit (rows ``0 ..
        count-1``).

    Returns
    -------
    ndarray of float64, shape (count, 3)
        Each long row's ``(observed, penalty, squares)``.

    Notes
    -----
    The observed part needs no pass of its own: it follows from the residuals
    that CG keeps (:func:`observed_from_residuals`).
    """
    count, offsets, ranges = long_rows.count, long_rows.offsets, long_rows.ranges
    d = other.shape[1]
    n_ranges = len(ranges) - 1
    pass_kernel = _long_pass_kernel.for_factors(d, other.dtype)
    partial = np.empty((n_ranges, count, d), other.dtype)
    scalars = np.zeros((n_ranges, count, 2))  # the residual pass's sum c a^2, sum c a y.x
    r = np.empty((count, d), other.dtype)
    p = np.empty((count, d), other.dtype)
    Ap = np.empty((count, d), other.dtype)
    state = np.zeros((count, 3))  # rs, rs_stop, largest curvature
    live = np.ones(count, np.bool_)

    def add_entries(vectors, residual):
        run_tasks(lambda g: pass_kernel(g, ranges, entries, offsets, other, vectors, weights,
                                        live, residual, partial, scalars), n_ranges)

    start = out[:count].copy() if track else None
    add_entries(out, True)
    start_residual(diagonal, out, weights, partial, r, p, state, rules)
    first_residual = r.copy() if track else None
    for _ in range(cg_steps):
        if not start_products(diagonal, p, weights, Ap, state, live, rules):
            break
        add_entries(p, False)
        finish_step(partial, p, Ap, r, out, state, live, rules)
    row_sums = np.zeros((count, 3))
    squares = np.einsum("ij,ij->i", out[:count].astype(np.float64), out[:count])
    row_sums[:, 1] = weights[3][:count] * squares
    row_sums[:, 2] = squares
    if track:
        observed_from_residuals(diagonal, weights, scalars, start, first_residual, out, r,
                                row_sums[:, 0])
    return row_sums


@specialised("cg-long-pass", widths=exact_width)
def _long_pass_kernel(width, float_type):
    """One lockstep pass over a run of tiles, compiled for ``width`` columns
    (0: any; rows of ``other`` are read in place, so no padding) and one
    dtype."""

    @njit(**CHUNK)
    def long_pass(g, ranges, entries, offsets, other, vectors, weights, live, residual,
                  partial, scalars):
        """``partial[g, k]``: the entries of long row ``k`` in tiles ``ranges[g] ..
        ranges[g+1]-1`` added as :func:`segment_add` adds them at
        ``vectors[k]`` (``residual`` as there), for the ``live`` rows; with
        ``residual``, ``scalars[g, k]`` the scalars it returns."""
        w0, row_weights, col_weights, _ = weights
        D = width if width else other.shape[1]
        zero = float_type(0.0)
        count = offsets.shape[0]
        scratch = np.empty(4, other.dtype)
        part = partial[g]
        for k in range(count):
            for t in range(D):
                part[k, t] = zero
        for b in range(ranges[g], ranges[g + 1]):
            for k in range(count):
                lo = offsets[k, b]
                n = offsets[k, b + 1] - lo
                if n and live[k]:
                    squares, cross = segment_add(other, entries, col_weights,
                                                 w0 * row_weights[k], lo, n, vectors[k],
                                                 part[k], scratch, residual, D, zero)
                    if residual:
                        scalars[g, k, 0] += squares
                        scalars[g, k, 1] += cross

    return long_pass


@njit(**SERIAL)
def observed_from_residuals(diagonal, weights, scalars, start, first_residual, out, r,
                            observed):
    """``observed[k]``: ``sum_e c (a - y_j.x)^2 - wi q_j (y_j.x)^2`` of each long
    row at its solution ``x = out[k]``, from CG's residuals instead of a pass
    over the entries.

    With ``b = sum_e c a y_j``, ``M = sum_e (c - wi q_j) y_j y_j^T`` and ``A = D +
    M`` (``D`` the diagonal part CG applies), the sum is ``sum c a^2 - 2 x.b +
    x^T M x`` and ``x^T M x = x.(b - r) - x^T D x`` for ``r = b - A x``, the
    residual CG carries. ``x.b`` follows from the start ``x0``, where the
    residual pass summed ``x0.b = sum c a y_j.x0`` and left ``r0``: since ``A``
    is symmetric, ``x.b = x.r0 + x0.(b - r) = x.r0 + x0.b - x0.r``.

    Parameters
    ----------
    diagonal : ndarray
        The Gramian's eigenvalues, as the CG passes take them.
    weights : tuple
        ``(w0, row_weights, col_weights, row_reg)``.
    scalars : ndarray of float64, shape (runs, count, 2)
        Per run, ``sum c a^2`` and ``sum c a y_j.x0`` of each row (added in run
        order).
    start, first_residual : ndarray, shape (count, d)
        ``x0`` and ``r0``.
    out, r : ndarray
        The solved rows (``out[:count]``) and their residuals.
    observed : ndarray of float64, shape (count,)
    """
    w0, row_weights, _, row_reg = weights
    d = r.shape[1]
    scale = np.empty(2, r.dtype)  # the row's scalars rounded as the CG passes round them
    for k in range(r.shape[0]):
        squares = 0.0
        xb = 0.0
        for g in range(scalars.shape[0]):
            squares += scalars[g, k, 0]
            xb += scalars[g, k, 1]
        scale[0] = w0 * row_weights[k]
        scale[1] = row_reg[k]
        xr = 0.0
        xDx = 0.0
        for t in range(d):
            x = np.float64(out[k, t])
            xb += (x * np.float64(first_residual[k, t])
                   - np.float64(start[k, t]) * np.float64(r[k, t]))
            xr += x * np.float64(r[k, t])
            xDx += np.float64(scale[0] * diagonal[t] + scale[1]) * x * x
        observed[k] = squares - xb - xr - xDx


@njit(**SERIAL)
def _add_runs(partial, k, out):
    """``out[:] += partial[g, k]`` for each run ``g`` in order."""
    for g in range(partial.shape[0]):
        for t in range(out.shape[0]):
            out[t] += partial[g, k, t]


@njit(**SERIAL)
def start_residual(diagonal, out, weights, partial, r, p, state, rules):
    """``r = p = b - A x`` of each long row from the runs' sums, and its
    squared norm and stopping level in ``state``."""
    w0, row_weights, _, row_reg = weights
    d = r.shape[1]
    scale = np.empty(2, r.dtype)  # rounds the row's scalars to the factors' dtype
    for k in range(r.shape[0]):
        scale[0] = -w0 * row_weights[k]
        scale[1] = -row_reg[k]
        diagonal_apply(diagonal, out[k], scale[0], scale[1], r[k], d)
        _add_runs(partial, k, r[k])
        total = 0.0
        for t in range(d):
            p[k, t] = r[k, t]
            total += np.float64(r[k, t]) * np.float64(r[k, t])
        state[k, 0] = total
        state[k, 1] = rules[0] * total


@njit(**SERIAL)
def start_products(diagonal, p, weights, Ap, state, live, rules):
    """Retire the rows whose residual is small (or NaN) and set ``Ap`` to the
    Gramian's part of the product for the others; whether any is left."""
    w0, row_weights, _, row_reg = weights
    tiny = rules[1]
    active = False
    scale = np.empty(2, p.dtype)  # rounds the row's scalars to the factors' dtype
    for k in range(p.shape[0]):
        # written so that NaN also stops (see the CG kernel of .als)
        if live[k] and not (state[k, 0] > state[k, 1] and state[k, 0] > tiny):
            live[k] = False
        if live[k]:
            scale[0] = w0 * row_weights[k]
            scale[1] = row_reg[k]
            diagonal_apply(diagonal, p[k], scale[0], scale[1], Ap[k], p.shape[1])
            active = True
    return active


@njit(**SERIAL)
def finish_step(partial, p, Ap, r, out, state, live, rules):
    """Add the runs' sums to ``Ap`` and take one CG step in each live row
    (the recurrence and stopping rules of the CG kernel of :mod:`.als`)."""
    tiny, curvature_tolerance = rules[1], rules[2]
    d = p.shape[1]
    step = np.empty(2, p.dtype)  # alpha and beta, rounded to the factors' dtype
    for k in range(p.shape[0]):
        if not live[k]:
            continue
        _add_runs(partial, k, Ap[k])
        pAp = 0.0
        pp = 0.0
        for t in range(d):
            pAp += np.float64(p[k, t]) * np.float64(Ap[k, t])
            pp += np.float64(p[k, t]) * np.float64(p[k, t])
        if not (pp > tiny and pAp > 0.0):
            live[k] = False
            continue
        curvature = pAp / pp
        state[k, 2] = max(state[k, 2], curvature)
        if not (curvature > curvature_tolerance * state[k, 2]):
            live[k] = False
            continue
        step[0] = state[k, 0] / pAp
        alpha = step[0]
        rs_new = 0.0
        for t in range(d):
            out[k, t] += alpha * p[k, t]
            r[k, t] -= alpha * Ap[k, t]
            rs_new += np.float64(r[k, t]) * np.float64(r[k, t])
        step[1] = rs_new / state[k, 0]
        beta = step[1]
        for t in range(d):
            p[k, t] = r[k, t] + beta * p[k, t]
        state[k, 0] = rs_new
