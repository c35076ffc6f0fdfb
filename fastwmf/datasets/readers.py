"""The generic table loader (CSV, TSV, compressed or not; Parquet) and the
:class:`InteractionData` it and the MovieLens readers return."""

import bz2
import gzip
import lzma
import os
import pathlib
import zlib
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._config import MAX_INDEX
from .._validation import check_bool, check_choice, check_ids
from ._text import (
    _FieldCountError, _FloatColumn, _IdColumn, _NeedsCsvModule, _encode_ids, _scan_csv_module,
    _scan_fast)


# ================================================================ the result

@dataclass(frozen=True, eq=False)
class InteractionData:
    """A loaded interaction table: CSR matrix plus the id mappings.

    Rows are users and columns items, both numbered ``0 .. n-1`` in ascending
    order of their original ids, so ``user_ids[i]`` is the id of row ``i``
    (and ``user_ids`` is sorted).

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix of float64, shape (n_users, n_items)
        The values (ratings; 1.0 per row of an implicit table, summed over
        repeats). Sorted indices; explicit zeros stay stored.
    user_ids, item_ids : ndarray
        Original ids, index -> id: int64, or str for non-integer ids.
    timestamps : scipy.sparse.csr_matrix of int64 or None
        Same structure as ``matrix`` (same ``indptr`` and ``indices``).
    weights : scipy.sparse.csr_matrix of float64 or None
        Per-entry weights, same structure as ``matrix``.
    name : str
        The dataset or file name.
    """

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    timestamps: sp.csr_matrix = None
    weights: sp.csr_matrix = None
    name: str = ""

    @property
    def shape(self):
        """``(n_users, n_items)``."""
        return self.matrix.shape

    @property
    def nnz(self):
        """Number of stored entries."""
        return self.matrix.nnz

    def user_index(self, ids):
        """Row indices of original user ids.

        Parameters
        ----------
        ids : id or array-like of ids
            Of the type of :attr:`user_ids` (integers or strings).

        Returns
        -------
        int or ndarray of int64
            A scalar for a scalar id.

        Raises
        ------
        ValueError
            For an id that is not in the data.
        """
        return _lookup(self.user_ids, ids, "ids", "user")

    def item_index(self, ids):
        """Column indices of original item ids (see :meth:`user_index`).

        Parameters
        ----------
        ids : id or array-like of ids

        Returns
        -------
        int or ndarray of int64
        """
        return _lookup(self.item_ids, ids, "ids", "item")

    def user_id(self, index):
        """Original user ids of row indices.

        Parameters
        ----------
        index : int or array-like of int
            In ``[0, n_users)``.

        Returns
        -------
        id or ndarray of ids
        """
        return _reverse(self.user_ids, index)

    def item_id(self, index):
        """Original item ids of column indices (see :meth:`user_id`).

        Parameters
        ----------
        index : int or array-like of int

        Returns
        -------
        id or ndarray of ids
        """
        return _reverse(self.item_ids, index)

    def __repr__(self):
        extras = [name for name in ("timestamps", "weights") if getattr(self, name) is not None]
        return (f"InteractionData(name={self.name!r}, shape={self.shape}, nnz={self.nnz}"
                + "".join(f", {name}" for name in extras) + ")")


def _lookup(table, ids, name, kind):
    scalar = np.ndim(ids) == 0
    query = np.atleast_1d(np.asarray(ids))
    if query.ndim != 1:
        raise ValueError(f"{name} must be an id or a 1-D array of ids, got shape {query.shape}")
    if table.dtype.kind in "iu":
        if query.size and query.dtype.kind not in "iu":
            raise TypeError(f"{name} must be integer {kind} ids (the data's ids are "
                            f"integers), got dtype {query.dtype}")
        query = query.astype(np.int64)
    else:
        if query.size and query.dtype.kind not in "US":
            raise TypeError(f"{name} must be string {kind} ids (the data's ids are "
                            f"strings), got dtype {query.dtype}")
        query = query.astype(str)
    if len(table) == 0:
        positions = np.zeros(len(query), dtype=np.int64)
        found = np.zeros(len(query), dtype=bool)
    else:
        positions = np.minimum(np.searchsorted(table, query), len(table) - 1)
        found = table[positions] == query
    if not np.all(found):
        missing = query[~found]
        raise ValueError(f"{name}: unknown {kind} id{'s' if len(missing) > 1 else ''} "
                         f"{missing[:5].tolist()}{' ...' if len(missing) > 5 else ''}")
    positions = positions.astype(np.int64)
    return int(positions[0]) if scalar else positions


