"""One weighted-ALS half-step: solve every row of one factor matrix.

For row ``i`` with observed columns ``Obs_i`` the normal equations are::

    (w0 p_i G + sum_{j in Obs_i} (c_ij - w0 p_i q_j) y_j y_j^T + lam_i I) x_i
        = sum_{j in Obs_i} c_ij a_ij y_j

with ``G = Y^T diag(q) Y`` precomputed (the Gramian trick), so the work per
row is proportional to its stored entries, never to the number of columns.
"""

import numpy as np
from numba import njit

from .._config import CHUNK
from .._threading import run_tasks
from ._llvm import gram_tile, vector_length
from .halfstep import HalfStepSums, chunk_records, chunk_sums, total_sums
from .linalg import PIVOT_TOLERANCE, cholesky_solve_spd, cholesky_solve_upper
from .longrows import solve_long_rows
from .rotate import rotate_rows_parallel
from .rowblock import (
    diagonal_apply, gather_rows, longest_span, rows_axpy, rows_dot, rows_dot_axpy)
from .specialise import kernel_width, specialised

#: CG stops once the squared residual falls below this fraction of its start.
CG_RESIDUAL_TOLERANCE = 1e-24

#: Squared norms below this are treated as zero (far above float64 subnormals).
CG_TINY = 1e-250

#: CG stops on a direction whose curvature ``p.Ap / p.p`` is below this
#: fraction of the largest seen in the row (pAp <= 0 included).
CG_CURVATURE_TOLERANCE = 1e-12

#: Stored entries of a row gathered into per-chunk scratch at a time by the
#: exact and block solvers; also the fewest a CG chunk keeps gathered.
GATHER_ROWS = 1024

#: Bytes of gathered factor rows a CG chunk keeps: a row whose gathered
#: entries fit is gathered once and reused by every CG step, a longer one is
#: gathered again, block by block, in each step. Sized in bytes, so that the
#: long rows of a power-law side stay gathered in the last-level cache at any
#: ``d`` (benchmarks/README.md, "Long rows stay gathered across CG steps").
CG_RESIDENT_BYTES = 8 << 20


def cg_gather_limit(width, itemsize):
    """Stored entries of a row that the CG kernel gathers once for all its steps,
    for rows of ``width`` values of ``itemsize`` bytes: a multiple of
    :data:`GATHER_ROWS`."""
    rows = CG_RESIDENT_BYTES // (width * itemsize)
    return max(GATHER_ROWS, rows - rows % GATHER_ROWS)

#: The exact solver takes the Woodbury route (an ``n x n`` system instead of a
#: ``d x d`` one) for rows with at most this fraction of ``d`` entries. The
#: flop counts cross near ``n = d``; the small system's factorisation runs at a
#: lower rate (its size is not a compile-time constant), which moves the
#: measured crossover down (benchmarks/README.md, "Kernel constants").
WOODBURY_FRACTION = 0.625


def woodbury_rows(d):
    """Rows with at most this many entries take the Woodbury route."""
    return int(d * WOODBURY_FRACTION)


#: Rows of one Gram tile of the exact solver's direct route (see :mod:`.gramtile`).
TILE_ROWS = 4

