"""Model selection: train/test splits, a cross-validation scorer and the w0 search.

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

Search
------
:func:`tune_w0` fits :class:`~fastwmf.WALS` over a grid of ``w0`` (and
optionally ``regularization`` and ``factors``) on a validation split and
returns a :class:`TuningResult`; :func:`fold_in_scorer` lets scikit-learn's
``GridSearchCV`` score models on held-out users.
"""


from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ._validation import (
    _coordinates, check_bool, check_float, check_int, check_interactions, check_random_state)
from .metrics import LOWER_IS_BETTER, evaluate, parse_metric
from .models.wals import WALS

if TYPE_CHECKING:
    import os
    from typing import Any, Callable, Iterator

    from numpy.typing import ArrayLike

    from ._typing import InteractionsLike, SparseMatrix

__all__ = [
    "split_entries", "split_per_user", "leave_k_out", "split_temporal", "kfold_entries",
    "fold_in_scorer", "tune_w0", "TuningResult", "plot_tuning", "DEFAULT_W0",
]

logger = logging.getLogger(__name__)

#: Default test share of the per-user and temporal splits.
DEFAULT_TEST_FRACTION = 0.2

#: Default w0 grid: log-spaced, since w0's effect is multiplicative.
DEFAULT_W0 = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


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


# ----------------------------------------------------------------- w0 search

@dataclass
class TuningResult:
    """The table of a search and its best setting.

    Attributes
    ----------
    table : list of dict
        One row per fit: the searched parameters, the metric value
        (``score``) and ``fit_seconds``, in search order.
    best_params : dict
        Searched parameters of the best row.
    best_score : float
    metric : str
        The metric optimised, e.g. ``"ndcg@10"``.
    """

    table: list[dict[str, Any]] = field(default_factory=list)
    best_params: dict[str, Any] = field(default_factory=dict)
    best_score: float = float("nan")
    metric: str = ""

    def to_markdown(self) -> str:
        """The table as GitHub markdown, best row marked with ``*``."""
        if not self.table:
            return ""
        keys = [k for k in self.table[0] if k not in ("score", "fit_seconds")]
        lines = ["| " + " | ".join(keys + [self.metric, "fit s", ""]) + " |",
                 "|" + "---|" * (len(keys) + 3)]
        for row in self.table:
            best = all(row[k] == self.best_params[k] for k in keys)
            cells = [f"{row[k]:g}" if isinstance(row[k], float) else str(row[k]) for k in keys]
            cells += [f"{row['score']:.4f}", f"{row['fit_seconds']:.2f}", "*" if best else ""]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _check_grid(values, name, check):
    if values is None:
        return None
    values = list(np.atleast_1d(values).tolist()) if not isinstance(values, (list, tuple)) \
        else list(values)
    if not values:
        raise ValueError(f"{name} must hold at least one value")
    return [check(v, name) for v in values]