def _reverse(table, index):
    array, scalar = check_ids(index, "index", len(table))
    out = table[array]
    return out[0].item() if scalar else out





def _assemble(users, items, values, weights, timestamps, duplicates, name, subject=None):
    """Build :class:`InteractionData` from per-entry columns.

    ``subject`` starts the message of a repeated (user, item) pair when
    ``duplicates="error"``.
    """
    user_ids, rows = _encode_ids(users)
    item_ids, cols = _encode_ids(items)
    m, n = len(user_ids), len(item_ids)
    if m > MAX_INDEX or n > MAX_INDEX:
        raise ValueError(f"{name} has {m} users and {n} items; each must be below 2**31 - 1")
    key = rows * max(n, 1) + cols
    if key.size > 1 and not np.all(key[1:] > key[:-1]):
        order = np.argsort(key, kind="stable")
        key = key[order]
        values = values[order]
        weights = None if weights is None else weights[order]
        timestamps = None if timestamps is None else timestamps[order]
    repeated = key[1:] == key[:-1]
    if repeated.any():
        if duplicates == "error":
            at = int(np.argmax(repeated))
            user, item = divmod(int(key[at]), n)
            raise ValueError(f"{subject or name} has more than one row for user "
                             f"{user_ids[user].item()!r} and item {item_ids[item].item()!r}")
        starts = np.flatnonzero(np.concatenate(([True], ~repeated)))
        if duplicates == "sum":
            values = np.add.reduceat(values, starts)
            weights = None if weights is None else np.add.reduceat(weights, starts)
            timestamps = None if timestamps is None else np.maximum.reduceat(timestamps, starts)
        else:
            keep = starts if duplicates == "first" else \
                np.concatenate((starts[1:] - 1, [key.size - 1]))
            values = values[keep]
            weights = None if weights is None else weights[keep]
            timestamps = None if timestamps is None else timestamps[keep]
        key = key[starts]
    rows, cols = np.divmod(key, max(n, 1))
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    indices = cols.astype(np.int32)

    def csr(data):
        matrix = sp.csr_matrix((data, indices.copy(), indptr.copy()), shape=(m, n))
        matrix.has_sorted_indices = True
        return matrix

    return InteractionData(
        matrix=csr(np.asarray(values, dtype=np.float64)),
        user_ids=user_ids,
        item_ids=item_ids,
        timestamps=None if timestamps is None else csr(timestamps.astype(np.int64)),
        weights=None if weights is None else csr(np.asarray(weights, dtype=np.float64)),
        name=name,
    )


# ======================================================== generic table loader

_COMPRESSION = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_DUPLICATES = ("sum", "first", "last", "error")