def half_step_cholesky(rows, other, gramian, w0, col_weights, out, *,
                       overwrite_other=False, track_observed=False):
    """Exact half-step: solve each row's ``d x d`` normal equations.

    The rows are solved in the eigenbasis of the Gramian, ``G = Q diag(lam) Q^T``,
    where the row-independent part of each system, ``w0 p_i G + lam_i I``, is the
    diagonal ``D_i``. A row with ``n_i`` entries, all with a non-negative
    weight ``c_ij - w0 p_i q_j``, is then solved through the Woodbury identity in
    ``O(n_i^2 d + n_i^3)`` (an ``n_i x n_i`` system, for ``n_i`` up to
    :func:`woodbury_rows`); a longer row forms and Cholesky-factors its
    ``d x d`` system in ``O(n_i d^2 + d^3)``, summing only the register tiles
    of ``S^T C S`` on or above its diagonal (:mod:`.gramtile`; one BLAS product
    where ``d`` is not a whole number of registers). Both routes give the same
    solution to rounding; the solution is rotated back before it is stored.

    Parameters
    ----------
    rows : halfstep.HalfStepRows
        The rows to solve.
    other : ndarray, shape (n_cols, d)
        The fixed factor matrix ``Y``.
    gramian : ndarray of float64, shape (d, d)
        ``Y^T diag(col_weights) Y``.
    w0 : float
        Unobserved weight.
    col_weights : ndarray of float64
        Per-column ``q_j`` unobserved weights.
    out : ndarray, shape (n_rows, d)
        Receives the solved rows.
    overwrite_other : bool, default False
        Rotate ``other`` into the eigenbasis in place and back afterwards
        instead of copying it (saves an ``n_cols x d`` array; ``other`` comes
        back changed by rounding, about one unit in the last place). Only for
        an ``other`` that nothing else reads meanwhile.
    track_observed : bool, default False
        Also sum the observed part of the objective over the solved rows.

    Returns
    -------
    halfstep.HalfStepSums
        Taken from the solved rows as they are stored (``O(nnz d)`` extra work
        with ``track_observed``, ``O(n_rows d)`` without).
    """
    d = other.shape[1]
    width = kernel_width(d)
    eigenvalues, basis, rotation = gramian_eigenbasis(gramian, width)
    rotation = rotation.astype(other.dtype)
    rotated = rotate_rows_parallel(other if overwrite_other else other.copy(), rotation)
    kernel = _exact_kernel(width, other.dtype.type)
    sums = chunk_sums(rows.chunk_bounds)
    limits = (GATHER_ROWS, woodbury_rows(d), bool(track_observed))
    entries, weights = chunk_records(rows, w0, col_weights)
    try:
        run_tasks(lambda c: kernel(c, entries, rotated, eigenvalues, basis, weights, limits,
                                   sums, out),
                  len(rows.chunk_bounds) - 1)
    finally:
        if overwrite_other:
            rotate_rows_parallel(other, np.ascontiguousarray(rotation.T))
    return total_sums(sums)


def gramian_eigenbasis(gramian, width):
    """``(lam, Q^T padded, Q)`` for ``G = Q diag(lam) Q^T``.

    Eigenvalues are clipped at 0 (``G`` is positive semi-definite; rounding can
    make the smallest slightly negative). The first two are padded to
    ``width``: padded eigenvalues are 1 and padded rows and columns of ``Q^T``
    zero, so padding never changes a solution; ``Q`` (float64, ``d x d``)
    rotates factor rows into the eigenbasis.
    """
    d = gramian.shape[0]
    size = width or d
    values, vectors = np.linalg.eigh(gramian)
    eigenvalues = np.ones(size)
    eigenvalues[:d] = np.maximum(values, 0.0)
    basis = np.zeros((size, size))
    basis[:d, :d] = vectors.T
    return eigenvalues, basis, vectors


