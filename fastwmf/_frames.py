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
    """Positions of ``wanted`` in ``labels``; a KeyError names unknown ones."""
    lookup = {label: i for i, label in enumerate(labels.tolist())}
    out = np.empty(len(wanted), dtype=np.int64)
    for position, label in enumerate(np.asarray(wanted).tolist()):
        index = lookup.get(label)
        if index is None:
            raise UnknownLabelError(f"{name}: {label!r} is not a label the model was fitted on")
        out[position] = index
    return out


class UnknownLabelError(KeyError):
    """A user or item label the model has never seen."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
