"""Train/test splits and metrics for fitted models.

Splits
------
Every split takes a feedback matrix (any ``scipy.sparse`` format or a
``(rows, cols, values)`` tuple; duplicates are summed as in ``fit``) and
returns ``(train, test)`` CSR matrices of float64 with the input's shape whose
stored entries partition the input's. All randomness comes from ``seed`` (an
int or a ``numpy.random.Generator``), so a split is reproducible; every split
is vectorised and costs ``O(nnz log nnz)`` at most.

- :func:`split_entries` — each entry to test with probability ``test_fraction``.
- :func:`split_per_user` — a random ``round(test_fraction * n_u)`` (or
  ``test_count``) of each user's ``n_u`` entries to test.
- :func:`leave_k_out` — ``k`` random entries of each user to test.
- :func:`split_temporal` — the latest entries of each user (or overall) to test.
- :func:`kfold_entries` — ``n_folds`` (train, test) pairs whose tests
  partition the entries.

Metrics
-------
:func:`evaluate` computes, in one pass of a parallel kernel over batches of
users, the ranking metrics below plus RMSE and MAE, and returns a plain dict.
Definitions, for a user ``u``:

- **candidates** ``C_u``: the items not stored in ``train[u]``; only they are
  ranked. **Relevant** ``R_u``: the items stored in ``test[u]`` (whatever their
  value) that are candidates; test items that are also in train are ignored.
  Users with no relevant item are skipped (``n_users_skipped``).
- **ranking**: candidates by score ``u . v_j`` (float64), best first; among
  equal scores the lower item id ranks first (as in ``model.recommend``).
- **k clamp**: a cut-off larger than the number of candidates is clamped to it,
  ``k_u = min(k, |C_u|)``, never an error. The top ``k_u`` items are ``T_u``
  and ``n_ideal = min(k_u, |R_u|) = min(k, |R_u|)``.
- ``precision@k = |T_u & R_u| / k_u``
- ``recall@k = |T_u & R_u| / n_ideal`` (normalised so a perfect ranking scores
  1 also when the user has more than ``k`` relevant items)
- ``ndcg@k``: binary gains, ``DCG = sum over relevant positions p (1-based) of
  1 / log2(p + 1)``, divided by the DCG of ``n_ideal`` hits at the top.
- ``map@k``: mean over users of ``AP@k = (1 / n_ideal) * sum over relevant
  positions p of precision@p``.
- ``hit_rate@k``: 1 if ``T_u`` holds a relevant item, else 0.
- ``auc``: over all pairs (relevant item, non-relevant candidate), the share
  the scores order correctly, a tie counting 1/2 (the full ranking, not the
  top k). Users whose candidates are all relevant have no such pair and are
  left out of the AUC mean (``n_users_auc`` counts those in it).
- ``coverage@k``: the share of the catalogue (``n_items``) that appears in the
  top ``k_u`` of at least one evaluated user.
- ``rmse``, ``mae``: over every stored entry of ``test``.

Each per-user metric is averaged over the evaluated users.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ._config import SUPPORTED_DTYPES
from ._threading import thread_limits
from ._validation import (
    _coordinates, check_bool, check_float, check_int, check_interactions, check_num_threads,
    check_random_state)
from .kernels.metrics import RANKING_COLUMNS, pointwise_errors, ranking_metrics

if TYPE_CHECKING:
    from typing import Callable, Iterable, Iterator

    from numpy.typing import ArrayLike

    from .models.base import FactorModel, InteractionsLike, SparseMatrix

__all__ = [
    "split_entries", "split_per_user", "leave_k_out", "split_temporal", "kfold_entries",
    "rmse", "mae", "recall_at_k", "evaluate", "RANKING_METRICS", "METRICS",
    "parse_metric", "fold_in_scorer", "LOWER_IS_BETTER",
]

#: Metrics reported at each cut-off ``k`` (keys ``"name@k"``).
RANKING_METRICS = RANKING_COLUMNS + ("coverage",)
#: Every metric name :func:`evaluate` accepts, in the order it reports them.
METRICS = RANKING_METRICS + ("auc", "rmse", "mae")

#: Default test share of the per-user and temporal splits.
DEFAULT_TEST_FRACTION = 0.2


# ------------------------------------------------------------------ helpers

def _entry_rows(data):
    """Row id of each stored entry of canonical :class:`Interactions`."""
    return np.repeat(np.arange(data.shape[0], dtype=np.int64), np.diff(data.indptr))


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
    rows_in_order = _entry_rows(data)  # rows are ascending, so rows[order] == rows
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
    keys = (_entry_rows(data) << 32) | rng.integers(0, 2 ** 32, size=data.nnz, dtype=np.int64)
    rank = _rank_within_rows(data, np.argsort(keys, kind="stable"))
    return _partition(data, rank < sizes[_entry_rows(data)])


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
    if not np.array_equal(keys, _entry_rows(data) * data.shape[1] + data.indices):
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
        rows = _entry_rows(data)
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


# ------------------------------------------------------------------ metrics

def _model_factors(model):
    """Validated ``(user_factors, item_factors, num_threads)`` of a fitted model."""
    U = getattr(model, "user_factors_", None)
    V = getattr(model, "item_factors_", None)
    if U is None or V is None:
        check_fitted = getattr(model, "_check_fitted", None)
        if check_fitted is not None:
            check_fitted()
        raise TypeError(f"model must be a fitted factor model with user_factors_ and "
                        f"item_factors_, got {type(model).__name__}")
    arrays = []
    for name, array in (("user_factors_", U), ("item_factors_", V)):
        array = np.asarray(array)
        if array.ndim != 2:
            raise ValueError(f"model.{name} must be 2-dimensional, got shape {array.shape}")
        if array.dtype.kind not in "biuf":
            raise TypeError(f"model.{name} must hold real numbers, got dtype {array.dtype}")
        arrays.append(array)
    U, V = arrays
    if U.shape[1] != V.shape[1]:
        raise ValueError(f"model.user_factors_ and model.item_factors_ must have one number "
                         f"of columns, got {U.shape[1]} and {V.shape[1]}")
    dtype = U.dtype if U.dtype == V.dtype and U.dtype in SUPPORTED_DTYPES else np.float64
    U = np.ascontiguousarray(U, dtype=dtype)
    V = np.ascontiguousarray(V, dtype=dtype)
    for name, array in (("user_factors_", U), ("item_factors_", V)):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"model.{name} must be finite (found NaN or inf)")
    threads = check_num_threads(getattr(model, "num_threads", 0), "model.num_threads")
    return U, V, threads


def _pointwise(model, test):
    """``(sum of squared errors, sum of absolute errors, n)`` over ``test``'s entries."""
    U, V, threads = _model_factors(model)
    data = check_interactions(test, "test", n_cols=V.shape[0])
    if data.shape[0] > U.shape[0]:
        raise ValueError(f"test has {data.shape[0]} rows but the model has {U.shape[0]} users")
    return _pointwise_checked(U, V, threads, data)


