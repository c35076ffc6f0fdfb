"""Train/test splits and the held-out-user scorer (see :mod:`fastwmf.model_selection`)."""


from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from .._validation import (
    _coordinates, check_bool, check_float, check_int, check_interactions, check_random_state)
from ..metrics import LOWER_IS_BETTER, evaluate, parse_metric

if TYPE_CHECKING:
    from typing import Callable, Iterator

    from numpy.typing import ArrayLike

    from .._typing import InteractionsLike, SparseMatrix

logger = logging.getLogger(__name__)

#: Default test share of the per-user and temporal splits.
DEFAULT_TEST_FRACTION = 0.2



# ------------------------------------------------------------------ helpers

def _masked_csr(data, mask):
    """The stored entries of ``data`` where ``mask`` holds, as a CSR matrix."""
    kept = np.concatenate(([0], np.cumsum(mask, dtype=np.int64)))
    return sp.csr_matrix((data.values[mask], data.indices[mask], kept[data.indptr]),
                         shape=data.shape)


def _partition(data, in_test):
    """``(train, test)`` CSR matrices of the entries outside / inside ``in_test``."""
    return _masked_csr(data, ~in_test), _masked_csr(data, in_test)


def _test_sizes(counts, test_fraction, test_count, min_train):
    """Entries each user sends to test under the per-user rules."""
    if test_count is not None:
        sizes = np.full(len(counts), test_count, dtype=np.int64)
    else:
        sizes = np.floor(test_fraction * counts + 0.5).astype(np.int64)
    sizes[counts - sizes < min_train] = 0  # too few entries: all stay in train
    return sizes


def _check_size_args(test_fraction, test_count, min_train):
    if test_fraction is not None and test_count is not None:
        raise ValueError("test_fraction and test_count are exclusive; give one of them")
    if test_count is not None:
        test_count = check_int(test_count, "test_count", low=1)
    else:
        test_fraction = DEFAULT_TEST_FRACTION if test_fraction is None else check_float(
            test_fraction, "test_fraction", low=0.0, low_inclusive=False, high=1.0)
    min_train = check_int(min_train, "min_train", low=0)
    return test_fraction, test_count, min_train


def _rank_within_rows(data, order):
    """Position of each entry inside its row when rows are visited in ``order``.

    ``order`` is a permutation of the entries that keeps rows in ascending
    order (it only reorders entries inside a row).
    """
    rows_in_order = data.entry_rows()  # rows are ascending, so rows[order] == rows
    rank = np.empty(data.nnz, dtype=np.int64)
    rank[order] = np.arange(data.nnz, dtype=np.int64) - data.indptr[rows_in_order]
    return rank


# ------------------------------------------------------------------- splits

