"""Re-layouts of the stored entries and factor rows, in linear time, without
copies of the entries beyond their outputs."""

import numpy as np
from numba import njit

from .._config import SERIAL


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


@njit(**SERIAL)
def transpose_renumbered(starts, ends, indices, targets, confidence, new_col,
                         out_indices, out_targets, out_confidence):
    """The CSC view of CSR rows given in a new order, with renumbered columns.

    Row ``k`` of the input is the entries ``starts[k]:ends[k]``; its entry in
    column ``j`` goes to output row ``new_col[j]`` with index ``k``. Within an
    output row the indices come out ascending.

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

    Returns
    -------
    ndarray of int64, shape (n_cols + 1,)
        The pointer of the output rows.
    """
    n_cols = new_col.shape[0]
    out_indptr = np.zeros(n_cols + 1, np.int64)
    for k in range(starts.shape[0]):
        for e in range(starts[k], ends[k]):
            out_indptr[new_col[indices[e]] + 1] += 1
    for j in range(n_cols):
        out_indptr[j + 1] += out_indptr[j]
    fill = out_indptr[:-1].copy()
    copy_targets = out_targets.shape[0] > 0
    copy_confidence = out_confidence.shape[0] > 0
    for k in range(starts.shape[0]):
        for e in range(starts[k], ends[k]):
            j = new_col[indices[e]]
            pos = fill[j]
            fill[j] = pos + 1
            out_indices[pos] = k
            if copy_targets:
                out_targets[pos] = targets[e]
            if copy_confidence:
                out_confidence[pos] = confidence[e]
    return out_indptr


@njit(**SERIAL)
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
    copy_targets = out_targets.shape[0] > 0
    copy_confidence = out_confidence.shape[0] > 0
    for k in range(order.shape[0]):
        source = indptr[order[k]]
        first = out_indptr[k]
        for q in range(out_indptr[k + 1] - first):
            out_indices[first + q] = new_col[indices[source + q]]
        if copy_targets:
            for q in range(out_indptr[k + 1] - first):
                out_targets[first + q] = targets[source + q]
        if copy_confidence:
            for q in range(out_indptr[k + 1] - first):
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
