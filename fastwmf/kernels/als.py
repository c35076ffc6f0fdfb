"""One weighted-ALS half-step: solve every row of one factor matrix.

For row ``i`` with observed columns ``Obs_i`` the normal equations are::

    (w0 p_i G + sum_{j in Obs_i} (c_ij - w0 p_i q_j) y_j y_j^T + lam_i I) x_i
        = sum_{j in Obs_i} c_ij a_ij y_j

with ``G = Y^T diag(q) Y`` precomputed (the Gramian trick), so the work per
row is proportional to its stored entries, never to the number of columns.
"""

import numpy as np
from numba import njit, prange

from .._config import PARALLEL, SERIAL
from .linalg import cholesky_solve_inplace

#: CG stops once the squared residual falls below this fraction of its start.
CG_RESIDUAL_TOLERANCE = 1e-24

#: Squared norms below this are treated as zero (far above float64 subnormals).
CG_TINY = 1e-250

#: CG stops on a direction whose curvature ``p.Ap / p.p`` is below this
#: fraction of the largest seen in the row (pAp <= 0 included).
CG_CURVATURE_TOLERANCE = 1e-12


@njit(**PARALLEL)
def half_step_cholesky(indptr, indices, targets, confidence, other, gramian,
                       w0, row_weights, col_weights, row_reg, chunk_bounds, out):
    """Exact half-step: form and Cholesky-solve each row's ``d x d`` system.

    Parameters
    ----------
    indptr, indices : ndarray
        CSR structure of the rows being solved (int64 / int32).
    targets, confidence : ndarray, shape (nnz,)
        ``a_ij`` and ``c_ij`` aligned with ``indices``.
    other : ndarray, shape (n_cols, d)
        The fixed factor matrix ``Y``.
    gramian : ndarray of float64, shape (d, d)
        ``Y^T diag(col_weights) Y``.
    w0 : float
        Unobserved weight.
    row_weights, col_weights : ndarray of float64
        Per-row ``p_i`` and per-column ``q_j`` unobserved weights.
    row_reg : ndarray of float64, shape (n_rows,)
        ``lam_i`` per row.
    chunk_bounds : ndarray of int64
        Row chunks; rows are independent, so the result is thread-count free.
    out : ndarray, shape (n_rows, d)
        Receives the solved rows.
    """
    d = other.shape[1]
    n_chunks = chunk_bounds.shape[0] - 1
    for c in prange(n_chunks):
        A = np.empty((d, d))
        b = np.empty(d)
        y = np.empty(d)
        for i in range(chunk_bounds[c], chunk_bounds[c + 1]):
            wi = w0 * row_weights[i]
            for r in range(d):
                for s in range(r + 1):
                    A[r, s] = wi * gramian[r, s]
                A[r, r] += row_reg[i]
                b[r] = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                conf = np.float64(confidence[p])
                coef = conf - wi * col_weights[j]
                rhs = conf * np.float64(targets[p])
                for r in range(d):
                    y[r] = other[j, r]
                for r in range(d):
                    yr = y[r]
                    b[r] += rhs * yr
                    cy = coef * yr
                    for s in range(r + 1):
                        A[r, s] += cy * y[s]
            cholesky_solve_inplace(A, b)
            for r in range(d):
                out[i, r] = b[r]


@njit(**PARALLEL)
def half_step_cg(indptr, indices, targets, confidence, other, gramian,
                 w0, row_weights, col_weights, row_reg, chunk_bounds,
                 cg_steps, out):
    """Inexact half-step: ``cg_steps`` conjugate-gradient steps per row.

    Arguments are those of :func:`half_step_cholesky`, plus ``cg_steps``;
    ``out`` holds the warm start on entry and the result on exit. The system
    matrix is never formed: each product costs ``O(nnz_i d + d^2)``.
    """
    d = other.shape[1]
    n_chunks = chunk_bounds.shape[0] - 1
    for c in prange(n_chunks):
        x = np.empty(d)
        r = np.empty(d)
        p = np.empty(d)
        Ap = np.empty(d)
        for i in range(chunk_bounds[c], chunk_bounds[c + 1]):
            wi = w0 * row_weights[i]
            lo = indptr[i]
            hi = indptr[i + 1]
            for t in range(d):
                x[t] = out[i, t]
            # r = b - A x, with b and A x from one pass over the row
            _apply_system(x, r, indices, confidence, other, gramian, wi,
                          col_weights, row_reg[i], lo, hi)
            for t in range(d):
                r[t] = -r[t]
            for q in range(lo, hi):
                rhs = np.float64(confidence[q]) * np.float64(targets[q])
                j = indices[q]
                for t in range(d):
                    r[t] += rhs * other[j, t]
            rs = 0.0
            for t in range(d):
                p[t] = r[t]
                rs += r[t] * r[t]
            rs_stop = CG_RESIDUAL_TOLERANCE * rs
            max_curvature = 0.0
            for _ in range(cg_steps):
                # written so that NaN also stops: a warm start near 0 decays
                # into subnormals, where rounded dot products can reach 0 or NaN
                if not (rs > rs_stop and rs > CG_TINY):
                    break
                _apply_system(p, Ap, indices, confidence, other, gramian, wi,
                              col_weights, row_reg[i], lo, hi)
                pAp = 0.0
                pp = 0.0
                for t in range(d):
                    pAp += p[t] * Ap[t]
                    pp += p[t] * p[t]
                # a direction with no curvature relative to earlier ones is rounding
                # noise in the null space of a singular system: stepping along it diverges
                if not (pp > CG_TINY and pAp > 0.0):
                    break
                curvature = pAp / pp
                max_curvature = max(max_curvature, curvature)
                if not (curvature > CG_CURVATURE_TOLERANCE * max_curvature):
                    break
                alpha = rs / pAp
                rs_new = 0.0
                for t in range(d):
                    x[t] += alpha * p[t]
                    r[t] -= alpha * Ap[t]
                    rs_new += r[t] * r[t]
                beta = rs_new / rs
                for t in range(d):
                    p[t] = r[t] + beta * p[t]
                rs = rs_new
            for t in range(d):
                out[i, t] = x[t]


@njit(**SERIAL)
def _apply_system(x, result, indices, confidence, other, gramian, wi,
                  col_weights, reg, lo, hi):
    """``result = A x`` for one row's implicit system matrix."""
    d = x.shape[0]
    for r in range(d):
        s = 0.0
        for t in range(d):
            s += gramian[r, t] * x[t]
        result[r] = wi * s + reg * x[r]
    for q in range(lo, hi):
        j = indices[q]
        dot = 0.0
        for t in range(d):
            dot += other[j, t] * x[t]
        coef = (np.float64(confidence[q]) - wi * col_weights[j]) * dot
        for t in range(d):
            result[t] += coef * other[j, t]
