"""The fitted-model interface shared by every estimator."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from .._frames import (
    LabelIndex, check_known, frame_rows_for_items, frame_to_triples, is_frame)
from .._validation import check_bool, check_int, check_interactions, check_num_threads
from ..io import load_model, save_model
from ._serving import Serving, as_pattern_matrix, pattern_of

if TYPE_CHECKING:
    import os
    from typing import Any, BinaryIO, TypeVar

    from numpy.typing import ArrayLike, NDArray

    from .._typing import (  # noqa: F401 - re-exported for the model modules' annotations
        DataFrameLike, FitInput, FloatArray, InteractionsLike, RandomState, SparseMatrix)

    ParamsT = TypeVar("ParamsT", bound="ParamsMixin")
    ModelT = TypeVar("ModelT", bound="FactorModel")


class NotFittedError(RuntimeError):
    """Raised when a model is used before ``fit``."""


class ParamsMixin:
    """``get_params``/``set_params`` read from the constructor signature."""

    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values()
                if p.name != "self" and p.kind != p.VAR_KEYWORD]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor parameters as a dict."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self: ParamsT, **params: Any) -> ParamsT:
        """Set constructor parameters; validated at the next ``fit``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{name!r} is not a parameter of {type(self).__name__}; "
                                 f"valid parameters are {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __sklearn_tags__(self) -> Any:
        """scikit-learn estimator tags (read only when scikit-learn is installed).

        A transformer of sparse users x items matrices into user embeddings;
        no target; dense arrays are rejected.
        """
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags
        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(preserves_dtype=[]),
                    input_tags=InputTags(sparse=True, two_d_array=False))


