"""Pieces of the WMF objective that touch stored entries or factor rows."""

import numpy as np
from numba import njit, prange

from .._config import PARALLEL
from .prefetch import prefetch_row
from .rowblock import GATHER_AHEAD


@njit(**PARALLEL)
def observed_loss(indptr, indices, targets, confidence, row_factors,
                  col_factors, w0, row_weights, col_weights, chunk_bounds):
    """Return ``sum_Obs c (a - x.y)^2 - w0 p q (x.y)^2`` in float64.

    Added to ``w0 <X^T diag(p) X, Y^T diag(q) Y>_F`` this gives the data part
    of the objective without visiting unobserved entries. The column rows are
    prefetched as in :func:`.rowblock.gather_rows`.
    """
    n_chunks = chunk_bounds.shape[0] - 1
    d = row_factors.shape[1]
    partial = np.zeros(max(n_chunks, 1))
    for c in prange(n_chunks):
        s = 0.0
        stop = indptr[chunk_bounds[c + 1]]
        for i in range(chunk_bounds[c], chunk_bounds[c + 1]):
            wi = w0 * row_weights[i]
            for q in range(indptr[i], indptr[i + 1]):
                if q + GATHER_AHEAD < stop:
                    prefetch_row(col_factors, indices[q + GATHER_AHEAD], d)
                j = indices[q]
                pred = 0.0
                for t in range(d):
                    pred += np.float64(row_factors[i, t]) * np.float64(col_factors[j, t])
                err = np.float64(targets[q]) - pred
                s += np.float64(confidence[q]) * err * err - wi * col_weights[j] * pred * pred
        partial[c] = s
    total = 0.0
    for c in range(n_chunks):
        total += partial[c]
    return total


@njit(**PARALLEL)
def weighted_squared_norm(factors, row_reg, chunk_bounds):
    """Return ``sum_r row_reg[r] * |factors[r]|^2`` in float64."""
    n_chunks = chunk_bounds.shape[0] - 1
    d = factors.shape[1]
    partial = np.zeros(max(n_chunks, 1))
    for c in prange(n_chunks):
        s = 0.0
        for r in range(chunk_bounds[c], chunk_bounds[c + 1]):
            norm = 0.0
            for t in range(d):
                x = np.float64(factors[r, t])
                norm += x * x
            s += row_reg[r] * norm
        partial[c] = s
    total = 0.0
    for c in range(n_chunks):
        total += partial[c]
    return total


@njit(**PARALLEL)
def observed_loss_entries(rows, cols, targets, confidence, row_factors, col_factors,
                          w0, row_weights, col_weights, chunk_bounds):
    """:func:`observed_loss` over entries in any order (``rows[e]``, ``cols[e]``).

    ``chunk_bounds`` splits the entry positions; partial sums are added in chunk
    order, so the result does not depend on the thread count.
    """
    n_chunks = chunk_bounds.shape[0] - 1
    d = row_factors.shape[1]
    partial = np.zeros(max(n_chunks, 1))
    for c in prange(n_chunks):
        s = 0.0
        for e in range(chunk_bounds[c], chunk_bounds[c + 1]):
            i = rows[e]
            j = cols[e]
            pred = 0.0
            for t in range(d):
                pred += np.float64(row_factors[i, t]) * np.float64(col_factors[j, t])
            err = np.float64(targets[e]) - pred
            s += (np.float64(confidence[e]) * err * err
                  - w0 * row_weights[i] * col_weights[j] * pred * pred)
        partial[c] = s
    total = 0.0
    for c in range(n_chunks):
        total += partial[c]
    return total
