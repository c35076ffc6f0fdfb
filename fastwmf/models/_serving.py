"""The pieces of recommendation requests: remembered interactions, exclusions,
item masks and the popular answer for unknown users.

Exclusions are CSR pairs ``(indptr, indices)`` with one row per query; every
index that reaches the top-k kernel has been checked to lie in
``[0, n_candidates)`` here or in :mod:`fastwmf._validation`.
"""

import numpy as np
import scipy.sparse as sp

from .._frames import is_frame
from .._threading import thread_limits
from .._validation import (
    check_bool, check_choice, check_float, check_int, check_interactions)
from ..kernels.topk import topk_inner_product
from ._ann import FaissIndex, fingerprint

#: What ``recommend`` does with users the model does not know.
UNKNOWN_CHOICES = ("raise", "popular")

#: Libraries :meth:`Serving.build_index` can build approximate indexes with.
ANN_METHODS = ("faiss",)


def empty_rows(n):
    """A CSR pair of ``n`` empty rows."""
    return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)


def pattern_of(data):
    """``(indptr, indices)`` copies of a validated matrix's stored pattern."""
    return (np.ascontiguousarray(data.indptr, dtype=np.int64).copy(),
            np.ascontiguousarray(data.indices, dtype=np.int32).copy())


def take_rows(indptr, indices, rows):
    """The CSR rows ``rows`` (int64, each in range; ``-1`` gives an empty row)."""
    rows = np.asarray(rows, dtype=np.int64)
    known = rows >= 0
    safe = np.where(known, rows, 0)
    counts = np.where(known, indptr[safe + 1] - indptr[safe], 0)
    out_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(counts, out=out_ptr[1:])
    total = int(out_ptr[-1])
    if total == 0:
        return out_ptr, np.zeros(0, dtype=np.int32)
    shift = np.repeat(indptr[safe] - out_ptr[:-1], counts)
    return out_ptr, indices[np.arange(total, dtype=np.int64) + shift]


def merge_rows(first, second):
    """Row-wise union (by concatenation) of two CSR pairs with the same rows."""
    if first is None:
        return second
    if second is None:
        return first
    (ptr_a, idx_a), (ptr_b, idx_b) = first, second
    counts_a, counts_b = np.diff(ptr_a), np.diff(ptr_b)
    out_ptr = np.zeros(len(ptr_a), dtype=np.int64)
    np.cumsum(counts_a + counts_b, out=out_ptr[1:])
    rows = len(ptr_a) - 1
    order = np.argsort(np.concatenate((np.repeat(np.arange(rows), counts_a),
                                       np.repeat(np.arange(rows), counts_b))), kind="stable")
    return out_ptr, np.concatenate((idx_a, idx_b))[order].astype(np.int32, copy=False)


def sorted_rows(indptr, indices):
    """The CSR pair with each row's indices ascending (as given when they are)."""
    if len(indices) < 2:
        return indptr, indices
    rising = np.diff(indices.astype(np.int64)) >= 0
    starts = indptr[1:-1]
    starts = starts[(starts > 0) & (starts < len(indices))]
    rising[starts - 1] = True  # a row may start below the previous row's end
    if rising.all():
        return indptr, indices
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    return indptr, indices[np.lexsort((indices, rows))]


def pairs_to_rows(user_index, item_index, n_users):
    """A CSR pair over all ``n_users`` from (user, item) positions; ``-1`` dropped."""
    keep = (user_index >= 0) & (item_index >= 0)
    users, items = user_index[keep], item_index[keep]
    order = np.argsort(users, kind="stable")
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    return indptr, items[order].astype(np.int32)


def exclusion_pairs(exclude, name):
    """``(users, items)`` label arrays from a DataFrame or a dict ``user -> items``."""
    if is_frame(exclude):
        columns = list(exclude.columns)
        if len(columns) < 2:
            raise ValueError(f"{name}: a DataFrame needs a user and an item column, "
                             f"got columns {columns}")
        user_col = "user" if "user" in columns else columns[0]
        item_col = "item" if "item" in columns else columns[1]
        users = _column(exclude[user_col])
        items = _column(exclude[item_col])
        return users, items
    users, items = [], []
    for user, values in exclude.items():
        values = np.atleast_1d(np.asarray(values if not isinstance(values, (set, frozenset))
                                          else sorted(values, key=repr)))
        if values.ndim != 1:
            raise ValueError(f"{name}: the items of user {user!r} must be a 1-D list")
        users.extend([user] * len(values))
        items.extend(values.tolist())
    return np.asarray(users), np.asarray(items)


