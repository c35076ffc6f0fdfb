"""Re-layouts of the stored entries, in linear time and without temporaries."""

import numpy as np
from numba import njit

from .._config import SERIAL


@njit(**SERIAL)
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
    out_indptr = np.zeros(n_cols + 1, np.int64)
    for e in range(indices.shape[0]):
        out_indptr[indices[e] + 1] += 1
    for j in range(n_cols):
        out_indptr[j + 1] += out_indptr[j]
    fill = out_indptr[:-1].copy()
    for i in range(indptr.shape[0] - 1):
        for e in range(indptr[i], indptr[i + 1]):
            j = indices[e]
            pos = fill[j]
            fill[j] = pos + 1
            out_indices[pos] = i
            out_targets[pos] = targets[e]
            out_confidence[pos] = confidence[e]
    return out_indptr
