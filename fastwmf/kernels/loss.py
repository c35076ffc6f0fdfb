"""Pieces of the WMF objective that touch stored entries or factor rows.

Each sum is split into fixed chunks (rows or entry positions), summed by a
serial kernel per chunk on :func:`fastwmf._threading.run_tasks`'s threads,
and the partial sums are added in chunk order: the result does not depend
on the thread count.
"""

import numpy as np
from numba import njit

from .._config import CHUNK
from .._threading import run_tasks
from ._llvm import prefetch_row
from .rowblock import GATHER_AHEAD


def _chunked_sum(chunk_sum, chunk_bounds):
    """``sum_c chunk_sum(c)`` over the chunks of ``chunk_bounds``, in chunk order."""
    n_chunks = len(chunk_bounds) - 1
    partial = np.zeros(max(n_chunks, 1))

    def task(c):
        partial[c] = chunk_sum(c)

    run_tasks(task, n_chunks)
    total = 0.0
    for c in range(n_chunks):
        total += float(partial[c])
    return total


def observed_loss(indptr, indices, targets, confidence, row_factors,
                  col_factors, w0, row_weights, col_weights, chunk_bounds):
    """Return ``sum_Obs c (a - x.y)^2 - w0 p q (x.y)^2`` in float64.

    Added to ``w0 <X^T diag(p) X, Y^T diag(q) Y>_F`` this gives the data part
    of the objective without visiting unobserved entries. The column rows are
    prefetched as in :func:`.rowblock.gather_rows`. ``chunk_bounds`` splits
    the rows.
    """
    return _chunked_sum(
        lambda c: _observed_loss_chunk(chunk_bounds[c], chunk_bounds[c + 1], indptr, indices,
                                       targets, confidence, row_factors, col_factors, w0,
                                       row_weights, col_weights), chunk_bounds)


@njit(**CHUNK)
def _observed_loss_chunk(first, stop_row, indptr, indices, targets, confidence, row_factors,
                         col_factors, w0, row_weights, col_weights):
    """:func:`observed_loss` over rows ``first .. stop_row-1``."""
    d = row_factors.shape[1]
    s = 0.0
    stop = indptr[stop_row]
    for i in range(first, stop_row):
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
    return s


def weighted_squared_norm(factors, row_reg, chunk_bounds):
    """Return ``sum_r row_reg[r] * |factors[r]|^2`` in float64 (``chunk_bounds``
    splits the rows)."""
    return _chunked_sum(
        lambda c: _weighted_squared_norm_chunk(chunk_bounds[c], chunk_bounds[c + 1], factors,
                                               row_reg), chunk_bounds)


@njit(**CHUNK)
def _weighted_squared_norm_chunk(first, stop, factors, row_reg):
    """:func:`weighted_squared_norm` over rows ``first .. stop-1``."""
    d = factors.shape[1]
    s = 0.0
    for r in range(first, stop):
        norm = 0.0
        for t in range(d):
            x = np.float64(factors[r, t])
            norm += x * x
        s += row_reg[r] * norm
    return s


def observed_loss_entries(rows, cols, targets, confidence, row_factors, col_factors,
                          w0, row_weights, col_weights, chunk_bounds):
    """:func:`observed_loss` over entries in any order (``rows[e]``, ``cols[e]``).

    ``chunk_bounds`` splits the entry positions.
    """
    return _chunked_sum(
        lambda c: _observed_loss_entries_chunk(chunk_bounds[c], chunk_bounds[c + 1], rows,
                                               cols, targets, confidence, row_factors,
                                               col_factors, w0, row_weights, col_weights),
        chunk_bounds)


@njit(**CHUNK)
def _observed_loss_entries_chunk(first, stop, rows, cols, targets, confidence, row_factors,
                                 col_factors, w0, row_weights, col_weights):
    """:func:`observed_loss_entries` over entry positions ``first .. stop-1``."""
    d = row_factors.shape[1]
    s = 0.0
    for e in range(first, stop):
        i = rows[e]
        j = cols[e]
        pred = 0.0
        for t in range(d):
            pred += np.float64(row_factors[i, t]) * np.float64(col_factors[j, t])
        err = np.float64(targets[e]) - pred
        s += (np.float64(confidence[e]) * err * err
              - w0 * row_weights[i] * col_weights[j] * pred * pred)
    return s