def tune_w0(train: InteractionsLike, validation: InteractionsLike,
            w0_values: ArrayLike = DEFAULT_W0, regularization_values: ArrayLike | None = None,
            factors_values: ArrayLike | None = None, metric: str = "ndcg@10",
            params: dict[str, Any] | None = None, warm_start: bool = True,
            show_progress: bool = False) -> TuningResult:
    """Search the unobserved weight ``w0`` of :class:`fastwmf.WALS`.

    For each combination of ``factors_values`` x ``regularization_values``
    the w0 grid is visited in ascending order; with ``warm_start`` each fit
    starts from the previous one's factors, which converges in fewer
    iterations than a random start because neighbouring w0 values have nearby
    optima. Each fit is scored on ``validation`` with
    :func:`fastwmf.metrics.evaluate`, training items excluded.

    Parameters
    ----------
    train : sparse matrix
        Training interactions (users x items).
    validation : sparse matrix, same shape
        Held-out interactions; never the final test split.
    w0_values : sequence of float, default (0.001, ..., 1.0)
    regularization_values, factors_values : sequence, optional
        Also searched when given; otherwise taken from ``params`` (or WALS's
        defaults).
    metric : str, default "ndcg@10"
        A key of :func:`~fastwmf.metrics.evaluate`'s result: a ranking
        metric at a cut-off (``"recall@20"``), ``"auc"``, ``"rmse"`` or
        ``"mae"`` (the last two are minimised, the others maximised).
    params : dict, optional
        Other WALS parameters held fixed (``iterations``, ``nu``,
        ``confidence``, ``random_state``, ...).
    warm_start : bool, default True
    show_progress : bool, default False
        A tqdm bar over the fits.

    Returns
    -------
    TuningResult
    """
    name, k = parse_metric(metric)
    w0_values = sorted(_check_grid(w0_values, "w0_values",
                                   lambda v, n: check_float(v, n, low=0.0)))
    regs = _check_grid(regularization_values, "regularization_values",
                       lambda v, n: check_float(v, n, low=0.0))
    factors = _check_grid(factors_values, "factors_values",
                          lambda v, n: check_int(v, n, low=1))
    warm_start = check_bool(warm_start, "warm_start")
    show_progress = check_bool(show_progress, "show_progress")
    params = dict(params or {})
    for fixed in ("w0", "warm_start"):
        if fixed in params:
            raise ValueError(f"params must not set {fixed!r}: tune_w0 controls it")
    train_data = check_interactions(train, "train")
    val_data = check_interactions(validation, "validation", n_cols=train_data.shape[1])
    if val_data.shape != train_data.shape:
        raise ValueError(f"validation must have train's shape {train_data.shape}, "
                         f"got {val_data.shape}")
    train, validation = train_data.to_scipy(), val_data.to_scipy()
    WALS(**params)._checked_params()  # reject bad fixed parameters before any fit

    outer = list(itertools.product(factors or [None], regs or [None]))
    progress = None
    if show_progress:
        from tqdm.auto import tqdm
        progress = tqdm(total=len(outer) * len(w0_values), desc="tune w0", unit="fit")
    result = TuningResult(metric=metric)
    sign = 1.0 if name in LOWER_IS_BETTER else -1.0
    try:
        for d, reg in outer:
            model = WALS(**params)
            searched: dict[str, Any] = {}
            if d is not None:
                model.set_params(factors=d)
                searched["factors"] = d
            if reg is not None:
                model.set_params(regularization=reg)
                searched["regularization"] = reg
            model.set_params(warm_start=warm_start)
            for w0 in w0_values:
                started = time.perf_counter()
                model.set_params(w0=w0).fit(train)
                seconds = time.perf_counter() - started
                score = evaluate(model, train, validation, k=k if k else 10,
                                 metrics=[name])[metric]
                row = dict(searched, w0=w0, score=float(score), fit_seconds=seconds)
                result.table.append(row)
                logger.info("w0 search: %s", row)
                if not np.isfinite(result.best_score) or sign * score < sign * result.best_score:
                    result.best_score = float(score)
                    result.best_params = {key: row[key] for key in row
                                          if key not in ("score", "fit_seconds")}
                if progress is not None:
                    progress.update(1)
    finally:
        if progress is not None:
            progress.close()
    return result


def plot_tuning(result: TuningResult, path: str | os.PathLike[str]) -> None:
    """Plot the metric against w0 (log scale), one line per other setting.

    Needs matplotlib (``pip install "fastwmf[plot]"``).

    Parameters
    ----------
    result : TuningResult
    path : str or os.PathLike
        Where to write the image (format from the extension, e.g. ``.png``).
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plot_tuning needs matplotlib: pip install 'fastwmf[plot]'") from exc
    if not isinstance(result, TuningResult) or not result.table:
        raise ValueError("result must be a non-empty TuningResult")
    groups: dict[tuple[tuple[str, Any], ...], list[tuple[float, float]]] = {}
    for row in result.table:
        key = tuple((k, v) for k, v in row.items() if k not in ("w0", "score", "fit_seconds"))
        groups.setdefault(key, []).append((row["w0"], row["score"]))
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, points in groups.items():
        points.sort()
        label = ", ".join(f"{k}={v:g}" for k, v in key) or "WALS"
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    ax.set_xscale("symlog", linthresh=min(p for p in [r["w0"] for r in result.table] if p > 0)
                  if any(r["w0"] > 0 for r in result.table) else 1e-3)
    ax.set_xlabel("w0 (unobserved weight)")
    ax.set_ylabel(result.metric)
    ax.axvline(result.best_params.get("w0", np.nan), color="grey", linestyle=":")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