def _column(series):
    values = series.to_numpy() if hasattr(series, "to_numpy") else np.asarray(series)
    return np.asarray(values)


def item_popularity(indptr, indices, n_items):
    """Training entries per item (float64), from a remembered pattern."""
    return np.bincount(indices, minlength=n_items).astype(np.float64)


def as_pattern_matrix(indptr, indices, shape):
    """A boolean ``csr_matrix`` of a CSR pair (copies of the pattern)."""
    return sp.csr_matrix((np.ones(len(indices), dtype=np.bool_), indices.copy(),
                          indptr.copy()), shape=shape)


class Serving:
    """Top-k answers of a fitted factor model: items for users, similar items
    and users, users for items.

    Mixed into :class:`fastwmf.models.base.FactorModel`, whose label lookups
    (``_positions``, ``_index``, ``_labels_of``), factors and remembered
    training interactions (``seen_indptr_``, ``seen_indices_``) it uses.
    """

    # ------------------------------------------------------------ requests
    def recommend(self, users, k=10, *, exclude_seen=True, exclude=None, filter_items=None,
                  candidates=None, items=None, unknown="raise", approximate=None):
        """Top-``k`` items for each user by predicted score.

        Parameters
        ----------
        users : int, label or array-like
            User ids (labels when the model was fitted on a DataFrame).
        k : int, default 10
            Items per user; at most the number of items.
        exclude_seen : bool, default True
            Leave out the items each user had in the training data (which the
            model remembers unless fitted with ``keep_interactions=False``).
        exclude : sparse matrix, DataFrame or dict, optional
            More items to leave out per user: a sparse matrix with one row per
            entry of ``users`` (``n_items`` columns); a DataFrame of (user,
            item) labels (columns ``user`` and ``item``, else the first two);
            or a dict from user to a list of items. Users of a DataFrame or
            dict that are not among ``users`` (or that the model does not
            know) are ignored; unknown items raise a ``KeyError``.
        filter_items : array-like, optional
            Items never to recommend.
        candidates : array-like, optional
            Recommend only among these items.
        items : array-like, optional
            Alias of ``candidates`` (implicit's name).
        unknown : {"raise", "popular"}, default "raise"
            For users the model does not know: raise a ``KeyError`` naming
            them, or answer with the most popular items of the training data
            (their scores are the items' training counts).
        approximate : bool, optional
            Use the index of :meth:`build_index` (default: when one is built);
            ``False`` forces the exact answer, ``True`` requires an index.
            Approximate answers are rescored exactly; a row that the index
            cannot fill after the filters is answered exactly.

        Returns
        -------
        ids : ndarray, shape (len(users), k) or (k,)
            Item ids best first (item labels for a DataFrame-fitted model);
            ``-1`` (``""`` for string labels) pads a row when fewer than ``k``
            items remain.
        scores : ndarray of float64, same shape
            ``-inf`` beside each ``-1``.
        """
        self._check_fitted()
        exclude_seen = check_bool(exclude_seen, "exclude_seen")
        unknown = check_choice(unknown, "unknown", UNKNOWN_CHOICES)
        candidates, candidates_name = _alias(candidates, items)
        k = check_int(k, "k", low=1, high=self.n_items)
        index = self._ann_index(approximate, "recommend")
        positions, scalar, wanted = self._positions(users, "user", "users")
        if unknown == "raise":
            self._check_known(positions, wanted, "user", "users")
        allowed = self._item_mask(filter_items, candidates, candidates_name)
        excluded = None
        if exclude_seen:
            excluded = take_rows(*self._seen("exclude_seen"), positions)
        if exclude is not None:
            excluded = merge_rows(excluded, self._exclusion(exclude, positions, "users"))
        n = len(positions)
        ids = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), -np.inf)
        known = positions >= 0
        known_answer = self._answer_known
        if index is not None:
            def known_answer(rows, k, excluded, allowed):
                return self._answer_approximate(index, self.user_factors_[rows], k, excluded,
                                                allowed, self.item_factors_)
        for mask, answer in ((known, known_answer), (~known, self._answer_popular)):
            if mask.all():
                ids, scores = answer(positions, k, excluded, allowed)
            elif mask.any():
                rows = np.flatnonzero(mask)
                part = None if excluded is None else take_rows(*excluded, rows)
                ids[rows], scores[rows] = answer(positions[rows], k, part, allowed)
        ids = self._labels_of(ids, "item")
        return (ids[0], scores[0]) if scalar else (ids, scores)

    def similar_items(self, items, k=10, *, include_self=False, filter_items=None,
                      candidates=None, approximate=None):
        """Items with the most similar factors (cosine similarity).

        Parameters
        ----------
        items : int, label or array-like
            Item ids (labels when the model was fitted on a DataFrame).
        k : int, default 10
            At most ``n_items - 1`` (``n_items`` with ``include_self``).
        include_self : bool, default False
            Let an item be among its own answers (first, unless its factors
            are zero).
        filter_items, candidates : array-like, optional
            As in :meth:`recommend`.
        approximate : bool, optional
            As in :meth:`recommend` (the index over unit item vectors).

        Returns
        -------
        ids, scores : ndarray, shape (len(items), k) or (k,)
            As in :meth:`recommend`; scores are cosine similarities.
        """
        self._check_fitted()
        allowed = self._item_mask(filter_items, candidates, "candidates")
        index = self._ann_index(approximate, "similar")
        return self._similar(items, k, include_self, "item", "items", allowed, index)

    def similar_users(self, users, k=10, *, include_self=False):
        """Users with the most similar factors (cosine similarity).

        Parameters
        ----------
        users : int, label or array-like
            User ids (labels when the model was fitted on a DataFrame).
        k : int, default 10
            At most ``n_users - 1`` (``n_users`` with ``include_self``).
        include_self : bool, default False
            Let a user be among its own answers.

        Returns
        -------
        ids, scores : ndarray, shape (len(users), k) or (k,)
            User ids (labels) best first and cosine similarities, padded as
            in :meth:`recommend`.
        """
        self._check_fitted()
        return self._similar(users, k, include_self, "user", "users", None)

    def recommend_users(self, items, k=10, *, exclude_seen=True):
        """Top-``k`` users for each item by predicted score (for targeting).

        Parameters
        ----------
        items : int, label or array-like
            Item ids (labels when the model was fitted on a DataFrame).
        k : int, default 10
            Users per item; at most the number of users.
        exclude_seen : bool, default True
            Leave out the users who had the item in the training data.

        Returns
        -------
        ids, scores : ndarray, shape (len(items), k) or (k,)
            User ids (labels) best first and predicted scores, padded as in
            :meth:`recommend`.
        """
        self._check_fitted()
        exclude_seen = check_bool(exclude_seen, "exclude_seen")
        k = check_int(k, "k", low=1, high=self.n_users)
        positions, scalar = self._index(items, "item", "items")
        excluded = None
        if exclude_seen:
            excluded = take_rows(*self._seen_by_item("exclude_seen"), positions)
        ids, scores = self._topk(self.item_factors_[positions], self.user_factors_, k,
                                 excluded, None)
        ids = self._labels_of(ids, "user")
        return (ids[0], scores[0]) if scalar else (ids, scores)

    # ------------------------------------------------------------ answers
    def _answer_known(self, positions, k, excluded, allowed):
        return self._topk(self.user_factors_[positions], self.item_factors_, k, excluded,
                          allowed)

    def _answer_popular(self, positions, k, excluded, allowed):
        indptr, indices = self._seen("unknown='popular'")
        counts = item_popularity(indptr, indices, self.n_items)
        return self._topk(np.ones((len(positions), 1)), counts[:, None], k, excluded, allowed)

    def _similar(self, ids, k, include_self, which, name, allowed, index=None):
        include_self = check_bool(include_self, "include_self")
        factors = self.user_factors_ if which == "user" else self.item_factors_
        n = factors.shape[0]
        k = check_int(k, "k", low=1, high=n if include_self else max(n - 1, 1))
        positions, scalar = self._index(ids, which, name)
        normalized = _unit_rows(factors)
        own = None
        if not include_self:
            own = (np.arange(len(positions) + 1, dtype=np.int64), positions.astype(np.int32))
        if index is not None:
            out, scores = self._answer_approximate(index, normalized[positions], k, own,
                                                   allowed, normalized)
        else:
            out, scores = self._topk(normalized[positions], normalized, k, own, allowed)
        out = self._labels_of(out, which)
        return (out[0], scores[0]) if scalar else (out, scores)

    # ------------------------------------------------------------ indexes
    def build_index(self, method="faiss", *, recall=0.95, nlist=None, sample=256,
                    random_state=0):
        """Build approximate top-k indexes over the item factors.

        After this, :meth:`recommend` and :meth:`similar_items` answer from
        the indexes (``approximate=False`` forces the exact answer). Two
        inverted-file indexes are built: one for inner products (recommend)
        and one over unit vectors (cosine, similar_items); each scans as few
        cells as reach ``recall`` (recall@10 against the exact answer) on a
        sample of the model's users (items). Needs the ``ann`` extra
        (``pip install 'fastwmf[ann]'``). The indexes are not saved with the
        model, and growing the items (:meth:`partial_fit_items`) drops them.

        Parameters
        ----------
        method : {"faiss"}
        recall : float, default 0.95
            Recall@10 to reach on the calibration sample, in (0, 1].
        nlist : int, optional
            Inverted-file cells; default ``2 sqrt(n_items)``.
        sample : int, default 256
            Queries of the calibration (answered exactly once).
        random_state : int, default 0
            Seeds the training sample, the clustering and the calibration sample.

        Returns
        -------
        self
        """
        self._check_fitted()
        check_choice(method, "method", ANN_METHODS)
        recall = check_float(recall, "recall", low=0.0, high=1.0, low_inclusive=False)
        nlist = (max(1, int(2 * np.sqrt(self.n_items))) if nlist is None
                 else check_int(nlist, "nlist", low=1))
        sample = check_int(sample, "sample", low=1)
        threads = self._threads()
        rng = np.random.default_rng(check_int(random_state, "random_state", low=0))
        V = self.item_factors_
        unit = _unit_rows(V)
        indexes = {}
        for name, vectors, queries, augment in (
                ("recommend", V, self.user_factors_, True),
                ("similar", unit, unit, False)):
            index = FaissIndex(vectors, nlist, threads, int(rng.integers(2**31 - 1)), augment)
            rows = np.sort(rng.choice(len(queries), min(sample, len(queries)), replace=False))
            k = min(10, self.n_items)
            exact, _ = self._topk(queries[rows], vectors, k, None, None)
            index.recall = index.calibrate(queries[rows], exact, k, recall, threads)
            indexes[name] = index
        self.index_ = {"method": method, "fingerprint": fingerprint(V), **indexes}
        return self

    def _ann_index(self, approximate, which):
        """The index to answer from, or None for the exact answer."""
        if approximate is not None:
            check_bool(approximate, "approximate")
        built = getattr(self, "index_", None)
        if approximate is False or (approximate is None and built is None):
            return None
        if built is None:
            raise ValueError("approximate=True needs an index: call build_index() first")
        if built["fingerprint"] != fingerprint(self.item_factors_):
            raise ValueError("index_ was built for other item factors (a refit, or another "
                             "model's index); call build_index() again")
        return built[which]

    def _answer_approximate(self, index, queries, k, excluded, allowed, targets):
        """Top-k from ``index``, filtered and rescored exactly; rows the index
        cannot fill are answered exactly."""
        n = len(queries)
        banned = 0 if allowed is None else int(np.count_nonzero(~allowed))
        widest = 0 if excluded is None else int(np.diff(excluded[0]).max(initial=0))
        wanted = k + widest + banned
        if wanted > max(4 * k + 256, targets.shape[0] // 20):
            return self._topk(queries, targets, k, excluded, allowed)
        found = index.search(queries, min(wanted, targets.shape[0]), self._threads())
        valid = found >= 0
        if allowed is not None:
            valid &= allowed[np.maximum(found, 0)]
        if excluded is not None and len(excluded[1]):
            rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(excluded[0]))
            pairs = rows * targets.shape[0] + excluded[1]
            valid &= ~np.isin(np.arange(n)[:, None] * targets.shape[0] + found, pairs)
        first = np.argsort(~valid, axis=1, kind="stable")[:, :k]
        ids = np.take_along_axis(found, first, axis=1)
        kept = np.take_along_axis(valid, first, axis=1)
        ids = np.where(kept, ids, -1)
        scores = np.einsum("nd,nkd->nk", queries.astype(np.float64),
                           targets[np.maximum(ids, 0)].astype(np.float64))
        scores[~kept] = -np.inf
        order = np.lexsort((np.where(kept, ids, np.iinfo(np.int64).max), -scores), axis=1)
        ids = np.take_along_axis(ids, order, axis=1)
        scores = np.take_along_axis(scores, order, axis=1)
        short = np.flatnonzero(kept.sum(axis=1) < min(k, targets.shape[0]))
        if len(short):
            part = None if excluded is None else take_rows(*excluded, short)
            ids[short], scores[short] = self._topk(queries[short], targets, k, part, allowed)
        return ids, scores

    # ------------------------------------------------------------ filters
    def _seen(self, needed_by):
        """The remembered training pattern ``(indptr, indices)``, or a clear error."""
        indptr = getattr(self, "seen_indptr_", None)
        if indptr is None:
            raise ValueError(f"{needed_by}: this model does not remember its training "
                             f"interactions (fitted with keep_interactions=False, or loaded "
                             f"from a file written before they were saved); pass "
                             f"exclude_seen=False, and exclude= for the items to leave out")
        return indptr, self.seen_indices_

    def _seen_by_item(self, needed_by):
        """The remembered pattern transposed: one row of users per item (cached)."""
        indptr, indices = self._seen(needed_by)
        cached = self.__dict__.get("_seen_transposed")
        if cached is None or cached[0] is not indices:
            matrix = sp.csr_matrix((np.ones(len(indices), dtype=np.bool_), indices, indptr),
                                   shape=(self.n_users, self.n_items)).tocsc()
            cached = (indices, matrix.indptr.astype(np.int64),
                      matrix.indices.astype(np.int32))
            self.__dict__["_seen_transposed"] = cached
        return cached[1], cached[2]

    def _exclusion(self, exclude, positions, rows_name):
        """A CSR pair, one row per query, from any form ``exclude`` takes."""
        n = len(positions)
        if is_frame(exclude) or isinstance(exclude, dict):
            users, items = exclusion_pairs(exclude, "exclude")
            user_index = self._positions(users, "user", "exclude")[0]
            item_index = self._index(items, "item", "exclude")[0]
            return take_rows(*pairs_to_rows(user_index, item_index, self.n_users), positions)
        if not (sp.issparse(exclude) or isinstance(exclude, tuple)):
            raise TypeError(f"exclude must be a sparse matrix, a DataFrame of (user, item) "
                            f"labels or a dict of user -> items, got {type(exclude).__name__}")
        data = check_interactions(exclude, "exclude", n_cols=self.n_items, allow_empty=True)
        if data.shape[0] != n:
            raise ValueError(f"exclude must have one row per entry of {rows_name} ({n}), "
                             f"got {data.shape[0]}; pass train[{rows_name}]")
        return data.indptr.astype(np.int64), data.indices.astype(np.int32)

    def _item_mask(self, filter_items, candidates, candidates_name):
        """Items any answer may hold (None: all), from the filter and the whitelist."""
        if filter_items is None and candidates is None:
            return None
        allowed = np.ones(self.n_items, dtype=np.bool_)
        if candidates is not None:
            allowed[:] = False
            allowed[self._index(candidates, "item", candidates_name)[0]] = True
        if filter_items is not None:
            allowed[self._index(filter_items, "item", "filter_items")[0]] = False
        return allowed

    def _topk(self, queries, targets, k, excluded, allowed):
        n = queries.shape[0]
        excl_indptr, excl_indices = empty_rows(n) if excluded is None else sorted_rows(*excluded)
        if allowed is None:
            allowed = np.ones(targets.shape[0], dtype=np.bool_)
        queries = np.ascontiguousarray(queries, dtype=targets.dtype)
        targets = np.ascontiguousarray(targets)
        ids = np.empty((n, k), dtype=np.int64)
        scores = np.empty((n, k), dtype=np.float64)
        with thread_limits(self._threads()):
            topk_inner_product(queries, targets, excl_indptr, excl_indices, allowed,
                               k, ids, scores)
        return ids, scores


def _alias(candidates, items):
    """``(whitelist, its argument name)`` from ``candidates`` or its alias ``items``."""
    if items is None:
        return candidates, "candidates"
    if candidates is not None:
        raise ValueError("candidates and items are one argument (items is implicit's name); "
                         "pass one of them")
    return items, "items"


def _unit_rows(factors):
    """``factors`` with each nonzero row scaled to unit length (same dtype)."""
    norms = np.linalg.norm(factors.astype(np.float64), axis=1)
    return factors / np.where(norms > 0, norms, 1.0)[:, None].astype(factors.dtype)
