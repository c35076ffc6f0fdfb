"""The subspace (block) ALS half-step of iALS++ (Rendle et al. 2021).

Each row is updated one block of ``b`` consecutive columns at a time, every
block solved exactly with the other columns fixed: the row's objective is a
quadratic ``x^T A x - 2 b^T x`` with

    A = sum_Obs (c - w0 p q) y y^T + w0 p G + lam I,    b = sum_Obs c a y,

so the block's minimiser solves ``A_BB x_B = b_B - A_BR x_R``. The observed
part of ``A_BR x_R`` comes from the entries' predictions ``y.x`` (kept for
the row and patched after every block, ``O(n_i b)``), the Gramian part from
``G_B. x``. A block costs ``O(n_i b^2 + d b + b^3)``, a sweep over the
``d / b`` blocks ``O(n_i d b + d^2 + d b^2)`` per row, instead of the exact
solver's ``O(n_i d^2 + d^3)``; ``b = d`` is the exact solve. One sweep per
half-step never increases the objective (each block step is an exact
minimisation).
"""

import numpy as np
from numba import njit

from .._config import CHUNK
from .._threading import run_tasks
from .als import HalfStepSums, row_spans
from .rowblock import longest_span


def half_step_block(indptr, indices, targets, confidence, other, gramian, w0, row_weights,
                    col_weights, row_reg, chunk_bounds, block_size, out,
                    track_observed=False, row_order=None):
    """One sweep of exact block updates over every row, warm-started from ``out``.

    Parameters
    ----------
    indptr, indices, targets, confidence, other, w0, row_weights, col_weights, \
row_reg, chunk_bounds, track_observed, row_order :
        As in :func:`fastwmf.kernels.als.half_step_cholesky`.
    gramian : ndarray of float64, shape (d, d)
        ``Y^T diag(col_weights) Y`` in the factors' basis.
    block_size : int
        Columns per block, ``1 <= block_size <= d``; the last block holds the
        remainder when it does not divide ``d``.
    out : ndarray, shape (n_rows, d)
        The rows' current factors, updated in place.

    Returns
    -------
    HalfStepSums
    """
    sums = np.zeros((max(len(chunk_bounds) - 1, 1), 3))
    starts, ends = row_spans(indptr, row_order)
    G = np.ascontiguousarray(gramian, dtype=np.float64)
    track = bool(track_observed)
    run_tasks(lambda c: _block_chunk(c, starts, ends, indices, targets, confidence, other, G,
                                     w0, row_weights, col_weights, row_reg, chunk_bounds,
                                     block_size, track, sums, out),
              len(chunk_bounds) - 1)
    return HalfStepSums(*(float(v) for v in sums.sum(axis=0)))


@njit(**CHUNK)
def _block_chunk(c, starts, ends, indices, targets, confidence, other, G, w0, row_weights,
                 col_weights, row_reg, chunk_bounds, block_size, track, sums, out):
    """The rows of chunk ``c``; the chunk's :class:`HalfStepSums` go to ``sums[c]``.

    Per row and block, the block's columns of the row's entries are gathered
    into a contiguous float64 buffer ``Y_B`` (``n_i x b``) that the sums of
    ``A_BB = Y_B^T diag(w) Y_B``, the right-hand side and the prediction
    patches read in order."""
    d = other.shape[1]
    b_max = min(block_size, d)
    longest = max(longest_span(starts, ends, chunk_bounds[c], chunk_bounds[c + 1]), 1)
    pred = np.empty(longest)
    weight = np.empty(longest)
    coef = np.empty(longest)
    gathered = np.empty(longest * b_max)
    weighted = np.empty(longest * b_max)
    A = np.empty((b_max, b_max))
    rhs = np.empty(b_max)
    step = np.empty(b_max)
    x = np.empty(d)
    gx = np.empty(d)  # G x, kept up to date as blocks change x
    observed = 0.0
    penalty = 0.0
    squares = 0.0
    for i in range(chunk_bounds[c], chunk_bounds[c + 1]):
        lo = starts[i]
        n = ends[i] - lo
        wi = w0 * row_weights[i]
        reg = row_reg[i]
        for t in range(d):
            x[t] = out[i, t]
        if wi != 0.0:
            gx[:] = np.dot(G, x)
        else:
            gx[:] = 0.0
        for q in range(n):
            e = lo + q
            j = indices[e]
            s = 0.0
            for t in range(d):
                s += np.float64(other[j, t]) * x[t]
            pred[q] = s
            weight[q] = np.float64(confidence[e]) - wi * col_weights[j]
        for first in range(0, d, b_max):
            b = min(b_max, d - first)
            Y = gathered[:n * b].reshape((n, b))
            WY = weighted[:n * b].reshape((n, b))
            for q in range(n):
                j = indices[lo + q]
                partial = 0.0
                for r in range(b):
                    y = np.float64(other[j, first + r])
                    Y[q, r] = y
                    WY[q, r] = weight[q] * y
                    partial += y * x[first + r]
                # c a - w (prediction without the block)
                e = lo + q
                coef[q] = (np.float64(confidence[e]) * np.float64(targets[e])
                           - weight[q] * (pred[q] - partial))
            system = A[:b, :b]
            system[:, :] = 0.0
            rhs[:b] = 0.0
            for q in range(n):  # tiny systems: loops beat BLAS calls and their allocations
                cq = coef[q]
                for r in range(b):
                    wyr = WY[q, r]
                    rhs[r] += cq * Y[q, r]
                    for t in range(b):
                        system[r, t] += wyr * Y[q, t]
            # the Gramian's part: wi (G_BB x_B - (G x)_B) on the right, wi G_BB + reg I on the left
            for r in range(b):
                own = 0.0
                for t in range(b):
                    system[r, t] += wi * G[first + r, first + t]
                    own += G[first + r, first + t] * x[first + t]
                system[r, r] += reg
                rhs[r] += wi * (own - gx[first + r])
            if not _solve_spd(A, rhs, b):
                continue  # not positive definite (no ridge, too few entries): keep the block
            for r in range(b):
                step[r] = rhs[r] - x[first + r]
                x[first + r] = rhs[r]
            if wi != 0.0:  # keep gx = G x (G is symmetric: its block rows are its columns)
                gx += np.dot(step[:b], G[first:first + b])
            for q in range(n):
                moved = 0.0
                for r in range(b):
                    moved += Y[q, r] * step[r]
                pred[q] += moved
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
def _solve_spd(A, rhs, b):
    """Solve ``A[:b, :b] z = rhs[:b]`` in place (``rhs`` becomes ``z``) by Cholesky;
    False (``rhs`` unusable) when ``A`` is not numerically positive definite."""
    for k in range(b):
        s = A[k, k]
        for t in range(k):
            s -= A[k, t] * A[k, t]
        if not s > 1e-300:
            return False
        s = np.sqrt(s)
        A[k, k] = s
        for r in range(k + 1, b):
            v = A[r, k]
            for t in range(k):
                v -= A[r, t] * A[k, t]
            A[r, k] = v / s
    for k in range(b):
        v = rhs[k]
        for t in range(k):
            v -= A[k, t] * rhs[t]
        rhs[k] = v / A[k, k]
    for k in range(b - 1, -1, -1):
        v = rhs[k]
        for t in range(k + 1, b):
            v -= A[t, k] * rhs[t]
        rhs[k] = v / A[k, k]
    return True
