"""Every input check and coercion; kernels trust what leaves this module.

Each failure raises ``TypeError`` (wrong kind of object) or ``ValueError``
(right kind, bad content) with a message that starts with the argument name.
"""

import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._config import MAX_INDEX, SUPPORTED_DTYPES
from ._threading import max_threads


@dataclass(frozen=True)
class Interactions:
    """A canonical CSR matrix: sorted, duplicate-free, finite, int32 indices.

    Attributes
    ----------
    shape : tuple of int
    indptr : ndarray of int64, shape (shape[0] + 1,)
    indices : ndarray of int32, shape (nnz,)
    values : ndarray of float64, shape (nnz,)
    weights : ndarray of float64 or None
        Per-entry confidence weights aligned with ``values``.
    """

    shape: tuple
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    weights: np.ndarray = None

    @property
    def nnz(self):
        """Number of stored entries."""
        return len(self.indices)

    def row_counts(self):
        """Stored entries per row."""
        return np.diff(self.indptr)

    def entry_rows(self):
        """The row of each stored entry (int64, ascending)."""
        return np.repeat(np.arange(self.shape[0], dtype=np.int64), self.row_counts())

    def to_scipy(self):
        """The values as a ``scipy.sparse.csr_matrix`` (no copy)."""
        return sp.csr_matrix((self.values, self.indices, self.indptr), shape=self.shape)


# ---------------------------------------------------------------- parameters

def check_int(value, name, low=None, high=None):
    """Return ``value`` as int after checking its type and range."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_float(value, name, low=None, low_inclusive=True, high=None):
    """Return ``value`` as a finite float after checking its type and range."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None:
        if low_inclusive and value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
        if not low_inclusive and value <= low:
            raise ValueError(f"{name} must be > {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_choice(value, name, choices):
    """Return ``value`` if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_bool(value, name):
    """Return ``value`` as bool if it is one."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def check_dtype(dtype, name="dtype"):
    """Return the ``numpy.dtype`` for float32 or float64."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from exc
    if resolved not in SUPPORTED_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {resolved}")
    return resolved


def check_num_threads(num_threads, name="num_threads"):
    """Resolve ``num_threads`` (``0`` or ``None`` means all) to a count."""
    limit = max_threads()
    if num_threads is None:
        return limit
    num_threads = check_int(num_threads, name, low=0)
    if num_threads == 0:
        return limit
    if num_threads > limit:
        raise ValueError(
            f"{name} must be <= {limit} (NUMBA_NUM_THREADS), got {num_threads}")
    return num_threads


def check_random_state(random_state, name="random_state"):
    """Return a ``numpy.random.Generator`` from None, an int or a Generator."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state)
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, numbers.Integral):
        raise TypeError(
            f"{name} must be None, an int or a numpy Generator, got {type(random_state).__name__}")
    if random_state < 0:
        raise ValueError(f"{name} must be non-negative, got {random_state}")
    return np.random.default_rng(int(random_state))


