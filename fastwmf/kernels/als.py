"""One weighted-ALS half-step: solve every row of one factor matrix.

For row ``i`` with observed columns ``Obs_i`` the normal equations are::

    (w0 p_i G + sum_{j in Obs_i} (c_ij - w0 p_i q_j) y_j y_j^T + lam_i I) x_i
        = sum_{j in Obs_i} c_ij a_ij y_j

with ``G = Y^T diag(q) Y`` precomputed (the Gramian trick), so the work per
row is proportional to its stored entries, never to the number of columns.
"""

import functools

import numpy as np
from numba import njit, prange

from .._config import PARALLEL
from .linalg import cholesky_solve_upper
from .rowblock import gather_rows, longest_row, rows_axpy, rows_dot, symmetric_apply
from .specialise import kernel_width, padded_square

#: CG stops once the squared residual falls below this fraction of its start.
CG_RESIDUAL_TOLERANCE = 1e-24

#: Squared norms below this are treated as zero (far above float64 subnormals).
CG_TINY = 1e-250

#: CG stops on a direction whose curvature ``p.Ap / p.p`` is below this
#: fraction of the largest seen in the row (pAp <= 0 included).
CG_CURVATURE_TOLERANCE = 1e-12

#: Stored entries of a row gathered into per-chunk scratch; a shorter row is
#: gathered once and reused by every CG step, a longer one block by block.
GATHER_ROWS = 1024

#: ``(kind, width, float type, gather limit)`` of every kernel built so far.
_KERNEL_KEYS = []


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
    width = kernel_width(other.shape[1])
    kernel = _cholesky_kernel(width, other.dtype.type, GATHER_ROWS)
    kernel(indptr, indices, targets, confidence, other,
           padded_square(gramian, width, np.float64), w0, row_weights, col_weights,
           row_reg, chunk_bounds, out)


@functools.lru_cache(maxsize=None)
def _cholesky_kernel(width, float_type, gather_limit):
    """The exact half-step compiled for ``width`` columns (0: any), one dtype
    and ``gather_limit`` entries per BLAS block (values a closure is cached under).

    The rank-``n_i`` update of each row's system is one matrix product per
    block of gathered rows (BLAS, in the factors' dtype); the system is then
    assembled and solved in float64.
    """
    _KERNEL_KEYS.append(("cholesky", width, float_type, gather_limit))

    @njit(**PARALLEL)
    def cholesky_kernel(indptr, indices, targets, confidence, other, gramian,
                        w0, row_weights, col_weights, row_reg, chunk_bounds, out):
        d = other.shape[1]
        D = width if width else d
        n_chunks = chunk_bounds.shape[0] - 1
        for c in prange(n_chunks):
            longest = longest_row(indptr, chunk_bounds[c], chunk_bounds[c + 1])
            cap = max(min(longest, gather_limit), 1)
            block = np.zeros((cap, D), other.dtype)
            scaled = np.zeros((cap, D), other.dtype)
            rhs = np.empty(cap, other.dtype)
            A = np.empty((D, D))
            b = np.empty(D)
            part = np.empty(D, other.dtype)
            for i in range(chunk_bounds[c], chunk_bounds[c + 1]):
                lo = indptr[i]
                n = indptr[i + 1] - lo
                wi = w0 * row_weights[i]
                for r in range(D):
                    for s in range(D):
                        A[r, s] = wi * gramian[r, s]
                    A[r, r] += row_reg[i]
                    b[r] = 0.0
                for start in range(0, n, cap):
                    count = min(cap, n - start)
                    gather_rows(other, indices, lo + start, count, block, d)
                    for q in range(count):
                        e = lo + start + q
                        conf = np.float64(confidence[e])
                        coef = float_type(conf - wi * col_weights[indices[e]])
                        rhs[q] = float_type(conf * np.float64(targets[e]))
                        for t in range(D):
                            scaled[q, t] = coef * block[q, t]
                    for t in range(D):
                        part[t] = 0.0
                    rows_axpy(block, count, rhs, part, D)
                    for t in range(D):
                        b[t] += part[t]
                    update = np.dot(scaled[:count].T, block[:count])
                    for r in range(D):
                        for s in range(r, D):
                            A[r, s] += update[r, s]
                cholesky_solve_upper(A, b, D)
                for t in range(d):
                    out[i, t] = b[t]

    return cholesky_kernel