@specialised("exact")
def _exact_kernel(width, float_type):
    """The exact half-step compiled for ``width`` columns (0: any) and one dtype
    (values a closure is cached under).

    ``entries`` and ``weights`` are :func:`.halfstep.chunk_records`; ``rotated`` holds
    the fixed factors in the Gramian's eigenbasis, ``eigenvalues`` its
    eigenvalues and ``basis`` its eigenvectors as rows; ``limits`` is
    ``(gather_limit, woodbury_limit, track)``: ``gather_limit`` entries are
    gathered per block of the direct route, rows of up to ``woodbury_limit``
    entries may take the Woodbury route (run time values: every choice shares
    one build), and ``track`` sums the observed loss.
    """
    # Gram tiles of TILE_ROWS x two SIMD registers where the width allows (8
    # accumulators + 2 loads + 1 broadcast of AVX2's 16 registers), else one;
    # the generic kernel (d unknown when it compiles) uses one register, and
    # BLAS where its d is not a whole number of them
    lanes = vector_length(float_type)
    tile_vectors = 2 if width and width % (2 * lanes) == 0 else 1
    tile_columns = tile_vectors * lanes

    @njit(**CHUNK)
    def exact_chunk(c, entries, rotated, eigenvalues, basis, weights, limits, sums, out):
        starts, ends, indices, targets, confidence, chunk_bounds = entries
        w0, row_weights, col_weights, row_reg = weights
        gather_limit, woodbury_limit, track = limits
        d = rotated.shape[1]
        D = width if width else d
        longest = longest_span(starts, ends, chunk_bounds[c], chunk_bounds[c + 1])
        cap = max(min(longest, gather_limit), 1)
        short = max(min(longest, woodbury_limit, cap), 1)
        block = np.zeros((cap, D), rotated.dtype)
        scaled = np.zeros((cap, D), rotated.dtype)
        update = np.empty((D, D), rotated.dtype)
        coef = np.empty(cap)
        rhs = np.empty(cap)
        T = np.empty((short, D))
        K = np.empty((short, short))
        g = np.empty(short)
        A = np.empty((D, D))
        diag = np.empty(D)
        inv_sqrt = np.empty(D)
        b = np.empty(D)
        z = np.empty(D)
        observed = 0.0
        penalty = 0.0
        squares = 0.0
        for i in range(chunk_bounds[c], chunk_bounds[c + 1]):
            lo = starts[i]
            n = ends[i] - lo
            wi = w0 * row_weights[i]
            smallest = np.inf
            largest = 0.0
            for r in range(D):
                diag[r] = wi * eigenvalues[r] + row_reg[i]
                inv_sqrt[r] = 1.0 / np.sqrt(diag[r])
                smallest = min(smallest, diag[r])
                largest = max(largest, diag[r])
                b[r] = 0.0
            woodbury = n <= short and smallest > PIVOT_TOLERANCE * largest
            if woodbury:
                gather_rows(rotated, indices, lo, n, block, d)
                for q in range(n):
                    e = lo + q
                    conf = np.float64(confidence[e])
                    coef[q] = conf - wi * col_weights[indices[e]]
                    rhs[q] = conf * np.float64(targets[e])
                    woodbury = woodbury and coef[q] >= 0.0
            # (solved inline, K included, so that LLVM sees the constant D in the
            # loops; why not linalg.identity_plus_gram: benchmarks/README.md,
            # "Narrow kernel contracts", the review at close)
            if woodbury:
                # T = C^(1/2) S D^(-1/2), K = I + T T^T (Woodbury):
                # z = D^(-1/2) (y - T^T K^(-1) T y) with y = D^(-1/2) S^T rhs
                for q in range(n):
                    rq = rhs[q]
                    for t in range(D):
                        b[t] += rq * np.float64(block[q, t])
                for t in range(D):
                    b[t] *= inv_sqrt[t]
                for q in range(n):
                    sq = np.sqrt(coef[q])
                    gq = 0.0
                    for t in range(D):
                        v = sq * np.float64(block[q, t]) * inv_sqrt[t]
                        T[q, t] = v
                        gq += v * b[t]
                    g[q] = gq
                # upper triangle of K, four rows of T against one at a time
                for p in range(n):
                    q = p
                    while q + 4 <= n:
                        k0 = 0.0
                        k1 = 0.0
                        k2 = 0.0
                        k3 = 0.0
                        for t in range(D):
                            tp = T[p, t]
                            k0 += T[q, t] * tp
                            k1 += T[q + 1, t] * tp
                            k2 += T[q + 2, t] * tp
                            k3 += T[q + 3, t] * tp
                        K[p, q] = k0
                        K[p, q + 1] = k1
                        K[p, q + 2] = k2
                        K[p, q + 3] = k3
                        q += 4
                    while q < n:
                        k0 = 0.0
                        for t in range(D):
                            k0 += T[q, t] * T[p, t]
                        K[p, q] = k0
                        q += 1
                    K[p, p] += 1.0
                cholesky_solve_spd(K, g, n)
                for q in range(n):
                    gq = g[q]
                    for t in range(D):
                        b[t] -= gq * T[q, t]
                for t in range(D):
                    b[t] *= inv_sqrt[t]
            else:
                # diag(D) + sum_j c'_j s_j s_j^T, its rank-n update summed in
                # the factors' dtype per block of gathered rows
                for r in range(D):
                    for s in range(D):
                        A[r, s] = 0.0
                    A[r, r] = diag[r]
                for start in range(0, n, cap):
                    count = min(cap, n - start)
                    gather_rows(rotated, indices, lo + start, count, block, d)
                    for q in range(count):
                        e = lo + start + q
                        conf = np.float64(confidence[e])
                        rhs[q] = conf * np.float64(targets[e])
                        cq = float_type(conf - wi * col_weights[indices[e]])
                        for t in range(D):
                            scaled[q, t] = cq * block[q, t]
                    for q in range(count):
                        rq = rhs[q]
                        for t in range(D):
                            b[t] += rq * np.float64(block[q, t])
                    if D % tile_columns == 0:
                        # the tiles on or above the diagonal (all that is read)
                        for r0 in range(0, D, TILE_ROWS):
                            for c0 in range(r0 // tile_columns * tile_columns, D,
                                            tile_columns):
                                gram_tile(update, scaled, block, count, r0, c0,
                                          TILE_ROWS, tile_vectors)
                    else:
                        update[:, :] = np.dot(scaled[:count].T, block[:count])
                    for r in range(D):
                        for s in range(r, D):
                            A[r, s] += update[r, s]
                cholesky_solve_upper(A, b, D)
            if track:
                # predictions of the solved row, in the eigenbasis
                for start in range(0, n, cap):
                    count = min(cap, n - start)
                    if n > cap:
                        gather_rows(rotated, indices, lo + start, count, block, d)
                    for q in range(count):
                        e = lo + start + q
                        pred = 0.0
                        for t in range(D):
                            pred += np.float64(block[q, t]) * b[t]
                        err = np.float64(targets[e]) - pred
                        observed += (np.float64(confidence[e]) * err * err
                                     - wi * col_weights[indices[e]] * pred * pred)
            for t in range(D):
                z[t] = 0.0
            for r in range(D):
                br = b[r]
                for t in range(D):
                    z[t] += br * basis[r, t]
            norm = 0.0
            for t in range(d):
                out[i, t] = z[t]
                stored = np.float64(out[i, t])
                norm += stored * stored
            squares += norm
            penalty += row_reg[i] * norm
        sums[c, 0] = observed
        sums[c, 1] = penalty
        sums[c, 2] = squares

    return exact_chunk


