"""Gibbs sampling of factor rows for Bayesian matrix factorization.

Row ``i`` of one side, the other side ``Y`` fixed, has the Gaussian
conditional ``x_i ~ N(A_i^{-1} b_i, A_i^{-1})`` with
``A_i = P + alpha sum_j y_j y_j^T`` and ``b_i = P m + alpha sum_j r_ij y_j``
over the row's stored entries, ``P`` and ``m`` the prior's precision and
mean, ``alpha`` the noise precision (Salakhutdinov and Mnih 2008). With
``A_i = U^T U`` a draw is ``U^{-1} (U^{-T} b_i + z)``, ``z`` standard normal:
its mean is ``A_i^{-1} b_i`` and its covariance ``U^{-1} U^{-T} = A_i^{-1}``;
it is formed as the mean plus ``U^{-1} z``.
"""

import numpy as np
from numba import njit

from .._config import CHUNK
from .._threading import run_tasks, work_chunks
from .linalg import cholesky_solve_upper, solve_upper


@njit(**CHUNK)
def _sample_chunk(c, entries, other, prior, noise, out, squares):
    """Draw the rows of chunk ``c`` into ``out`` and their squared residuals'
    sum into ``squares[c]`` (see :func:`sample_rows`)."""
    indptr, indices, residuals, chunk_bounds = entries
    precision, shifted_mean, alpha = prior
    D = other.shape[1]
    first = chunk_bounds[c]
    stop = chunk_bounds[c + 1]
    longest = 0
    for i in range(first, stop):
        longest = max(longest, indptr[i + 1] - indptr[i])
    # each row's vectors gathered into one block: its Gram matrix is then one
    # BLAS product instead of rank-4 updates in a loop (chosen by measurement,
    # benchmarks/README.md)
    block = np.empty((max(longest, 1), D))
    gram = np.empty((D, D))
    A = np.empty((D, D))
    b = np.empty(D)
    z = np.empty(D)
    total = 0.0
    for i in range(first, stop):
        lo = indptr[i]
        n = indptr[i + 1] - lo
        for a in range(D):
            b[a] = 0.0
        for q in range(n):
            j = indices[lo + q]
            r = residuals[lo + q]
            for a in range(D):
                y = other[j, a]
                block[q, a] = y
                b[a] += r * y
        if n > 0:
            rows = block[:n]
            np.dot(rows.T, rows, gram)
        else:
            gram[:] = 0.0
        for a in range(D):
            for t in range(a, D):
                A[a, t] = precision[a, t] + alpha * gram[a, t]
            b[a] = shifted_mean[a] + alpha * b[a]
        cholesky_solve_upper(A, b, D)
        for a in range(D):
            z[a] = noise[i, a]
        solve_upper(A, z, D)
        for a in range(D):
            b[a] += z[a]
            out[i, a] = b[a]
        for q in range(n):
            s = 0.0
            for a in range(D):
                s += b[a] * block[q, a]
            r = residuals[lo + q] - s
            total += r * r
    squares[c] = total


def sample_rows(indptr, indices, residuals, chunk_bounds, other, precision, prior_mean,
                alpha, noise, out, squares):
    """Draw every row of one side from its conditional, the other side fixed.

    Parameters
    ----------
    indptr : ndarray of int64, shape (n_rows + 1,)
    indices : ndarray of int32
        CSR pattern of the rows' stored entries (column indices into ``other``,
        validated by the caller).
    residuals : ndarray of float64
        Per stored entry, what the row's vector must explain (the rating less
        the parts that do not depend on it).
    chunk_bounds : ndarray of int64
        Row chunks (:func:`fastwmf._threading.row_chunks`); their count does
        not depend on the thread count, so draws are the same for any.
    other : ndarray of float64, shape (n_cols, D)
        The fixed side's vectors.
    precision : ndarray of float64, shape (D, D)
        The prior's precision ``P`` (symmetric positive definite).
    prior_mean : ndarray of float64, shape (D,)
    alpha : float
        Noise precision.
    noise : ndarray of float64, shape (n_rows, D)
        Standard normal draws, one row per row.
    out : ndarray of float64, shape (n_rows, D)
        Receives the draws.
    squares : ndarray of float64, shape (len(chunk_bounds) - 1,)
        Receives, per chunk, the sum of the squared residuals left by the
        draws, ``(residual - x_i . y_j)^2`` (summed in a fixed order).
    """
    entries = (indptr, indices, residuals, chunk_bounds)
    prior = (precision, precision @ prior_mean, float(alpha))
    run_tasks(lambda c: _sample_chunk(c, entries, other, prior, noise, out, squares),
              len(chunk_bounds) - 1)


@njit(**CHUNK)
def _add_predictions_chunk(start, stop, indptr, indices, X, Y, out):
    """:func:`add_predictions` for rows ``start:stop``."""
    D = X.shape[1]
    for i in range(start, stop):
        for e in range(indptr[i], indptr[i + 1]):
            j = indices[e]
            s = 0.0
            for a in range(D):
                s += X[i, a] * Y[j, a]
            out[e] += s


def add_predictions(indptr, indices, X, Y, out):
    """Add ``X_i . Y_j`` to ``out`` at each stored entry ``(i, j)`` of a CSR pattern.

    Parameters
    ----------
    indptr : ndarray of int64
    indices : ndarray of int32
        Validated: rows below ``len(X)``, columns below ``len(Y)``.
    X, Y : ndarray of float64, same number of columns
    out : ndarray of float64, shape (nnz,)
    """
    n_rows = len(indptr) - 1
    bounds = work_chunks(n_rows, (indptr[-1] / max(n_rows, 1) + 1) * X.shape[1])
    run_tasks(lambda c: _add_predictions_chunk(bounds[c], bounds[c + 1], indptr, indices, X, Y,
                                               out), len(bounds) - 1)
