"""The subspace (block) ALS half-step of iALS++ (Rendle et al. 2021).

Each row is updated one block of ``b`` consecutive columns at a time, every
block solved exactly with the other columns fixed. The factors are stored in
the eigenbasis of the fixed side's Gramian (as for CG), so its part of the
row's system is diagonal: a block's system is

    D + Y_B^T C Y_B,    D = w0 p_i diag(lam_B) + lam I,   C = diag(c - w0 p_i q),

with right-hand side ``Y_B^T r``, ``r = c a - C (y.x - y_B.x_B)``: no other
block enters except through the entries' predictions ``y.x``, which are kept
for the row and patched after every block (``O(n_i b)``). A block's ``b x b``
system is formed in register tiles, ``O(n_i b^2 + b^3)``, so a sweep over the
``d / b`` blocks costs ``O(n_i d b + d b^2)`` per row instead of the exact
solver's ``O(n_i d^2 + d^3)``; ``b = d`` is the exact solve.

A row with at most ``b`` entries is not swept: its exact minimiser over all
``d`` columns, through the Woodbury identity (an ``n_i x n_i`` system,
``O(n_i^2 d + n_i^3)``), costs no more than a sweep of Woodbury block solves
would. Every update is an exact minimisation over the columns it changes, so
a half-step never increases the objective.
"""

import numpy as np
from numba import njit

from .._config import CHUNK
from .._threading import run_tasks
from ._llvm import gram_tile, vector_length
from .als import GATHER_ROWS
from .halfstep import chunk_records, chunk_sums, total_sums
from .linalg import (PIVOT_TOLERANCE, cholesky_solve_spd, cholesky_solve_upper,
                     identity_plus_gram)
from .rowblock import (
    gather_columns_dot, gather_rows, indexed_rows_dot, longest_span, rows_axpy, rows_dot)

#: Shape of one register tile of a block's system (rows, SIMD registers of columns).
TILE_ROWS = 4
TILE_VECTORS = 2

#: The block size whose Cholesky solve is compiled for a constant size
#: (``WALS``'s default ``block_size``), which LLVM unrolls; other sizes take
#: the generic loop (compared in benchmarks/README.md, "The default block
#: size's Cholesky compiled for its size").
SOLVED_BLOCK = 64


def half_step_block(rows, other, eigenvalues, w0, col_weights, block_size, out, *,
                    track_observed=False, start_rotation=None):
    """One sweep of exact block updates over every row, warm-started from ``out``.

    Parameters
    ----------
    rows, w0, col_weights, track_observed :
        As in :func:`fastwmf.kernels.als.half_step_cholesky`.
    other : ndarray, shape (n_cols, d)
        The fixed factors ``Y`` in the eigenbasis of their Gramian
        (``Y^T diag(col_weights) Y`` diagonal).
    eigenvalues : ndarray of float64, shape (d,)
        That Gramian's diagonal.
    block_size : int
        Columns per block, ``1 <= block_size <= d``; the last block holds the
        remainder when it does not divide ``d``.
    out : ndarray, shape (n_rows, d)
        The rows' current factors in the same basis, updated in place.
    start_rotation : ndarray of ``out``'s dtype, shape (d, d), optional
        ``out`` holds the rows in another basis, ``out @ start_rotation``
        being the same rows in ``other``'s. Each row is stored in ``other``'s
        basis; only the rows that are swept (not solved through the Woodbury
        identity, which needs no warm start) are rotated, as they are read:
        ``O(d^2)`` each, instead of rotating every row beforehand.

    Returns
    -------
    halfstep.HalfStepSums
    """
    sums = chunk_sums(rows.chunk_bounds)
    entries, weights = chunk_records(rows, w0, col_weights)
    d = other.shape[1]
    lam = np.ascontiguousarray(eigenvalues[:d], dtype=np.float64)
    rotate = start_rotation is not None
    if rotate:
        start_rotation = np.ascontiguousarray(start_rotation, dtype=out.dtype)
        if start_rotation.shape != (d, d):
            raise ValueError(f"start_rotation must have shape ({d}, {d}), "
                             f"got {start_rotation.shape}")
    else:
        start_rotation = np.zeros((1, 1), out.dtype)
    settings = (int(block_size), TILE_VECTORS * vector_length(other.dtype.type),
                bool(track_observed), rotate)
    run_tasks(lambda c: _block_chunk(c, entries, other, lam, weights, settings,
                                     start_rotation, sums, out),
              len(rows.chunk_bounds) - 1)
    return total_sums(sums)