def half_step_cg(rows, other, gramian, w0, col_weights, cg_steps, out, *,
                 overwrite_other=False, track_observed=False):
    """Inexact half-step: ``cg_steps`` conjugate-gradient steps per row.

    Arguments are those of :func:`half_step_cholesky`, plus ``cg_steps``;
    ``out`` holds the warm start on entry and the result on exit. The rows are
    solved in the eigenbasis of the Gramian (:func:`half_step_cg_eigenbasis`;
    CG's iterates do not depend on the orthonormal basis they are computed
    in): ``other`` and ``out`` are rotated into it and back, ``O((n_rows +
    n_cols) d^2)`` in all, instead of a ``d x d`` product with ``G`` in each
    CG step of each row. ``overwrite_other`` is that of
    :func:`half_step_cholesky`; ``out`` is always rotated in place (its warm
    start, like ``other``, passes through one rounding each way). A fit keeps
    its factors in the basis instead (:class:`fastwmf.models._basis.SharedBasis`),
    which saves the rotations back. Returns the :class:`.halfstep.HalfStepSums` of the
    solved rows (``track_observed`` as in :func:`half_step_cholesky`).
    """
    width = kernel_width(other.shape[1])
    eigenvalues, _, rotation = gramian_eigenbasis(gramian, width)
    rotation = rotation.astype(other.dtype)
    back = np.ascontiguousarray(rotation.T)
    rotated = rotate_rows_parallel(other if overwrite_other else other.copy(), rotation)
    rotate_rows_parallel(out, rotation)
    try:
        return half_step_cg_eigenbasis(rows, rotated, eigenvalues, w0, col_weights, cg_steps,
                                       out, track_observed=track_observed)
    finally:
        rotate_rows_parallel(out, back)
        if overwrite_other:
            rotate_rows_parallel(other, back)