def split_entries(X: InteractionsLike, test_fraction: float = 0.2,
                  seed: int | np.random.Generator = 0,
                  ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Hold out a random fraction of the stored entries.

    Each entry goes to test independently with probability ``test_fraction``,
    so users may end up with no training entry (see :func:`split_per_user`).

    Parameters
    ----------
    X : sparse matrix or (rows, cols, values) tuple
    test_fraction : float in (0, 1]
    seed : int or numpy.random.Generator

    Returns
    -------
    train, test : scipy.sparse.csr_matrix
        Same shape as ``X``; every stored entry is in exactly one of them.
    """
    test_fraction = check_float(test_fraction, "test_fraction", low=0.0, low_inclusive=False,
                                high=1.0)
    data = check_interactions(X, "X")
    rng = check_random_state(seed, "seed")
    return _partition(data, rng.random(data.nnz) < test_fraction)


def split_per_user(X: InteractionsLike, test_fraction: float | None = None,
                   test_count: int | None = None, seed: int | np.random.Generator = 0,
                   min_train: int = 1) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Random per-user holdout by fraction or by count.

    User ``u`` with ``n_u`` stored entries sends ``round(test_fraction * n_u)``
    (halves round up) or ``test_count`` of them, drawn uniformly at random, to
    test. A user that would keep fewer than ``min_train`` entries in train
    keeps all of them in train (and has no test entries).

    Parameters
    ----------
    X : sparse matrix or (rows, cols, values) tuple
    test_fraction : float in (0, 1], optional
        Share of each user's entries to hold out; 0.2 when neither it nor
        ``test_count`` is given.
    test_count : int >= 1, optional
        Entries to hold out per user (exclusive with ``test_fraction``).
    seed : int or numpy.random.Generator
    min_train : int >= 0, default 1
        Training entries every user with test entries keeps.

    Returns
    -------
    train, test : scipy.sparse.csr_matrix
        Same shape as ``X``; every stored entry is in exactly one of them.
    """
    test_fraction, test_count, min_train = _check_size_args(test_fraction, test_count,
                                                            min_train)
    data = check_interactions(X, "X")
    rng = check_random_state(seed, "seed")
    sizes = _test_sizes(data.row_counts(), test_fraction, test_count, min_train)
    # a random order inside each row: sort by (row, random 32-bit key), stably
    keys = (data.entry_rows() << 32) | rng.integers(0, 2 ** 32, size=data.nnz, dtype=np.int64)
    rank = _rank_within_rows(data, np.argsort(keys, kind="stable"))
    return _partition(data, rank < sizes[data.entry_rows()])


def leave_k_out(X: InteractionsLike, k: int = 1, seed: int | np.random.Generator = 0,
                min_train: int = 1) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Hold out ``k`` random entries of every user (leave-one-out for ``k=1``).

    Same as ``split_per_user(X, test_count=k, seed=seed, min_train=min_train)``:
    users with fewer than ``k + min_train`` entries keep them all in train.

    Parameters
    ----------
    X : sparse matrix or (rows, cols, values) tuple
    k : int >= 1, default 1
    seed : int or numpy.random.Generator
    min_train : int >= 0, default 1

    Returns
    -------
    train, test : scipy.sparse.csr_matrix
    """
    k = check_int(k, "k", low=1)
    return split_per_user(X, test_count=k, seed=seed, min_train=min_train)


def _aligned_timestamps(X, timestamps, data):
    """Timestamps aligned with the canonical entries of ``data`` (latest of duplicates)."""
    if sp.issparse(timestamps):
        if tuple(timestamps.shape) != tuple(data.shape):
            raise ValueError(f"timestamps must have the shape of X {tuple(data.shape)}, "
                             f"got {tuple(timestamps.shape)}")
        rows, cols, times, _ = _coordinates(timestamps, "timestamps", None)
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    else:
        rows, cols, _, _ = _coordinates(X, "X", None)
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        times = np.asarray(timestamps)
        if times.ndim != 1 or len(times) != len(rows):
            raise ValueError(f"timestamps must be a sparse matrix like X or a 1-D array with "
                             f"one timestamp per stored entry of X ({len(rows)}), got shape "
                             f"{times.shape}")
    times = np.asarray(times)
    if times.dtype.kind == "M":
        if np.any(np.isnat(times)):
            raise ValueError("timestamps must not hold NaT")
        times = times.astype("datetime64[ns]").view(np.int64)
    elif times.dtype.kind in "iu":
        times = times.astype(np.int64)
    elif times.dtype.kind == "f":
        times = times.astype(np.float64)
        if not np.all(np.isfinite(times)):
            raise ValueError("timestamps must be finite (found NaN or inf)")
    else:
        raise TypeError(f"timestamps must hold numbers or datetime64 values, got dtype "
                        f"{times.dtype}")
    keys = rows * data.shape[1] + cols
    if len(keys) > 1 and not np.all(keys[1:] > keys[:-1]):
        # not in canonical order or with duplicates: sort by (row, col) and let
        # each group of duplicates take its latest time
        order = np.argsort(keys, kind="stable")
        keys, times = keys[order], times[order]
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        keys, times = keys[starts], np.maximum.reduceat(times, starts)
    if not np.array_equal(keys, data.entry_rows() * data.shape[1] + data.indices):
        raise ValueError("timestamps must have the same stored entries as X")
    return times


def _row_time_order(data, rows, times):
    """Entries ordered by (row, time, col): canonical order is (row, col), sorts are stable."""
    n = data.nnz
    if times.dtype.kind == "i" and n:
        low = int(times.min())
        bits = (int(times.max()) - low).bit_length()
        if bits + int(data.shape[0]).bit_length() <= 62:  # (row, time) packed in one int64
            return np.argsort((rows << bits) | (times - low), kind="stable")
    by_time = np.argsort(times, kind="stable")
    if data.shape[0] * n < 2 ** 62:  # (row, rank of time) packed: unique keys
        rank = np.empty(n, dtype=np.int64)
        rank[by_time] = np.arange(n, dtype=np.int64)
        return np.argsort(rows * n + rank)
    return by_time[np.argsort(rows[by_time], kind="stable")]


def split_temporal(X: InteractionsLike, timestamps: SparseMatrix | ArrayLike,
                   test_fraction: float | None = None, test_count: int | None = None,
                   per_user: bool = True, min_train: int = 1,
                   ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Hold out the latest entries, per user or overall.

    Entries are ordered by ``(timestamp, item id)`` inside each user
    (``per_user=True``) or by ``(timestamp, user id, item id)`` overall;
    equal timestamps are thus broken deterministically, a higher id counting
    as later.

    - ``per_user=True``: user ``u`` sends its latest ``round(test_fraction *
      n_u)`` (or ``test_count``) entries to test; a user that would keep fewer
      than ``min_train`` entries keeps all of them in train.
    - ``per_user=False``: the latest ``round(test_fraction * nnz)`` (or
      ``test_count``) entries of the whole matrix go to test, whoever they
      belong to (a global time cut; ``min_train`` is not applied).

    Parameters
    ----------
    X : sparse matrix or (rows, cols, values) tuple
    timestamps : sparse matrix or 1-D array
        A sparse matrix with the stored entries of ``X``, or an array aligned
        with the stored entries of ``X`` as given (its ``.data`` order, or the
        order of the tuple). Numbers or ``datetime64``. Duplicate entries of
        ``X`` (summed into one) take their latest timestamp.
    test_fraction : float in (0, 1], optional
        0.2 when neither it nor ``test_count`` is given.
    test_count : int >= 1, optional
        Exclusive with ``test_fraction``.
    per_user : bool, default True
    min_train : int >= 0, default 1

    Returns
    -------
    train, test : scipy.sparse.csr_matrix
    """
    test_fraction, test_count, min_train = _check_size_args(test_fraction, test_count,
                                                            min_train)
    per_user = check_bool(per_user, "per_user")
    data = check_interactions(X, "X")
    times = _aligned_timestamps(X, timestamps, data)
    if per_user:
        rows = data.entry_rows()
        sizes = _test_sizes(data.row_counts(), test_fraction, test_count, min_train)
        rank = _rank_within_rows(data, _row_time_order(data, rows, times))
        in_test = rank >= data.row_counts()[rows] - sizes[rows]
    else:
        n_test = test_count if test_count is not None else int(
            np.floor(test_fraction * data.nnz + 0.5))
        n_test = min(n_test, data.nnz)
        in_test = np.zeros(data.nnz, dtype=bool)
        # entries are in (row, col) order: a stable sort gives (time, row, col)
        in_test[np.argsort(times, kind="stable")[data.nnz - n_test:]] = True
    return _partition(data, in_test)


def kfold_entries(X: InteractionsLike, n_folds: int = 5, seed: int | np.random.Generator = 0,
                  ) -> Iterator[tuple[sp.csr_matrix, sp.csr_matrix]]:
    """K-fold cross-validation over the stored entries.

    The entries are shuffled once and dealt round-robin into ``n_folds``
    folds (sizes differ by at most one); fold ``f`` is the test part of the
    ``f``-th pair. Arguments are checked when called, before iterating.

    Parameters
    ----------
    X : sparse matrix or (rows, cols, values) tuple
    n_folds : int >= 2, at most the number of stored entries
    seed : int or numpy.random.Generator

    Returns
    -------
    iterator of (train, test) scipy.sparse.csr_matrix pairs
        ``n_folds`` pairs; every entry is in exactly one test part.
    """
    n_folds = check_int(n_folds, "n_folds", low=2)
    data = check_interactions(X, "X")
    if n_folds > data.nnz:
        raise ValueError(f"n_folds must be <= the number of stored entries of X "
                         f"({data.nnz}), got {n_folds}")
    rng = check_random_state(seed, "seed")
    fold = np.empty(data.nnz, dtype=np.int64)
    fold[rng.permutation(data.nnz)] = np.arange(data.nnz, dtype=np.int64) % n_folds
    return _folds(data, fold, n_folds)


def _folds(data, fold, n_folds):
    for f in range(n_folds):
        yield _partition(data, fold == f)


# ---------------------------------------------------------------- scoring

def fold_in_scorer(metric: str = "ndcg@10", hide_fraction: float = 0.2,
                   seed: int = 0) -> Callable[..., float]:
    """A scikit-learn scorer for cross-validation over users.

    scikit-learn's splitters hold out whole rows (users), whom a fitted model
    has never seen. The scorer hides a random ``hide_fraction`` of each
    held-out user's entries, folds the users in from the rest
    (:meth:`~fastwmf.models.base.FactorModel.fold_in`) and scores the hidden
    entries with :func:`evaluate`, the shown ones excluded. ``rmse`` and
    ``mae`` are negated, so greater is better as scikit-learn expects.

    Parameters
    ----------
    metric : str, default "ndcg@10"
        A key of :func:`evaluate`'s result.
    hide_fraction : float in (0, 1), default 0.2
    seed : int, default 0
        Seeds the hidden/shown split, so every candidate sees the same one.

    Returns
    -------
    callable
        ``scorer(estimator, X, y=None) -> float``, usable as ``scoring=`` in
        ``GridSearchCV`` and ``cross_val_score``.
    """
    name, k = parse_metric(metric)
    hide_fraction = check_float(hide_fraction, "hide_fraction", low=0.0, low_inclusive=False,
                                high=1.0)
    seed = check_int(seed, "seed", low=0)

    def scorer(estimator, X, y=None):
        shown, hidden = split_per_user(X, test_fraction=hide_fraction, seed=seed)
        view = _FoldedUsers(estimator.fold_in(shown), estimator.item_factors_,
                            getattr(estimator, "num_threads", 0))
        value = evaluate(view, shown, hidden, k=k or 10, metrics=[name])[metric]
        return -value if name in LOWER_IS_BETTER else value

    scorer.__name__ = f"fold_in_scorer({metric!r})"
    return scorer


class _FoldedUsers:
    """Factors of folded-in users beside a model's item factors, for evaluate."""

    def __init__(self, user_factors, item_factors, num_threads):
        self.user_factors_ = user_factors
        self.item_factors_ = item_factors
        self.num_threads = num_threads
