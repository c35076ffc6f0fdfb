"""The fitted-model interface shared by every estimator."""

import inspect

import numpy as np
import scipy.sparse as sp

from .._threading import thread_limits
from .._validation import (
    check_bool, check_ids, check_int, check_interactions, check_num_threads)
from ..kernels.topk import topk_inner_product


class NotFittedError(RuntimeError):
    """Raised when a model is used before ``fit``."""


class ParamsMixin:
    """``get_params``/``set_params`` read from the constructor signature."""

    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values()
                if p.name != "self" and p.kind != p.VAR_KEYWORD]

    def get_params(self, deep=True):
        """Return the constructor parameters as a dict."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters; validated at the next ``fit``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{name!r} is not a parameter of {type(self).__name__}; "
                                 f"valid parameters are {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class FactorModel(ParamsMixin):
    """A fitted ``U V^T`` model: prediction, top-k recommendation, persistence.

    Subclasses set ``user_factors_`` (n_users x d) and ``item_factors_``
    (n_items x d) in ``fit`` and implement :meth:`fold_in`.
    """

    #: Names of fitted ndarray attributes saved by :meth:`save`.
    _fitted_arrays = ("user_factors_", "item_factors_")
    #: Names of fitted JSON-serializable attributes saved by :meth:`save`.
    _fitted_values = ()

    #: Original labels of the rows and columns (index -> label), or None.
    #: Set by the command line from the loaded table; saved when present.
    user_ids_ = None
    item_ids_ = None

    # -------------------------------------------------------------- state
    @property
    def is_fitted(self):
        """Whether the model holds factors."""
        return getattr(self, "user_factors_", None) is not None

    def _check_fitted(self):
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    @property
    def user_factors(self):
        """User factor matrix, shape (n_users, factors)."""
        self._check_fitted()
        return self.user_factors_

    @property
    def item_factors(self):
        """Item factor matrix, shape (n_items, factors)."""
        self._check_fitted()
        return self.item_factors_

    @property
    def n_users(self):
        """Number of users seen in ``fit``."""
        self._check_fitted()
        return self.user_factors_.shape[0]

    @property
    def n_items(self):
        """Number of items seen in ``fit``."""
        self._check_fitted()
        return self.item_factors_.shape[0]

    def _threads(self):
        return check_num_threads(getattr(self, "num_threads", 0))

    # ---------------------------------------------------------- prediction
    def predict(self, users, items):
        """Predicted scores ``u_i . v_j`` for pairs of ids.

        Parameters
        ----------
        users, items : int or array-like of int
            Equal-length ids (a scalar pairs with every entry of the other).

        Returns
        -------
        float or ndarray of float64
        """
        self._check_fitted()
        user_ids, user_scalar = check_ids(users, "users", self.n_users)
        item_ids, item_scalar = check_ids(items, "items", self.n_items)
        if user_ids.shape != item_ids.shape and not (user_scalar or item_scalar):
            raise ValueError(f"users and items must have one length, got "
                             f"{len(user_ids)} and {len(item_ids)}")
        user_ids, item_ids = np.broadcast_arrays(user_ids, item_ids)
        scores = np.einsum("ij,ij->i",
                           self.user_factors_[user_ids].astype(np.float64),
                           self.item_factors_[item_ids].astype(np.float64))
        return float(scores[0]) if user_scalar and item_scalar else scores

    def recommend(self, users, k=10, exclude=None, filter_items=None):
        """Top-``k`` items for each user by predicted score.

        Parameters
        ----------
        users : int or array-like of int
            User ids.
        k : int, default 10
            Items per user; at most the number of items.
        exclude : sparse matrix, optional
            Items to leave out per user, typically the training rows
            ``train[users]``: shape ``(len(users), n_items)``, row ``r``
            belonging to ``users[r]``.
        filter_items : array-like of int, optional
            Items never to recommend.

        Returns
        -------
        ids : ndarray of int64, shape (len(users), k) or (k,)
            Best first; ``-1`` pads a row when fewer than ``k`` items remain.
        scores : ndarray of float64, same shape
            ``-inf`` beside each ``-1``.
        """
        self._check_fitted()
        user_ids, scalar = check_ids(users, "users", self.n_users)
        ids, scores = self._recommend_for(self.user_factors_[user_ids], k, exclude,
                                          filter_items, "users")
        return (ids[0], scores[0]) if scalar else (ids, scores)

    def similar_items(self, items, k=10):
        """Items with the most similar factors (cosine), the item itself left out.

        Parameters
        ----------
        items : int or array-like of int
        k : int, default 10
            At most ``n_items - 1``.

        Returns
        -------
        ids, scores : ndarray, shape (len(items), k) or (k,)
            As in :meth:`recommend`; scores are cosine similarities.
        """
        self._check_fitted()
        item_ids, scalar = check_ids(items, "items", self.n_items)
        k = check_int(k, "k", low=1, high=max(self.n_items - 1, 1))
        norms = np.linalg.norm(self.item_factors_.astype(np.float64), axis=1)
        normalized = self.item_factors_ / np.where(norms > 0, norms, 1.0)[:, None]
        own = sp.csr_matrix((np.ones(len(item_ids)), item_ids, np.arange(len(item_ids) + 1)),
                            shape=(len(item_ids), self.n_items))
        ids, scores = self._topk(normalized[item_ids], normalized, k, own, None)
        return (ids[0], scores[0]) if scalar else (ids, scores)

    def fold_in(self, X, weights=None):
        """Factors for new users from their interaction rows, items fixed.

        Parameters
        ----------
        X : sparse matrix or (rows, cols, values) tuple, shape (n_new, n_items)
        weights : optional
            Per-entry confidences, as in ``fit``.

        Returns
        -------
        ndarray, shape (n_new, factors)
        """
        self._check_fitted()
        data = check_interactions(X, "X", weights=weights, n_cols=self.n_items,
                                  allow_empty=True)
        return self._fold_in(data)

    def _fold_in(self, data):
        """Fold in validated :class:`~fastwmf._validation.Interactions` rows."""
        raise NotImplementedError

    def recommend_new(self, X, k=10, exclude_seen=True, filter_items=None, weights=None):
        """Fold in new users (rows of ``X``) and recommend for them.

        Parameters
        ----------
        X : sparse matrix or (rows, cols, values) tuple, shape (n_new, n_items)
        k : int, default 10
        exclude_seen : bool, default True
            Leave out the items stored in each row of ``X``.
        filter_items : array-like of int, optional
        weights : optional
            Per-entry confidences, as in ``fit``.

        Returns
        -------
        ids, scores : ndarray, shape (n_new, k)
        """
        self._check_fitted()
        exclude_seen = check_bool(exclude_seen, "exclude_seen")
        data = check_interactions(X, "X", weights=weights, n_cols=self.n_items,
                                  allow_empty=True)
        factors = self._fold_in(data)
        exclude = data.to_scipy() if exclude_seen else None
        return self._recommend_for(factors, k, exclude, filter_items, "X")

    # ------------------------------------------------------------ helpers
    def _recommend_for(self, queries, k, exclude, filter_items, rows_name):
        k = check_int(k, "k", low=1, high=self.n_items)
        n = queries.shape[0]
        if exclude is not None:
            exclude = check_interactions(exclude, "exclude", n_cols=self.n_items,
                                         allow_empty=True)
            if exclude.shape[0] != n:
                raise ValueError(f"exclude must have one row per entry of {rows_name} ({n}), "
                                 f"got {exclude.shape[0]}; pass train[users]")
            exclude = exclude.to_scipy()
        allowed = None
        if filter_items is not None:
            banned, _ = check_ids(filter_items, "filter_items", self.n_items)
            allowed = np.ones(self.n_items, dtype=np.bool_)
            allowed[banned] = False
        return self._topk(queries, self.item_factors_, k, exclude, allowed)

    def _topk(self, queries, targets, k, exclude, allowed):
        n = queries.shape[0]
        if exclude is None:
            excl_indptr = np.zeros(n + 1, dtype=np.int64)
            excl_indices = np.zeros(0, dtype=np.int32)
        else:
            excl_indptr = exclude.indptr.astype(np.int64)
            excl_indices = exclude.indices.astype(np.int32)
        if allowed is None:
            allowed = np.ones(targets.shape[0], dtype=np.bool_)
        queries = np.ascontiguousarray(queries, dtype=targets.dtype)
        ids = np.empty((n, k), dtype=np.int64)
        scores = np.empty((n, k), dtype=np.float64)
        with thread_limits(self._threads()):
            topk_inner_product(queries, targets, excl_indptr, excl_indices, allowed,
                               k, ids, scores)
        return ids, scores

    # --------------------------------------------------------- persistence
    def save(self, path):
        """Write the fitted model to ``path`` (see :func:`fastwmf.io.save_model`)."""
        from ..io import save_model
        save_model(self, path)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save` (see :func:`fastwmf.io.load_model`)."""
        from ..io import load_model
        model = load_model(path)
        if not isinstance(model, cls):
            raise TypeError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