def half_step_cg_eigenbasis(rows, other, eigenvalues, w0, col_weights, cg_steps, out, *,
                            gather_limit=None, stream_rows=GATHER_ROWS, width=None,
                            track_observed=False, long_rows=None):
    """:func:`half_step_cg` for factors stored in the eigenbasis of the Gramian.

    There ``G = diag(eigenvalues)``, so the system matrix's product costs
    ``O(nnz_i d)`` per row and step: only the stored entries' part is dense.
    Vectors are kept in the factors' dtype, scalars of the recurrence in
    float64.

    Parameters
    ----------
    other : ndarray, shape (n_cols, d)
        The fixed factors ``Y`` in the eigenbasis (``Y^T diag(q) Y`` diagonal).
    eigenvalues : ndarray of float64, shape (d,) or longer
        The diagonal of ``Y^T diag(q) Y``; entries past ``d`` are ignored (the
        kernel's padding columns get 0: ``x`` and ``p`` are 0 there).
    gather_limit : int, optional
        Stored entries of a row gathered once and reused by every CG step
        (default: :func:`cg_gather_limit` of the compiled width). Any
        multiple of four, the rows the kernel's passes take at a time, gives
        the same result; only the time changes.
    stream_rows : int, default GATHER_ROWS
        A longer row is gathered again in each CG step, in blocks of this
        many entries (at most ``gather_limit``); a multiple of four, as above.
    width : int, optional
        The compiled width (default: :func:`.specialise.kernel_width` of ``d``;
        0 for the generic kernel).
    track_observed : bool, default False
        Also sum the observed part of the objective at the solved rows: each
        entry's prediction is updated with the row (``O(nnz_i)`` per step), so
        no extra pass over the factor rows is needed (the long rows take it
        from their CG residuals, :func:`.longrows.observed_from_residuals`).
    long_rows : longrows.LongRows, optional
        Solve these leading rows in lockstep over tiles of ``other``
        (:mod:`.longrows`, from :func:`.longrows.plan_long_rows` for these
        rows and ``other``'s shape) and the rest one at a time.

    Other parameters are those of :func:`half_step_cg`.

    Returns
    -------
    halfstep.HalfStepSums
    """
    d = other.shape[1]
    width = kernel_width(d) if width is None else width
    diagonal = np.zeros(width or d, other.dtype)
    diagonal[:d] = eigenvalues[:d]
    kernel = _cg_kernel(width, other.dtype.type)
    entries, weights = chunk_records(rows, w0, col_weights)
    if gather_limit is None:
        gather_limit = cg_gather_limit(width or d, other.itemsize)
    if gather_limit < 1 or stream_rows < 1:
        raise ValueError(f"gather_limit and stream_rows must be positive, got "
                         f"{gather_limit} and {stream_rows}")
    settings = (int(gather_limit), int(stream_rows), int(cg_steps), bool(track_observed))
    if long_rows is not None:  # first, in lockstep over tiles of other
        row_sums = solve_long_rows(
            long_rows, (rows.indices, rows.targets, rows.confidence), other, diagonal,
            weights, int(cg_steps), bool(track_observed),
            (CG_RESIDUAL_TOLERANCE, CG_TINY, CG_CURVATURE_TOLERANCE), out)
        long_sums = row_sums.sum(axis=0)  # row by row: the same whatever the threads
        entries = entries[:-1] + (long_rows.chunk_bounds,)
    chunk_bounds = entries[-1]
    sums = chunk_sums(chunk_bounds)
    run_tasks(lambda c: kernel(c, entries, other, diagonal, weights, settings, sums, out),
              len(chunk_bounds) - 1)
    rest = total_sums(sums)
    if long_rows is None:
        return rest
    return HalfStepSums(*(float(a + b) for a, b in zip(rest, long_sums)))