def load_interactions(path, user_col, item_col, value_col=None, weight_col=None,
                      timestamp_col=None, sep=None, header=True, duplicates="sum",
                      encoding="utf-8", file_format=None):
    """Read a user/item(/value) table into a CSR matrix with id maps.

    Ids may be of any type: a column whose every entry is a canonical integer
    (``-?[1-9][0-9]*`` or ``0``) gives int64 ids, anything else (``"u17"``,
    ``"007"``) string ids. Users and items are numbered in ascending id
    order; :class:`InteractionData` maps both ways.

    Parameters
    ----------
    path : str or os.PathLike
        A delimited text file (``.csv``, ``.tsv``; ``.gz``, ``.bz2`` or
        ``.xz`` compressed) or a Parquet file (``.parquet``, ``.pq``; needs
        pyarrow).
    user_col, item_col : str or int
        Column name (needs ``header=True`` for text) or 0-based position.
    value_col : str, int or None
        The values (ratings, counts). None gives 1.0 per row (implicit
        feedback; repeated rows add up with ``duplicates="sum"``).
    weight_col : str, int or None
        Per-entry confidence weights (finite, >= 0), returned as ``weights``.
    timestamp_col : str, int or None
        Integer timestamps, returned as ``timestamps``.
    sep : str or None
        Field separator of a text file; None infers it from the extension
        (``.csv`` -> ``","``, ``.tsv``/``.tab`` -> tab). Quoted fields are
        supported for one-character separators.
    header : bool, default True
        Whether the first non-blank line of a text file names the columns.
    duplicates : {"sum", "first", "last", "error"}, default "sum"
        What repeated (user, item) rows become: values and weights summed
        (the latest timestamp kept), the first or last row in file order,
        or an error.
    encoding : str, default "utf-8"
        Text encoding (ASCII-compatible).
    file_format : {"csv", "parquet"} or None
        None infers it from the extension (``"csv"`` covers every delimited
        text file).

    Returns
    -------
    InteractionData

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        An unknown column, lines with the wrong number of fields, empty ids,
        or values that are missing, non-numeric, NaN or infinite (the message
        names the column and the line).
    ImportError
        A Parquet file without pyarrow installed.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path, got {type(path).__name__}")
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"path: no file at {str(path)!r}")
    header = check_bool(header, "header")
    duplicates = check_choice(duplicates, "duplicates", _DUPLICATES)
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a str, got {type(encoding).__name__}")
    try:
        "a".encode(encoding)
    except LookupError:
        raise ValueError(f"encoding: unknown encoding {encoding!r}") from None
    specs = {"user_col": user_col, "item_col": item_col, "value_col": value_col,
             "weight_col": weight_col, "timestamp_col": timestamp_col}
    for arg, spec in specs.items():
        if spec is None and arg in ("user_col", "item_col"):
            raise TypeError(f"{arg} must be a column name or position, got None")
        if spec is not None and (isinstance(spec, (bool, np.bool_))
                                 or not isinstance(spec, (str, int, np.integer))):
            raise TypeError(f"{arg} must be a column name (str) or position (int), "
                            f"got {type(spec).__name__}")
        if isinstance(spec, (int, np.integer)) and spec < 0:
            raise ValueError(f"{arg} must be a non-negative column position, got {spec}")
    given = {arg: spec for arg, spec in specs.items() if spec is not None}
    seen = {}
    for arg, spec in given.items():
        key = int(spec) if isinstance(spec, (int, np.integer)) else spec
        if key in seen:
            raise ValueError(f"{arg} names the same column as {seen[key]} ({spec!r})")
        seen[key] = arg

    suffixes = [s.lower() for s in path.suffixes]
    opener = _COMPRESSION.get(suffixes[-1]) if suffixes else None
    base_suffix = (suffixes[-2] if opener and len(suffixes) > 1 else
                   (suffixes[-1] if suffixes and not opener else ""))
    if file_format is None:
        file_format = "parquet" if base_suffix in (".parquet", ".pq") else "csv"
    file_format = check_choice(file_format, "file_format", ("csv", "parquet"))
    if file_format == "parquet":
        columns = _read_parquet(path, given)
    else:
        if sep is None:
            sep = _SEPARATORS.get(base_suffix)
            if sep is None:
                raise ValueError(f"sep: cannot infer the separator of {path.name!r} from its "
                                 f"extension; pass sep=',' or sep='\\t'")
        if not isinstance(sep, str):
            raise TypeError(f"sep must be a str, got {type(sep).__name__}")
        if not sep or any(c in sep for c in '\r\n"'):
            raise ValueError(f"sep must be a non-empty string without quotes or line breaks, "
                             f"got {sep!r}")
        columns = _read_text(path, opener or open, given, sep, header, encoding)
    n = len(columns["user_col"])
    values = columns.get("value_col")
    if values is None:
        values = np.ones(n)
    return _assemble(columns["user_col"], columns["item_col"], values,
                     columns.get("weight_col"), columns.get("timestamp_col"),
                     duplicates, path.name,
                     subject=f"duplicates: with duplicates='error', {path.name}")


def _column_for(arg, label, prefix):
    if arg in ("user_col", "item_col"):
        return _IdColumn(prefix, label)
    if arg == "timestamp_col":
        return _FloatColumn(prefix, label, integral=True)
    return _FloatColumn(prefix, label, nonnegative=arg == "weight_col")


def _read_text(path, opener, given, sep, header, encoding):
    label = path.name
    args = list(given)

    def make_columns():
        return {arg: _column_for(arg, label, f"{arg}: column {given[arg]!r}") for arg in args}

    state = {}

    def resolve(names, ncols):
        if ncols == 0:
            raise ValueError(f"path: {label} holds no rows")
        positions = []
        for arg in args:
            spec = given[arg]
            if isinstance(spec, str):
                if names is None:
                    raise ValueError(f"{arg}: column names need header=True; pass a column "
                                     f"position (int) instead of {spec!r}")
                if spec not in names:
                    raise ValueError(f"{arg}: no column named {spec!r} in {label} "
                                     f"(columns: {names})")
                if names.count(spec) > 1:
                    raise ValueError(f"{arg}: {label} has several columns named {spec!r}; "
                                     f"pass a position instead")
                positions.append(names.index(spec))
            else:
                if int(spec) >= ncols:
                    raise ValueError(f"{arg}: column {int(spec)} is out of range; {label} "
                                     f"has {ncols} columns")
                positions.append(int(spec))
        for later, position in enumerate(positions):
            if position in positions[:later]:
                raise ValueError(f"{args[later]} names the same column as "
                                 f"{args[positions.index(position)]} ({given[args[later]]!r})")
        # the columns were created before the header was known: rename them
        for arg, column in state["columns"].items():
            spec = given[arg]
            shown = spec if isinstance(spec, str) or names is None else names[int(spec)]
            column.prefix = f"{arg}: column {shown!r}"
        return positions

    for scanner in (_scan_fast, _scan_csv_module):
        state["columns"] = make_columns()
        try:
            with opener(path, "rb") as stream:
                scanner(stream, sep, header, encoding, resolve, list(state["columns"].values()))
            break
        except _NeedsCsvModule:
            continue
        except _FieldCountError as exc:
            raise ValueError(f"path: line {exc.line} of {label} has {exc.found} fields, "
                             f"expected {exc.expected} (sep={sep!r})") from None
        except (OSError, EOFError, zlib.error) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise ValueError(f"path: cannot read {label}: {exc} (truncated or corrupted "
                             f"compressed file?)") from exc
    result = {arg: column.result() for arg, column in state["columns"].items()}
    if len(result["user_col"]) == 0:
        raise ValueError(f"path: {label} holds no rows")
    return result


def _read_parquet(path, given):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(f"reading the Parquet file {path.name!r} needs pyarrow, which is not "
                          f"installed; install it (pip install 'fastwmf[parquet]') or convert the file "
                          f"to CSV") from None
    try:
        schema_names = pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises its own error types
        raise ValueError(f"path: {path.name} is not a readable Parquet file ({exc})") from exc
    names = {}
    for arg, spec in given.items():
        if isinstance(spec, str):
            if spec not in schema_names:
                raise ValueError(f"{arg}: no column named {spec!r} in {path.name} "
                                 f"(columns: {schema_names})")
            names[arg] = spec
        else:
            if int(spec) >= len(schema_names):
                raise ValueError(f"{arg}: column {int(spec)} is out of range; {path.name} has "
                                 f"{len(schema_names)} columns")
            names[arg] = schema_names[int(spec)]
    table = pq.read_table(path, columns=sorted(set(names.values())))
    result = {}
    for arg, column_name in names.items():
        column = table.column(column_name)
        prefix = f"{arg}: column {column_name!r}"
        if column.null_count:
            raise ValueError(f"{prefix} has {column.null_count} missing values in {path.name}")
        array = column.to_numpy()
        if arg in ("user_col", "item_col"):
            if array.dtype.kind in "iu":
                array = array.astype(np.int64)
            elif array.dtype.kind in "OUS":
                array = array.astype(str)
                if (np.char.str_len(array) == 0).any():
                    raise ValueError(f"{prefix} has an empty id in {path.name}")
            else:
                raise ValueError(f"{prefix} must hold integer or string ids, got {array.dtype}")
        else:
            if array.dtype.kind not in "biuf":
                raise ValueError(f"{prefix} must hold numbers, got {array.dtype}")
            array = array.astype(np.float64)
            if not np.all(np.isfinite(array)):
                what = "NaN" if np.isnan(array).any() else "an infinite value"
                raise ValueError(f"{prefix} has {what} in {path.name}")
            if arg == "weight_col" and (array < 0).any():
                raise ValueError(f"{prefix} has a negative value in {path.name}; weights "
                                 f"must be >= 0")
            if arg == "timestamp_col":
                if np.any(array != np.round(array)):
                    raise ValueError(f"{prefix} has a non-integer timestamp in {path.name}")
                array = array.astype(np.int64)
        result[arg] = array
    return result
