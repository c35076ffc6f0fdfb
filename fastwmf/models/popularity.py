"""Most-popular baseline: every user gets the items with the most interactions."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from .._validation import check_bool, check_interactions, check_num_threads
from ..io import register_model
from .base import FactorModel

if TYPE_CHECKING:
    from typing import Any

    from .._typing import FitInput


@register_model
class Popularity(FactorModel):
    """Rank items by their number of stored entries in the training data.

    A rank-1 factor model (user factors 1, item factors the counts), so it
    shares ``recommend``, exclusion of seen items, evaluation and
    persistence with the other models. ``predict`` returns the count.

    Parameters
    ----------
    num_threads : int, default 0
        Threads for ``recommend`` (``0``: all).
    keep_interactions : bool, default True
        As in :class:`fastwmf.WALS`.
    """

    _fitted_values = ("fit_time_",)

    def __init__(self, num_threads: int = 0, keep_interactions: bool = True) -> None:
        self.num_threads = num_threads
        self.keep_interactions = keep_interactions

    def fit(self, X: FitInput, y: Any = None, *,
            columns: dict[str, Any] | None = None) -> Popularity:
        """Count each item's stored entries in ``X`` (users x items).

        Parameters
        ----------
        X : sparse matrix, (rows, cols, values) tuple or DataFrame
        y : ignored
            Present for scikit-learn compatibility (pipelines pass it).
        columns : dict, optional
            Column names for a DataFrame, as in :meth:`fastwmf.WALS.fit`.

        Returns
        -------
        self
        """
        started = time.perf_counter()
        check_num_threads(self.num_threads)
        keep = check_bool(self.keep_interactions, "keep_interactions")
        X, _, user_labels, item_labels = self._unpack_fit_input(X, None, columns)
        data = check_interactions(X, "X")
        counts = np.bincount(data.indices, minlength=data.shape[1]).astype(np.float64)
        self.user_factors_ = np.ones((data.shape[0], 1))
        self.item_factors_ = counts[:, None].copy()
        self.user_ids_, self.item_ids_ = user_labels, item_labels
        self._remember(data, keep)
        self.fit_time_ = time.perf_counter() - started
        return self

    def _fold_in(self, data):
        """Every new user gets the same popularity ranking."""
        return np.ones((data.shape[0], 1))