def half_step_cg(indptr, indices, targets, confidence, other, gramian,
                 w0, row_weights, col_weights, row_reg, chunk_bounds,
                 cg_steps, out):
    """Inexact half-step: ``cg_steps`` conjugate-gradient steps per row.

    Arguments are those of :func:`half_step_cholesky`, plus ``cg_steps``;
    ``out`` holds the warm start on entry and the result on exit. The system
    matrix is never formed: each product costs ``O(nnz_i d + d^2)``. Vectors
    are kept in the factors' dtype, scalars of the recurrence in float64.
    """
    width = kernel_width(other.shape[1])
    kernel = _cg_kernel(width, other.dtype.type, GATHER_ROWS)
    kernel(indptr, indices, targets, confidence, other,
           padded_square(gramian, width, other.dtype), w0, row_weights, col_weights,
           row_reg, chunk_bounds, cg_steps, out)


@functools.lru_cache(maxsize=None)
def _cg_kernel(width, float_type, gather_limit):
    """The CG half-step compiled for ``width`` columns (0: any), one dtype and
    ``gather_limit`` resident entries (values a closure is cached under)."""
    _KERNEL_KEYS.append(("cg", width, float_type, gather_limit))

    @njit(**PARALLEL)
    def cg_kernel(indptr, indices, targets, confidence, other, gramian,
                  w0, row_weights, col_weights, row_reg, chunk_bounds,
                  cg_steps, out):
        d = other.shape[1]
        D = width if width else d
        zero = float_type(0.0)
        n_chunks = chunk_bounds.shape[0] - 1
        for c in prange(n_chunks):
            longest = longest_row(indptr, chunk_bounds[c], chunk_bounds[c + 1])
            cap = max(min(longest, gather_limit), 1)
            block = np.zeros((cap, D), other.dtype)
            coef = np.empty(max(longest, 1), other.dtype)
            dots = np.empty(cap, other.dtype)
            x = np.zeros(D, other.dtype)
            r = np.empty(D, other.dtype)
            p = np.empty(D, other.dtype)
            Ap = np.empty(D, other.dtype)
            for i in range(chunk_bounds[c], chunk_bounds[c + 1]):
                lo = indptr[i]
                n = indptr[i + 1] - lo
                wi = w0 * row_weights[i]
                w_f = float_type(wi)
                reg_f = float_type(row_reg[i])
                for t in range(d):
                    x[t] = out[i, t]
                # r = b - A x in one pass over the row, gathering it on the way
                symmetric_apply(gramian, x, -w_f, -reg_f, r, D, zero)
                for start in range(0, n, cap):
                    count = min(cap, n - start)
                    gather_rows(other, indices, lo + start, count, block, d)
                    rows_dot(block, count, x, dots, D, zero)
                    for q in range(count):
                        e = lo + start + q
                        conf = np.float64(confidence[e])
                        cq = conf - wi * col_weights[indices[e]]
                        coef[start + q] = cq
                        dots[q] = float_type(conf * np.float64(targets[e])
                                             - cq * np.float64(dots[q]))
                    rows_axpy(block, count, dots, r, D)
                resident = n <= cap
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
                    symmetric_apply(gramian, p, w_f, reg_f, Ap, D, zero)
                    for start in range(0, n, cap):
                        count = min(cap, n - start)
                        if not resident:
                            gather_rows(other, indices, lo + start, count, block, d)
                        rows_dot(block, count, p, dots, D, zero)
                        for q in range(count):
                            dots[q] *= coef[start + q]
                        rows_axpy(block, count, dots, Ap, D)
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
                for t in range(d):
                    out[i, t] = x[t]

    return cg_kernel


def compiled_kernels():
    """The half-step dispatchers built so far in this process (for inspection)."""
    factories = {"cg": _cg_kernel, "cholesky": _cholesky_kernel}
    return [factories[kind](*key) for kind, *key in _KERNEL_KEYS]