@njit(**CHUNK)
def _block_chunk(c, entries, other, lam, weights, settings, start_rotation, sums, out):
    """The rows of chunk ``c``; the chunk's :class:`.halfstep.HalfStepSums` go to ``sums[c]``.

    ``entries`` and ``weights`` are :func:`.halfstep.chunk_records`; ``settings`` is
    ``(block_size, tile_columns, track, rotate)``, ``tile_columns`` the width of a
    register tile in the factors' dtype; with ``rotate`` a swept row's warm
    start is ``out[i] @ start_rotation``. A row of at most ``b`` entries is one
    block of all ``d`` columns, solved through the Woodbury identity when its
    weights allow (:func:`_woodbury_row`); any other row sweeps its blocks
    (:func:`_sweep_row`)."""
    starts, ends, indices, targets, confidence, chunk_bounds = entries
    w0, row_weights, col_weights, row_reg = weights
    block_size, tile_columns, track, rotate = settings
    row_entries = (indices, targets, confidence)
    d = other.shape[1]
    b_max = min(block_size, d)
    longest = max(longest_span(starts, ends, chunk_bounds[c], chunk_bounds[c + 1]), 1)
    short = max(min(longest, b_max), 1)
    pred = np.empty(longest)
    weight = np.empty(longest)
    rhs = np.empty(short)
    gathered = np.empty(max(longest * b_max, short * d), other.dtype)
    weighted = np.empty(min(longest, GATHER_ROWS) * b_max, other.dtype)
    system = np.empty((b_max, b_max))
    update = np.empty(b_max * b_max, other.dtype)
    T = np.empty((short, d), other.dtype)
    K = np.empty((short, short))
    diag = np.empty(d)
    z = np.empty(d)
    x = np.empty(d)
    vectors = np.zeros((4, d), other.dtype)  # three vectors of work and a row of zeros
    dots = np.empty(longest, other.dtype)
    coef = np.empty(longest, other.dtype)
    # built once: a tuple of arrays costs a reference count per array
    woodbury_scratch = (gathered, T, K, rhs, vectors, dots, coef)
    sweep_scratch = (gathered, weighted, update, system, z, vectors, dots, coef)
    observed = 0.0
    penalty = 0.0
    squares = 0.0
    for i in range(chunk_bounds[c], chunk_bounds[c + 1]):
        lo = starts[i]
        n = ends[i] - lo
        wi = w0 * row_weights[i]
        reg = row_reg[i]
        smallest = np.inf
        largest = 0.0
        for t in range(d):
            diag[t] = wi * lam[t] + reg
            smallest = min(smallest, diag[t])
            largest = max(largest, diag[t])
        nonnegative = True
        for q in range(n):
            e = lo + q
            weight[q] = np.float64(confidence[e]) - wi * col_weights[indices[e]]
            nonnegative = nonnegative and weight[q] >= 0.0
        if nonnegative and n <= short and smallest > PIVOT_TOLERANCE * largest:
            _woodbury_row(other, row_entries, lo, n, weight, diag, track, woodbury_scratch,
                          x, pred)
        else:
            if rotate:
                start = vectors[0]
                for t in range(d):
                    start[t] = vectors[3, 0]
                rows_axpy(start_rotation, d, out[i], start, d)
                for t in range(d):
                    x[t] = start[t]
            else:
                for t in range(d):
                    x[t] = out[i, t]
            _sweep_row(other, row_entries, lo, n, b_max, weight, diag, tile_columns, sweep_scratch,
                       x, pred)
        norm = 0.0
        for t in range(d):
            out[i, t] = x[t]
            value = np.float64(out[i, t])
            norm += value * value
        penalty += reg * norm
        squares += norm
        if track:
            for q in range(n):
                e = lo + q
                residual = np.float64(targets[e]) - pred[q]
                observed += (np.float64(confidence[e]) * residual * residual
                             - wi * col_weights[indices[e]] * pred[q] * pred[q])
    sums[c, 0] = observed
    sums[c, 1] = penalty
    sums[c, 2] = squares


@njit(**CHUNK)
def _woodbury_row(other, row_entries, lo, n, weight, diag, track, scratch, x, pred):
    """Set ``x`` to the row's exact minimiser over all ``d`` columns.

    ``row_entries`` is ``(indices, targets, confidence)``, ``scratch``
    ``(gathered, T, K, rhs, vectors, dots, coef)``.

    With ``T = C^(1/2) Y D^(-1/2)`` and ``K = I + T T^T`` (``n x n``),
    ``x = D^(-1/2) (u - T^T K^(-1) T u)`` where ``u = D^(-1/2) Y^T (c a)``;
    needs ``C >= 0`` and ``D > 0``. ``T`` and the products with it are taken
    in the factors' dtype (as the sweep's tiles are), ``K`` is solved in
    float64. The entries' predictions go to ``pred`` when ``track`` is set."""
    indices, targets, confidence = row_entries
    gathered, T, K, rhs, vectors, dots, coef = scratch
    d = other.shape[1]
    u = vectors[0]
    v = vectors[1]
    scale = vectors[2]
    zero = vectors[3, 0]
    Y = gathered[:n * d].reshape((n, d))
    gather_rows(other, indices, lo, n, Y, d)
    for q in range(n):
        e = lo + q
        coef[q] = np.float64(confidence[e]) * np.float64(targets[e])
    for t in range(d):
        v[t] = zero
    rows_axpy(Y, n, coef, v, d)
    for t in range(d):
        x[t] = 1.0 / np.sqrt(diag[t])  # D^(-1/2) until the end
        scale[t] = x[t]
        u[t] = x[t] * np.float64(v[t])
    for q in range(n):
        dots[q] = np.sqrt(weight[q])  # C^(1/2) in the factors' dtype
    for q in range(n):
        root = dots[q]
        for t in range(d):
            T[q, t] = root * Y[q, t] * scale[t]
    rows_dot(T, n, u, dots, d, zero)
    for q in range(n):
        rhs[q] = np.float64(dots[q])
    identity_plus_gram(T, n, d, K, zero)
    cholesky_solve_spd(K, rhs, n)
    for q in range(n):
        coef[q] = rhs[q]
    for t in range(d):
        v[t] = zero
    rows_axpy(T, n, coef, v, d)
    for t in range(d):
        x[t] *= np.float64(u[t]) - np.float64(v[t])
    if track:
        for t in range(d):
            u[t] = x[t]
        rows_dot(Y, n, u, dots, d, zero)
        for q in range(n):
            pred[q] = np.float64(dots[q])


