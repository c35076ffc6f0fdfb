"""Metrics of fitted models: ranking metrics, RMSE and MAE.

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
    check_int, check_interactions, check_num_threads)
from .kernels.metrics import RANKING_COLUMNS, pointwise_errors, ranking_metrics

if TYPE_CHECKING:
    from typing import Iterable


    from ._typing import FittedFactors, InteractionsLike


__all__ = [
    "rmse", "mae", "recall_at_k", "evaluate", "RANKING_METRICS", "METRICS", "parse_metric",
    "LOWER_IS_BETTER",
]

#: Metrics reported at each cut-off ``k`` (keys ``"name@k"``).
RANKING_METRICS = RANKING_COLUMNS + ("coverage",)
#: Every metric name :func:`evaluate` accepts, in the order it reports them.
METRICS = RANKING_METRICS + ("auc", "rmse", "mae")



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


def rmse(model: FittedFactors, test: InteractionsLike) -> float:
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


def mae(model: FittedFactors, test: InteractionsLike) -> float:
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


def recall_at_k(model: FittedFactors, train: InteractionsLike | None, test: InteractionsLike,
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
    train_keys = train.entry_rows() * n_items + train.indices
    test_keys = test.entry_rows() * n_items + test.indices
    pos = np.searchsorted(train_keys, test_keys)  # both sorted: row-major, columns sorted
    found = pos < len(train_keys)
    found[found] = train_keys[pos[found]] == test_keys[found]
    kept = np.concatenate(([0], np.cumsum(~found, dtype=np.int64)))
    return np.diff(kept[test.indptr])


def evaluate(model: FittedFactors, train: InteractionsLike | None, test: InteractionsLike,
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
                ranking_metrics(batch, U, V, (train_data.indptr, train_data.indices),
                                (test.indptr, test.indices), kernel_ks, want_auc,
                                (out, out_relevant, out_auc, covered))
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
