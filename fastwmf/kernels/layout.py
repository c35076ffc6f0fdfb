"""Re-layouts of the stored entries and factor rows, in linear time, without
copies of the entries beyond their outputs."""

import numba
import numpy as np
from numba import njit

from .._config import CHUNK, SERIAL
from .._threading import row_chunks, run_tasks


def transpose_entries(indptr, indices, targets, confidence, n_cols,
                      out_indices, out_targets, out_confidence):
    """The CSC view of a CSR matrix's entries (a counting sort by column).

    Parameters
    ----------
    indptr, indices : ndarray
        Canonical CSR structure (sorted, no duplicates).
    targets, confidence : ndarray, shape (nnz,)
        Values aligned with ``indices``.
    n_cols : int
    out_indices, out_targets, out_confidence : ndarray, shape (nnz,)
        Receive, column by column, the row of each entry and its values; rows
        come out ascending within a column.

    Returns
    -------
    ndarray of int64, shape (n_cols + 1,)
        The column pointer.
    """
    return transpose_renumbered(
        indptr[:-1], indptr[1:], indices, targets, confidence,
        np.arange(n_cols, dtype=np.int32), out_indices, out_targets, out_confidence)


def transpose_renumbered(starts, ends, indices, targets, confidence, new_col,
                         out_indices, out_targets, out_confidence, runs=None):
    """The CSC view of CSR rows given in a new order, with renumbered columns.

    Row ``k`` of the input is the entries ``starts[k]:ends[k]``; its entry in
    column ``j`` goes to output row ``new_col[j]`` with index ``k``. Within an
    output row the indices come out ascending. The rows are split into runs,
    about one per thread; each run counts its entries per column and then
    writes them after those of the runs before it, so the output does not
    depend on the number of runs.

    Parameters
    ----------
    starts, ends : ndarray of int64, shape (n_rows,)
    indices : ndarray of int32
        Column of each entry, in ``[0, len(new_col))``.
    targets, confidence : ndarray, shape (nnz,)
        Values aligned with ``indices``.
    new_col : ndarray of int32, shape (n_cols,)
        A permutation of ``0 .. n_cols-1``.
    out_indices, out_targets, out_confidence : ndarray
        Receive the transposed entries (as many as the rows hold). An empty
        ``out_targets`` or ``out_confidence`` is left unwritten (for values
        that are the same everywhere).
    runs : int, optional
        Split the rows into at most this many runs (default: one per
        thread, fewer on little data or where the runs' column counts
        would take more memory than the entries' indices).

    Returns
    -------
    ndarray of int64, shape (n_cols + 1,)
        The pointer of the output rows.
    """
    n_cols = new_col.shape[0]
    bounds = _entry_runs(starts, ends, max(n_cols, 1) * 8, runs)
    n_runs = len(bounds) - 1
    fill = np.zeros((max(n_runs, 1), n_cols), np.int64)  # counts, then write positions
    run_tasks(lambda t: _count_columns(t, bounds, starts, ends, indices, new_col, fill),
              n_runs)
    out_indptr = np.empty(n_cols + 1, np.int64)
    _column_offsets(fill, out_indptr)
    run_tasks(lambda t: _scatter_columns(t, bounds, starts, ends, indices, targets, confidence,
                                         new_col, fill, out_indices, out_targets,
                                         out_confidence), n_runs)
    return out_indptr