def _pointwise_checked(U, V, threads, data):
    squared = np.empty(data.shape[0])
    absolute = np.empty(data.shape[0])
    with thread_limits(threads):
        pointwise_errors(data.indptr, data.indices, data.values, U, V, squared, absolute)
    return float(np.sum(squared)), float(np.sum(absolute)), data.nnz


def rmse(model: FactorModel, test: InteractionsLike) -> float:
    """Root mean squared error of the predictions ``u_i . v_j`` on ``test``'s entries.

    Parameters
    ----------
    model : FactorModel
        A fitted model whose shape covers ``test``.
    test : sparse matrix or (rows, cols, values) tuple
        At most ``model.n_users`` rows and ``model.n_items`` columns.

    Returns
    -------
    float
    """
    squared, _, n = _pointwise(model, test)
    return float(np.sqrt(squared / n))


def mae(model: FactorModel, test: InteractionsLike) -> float:
    """Mean absolute error of the predictions ``u_i . v_j`` on ``test``'s entries.

    Parameters
    ----------
    model : FactorModel
        A fitted model whose shape covers ``test``.
    test : sparse matrix or (rows, cols, values) tuple
        At most ``model.n_users`` rows and ``model.n_items`` columns.

    Returns
    -------
    float
    """
    _, absolute, n = _pointwise(model, test)
    return absolute / n


