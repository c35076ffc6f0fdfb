"""The w0 grid search of :class:`fastwmf.WALS` (see :mod:`fastwmf.model_selection`)."""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._validation import check_bool, check_float, check_int, check_interactions
from ..metrics import LOWER_IS_BETTER, evaluate, parse_metric
from ..models.wals import WALS

if TYPE_CHECKING:
    import os
    from typing import Any

    from numpy.typing import ArrayLike

    from .._typing import InteractionsLike

logger = logging.getLogger("fastwmf.model_selection")

#: Default w0 grid: log-spaced, since w0's effect is multiplicative.
DEFAULT_W0 = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


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