def _entry_runs(starts, ends, run_bytes, runs):
    """Bounds of at most ``runs`` runs of rows with about equal entries (see
    :func:`transpose_renumbered`); each run needs ``run_bytes`` of scratch."""
    counts = np.zeros(len(starts) + 1, np.int64)
    np.cumsum(ends - starts, out=counts[1:])
    if runs is not None:
        return row_chunks(counts, 1.0, max_chunks=runs, min_work=0)
    affordable = max(int(counts[-1]) * 4 // run_bytes, 1)
    return row_chunks(counts, 1.0, max_chunks=min(numba.get_num_threads(), affordable))


@njit(**CHUNK)
def _count_columns(t, bounds, starts, ends, indices, new_col, counts):
    """``counts[t, j]``: the entries of run ``t``'s rows in new column ``j``."""
    for k in range(bounds[t], bounds[t + 1]):
        for e in range(starts[k], ends[k]):
            counts[t, new_col[indices[e]]] += 1


@njit(**SERIAL)
def _column_offsets(fill, out_indptr):
    """Turn the runs' column counts in ``fill`` into the position of each
    run's first entry in each column, and fill ``out_indptr``."""
    n_runs, n_cols = fill.shape
    total = 0
    for j in range(n_cols):
        out_indptr[j] = total
        for t in range(n_runs):
            count = fill[t, j]
            fill[t, j] = total
            total += count
    out_indptr[n_cols] = total


@njit(**CHUNK)
def _scatter_columns(t, bounds, starts, ends, indices, targets, confidence, new_col, fill,
                     out_indices, out_targets, out_confidence):
    """Write run ``t``'s entries at the positions ``fill[t]`` (advanced as written)."""
    copy_targets = out_targets.shape[0] > 0
    copy_confidence = out_confidence.shape[0] > 0
    positions = fill[t]
    for k in range(bounds[t], bounds[t + 1]):
        for e in range(starts[k], ends[k]):
            j = new_col[indices[e]]
            pos = positions[j]
            positions[j] = pos + 1
            out_indices[pos] = k
            if copy_targets:
                out_targets[pos] = targets[e]
            if copy_confidence:
                out_confidence[pos] = confidence[e]


def gather_csr_rows(indptr, order, indices, targets, confidence, new_col,
                    out_indptr, out_indices, out_targets, out_confidence):
    """CSR rows ``order[k]`` as rows ``k``, with renumbered columns.

    Parameters
    ----------
    indptr, indices : ndarray
        CSR structure (int64 / int32), each index in ``[0, len(new_col))``.
    order : ndarray of int64, shape (n_rows,)
        A permutation of the rows: output row ``k`` is input row ``order[k]``.
    targets, confidence : ndarray, shape (nnz,)
        Values aligned with ``indices``.
    new_col : ndarray of int32
        The new number of each column.
    out_indptr : ndarray of int64, shape (n_rows + 1,)
        The output row pointer (the permuted row lengths, summed).
    out_indices, out_targets, out_confidence : ndarray
        Receive the entries in the new order. An empty ``out_targets`` or
        ``out_confidence`` is left unwritten (values that are the same
        everywhere); the others may be of another float type than the input
        (converted on the way).
    """
    bounds = row_chunks(out_indptr, 1.0)
    run_tasks(lambda c: _gather_csr_chunk(c, bounds, indptr, order, indices, targets,
                                          confidence, new_col, out_indptr, out_indices,
                                          out_targets, out_confidence), len(bounds) - 1)


@njit(**CHUNK)
def _gather_csr_chunk(c, bounds, indptr, order, indices, targets, confidence, new_col,
                      out_indptr, out_indices, out_targets, out_confidence):
    """:func:`gather_csr_rows` for the output rows of chunk ``c``."""
    copy_targets = out_targets.shape[0] > 0
    copy_confidence = out_confidence.shape[0] > 0
    for k in range(bounds[c], bounds[c + 1]):
        # unsigned: no negative-index wraparound code in the copy loops
        source = np.uint64(indptr[order[k]])
        first = np.uint64(out_indptr[k])
        n = np.uint64(out_indptr[k + 1]) - first
        for q in range(n):
            out_indices[first + q] = new_col[np.uint64(indices[source + q])]
        if copy_targets:
            for q in range(n):
                out_targets[first + q] = targets[source + q]
        if copy_confidence:
            for q in range(n):
                out_confidence[first + q] = confidence[source + q]


@njit(**SERIAL)
def gather_rows_in_place(rows, source):
    """``rows[k] = rows[source[k]]`` for every ``k`` at once, in place.

    Follows the cycles of the permutation ``source`` with one row of scratch,
    so a renumbering of the factor rows needs no second factor matrix.

    Parameters
    ----------
    rows : ndarray, shape (n, d)
    source : ndarray of int64, shape (n,)
        A permutation of ``0 .. n-1``.
    """
    n = rows.shape[0]
    done = np.zeros(n, np.bool_)
    held = np.empty(rows.shape[1], rows.dtype)
    for first in range(n):
        if done[first]:
            continue
        done[first] = True
        if source[first] == first:
            continue
        held[:] = rows[first]
        k = first
        while True:
            nxt = source[k]
            if nxt == first:
                rows[k] = held
                break
            rows[k] = rows[nxt]
            done[nxt] = True
            k = nxt