def recall_at_k(model: FactorModel, train: InteractionsLike | None, test: InteractionsLike,
                k: int = 10, batch_size: int = 4096) -> float:
    """Mean recall@k over users with test items, training items excluded.

    Recall of a user is the number of its test items among its top ``k``
    recommendations divided by ``min(k, number of test items)``, so a perfect
    ranking scores 1. Same as ``evaluate(..., metrics=["recall"])["recall@k"]``
    (see the module notes: ``k`` is clamped to the candidates, ties go to the
    lower item id, test items that are also in train are ignored).

    Parameters
    ----------
    model : FactorModel
    train, test : sparse matrix, shape (n_users, n_items)
    k : int >= 1
    batch_size : int
        Users scored per kernel call.

    Returns
    -------
    float
    """
    k = check_int(k, "k", low=1)
    return evaluate(model, train, test, k=k, metrics=["recall"],
                    batch_size=batch_size)[f"recall@{k}"]


def _check_ks(k):
    """Cut-offs as a list of distinct ints >= 1, in the order given."""
    if isinstance(k, numbers.Integral) and not isinstance(k, (bool, np.bool_)):
        return [check_int(k, "k", low=1)]
    if isinstance(k, (str, bytes)) or not np.iterable(k):
        raise TypeError(f"k must be an integer or a sequence of integers, got "
                        f"{type(k).__name__}")
    ks = [check_int(value, "k", low=1) for value in k]
    if not ks:
        raise ValueError("k must hold at least one cut-off")
    return list(dict.fromkeys(ks))


def _check_metrics(metrics):
    if metrics is None:
        return list(METRICS)
    if isinstance(metrics, str):
        metrics = [metrics]
    if not np.iterable(metrics):
        raise TypeError(f"metrics must be a metric name or a list of them, got "
                        f"{type(metrics).__name__}")
    metrics = list(metrics)
    for name in metrics:
        if not isinstance(name, str) or name not in METRICS:
            raise ValueError(f"metrics must name metrics among {list(METRICS)}, "
                             f"got {name!r}")
    if not metrics:
        raise ValueError("metrics must name at least one metric")
    return list(dict.fromkeys(metrics))


def _relevant_users(train, test):
    """Per test entry, whether it is outside train; per user, the count of those."""
    n_items = test.shape[1]
    train_keys = _entry_rows(train) * n_items + train.indices
    test_keys = _entry_rows(test) * n_items + test.indices
    pos = np.searchsorted(train_keys, test_keys)  # both sorted: row-major, columns sorted
    found = pos < len(train_keys)
    found[found] = train_keys[pos[found]] == test_keys[found]
    kept = np.concatenate(([0], np.cumsum(~found, dtype=np.int64)))
    return np.diff(kept[test.indptr])