def check_callable(value, name):
    """Return ``value`` if it is None or callable."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, got {type(value).__name__}")
    return value


# ------------------------------------------------------------------ arrays

def _as_numeric(array, name):
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


def check_finite_vector(array, name, length=None, nonnegative=False):
    """Return a finite 1-D float64 copy of ``array``."""
    array = _as_numeric(array, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {array.shape}")
    if length is not None and array.shape[0] != length:
        raise ValueError(f"{name} must have length {length}, got {array.shape[0]}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    if nonnegative and np.any(array < 0):
        raise ValueError(f"{name} must be non-negative")
    return array


def check_fits_dtype(array, name, dtype):
    """Check that float64 ``array`` stays finite when cast to ``dtype``."""
    limit = np.finfo(dtype).max
    if array.size and max(array.max(), -array.min()) > limit:  # no |array| temporary
        raise ValueError(f"{name} holds values beyond the range of {np.dtype(dtype).name} "
                         f"(|x| > {limit:.3g}); rescale them or use dtype='float64'")
    return array


def check_ids(ids, name, n):
    """Return ``(ids as int64 array, was_scalar)`` after a range check."""
    scalar = np.ndim(ids) == 0
    array = np.atleast_1d(np.asarray(ids))
    if array.dtype.kind not in "iu":
        if array.size == 0 and array.dtype.kind == "f":
            array = array.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer ids, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be an id or a 1-D array of ids, got shape {array.shape}")
    if array.size and (array.min() < 0 or array.max() >= n):
        raise ValueError(f"{name} must lie in [0, {n}), got values in "
                         f"[{array.min()}, {array.max()}]")
    return array.astype(np.int64), scalar


def _check_index_array(array, name, limit):
    array = np.asarray(array)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {array.shape}")
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer ids, got dtype {array.dtype}")
    if array.size:
        low, high = array.min(), array.max()
        if low < 0:
            raise ValueError(f"{name} must be non-negative, found {low}")
        if high > MAX_INDEX - 1:
            raise ValueError(f"{name} must be below 2**31 - 1, found {high}")
        if limit is not None and high >= limit:
            raise ValueError(f"{name} must be < {limit}, found {high}")
    return array.astype(np.int64)


# ---------------------------------------------------------- interaction data

def _coordinates(X, name, n_cols):
    """Return ``(rows, cols, values, shape)`` of a sparse matrix or a triple."""
    if sp.issparse(X):
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-dimensional, got {X.ndim} dimensions")
        if X.format in ("csr", "csc", "bsr"):
            try:
                X.check_format(full_check=True)
            except ValueError as exc:
                raise ValueError(f"{name} has an invalid sparse structure: {exc}") from exc
        try:
            coo = X.tocoo() if X.format != "coo" else X
            rows, cols, data = coo.row, coo.col, coo.data
        except (ValueError, IndexError, TypeError) as exc:
            raise ValueError(f"{name} has an invalid sparse structure: {exc}") from exc
        shape = X.shape
        if not (np.ndim(rows) == np.ndim(cols) == np.ndim(data) == 1
                and len(rows) == len(cols) == len(data)):
            raise ValueError(f"{name} has an invalid sparse structure: row, column and data "
                             f"arrays differ in length")
        _check_index_array(rows, f"{name} row ids", shape[0])
        _check_index_array(cols, f"{name} column ids", shape[1])
        return rows, cols, _as_numeric(data, f"{name} values"), shape
    if isinstance(X, tuple) and len(X) == 3:
        rows = _check_index_array(X[0], f"{name} rows", None)
        cols = _check_index_array(X[1], f"{name} cols", n_cols)
        values = _as_numeric(X[2], f"{name} values")
        if values.ndim != 1 or not (len(rows) == len(cols) == len(values)):
            raise ValueError(f"{name} rows, cols and values must be 1-D arrays of one "
                             f"length, got {len(rows)}, {len(cols)}, {values.shape}")
        shape = (int(rows.max()) + 1 if rows.size else 0,
                 n_cols if n_cols is not None else (int(cols.max()) + 1 if cols.size else 0))
        return rows, cols, values, shape
    if isinstance(X, np.ndarray):
        raise TypeError(f"{name} must be a scipy.sparse matrix or a (rows, cols, values) "
                        f"tuple; wrap a dense array with scipy.sparse.csr_matrix")
    raise TypeError(f"{name} must be a scipy.sparse matrix or a (rows, cols, values) "
                    f"tuple, got {type(X).__name__}")


def _canonical_csr(rows, cols, data, shape):
    matrix = sp.coo_matrix((np.asarray(data, dtype=np.float64), (rows, cols)), shape=shape)
    csr = matrix.tocsr()
    csr.sum_duplicates()
    return csr


def _check_shape_and_size(shape, nnz, name, n_cols, allow_empty):
    if n_cols is not None and shape[1] != n_cols:
        raise ValueError(f"{name} must have {n_cols} columns (the model's items), "
                         f"got {shape[1]}")
    if shape[0] > MAX_INDEX or shape[1] > MAX_INDEX:
        raise ValueError(f"{name} has shape {shape}; each side must be below 2**31 - 1")
    if not allow_empty:
        if shape[0] == 0 or shape[1] == 0:
            raise ValueError(f"{name} must have at least one row and one column, got shape {shape}")
        if nnz == 0:
            raise ValueError(f"{name} has no stored entries")


def _canonical_csr_parts(X, name):
    """``(indptr, indices, float64 values)`` of a CSR ``X`` that is already
    canonical (sorted indices, no duplicates), else None. ``indices`` is
    shared with ``X`` when it is writeable, contiguous int32 (no copy)."""
    try:
        X.check_format(full_check=True)
    except ValueError as exc:
        raise ValueError(f"{name} has an invalid sparse structure: {exc}") from exc
    if not X.has_canonical_format:
        return None
    values = _as_numeric(X.data, f"{name} values")
    if values.ndim != 1 or len(values) != len(X.indices):
        return None
    # kernels take writeable C arrays only (a read-only one would compile again)
    indices = np.require(X.indices, dtype=np.int32, requirements=["C", "W"])
    return X.indptr.astype(np.int64), indices, values.astype(np.float64)


def check_interactions(X, name="X", weights=None, weights_name="weights",
                       n_cols=None, allow_empty=False):
    """Validate and canonicalize a feedback matrix.

    Parameters
    ----------
    X : scipy.sparse matrix or array, or tuple (rows, cols, values)
        Any sparse format. Duplicate entries are summed; stored zeros stay
        observed entries with value 0.
    name : str
        Argument name used in error messages.
    weights : scipy.sparse matrix, array-like or None
        Per-entry confidences: a sparse matrix with the structure of ``X``, or
        a 1-D array aligned with the stored entries of ``X`` (summed over
        duplicates like the values).
    weights_name : str
        Argument name of ``weights`` in error messages.
    n_cols : int, optional
        Required number of columns (the items of a fitted model).
    allow_empty : bool
        Accept a matrix without stored entries (for fold-in and exclusion).

    Returns
    -------
    Interactions
    """
    if weights is None and sp.issparse(X) and X.format == "csr" and X.ndim == 2:
        parts = _canonical_csr_parts(X, name)
        if parts is not None:  # no coordinate arrays, no re-sort: one copy of the values
            _check_shape_and_size(X.shape, X.nnz, name, n_cols, allow_empty)
            indptr, indices, values = parts
            if not np.all(np.isfinite(values)):
                raise ValueError(f"{name} values must be finite (found NaN or inf)")
            return Interactions(shape=(int(X.shape[0]), int(X.shape[1])), indptr=indptr,
                                indices=indices, values=values)
    rows, cols, values, shape = _coordinates(X, name, n_cols)
    _check_shape_and_size(shape, len(values), name, n_cols, allow_empty)

    entry_weights = None
    if weights is not None:
        if sp.issparse(weights):
            if weights.shape != tuple(shape):
                raise ValueError(f"{weights_name} must have the shape of {name} {tuple(shape)}, "
                                 f"got {weights.shape}")
            w_rows, w_cols, w_values, _ = _coordinates(weights, weights_name, None)
            w_csr = _canonical_csr(w_rows, w_cols, w_values, shape)
        else:
            w_values = _as_numeric(weights, weights_name)
            if w_values.ndim != 1 or len(w_values) != len(values):
                raise ValueError(f"{weights_name} must be a sparse matrix like {name} or a 1-D "
                                 f"array with one weight per stored entry ({len(values)}), "
                                 f"got shape {w_values.shape}")
            w_csr = _canonical_csr(rows, cols, w_values, shape)
        entry_weights = w_csr.data
        if not np.all(np.isfinite(entry_weights)):
            raise ValueError(f"{weights_name} must be finite (found NaN or inf)")
        if np.any(entry_weights < 0):
            raise ValueError(f"{weights_name} must be non-negative")

    csr = _canonical_csr(rows, cols, values, shape)
    if not np.all(np.isfinite(csr.data)):
        raise ValueError(f"{name} values must be finite (found NaN or inf, or a sum of "
                         f"duplicates overflowed)")
    if entry_weights is not None and not (
            np.array_equal(csr.indptr, w_csr.indptr) and np.array_equal(csr.indices, w_csr.indices)):
        raise ValueError(f"{weights_name} must have the same stored entries as {name}")
    return Interactions(
        shape=(int(shape[0]), int(shape[1])),
        indptr=csr.indptr.astype(np.int64),
        indices=csr.indices.astype(np.int32),
        values=csr.data,
        weights=entry_weights,
    )
