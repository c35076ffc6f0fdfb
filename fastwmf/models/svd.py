"""SVD baselines: treat every unobserved entry as an observed zero."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse.linalg as spla

from .._validation import (
    check_bool, check_float, check_int, check_interactions, check_num_threads, check_random_state)
from ..io import register_model
from .base import FactorModel

if TYPE_CHECKING:
    from typing import Any, TypeVar

    from .._typing import FitInput, RandomState

    _SVDModelT = TypeVar("_SVDModelT", bound="_SVDModel")

#: Largest dense matrix (entries) DenseSVD agrees to build.
DENSE_LIMIT = 2 ** 28


class _SVDModel(FactorModel):
    """Shared fit/fold-in for rank-``factors`` SVD models.

    The fit splits ``A ~ W diag(s) Z^T`` as ``U = W sqrt(s)`` and
    ``V = Z sqrt(s)`` so that ``U V^T`` is the rank-``factors`` approximation.
    """

    _fitted_arrays = ("user_factors_", "item_factors_", "singular_values_")
    _fitted_values = ("fit_time_",)

    def _checked_data(self, X):
        factors = check_int(self.factors, "factors", low=1)
        check_num_threads(self.num_threads)
        data = check_interactions(X, "X")
        limit = self._max_factors(*data.shape)
        if factors > limit:
            raise ValueError(f"factors must be <= {limit} for a matrix of shape "
                             f"{data.shape}, got {factors}")
        return factors, data

    if TYPE_CHECKING:
        # Each subclass computes the truncated SVD its own way.
        def _svd(self, data: Any, factors: int) -> tuple[Any, Any, Any]: ...

    def fit(self: _SVDModelT, X: FitInput, y: Any = None, *,
            columns: dict[str, Any] | None = None) -> _SVDModelT:
        """Fit the rank-``factors`` SVD of ``X`` (users x items).

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
        X, user_labels, item_labels = self._unpack_unweighted_fit_input(X, columns)
        keep = check_bool(self.keep_interactions, "keep_interactions")
        factors, data = self._checked_data(X)
        left, singular, right_t = self._svd(data, factors)
        order = np.argsort(singular)[::-1]
        root = np.sqrt(singular[order])
        self.user_factors_ = np.ascontiguousarray(left[:, order] * root)
        self.item_factors_ = np.ascontiguousarray(right_t[order].T * root)
        self.singular_values_ = singular[order]
        self.user_ids_, self.item_ids_ = user_labels, item_labels
        self._remember(data, keep)
        self.fit_time_ = time.perf_counter() - started
        return self

    def _fold_in(self, data):
        """Project new rows: ``u = a V / s`` (the SVD's own user map)."""
        inverse = np.where(self.singular_values_ > 0,
                           1.0 / np.where(self.singular_values_ > 0, self.singular_values_, 1.0),
                           0.0)
        if data.weights is not None:
            raise ValueError(f"weights are not used by {type(self).__name__}")
        projected = np.asarray(data.to_scipy() @ self.item_factors_.astype(np.float64))
        return (projected * inverse).astype(self.item_factors_.dtype)


@register_model
class DenseSVD(_SVDModel):
    """Truncated SVD of the densified matrix (numpy.linalg.svd).

    The exact rank-``factors`` least-squares approximation (Eckart-Young) of
    ``X`` with unobserved entries as zeros. Memory is ``O(m n)``: for small
    matrices and as a reference.

    Parameters
    ----------
    factors : int, default 64
        Rank; at most ``min(n_users, n_items)``.
    num_threads : int, default 0
        Threads for ``recommend`` and ``similar_items`` (``0``: all).
    keep_interactions : bool, default True
        As in :class:`fastwmf.WALS`.
    """

    def __init__(self, factors: int = 64, num_threads: int = 0,
                 keep_interactions: bool = True) -> None:
        self.factors = factors
        self.num_threads = num_threads
        self.keep_interactions = keep_interactions

    @staticmethod
    def _max_factors(m, n):
        return min(m, n)

    def _svd(self, data, factors):
        m, n = data.shape
        if m * n > DENSE_LIMIT:
            raise ValueError(f"X of shape {data.shape} is too large to densify "
                             f"({m * n} > {DENSE_LIMIT} entries); use TruncatedSVD")
        dense = data.to_scipy().toarray()
        left, singular, right_t = np.linalg.svd(dense, full_matrices=False)
        return left[:, :factors], singular[:factors], right_t[:factors]


@register_model
class TruncatedSVD(_SVDModel):
    """Sparse truncated SVD (scipy.sparse.linalg.svds, ARPACK).

    The same approximation as :class:`DenseSVD` without densifying: cost
    grows with the stored entries.

    Parameters
    ----------
    factors : int, default 64
        Rank; below ``min(n_users, n_items)`` (an ARPACK limit).
    tol : float, default 0
        ARPACK tolerance; 0 is machine precision.
    random_state : None, int or numpy.random.Generator
        Seeds ARPACK's starting vector, for reproducible results.
    num_threads : int, default 0
        Threads for ``recommend`` and ``similar_items`` (``0``: all).
    keep_interactions : bool, default True
        As in :class:`fastwmf.WALS`.
    """

    def __init__(self, factors: int = 64, tol: float = 0.0, random_state: RandomState = None,
                 num_threads: int = 0, keep_interactions: bool = True) -> None:
        self.factors = factors
        self.tol = tol
        self.random_state = random_state
        self.num_threads = num_threads
        self.keep_interactions = keep_interactions

    @staticmethod
    def _max_factors(m, n):
        return min(m, n) - 1

    def _svd(self, data, factors):
        tol = check_float(self.tol, "tol", low=0.0)
        rng = check_random_state(self.random_state)
        matrix = data.to_scipy()
        start = rng.uniform(-1.0, 1.0, size=min(matrix.shape))
        return spla.svds(matrix, k=factors, tol=tol, v0=start)
