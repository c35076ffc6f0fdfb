"""DataFrame input: (user, item[, value][, weight]) columns with any label type.

pandas is not imported here: any object with ``columns`` and ``__getitem__``
returning array-likes (pandas, and polars through ``to_numpy``) works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from typing import Any

    from numpy.typing import NDArray
    from typing_extensions import TypeGuard

    from ._typing import DataFrameLike

#: Column roles and their default names.
DEFAULT_COLUMNS = {"user": "user", "item": "item", "value": None, "weight": None}


def is_frame(X: object) -> TypeGuard[DataFrameLike]:
    """Whether ``X`` looks like a DataFrame (has columns, is not a matrix or tuple)."""
    return hasattr(X, "columns") and not isinstance(X, (tuple, np.ndarray)) \
        and not hasattr(X, "tocsr")


def check_columns(columns: dict[str, Any] | None) -> dict[str, Any]:
    """Merge ``columns`` into the defaults after checking its keys."""
    if columns is None:
        return dict(DEFAULT_COLUMNS)
    if not isinstance(columns, dict):
        raise TypeError(f"columns must be a dict such as {{'user': 'uid', 'item': 'iid'}}, "
                        f"got {type(columns).__name__}")
    unknown = set(columns) - set(DEFAULT_COLUMNS)
    if unknown:
        raise ValueError(f"columns has unknown roles {sorted(unknown)}; the roles are "
                         f"{list(DEFAULT_COLUMNS)}")
    return dict(DEFAULT_COLUMNS, **columns)


def _column(frame, name, role):
    if name not in list(frame.columns):
        raise ValueError(f"columns: the {role} column {name!r} is not in the frame "
                         f"(it has {list(frame.columns)})")
    column = frame[name]
    return column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)


def _labels(values, role):
    if values.dtype.kind == "f" and np.isnan(values).any() or \
            values.dtype.kind == "O" and any(v is None or v != v for v in values):
        raise ValueError(f"columns: the {role} column holds missing labels")
    try:
        labels, codes = np.unique(values, return_inverse=True)
    except TypeError as exc:
        raise TypeError(f"columns: the {role} labels must be of one comparable type") from exc
    if labels.dtype.kind == "O":
        labels = labels.astype(str)
    return labels, codes.astype(np.int64)


def frame_to_triples(
        frame: DataFrameLike, columns: dict[str, Any] | None,
) -> tuple[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[Any]], NDArray[Any] | None,
           NDArray[Any], NDArray[Any]]:
    """``((rows, cols, values), weights, user_labels, item_labels)`` from a frame.

    Users and items are numbered in ascending label order.
    """
    columns = check_columns(columns)
    user_labels, rows = _labels(_column(frame, columns["user"], "user"), "user")
    item_labels, cols = _labels(_column(frame, columns["item"], "item"), "item")
    if columns["value"] is None:
        values = np.ones(len(rows))
    else:
        values = _column(frame, columns["value"], "value")
    weights = None
    if columns["weight"] is not None:
        weights = _column(frame, columns["weight"], "weight")
    return (rows, cols, values), weights, user_labels, item_labels


def frame_rows_for_items(
        frame: DataFrameLike, columns: dict[str, Any] | None, item_labels: NDArray[Any],
) -> tuple[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[Any]], NDArray[Any] | None,
           NDArray[Any]]:
    """New users' rows of a frame in the item index space of a fitted model.

    Returns ``((rows, cols, values), weights, user_labels)``; rows follow the
    ascending order of the frame's user labels. Unknown item labels raise.
    """
    triples, weights, users, items = frame_to_triples(frame, columns)
    rows, cols, values = triples
    index = labels_to_index(item_labels, items, "items")
    return (rows, index[cols], values), weights, users


def labels_to_index(labels: NDArray[Any], wanted: NDArray[Any], name: str,
                    ) -> NDArray[np.int64]:
    """Positions of ``wanted`` in ``labels``; a KeyError names the unknown ones."""
    wanted = np.asarray(wanted)
    positions = LabelIndex(labels).positions(wanted)
    check_known(positions, wanted, name)
    return positions


def check_known(positions: NDArray[np.int64], wanted: NDArray[Any], name: str,
                limit: int | None = None) -> None:
    """Raise :class:`UnknownLabelError` naming the ``wanted`` ids at ``-1`` positions."""
    missing = positions < 0
    if not missing.any():
        return
    unknown = list(dict.fromkeys(np.asarray(wanted)[missing].tolist()))
    shown = ", ".join(repr(label) for label in unknown[:10])
    more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
    one = len(unknown) == 1
    if limit is None:
        where = "a label the model was fitted on" if one else "labels the model was fitted on"
    else:
        where = (f"{'an id' if one else 'ids'} the model knows: they must lie in "
                 f"[0, {limit})")
    raise UnknownLabelError(f"{name}: {shown}{more} {'is' if one else 'are'} not {where}",
                            unknown)


class LabelIndex:
    """Positions of labels in a label array, by binary search over a sorted copy.

    Labels that numpy can sort (numbers, strings) are looked up with
    ``searchsorted``; others (mixed objects) through a dict. Build it once
    per label array and reuse it: lookups cost ``O(log n)`` per label.
    """

    def __init__(self, labels: NDArray[Any]) -> None:
        self.labels = labels
        self._order = self._sorted = self._lookup = None
        if labels.dtype.kind in "iuUSfb":
            self._order = np.argsort(labels, kind="stable")
            self._sorted = labels[self._order]
        else:
            self._lookup = {label: i for i, label in enumerate(labels.tolist())}

    def positions(self, wanted: NDArray[Any]) -> NDArray[np.int64]:
        """Index of each wanted label, ``-1`` for labels not in the array."""
        wanted = np.atleast_1d(np.asarray(wanted))
        if self._sorted is not None and _comparable(self._sorted.dtype, wanted.dtype):
            n = len(self._sorted)
            if n == 0 or wanted.size == 0:
                return np.full(wanted.shape, -1, dtype=np.int64)
            at = np.minimum(np.searchsorted(self._sorted, wanted), n - 1)
            found = self._sorted[at] == wanted
            return np.where(found, self._order[at], -1).astype(np.int64)
        if self._lookup is None:
            self._lookup = {label: i for i, label in enumerate(self.labels.tolist())}
        return np.array([self._lookup.get(label, -1) for label in wanted.tolist()],
                        dtype=np.int64).reshape(wanted.shape)


def _comparable(have: np.dtype, want: np.dtype) -> bool:
    numbers, text = "iufb", "US"
    return (have.kind in numbers and want.kind in numbers) or \
        (have.kind in text and want.kind in text)


class UnknownLabelError(KeyError, ValueError):
    """A user or item id or label the model has never seen.

    A ``KeyError`` (a lookup that failed) and, for code that checks ids by
    range, a ``ValueError``; ``unknown`` lists the missing ids.
    """

    def __init__(self, message: str, unknown: list[Any] | None = None) -> None:
        super().__init__(message)
        self.unknown = [] if unknown is None else unknown

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