class FactorModel(Serving, ParamsMixin):
    """A fitted ``U V^T`` model: prediction, top-k recommendation, persistence.

    Subclasses set ``user_factors_`` (n_users x d) and ``item_factors_``
    (n_items x d) in ``fit`` and implement :meth:`fold_in`.
    """

    #: Names of fitted ndarray attributes saved by :meth:`save`.
    _fitted_arrays: tuple[str, ...] = ("user_factors_", "item_factors_")
    #: Names of fitted JSON-serializable attributes saved by :meth:`save`.
    _fitted_values: tuple[str, ...] = ()
    #: Keys of the ``fit_params_`` dict a saved model must hold (if it has one).
    _fit_param_names: tuple[str, ...] = ()

    #: Fitted factors (declared for type checkers; set by ``fit``).
    user_factors_: FloatArray
    item_factors_: FloatArray

    #: Original labels of the rows and columns (index -> label), or None.
    #: Set by the command line from the loaded table; saved when present.
    user_ids_: NDArray[Any] | None = None
    item_ids_: NDArray[Any] | None = None

    #: The training interactions' pattern as CSR (row pointers, item ids), or
    #: None (``keep_interactions=False``, or a model file without them).
    seen_indptr_: NDArray[np.int64] | None = None
    seen_indices_: NDArray[np.int32] | None = None

    if TYPE_CHECKING:
        # Every estimator defines ``fit`` with its own keyword arguments.
        def fit(self, X: Any, *args: Any, **kwargs: Any) -> FactorModel: ...

    # -------------------------------------------------------------- state
    @property
    def is_fitted(self) -> bool:
        """Whether the model holds factors."""
        return getattr(self, "user_factors_", None) is not None

    def __sklearn_is_fitted__(self) -> bool:
        """Whether ``fit`` has run (scikit-learn's ``check_is_fitted``)."""
        return self.is_fitted

    def _check_fitted(self):
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    @property
    def user_factors(self) -> FloatArray:
        """User factor matrix, shape (n_users, factors)."""
        self._check_fitted()
        return self.user_factors_

    @property
    def item_factors(self) -> FloatArray:
        """Item factor matrix, shape (n_items, factors)."""
        self._check_fitted()
        return self.item_factors_

    @property
    def n_users(self) -> int:
        """Number of users seen in ``fit``."""
        self._check_fitted()
        return self.user_factors_.shape[0]

    @property
    def n_items(self) -> int:
        """Number of items seen in ``fit``."""
        self._check_fitted()
        return self.item_factors_.shape[0]

    def _threads(self):
        return check_num_threads(getattr(self, "num_threads", 0))

    @property
    def interactions_(self) -> SparseMatrix | None:
        """The training interactions' pattern: a boolean CSR matrix (n_users x
        n_items), or None when the model does not keep it."""
        self._check_fitted()
        if self.seen_indptr_ is None:
            return None
        return as_pattern_matrix(self.seen_indptr_, self.seen_indices_,
                                 (self.n_users, self.n_items))

    def _check_loaded(self) -> str | None:
        """What is wrong with the fitted values of a model read from a file,
        beyond the factors and the training pattern that :mod:`fastwmf.io`
        checks for every model (None if nothing)."""
        return None

    def _bias_settings_problem(self, min_columns: int) -> str | None:
        """:meth:`_check_loaded` for ``biased_`` and ``global_bias_``: a bool,
        a finite float, and at least ``min_columns`` factor columns when biased."""
        biased = getattr(self, "biased_", None)
        bias = getattr(self, "global_bias_", None)
        if (not isinstance(biased, bool) or isinstance(bias, bool)
                or not isinstance(bias, (int, float)) or not np.isfinite(bias)
                or (biased and self.user_factors_.shape[1] < min_columns)):
            return "has invalid bias settings"
        return None

    def _remember(self, data: Any, keep: bool) -> None:
        """Keep (a copy of) the pattern of the validated training matrix ``data``."""
        self.seen_indptr_, self.seen_indices_ = pattern_of(data) if keep else (None, None)

    # --------------------------------------------------------------- labels
    def _label_index(self, which):
        """The :class:`LabelIndex` of the user or item labels (kept while they last)."""
        labels = self.user_ids_ if which == "user" else self.item_ids_
        cache = self.__dict__.setdefault("_label_indexes", {})
        index = cache.get(which)
        if index is None or index.labels is not labels:
            index = cache[which] = LabelIndex(labels)
        return index

    def _positions(self, ids, which, name):
        """``(positions, was_scalar, ids array)``: ``-1`` where the model does
        not know an id (or label, for a DataFrame-fitted model)."""
        labels = self.user_ids_ if which == "user" else self.item_ids_
        n = self.n_users if which == "user" else self.n_items
        scalar = np.ndim(ids) == 0
        wanted = np.atleast_1d(np.asarray(ids))
        if wanted.ndim != 1:
            raise ValueError(f"{name} must be an id or a 1-D array of ids, "
                             f"got shape {wanted.shape}")
        if labels is not None:
            return self._label_index(which).positions(wanted), scalar, wanted
        if wanted.dtype.kind not in "iu":
            if wanted.size == 0 and wanted.dtype.kind == "f":
                wanted = wanted.astype(np.int64)
            else:
                raise TypeError(f"{name} must hold integer ids, got dtype {wanted.dtype}")
        positions = np.where((wanted >= 0) & (wanted < n), wanted, -1).astype(np.int64)
        return positions, scalar, wanted

    def _check_known(self, positions, wanted, which, name):
        labels = self.user_ids_ if which == "user" else self.item_ids_
        n = self.n_users if which == "user" else self.n_items
        check_known(positions, wanted, name, limit=None if labels is not None else n)

    def _index(self, ids, which, name):
        """``(positions, was_scalar)``; a KeyError names ids the model does not know."""
        positions, scalar, wanted = self._positions(ids, which, name)
        self._check_known(positions, wanted, which, name)
        return positions, scalar

    def _labels_of(self, ids, which):
        """Labels for result positions (``-1`` padding becomes the padding label)."""
        labels = self.user_ids_ if which == "user" else self.item_ids_
        if labels is None:
            return ids
        out = labels[np.maximum(ids, 0)]
        out[ids < 0] = "" if labels.dtype.kind == "U" else -1
        return out

    def _frame_rows(self, X, weights, columns):
        """Coerce fold-in input: a frame of new users' rows, or pass through."""
        if not is_frame(X):
            return X, weights, None
        if self.item_ids_ is None:
            raise ValueError("X: a DataFrame needs a model fitted on a DataFrame (item labels)")
        if weights is not None:
            raise ValueError("weights: pass per-entry weights as columns={'weight': ...} "
                             "with a DataFrame")
        triples, weights, users = frame_rows_for_items(X, columns, self.item_ids_)
        rows, cols, values = triples
        return sp.csr_matrix((np.asarray(values, dtype=np.float64), (rows, cols)),
                             shape=(len(users), self.n_items)), weights, users

    def _unpack_fit_input(self, X, weights, columns):
        """``(X, weights, user_labels, item_labels)`` for fit; frames become triples."""
        if not is_frame(X):
            if columns is not None:
                raise ValueError("columns is only used when X is a DataFrame")
            return X, weights, None, None
        if weights is not None:
            raise ValueError("weights: pass per-entry weights as columns={'weight': ...} "
                             "with a DataFrame")
        triples, weights, user_labels, item_labels = frame_to_triples(X, columns)
        rows, cols, values = triples
        matrix = sp.csr_matrix((np.asarray(values, dtype=np.float64), (rows, cols)),
                               shape=(len(user_labels), len(item_labels)))
        if weights is not None:
            weights = sp.csr_matrix((np.asarray(weights, dtype=np.float64), (rows, cols)),
                                    shape=matrix.shape)
        return matrix, weights, user_labels, item_labels

    def _unpack_unweighted_fit_input(self, X, columns):
        """``(X, user_labels, item_labels)`` for a model that takes no per-entry
        weights; a DataFrame's weight column is an error."""
        X, weights, user_labels, item_labels = self._unpack_fit_input(X, None, columns)
        if weights is not None:
            raise ValueError(f"columns: a weight column is not used by {type(self).__name__}")
        return X, user_labels, item_labels

    # ---------------------------------------------------------- prediction
    def predict(self, users: ArrayLike, items: ArrayLike) -> float | NDArray[np.float64]:
        """Predicted scores ``u_i . v_j`` for pairs of ids.

        Parameters
        ----------
        users, items : label, int or array-like
            Equal-length ids (a scalar pairs with every entry of the other);
            labels when the model was fitted on a DataFrame.

        Returns
        -------
        float or ndarray of float64
        """
        self._check_fitted()
        user_ids, user_scalar = self._index(users, "user", "users")
        item_ids, item_scalar = self._index(items, "item", "items")
        if user_ids.shape != item_ids.shape and not (user_scalar or item_scalar):
            raise ValueError(f"users and items must have one length, got "
                             f"{len(user_ids)} and {len(item_ids)}")
        user_ids, item_ids = np.broadcast_arrays(user_ids, item_ids)
        scores = np.einsum("ij,ij->i",
                           self.user_factors_[user_ids].astype(np.float64),
                           self.item_factors_[item_ids].astype(np.float64))
        return float(scores[0]) if user_scalar and item_scalar else scores

    def fold_in(self, X: FitInput, weights: SparseMatrix | ArrayLike | None = None,
                columns: dict[str, Any] | None = None) -> FloatArray:
        """Factors for new users from their interaction rows, items fixed.

        Parameters
        ----------
        X : sparse matrix, (rows, cols, values) tuple or DataFrame
            Rows of new users, shape ``(n_new, n_items)``; a DataFrame (for a
            model fitted on one) gives one row per distinct user label, in
            ascending label order, and its item labels must be known.
        weights : optional
            Per-entry confidences, as in ``fit``.
        columns : dict, optional
            Column names for a DataFrame, as in ``fit``.

        Returns
        -------
        ndarray, shape (n_new, factors)
        """
        self._check_fitted()
        X, weights, _ = self._frame_rows(X, weights, columns)
        data = check_interactions(X, "X", weights=weights, n_cols=self.n_items,
                                  allow_empty=True)
        return self._fold_in(data)

    def transform(self, X: FitInput, weights: SparseMatrix | ArrayLike | None = None,
                  columns: dict[str, Any] | None = None) -> FloatArray:
        """User embeddings for the rows of ``X`` by fold-in (scikit-learn style).

        Same as :meth:`fold_in`: every row is solved with the item factors
        fixed, whether or not the model saw that user in ``fit``.
        """
        return self.fold_in(X, weights=weights, columns=columns)

    def fit_transform(self, X: FitInput, **fit_params: Any) -> FloatArray:
        """Fit, then return the fitted user factors (one row per user of ``X``)."""
        return self.fit(X, **fit_params).user_factors_

    def _fold_in(self, data):
        """Fold in validated :class:`~fastwmf._validation.Interactions` rows."""
        raise NotImplementedError

    def recommend_new(self, X: FitInput, k: int = 10, exclude_seen: bool = True,
                      filter_items: ArrayLike | None = None,
                      weights: SparseMatrix | ArrayLike | None = None,
                      columns: dict[str, Any] | None = None,
                      ) -> tuple[NDArray[Any], NDArray[np.float64]]:
        """Fold in new users (rows of ``X``) and recommend for them.

        Parameters
        ----------
        X : sparse matrix, (rows, cols, values) tuple or DataFrame
            As in :meth:`fold_in`.
        k : int, default 10
        exclude_seen : bool, default True
            Leave out the items stored in each row of ``X``.
        filter_items : array-like of int, optional
        weights : optional
            Per-entry confidences, as in ``fit``.
        columns : dict, optional
            Column names for a DataFrame, as in ``fit``.

        Returns
        -------
        ids, scores : ndarray, shape (n_new, k)
            As in :meth:`recommend` (item labels for a DataFrame-fitted model).
        """
        self._check_fitted()
        exclude_seen = check_bool(exclude_seen, "exclude_seen")
        X, weights, _ = self._frame_rows(X, weights, columns)
        data = check_interactions(X, "X", weights=weights, n_cols=self.n_items,
                                  allow_empty=True)
        factors = self._fold_in(data)
        k = check_int(k, "k", low=1, high=self.n_items)
        excluded = (data.indptr.astype(np.int64), data.indices) if exclude_seen else None
        allowed = self._item_mask(filter_items, None, "candidates")
        ids, scores = self._topk(factors, self.item_factors_, k, excluded, allowed)
        return self._labels_of(ids, "item"), scores

    # --------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str] | BinaryIO) -> None:
        """Write the fitted model to a path or a binary file object
        (see :func:`fastwmf.io.save_model`)."""
        save_model(self, path)

    @classmethod
    def load(cls: type[ModelT], path: str | os.PathLike[str] | BinaryIO) -> ModelT:
        """Read a model written by :meth:`save` from a path or a binary file object
        (see :func:`fastwmf.io.load_model`)."""
        model = load_model(path)
        if not isinstance(model, cls):
            raise TypeError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

