"""What every ALS half-step kernel takes and returns.

A half-step solves the rows of one side (:class:`HalfStepRows`) against the
fixed factors of the other and returns sums over the solved rows
(:class:`HalfStepSums`). Its chunk kernels, dispatched once per chunk of
rows, take the rows as the plain tuples of :func:`chunk_records`: Numba types
a named tuple in Python on every call, which a plain one avoids
(benchmarks/README.md, "Narrow kernel contracts").
"""

from typing import NamedTuple

import numpy as np


class HalfStepSums(NamedTuple):
    """Sums over the rows a half-step solved, in float64, taken as each row is stored.

    Attributes
    ----------
    observed : float
        ``sum_Obs c (a - x.y)^2 - w0 p q (x.y)^2`` over the solved rows' entries
        (0 unless the half-step was asked to track it): added to
        ``w0 <X^T diag(p) X, Y^T diag(q) Y>_F`` it is the data part of the
        objective (see :func:`fastwmf.kernels.loss.observed_loss`).
    penalty : float
        ``sum_i lam_i |x_i|^2``.
    squares : float
        ``sum_i |x_i|^2``: finite exactly when every solved row is.
    """

    observed: float
    penalty: float
    squares: float


class HalfStepRows(NamedTuple):
    """The rows a half-step solves: their stored entries in CSR and per-row values.

    Attributes
    ----------
    indptr, indices : ndarray
        CSR structure of the rows (int64 / int32).
    targets, confidence : ndarray, shape (nnz,)
        ``a_ij`` and ``c_ij`` aligned with ``indices``.
    row_weights : ndarray of float64
        Per-row unobserved weights ``p_i``.
    row_reg : ndarray of float64
        ``lam_i`` per row.
    chunk_bounds : ndarray of int64
        Row chunks; rows are independent, so the result is thread-count free.
    """

    indptr: np.ndarray
    indices: np.ndarray
    targets: np.ndarray
    confidence: np.ndarray
    row_weights: np.ndarray
    row_reg: np.ndarray
    chunk_bounds: np.ndarray


class ChunkEntries(NamedTuple):
    """A chunk kernel's view of the rows (positional: passed as a plain tuple,
    see the module docstring): where the ``k``-th row's entries start and
    end, the entries, and the chunks."""

    starts: np.ndarray
    ends: np.ndarray
    indices: np.ndarray
    targets: np.ndarray
    confidence: np.ndarray
    chunk_bounds: np.ndarray


class ChunkWeights(NamedTuple):
    """A chunk kernel's weights (positional, as :class:`ChunkEntries`): ``w0``,
    ``p_i`` per row, ``q_j`` per column and ``lam_i`` per row."""

    w0: float
    row_weights: np.ndarray
    col_weights: np.ndarray
    row_reg: np.ndarray


def chunk_records(rows, w0, col_weights):
    """``(entries, weights)``: plain tuples in the order of :class:`ChunkEntries`
    and :class:`ChunkWeights` for the chunk kernels of ``rows``
    (a :class:`HalfStepRows`)."""
    starts, ends = row_spans(rows.indptr)
    entries = ChunkEntries(starts, ends, rows.indices, rows.targets, rows.confidence,
                           rows.chunk_bounds)
    weights = ChunkWeights(float(w0), rows.row_weights, col_weights, rows.row_reg)
    return tuple(entries), tuple(weights)


def chunk_sums(chunk_bounds):
    """Per-chunk scratch for a kernel's :class:`HalfStepSums`."""
    return np.zeros((max(len(chunk_bounds) - 1, 1), 3))


def total_sums(sums):
    """Add the per-chunk sums in chunk order (independent of the thread count)."""
    return HalfStepSums(*(float(v) for v in sums.sum(axis=0)))


def row_spans(indptr):
    """``(starts, ends)``: views of ``indptr`` where the entries of each row
    begin and end (the form the chunk kernels take)."""
    return indptr[:-1], indptr[1:]