@njit(**CHUNK)
def _sweep_row(other, row_entries, lo, n, b_max, weight, diag, tile_columns, scratch, x, pred):
    """One sweep of exact block updates of ``x`` (blocks of ``b_max`` columns),
    keeping the entries' predictions in ``pred``. ``row_entries`` is
    ``(indices, targets, confidence)``, ``tile_columns`` the width of a
    register tile, ``scratch`` ``(gathered, weighted, update, A, z, vectors,
    dots, coef)``.

    The passes over the gathered rows (the block's part of each prediction,
    the right-hand side ``Y_B^T r`` and the change of the predictions) run in
    the factors' dtype, four rows at a time, as CG's do; the block's system
    and the predictions are kept in float64.
    """
    indices, targets, confidence = row_entries
    gathered, weighted, update, A, z, vectors, dots, coef = scratch
    d = other.shape[1]
    x_typed = vectors[0]
    z_typed = vectors[1]
    zero = vectors[3, 0]  # 0 in the factors' dtype
    for t in range(d):
        x_typed[t] = x[t]
    indexed_rows_dot(other, indices, lo, n, x_typed, dots, d, zero)
    for q in range(n):
        pred[q] = np.float64(dots[q])
    for first in range(0, d, b_max):
        b = min(b_max, d - first)
        Y = gathered[:n * b].reshape((n, b))
        x_block = x_typed[first:first + b]
        gather_columns_dot(other, indices, lo, n, first, b, Y, x_block, dots, zero)
        for q in range(n):
            e = lo + q
            coef[q] = (np.float64(confidence[e]) * np.float64(targets[e])
                       - weight[q] * (pred[q] - np.float64(dots[q])))
        for r in range(b):
            z[r] = 0.0
            for t in range(r, b):
                A[r, t] = 0.0
            A[r, r] = diag[first + r]
        # the rank-n update and the right-hand side in the factors' dtype,
        # summed into float64 per GATHER_ROWS entries (as the exact solver does)
        S = update[:b * b].reshape((b, b))
        for start in range(0, n, GATHER_ROWS):
            count = min(GATHER_ROWS, n - start)
            Yc = gathered[start * b:(start + count) * b].reshape((count, b))
            WY = weighted[:count * b].reshape((count, b))
            for r in range(b):
                z_typed[r] = zero
            rows_axpy(Yc, count, coef[start:start + count], z_typed, b)
            for r in range(b):
                z[r] += np.float64(z_typed[r])
            for q in range(count):
                wq = weight[start + q]
                for r in range(b):
                    WY[q, r] = wq * Yc[q, r]
            if b % tile_columns == 0:
                for r0 in range(0, b, TILE_ROWS):  # tiles on or above the diagonal
                    for c0 in range(r0 // tile_columns * tile_columns, b, tile_columns):
                        gram_tile(S, WY, Yc, count, r0, c0, TILE_ROWS, TILE_VECTORS)
            else:
                for r in range(b):
                    for t in range(r, b):
                        S[r, t] = 0.0
                for q in range(count):
                    for r in range(b):
                        wyr = WY[q, r]
                        for t in range(r, b):
                            S[r, t] += wyr * Yc[q, t]
            for r in range(b):
                for t in range(r, b):
                    A[r, t] += S[r, t]
        if b == SOLVED_BLOCK:  # a constant size: LLVM unrolls the factorisation
            cholesky_solve_upper(A, z, SOLVED_BLOCK)
        else:
            cholesky_solve_upper(A, z, b)
        for r in range(b):
            z_typed[r] = z[r] - x[first + r]
        rows_dot(Y, n, z_typed, dots, b, zero)
        for q in range(n):
            pred[q] += np.float64(dots[q])
        for r in range(b):
            x[first + r] = z[r]
            x_typed[first + r] = z[r]