@specialised("cg")
def _cg_kernel(width, float_type):
    """The CG half-step in the Gramian's eigenbasis, compiled for ``width``
    columns (0: any) and one dtype (values a closure is cached under).
    ``entries`` and ``weights`` are :func:`.halfstep.chunk_records`, ``settings`` is
    ``(gather_limit, stream_rows, cg_steps, track)``: rows of up to
    ``gather_limit`` entries stay gathered across the CG steps, longer ones
    are gathered again in each step, ``stream_rows`` at a time (run time
    values)."""

    @njit(**CHUNK)
    def cg_chunk(c, entries, other, diagonal, weights, settings, sums, out):
        """Solve the rows of chunk ``c`` and store the chunk's sums in ``sums[c]``."""
        starts, ends, indices, targets, confidence, chunk_bounds = entries
        w0, row_weights, col_weights, row_reg = weights
        gather_limit, stream_rows, cg_steps, track = settings
        d = other.shape[1]
        D = width if width else d
        zero = float_type(0.0)
        longest = longest_span(starts, ends, chunk_bounds[c], chunk_bounds[c + 1])
        cap = max(min(longest, gather_limit), 1)
        block = np.empty((cap, D), other.dtype)
        for q in range(cap):  # the padding columns (gathers fill the rest)
            for t in range(d, D):
                block[q, t] = zero
        coef = np.empty(max(longest, 1), other.dtype)
        dots = np.empty(cap, other.dtype)
        x = np.zeros(D, other.dtype)
        r = np.empty(D, other.dtype)
        p = np.empty(D, other.dtype)
        Ap = np.empty(D, other.dtype)
        tracked = max(longest, 1) if track else 1
        pred = np.empty(tracked)   # y_j . x, updated with x
        moved = np.empty(tracked)  # y_j . p of the current step
        observed = 0.0
        penalty = 0.0
        squares = 0.0
        for i in range(chunk_bounds[c], chunk_bounds[c + 1]):
            lo = starts[i]
            n = ends[i] - lo
            wi = w0 * row_weights[i]
            w_f = float_type(wi)
            reg_f = float_type(row_reg[i])
            for t in range(d):
                x[t] = out[i, t]
            # a row that fits in the scratch is gathered once for every step;
            # a longer one is gathered again in each, in blocks of stream_rows
            resident = n <= cap
            span = max(n, 1) if resident else min(stream_rows, cap)
            # r = b - A x in one pass over the row, gathering it on the way
            diagonal_apply(diagonal, x, -w_f, -reg_f, r, D)
            for start in range(0, n, span):
                count = min(span, n - start)
                gather_rows(other, indices, lo + start, count, block, d)
                rows_dot(block, count, x, dots, D, zero)
                if track:
                    for q in range(count):
                        pred[start + q] = dots[q]
                # unsigned: no negative-index wraparound code in the loop; the
                # indices were validated at the boundary
                first = np.uint64(lo + start)
                for q in range(np.uint64(count)):
                    e = first + q
                    conf = np.float64(confidence[e])
                    cq = conf - wi * col_weights[np.uint64(indices[e])]
                    coef[np.uint64(start) + q] = cq
                    dots[q] = float_type(conf * np.float64(targets[e])
                                         - cq * np.float64(dots[q]))
                rows_axpy(block, count, dots, r, D)
            rs = 0.0
            for t in range(D):
                p[t] = r[t]
                rs += np.float64(r[t]) * np.float64(r[t])
            rs_stop = CG_RESIDUAL_TOLERANCE * rs
            max_curvature = 0.0
            for _ in range(cg_steps):
                # written so that NaN also stops: a warm start near 0 decays
                # into subnormals, where rounded dot products can reach 0 or NaN
                if not (rs > rs_stop and rs > CG_TINY):
                    break
                diagonal_apply(diagonal, p, w_f, reg_f, Ap, D)
                for start in range(0, n, span):
                    count = min(span, n - start)
                    if not resident:
                        gather_rows(other, indices, lo + start, count, block, d)
                    rows_dot_axpy(block, count, p, coef, start, dots, Ap, D, zero)
                    if track:
                        for q in range(count):
                            moved[start + q] = dots[q]
                pAp = 0.0
                pp = 0.0
                for t in range(D):
                    pAp += np.float64(p[t]) * np.float64(Ap[t])
                    pp += np.float64(p[t]) * np.float64(p[t])
                # a direction with no curvature relative to earlier ones is rounding
                # noise in the null space of a singular system: stepping along it diverges
                if not (pp > CG_TINY and pAp > 0.0):
                    break
                curvature = pAp / pp
                max_curvature = max(max_curvature, curvature)
                if not (curvature > CG_CURVATURE_TOLERANCE * max_curvature):
                    break
                alpha = float_type(rs / pAp)
                rs_new = 0.0
                for t in range(D):
                    x[t] += alpha * p[t]
                    r[t] -= alpha * Ap[t]
                    rs_new += np.float64(r[t]) * np.float64(r[t])
                beta = float_type(rs_new / rs)
                for t in range(D):
                    p[t] = r[t] + beta * p[t]
                rs = rs_new
                if track:
                    step = np.float64(alpha)
                    for q in range(n):
                        pred[q] += step * moved[q]
            norm = 0.0
            for t in range(d):
                out[i, t] = x[t]
                norm += np.float64(x[t]) * np.float64(x[t])
            squares += norm
            penalty += row_reg[i] * norm
            if track:
                for q in range(n):
                    e = lo + q
                    conf = np.float64(confidence[e])
                    err = np.float64(targets[e]) - pred[q]
                    observed += (conf * err * err
                                 - wi * col_weights[indices[e]] * pred[q] * pred[q])
        sums[c, 0] = observed
        sums[c, 1] = penalty
        sums[c, 2] = squares

    return cg_chunk