def evaluate(model: FactorModel, train: InteractionsLike | None, test: InteractionsLike,
             k: int | Iterable[int] = 10, metrics: str | Iterable[str] | None = None,
             batch_size: int = 4096) -> dict[str, float]:
    """Ranking and rating metrics of a fitted model on a test split.

    See the module notes for the exact definitions (ties, the clamp of ``k``
    to the candidates, AUC pairs, coverage). Scores are computed user by user
    inside a parallel Numba kernel, ``batch_size`` users per call; no
    users x items matrix is formed.

    Parameters
    ----------
    model : FactorModel
        A fitted model (``user_factors_``, ``item_factors_``, ``num_threads``).
    train : sparse matrix, shape (n_users, n_items), or None
        Items excluded from each user's ranking (typically the training split);
        None excludes nothing.
    test : sparse matrix, shape (n_users, n_items)
        The held-out entries: relevant items for the ranking metrics, targets
        for ``rmse``/``mae``.
    k : int or sequence of int, default 10
        Cut-off(s) of the ranking metrics, each >= 1; larger than a user's
        candidates is allowed (clamped).
    metrics : str or list of str, optional
        Subset of :data:`METRICS` (``"precision"``, ``"recall"``, ``"ndcg"``,
        ``"map"``, ``"hit_rate"``, ``"coverage"``, ``"auc"``, ``"rmse"``,
        ``"mae"``); all by default.
    batch_size : int >= 1, default 4096
        Users per kernel call.

    Returns
    -------
    dict
        ``"<metric>@<k>"`` for each ranking metric and cut-off (``k`` as
        given), then ``"auc"``, ``"rmse"``, ``"mae"`` as asked, plus
        ``"n_users"`` (users evaluated by the ranking metrics: those with a
        test item outside train), ``"n_users_skipped"`` (the other users of
        the model) and, with AUC, ``"n_users_auc"`` (users in the AUC mean).
        Values are Python floats and ints.

    Raises
    ------
    ValueError
        When no user has a test item outside train and a ranking metric or AUC
        is asked for.
    """
    U, V, threads = _model_factors(model)
    n_users, n_items = U.shape[0], V.shape[0]
    ks = _check_ks(k)
    metrics = _check_metrics(metrics)
    batch_size = check_int(batch_size, "batch_size", low=1)
    test = check_interactions(test, "test", n_cols=n_items)
    if test.shape[0] != n_users:
        raise ValueError(f"test must have {n_users} rows (the model's users), "
                         f"got {test.shape[0]}")
    if train is None:
        train_data = check_interactions(sp.csr_matrix((n_users, n_items)), "train",
                                        allow_empty=True)
    else:
        train_data = check_interactions(train, "train", n_cols=n_items, allow_empty=True)
        if train_data.shape[0] != n_users:
            raise ValueError(f"train must have {n_users} rows (the model's users), "
                             f"got {train_data.shape[0]}")

    result: dict[str, float] = {}
    ranked = [name for name in metrics if name in RANKING_METRICS or name == "auc"]
    relevant_counts = _relevant_users(train_data, test)
    users = np.flatnonzero(relevant_counts > 0).astype(np.int64)
    if ranked:
        if len(users) == 0:
            raise ValueError("test has no stored entry outside train: no user to rank for")
        want_auc = "auc" in metrics
        kernel_ks = np.array(sorted({min(value, n_items) for value in ks}), dtype=np.int64)
        totals = np.zeros((len(kernel_ks), len(RANKING_COLUMNS)))
        covered = np.zeros((len(kernel_ks), n_items), dtype=np.uint8)
        auc_total, auc_users = 0.0, 0
        with thread_limits(threads):
            for start in range(0, len(users), batch_size):
                batch = users[start:start + batch_size]
                out = np.empty((len(batch), len(kernel_ks), len(RANKING_COLUMNS)))
                out_relevant = np.empty(len(batch), dtype=np.int64)
                out_auc = np.empty(len(batch))
                ranking_metrics(batch, U, V, train_data.indptr, train_data.indices,
                                test.indptr, test.indices, kernel_ks, want_auc, out,
                                out_relevant, out_auc, covered)
                totals += out.sum(axis=0)
                defined = ~np.isnan(out_auc)
                auc_total += float(out_auc[defined].sum())
                auc_users += int(defined.sum())
        means = totals / len(users)
        coverage = covered.sum(axis=1) / n_items
        column = {name: c for c, name in enumerate(RANKING_COLUMNS)}
        for name in metrics:
            if name not in RANKING_METRICS:
                continue
            for value in ks:
                ki = int(np.searchsorted(kernel_ks, min(value, n_items)))
                score = coverage[ki] if name == "coverage" else means[ki, column[name]]
                result[f"{name}@{value}"] = float(score)
        if want_auc:
            result["auc"] = auc_total / auc_users if auc_users else float("nan")
    if "rmse" in metrics or "mae" in metrics:
        squared, absolute, n = _pointwise_checked(U, V, threads, test)
        if "rmse" in metrics:
            result["rmse"] = float(np.sqrt(squared / n))
        if "mae" in metrics:
            result["mae"] = absolute / n
    result["n_users"] = int(len(users))
    result["n_users_skipped"] = int(n_users - len(users))
    if "auc" in metrics:
        result["n_users_auc"] = auc_users
    return result


#: Metrics where lower is better.
LOWER_IS_BETTER = ("rmse", "mae")


def parse_metric(metric: str) -> tuple[str, int | None]:
    """``(name, k)`` of a metric key such as ``"ndcg@10"`` or ``"auc"`` (k None)."""
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string such as 'ndcg@10', got {type(metric).__name__}")
    name, _, cut = metric.partition("@")
    if name not in METRICS:
        raise ValueError(f"metric must name one of {list(METRICS)}, got {metric!r}")
    if name in ("auc", "rmse", "mae"):
        if cut:
            raise ValueError(f"metric {name!r} takes no cut-off, got {metric!r}")
        return name, None
    if not cut.isdigit() or int(cut) < 1:
        raise ValueError(f"metric must give a cut-off for {name!r}, e.g. '{name}@10', "
                         f"got {metric!r}")
    return name, int(cut)


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
