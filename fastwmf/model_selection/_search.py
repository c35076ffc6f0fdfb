"""A budgeted hyper-parameter search for :class:`fastwmf.WALS` (see :func:`search`)."""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._validation import check_bool, check_choice, check_int, check_interactions
from ..metrics import LOWER_IS_BETTER, parse_metric
from ..models.wals import WALS
from ..weights import activity_weights, popularity_weights
from ._splits import split_per_user

if TYPE_CHECKING:
    import os
    from typing import Any

    from .._typing import InteractionsLike

logger = logging.getLogger("fastwmf.model_selection")

#: What :func:`search` explores unless told otherwise. A ``(low, high)`` pair
#: is sampled log-uniformly for the parameters of :data:`LOG_SCALE`, uniformly
#: otherwise; a list is a choice. ``user_exponent`` and ``item_exponent`` are
#: the exponents of :func:`fastwmf.activity_weights` and
#: :func:`fastwmf.popularity_weights` (0: uniform unobserved weights).
DEFAULT_SPACE = {
    "w0": (1e-4, 3.0),
    "regularization": (1e-3, 0.3),
    "nu": 1.0,
    "user_exponent": (0.0, 1.0),
    "item_exponent": (0.0, 1.0),
    "factors": [32, 64, 128, 256],
}

#: The first trial, where the space allows it: frequency-scaled regularization
#: (``nu = 1``, Rendle et al. 2022) at 2% of each row's total weight, and
#: ``w0`` such that an average user's unobserved entries weigh
#: :data:`UNOBSERVED_MASS` times its observed ones (``w0 = mass * density``),
#: so the start does not depend on the data's scale.
START = {"nu": 1.0, "regularization": 0.02, "user_exponent": 0.5, "item_exponent": 0.0,
         "factors": 64}

#: Unobserved over observed weight of an average user at the first trial.
UNOBSERVED_MASS = 5.0

#: Parameters searched on a log scale (their effect is multiplicative).
LOG_SCALE = ("w0", "regularization", "alpha", "eps")

#: Parameters that are not WALS arguments but weights passed to ``fit``.
WEIGHT_EXPONENTS = ("user_exponent", "item_exponent")

#: Share of the budget spent on space-filling samples before refining.
EXPLORE_SHARE = 0.3

#: Fewest space-filling trials before refining, budget permitting.
MIN_EXPLORE = 8

ENGINES = ("auto", "random", "optuna")

#: Fewest iterations of the refit on all of ``X`` (WALS's default).
REFIT_MIN_ITERATIONS = 15


@dataclass
class SearchResult:
    """What :func:`search` found.

    Attributes
    ----------
    table : list of dict
        One row per trial in search order: the sampled parameters, ``score``
        (the best validation value of the fit), ``iterations`` (the iteration
        that reached it, counting those behind a warm start's factors),
        ``seconds`` and ``phase`` (``"explore"``,
        ``"refine"`` or ``"optuna"``).
    best_params : dict
        The best trial's parameters, ``iterations`` included (the count a
        refit uses).
    best_score : float
    metric : str
    seconds : float
        Wall time of the search (the refit excluded).
    model : WALS or None
        With ``refit``: :meth:`refit` of all of ``X``.
    params : dict
        The WALS parameters held fixed.
    seed : int
    """

    table: list[dict[str, Any]] = field(default_factory=list)
    best_params: dict[str, Any] = field(default_factory=dict)
    best_score: float = float("nan")
    metric: str = ""
    seconds: float = 0.0
    model: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def refit(self, X: InteractionsLike) -> WALS:
        """WALS with the best setting (and the fixed ``params``) fitted on ``X``,
        for the best trial's iterations but at least :data:`REFIT_MIN_ITERATIONS`
        (``X`` usually holds more data than the trials saw)."""
        if not self.best_params:
            raise ValueError("the search has no best setting to refit")
        iterations = max(self.best_params["iterations"], REFIT_MIN_ITERATIONS)
        return _fit(X, dict(self.params, **self.best_params), self.seed, iterations)

    def to_markdown(self, top: int | None = 10) -> str:
        """The ``top`` trials (all with None) as a GitHub markdown table, best first."""
        if not self.table:
            return ""
        lower = parse_metric(self.metric)[0] in LOWER_IS_BETTER
        rows = sorted(self.table, key=lambda r: r["score"] if lower else -r["score"])
        rows = rows[:top] if top is not None else rows
        keys = [k for k in self.table[0] if k not in ("score", "iterations", "seconds", "phase")]
        lines = ["| " + " | ".join(keys + [self.metric, "iterations", "fit s", "phase"]) + " |",
                 "|" + "---|" * (len(keys) + 4)]
        for row in rows:
            cells = [_cell(row[k]) for k in keys]
            cells += [f"{row['score']:.4f}", str(row["iterations"]), f"{row['seconds']:.2f}",
                      row["phase"]]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike[str]) -> None:
        """The w0 / regularization landscape: every trial at its (w0,
        regularization), coloured by score, the best circled. Needs matplotlib."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError("plot needs matplotlib: pip install 'fastwmf[plot]'") from exc
        rows = [r for r in self.table if "w0" in r and "regularization" in r]
        if not rows:
            raise ValueError("the search varied neither w0 nor regularization")
        fig, ax = plt.subplots(figsize=(6, 4.5))
        points = ax.scatter([r["w0"] for r in rows], [r["regularization"] for r in rows],
                            c=[r["score"] for r in rows], cmap="viridis", s=24)
        best = self.best_params
        ax.scatter([best.get("w0")], [best.get("regularization")], s=140, facecolors="none",
                   edgecolors="red", linewidths=1.5, label="best")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("w0 (unobserved weight)")
        ax.set_ylabel("regularization")
        fig.colorbar(points, label=f"validation {self.metric}")
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def _cell(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def parse_budget(budget: Any) -> float:
    """Seconds from a number or a string such as ``"90s"``, ``"5m"`` or ``"1h"``."""
    if isinstance(budget, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([smh]?)\s*", budget)
        if not match:
            raise ValueError(f"budget must be seconds or a string like '90s', '5m', '1h', "
                             f"got {budget!r}")
        return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) \
            or not math.isfinite(budget) or budget <= 0:
        raise ValueError(f"budget must be a positive number of seconds, got {budget!r}")
    return float(budget)


class _Space:
    """Sampling, perturbing and checking the points of a search space."""

    def __init__(self, space):
        if not isinstance(space, dict) or not space:
            raise ValueError("space must be a non-empty dict of parameter -> (low, high), "
                             "list of choices, or fixed value")
        allowed = set(WALS._param_names()) | set(WEIGHT_EXPONENTS)
        self.ranges, self.choices, self.fixed = {}, {}, {}
        for name, spec in space.items():
            if name not in allowed:
                raise ValueError(f"space: {name!r} is not a WALS parameter or one of "
                                 f"{list(WEIGHT_EXPONENTS)}")
            if name in ("iterations", "patience", "validation_metric", "warm_start",
                        "callback", "show_progress"):
                raise ValueError(f"space: {name!r} is set by the search itself")
            if isinstance(spec, tuple):
                if len(spec) != 2 or not all(isinstance(v, (int, float)) for v in spec) \
                        or not spec[0] < spec[1]:
                    raise ValueError(f"space: {name} must be (low, high) with low < high, "
                                     f"got {spec!r}")
                if name in LOG_SCALE and spec[0] <= 0:
                    raise ValueError(f"space: {name} is searched on a log scale; its low "
                                     f"end must be > 0, got {spec[0]!r}")
                self.ranges[name] = (float(spec[0]), float(spec[1]))
            elif isinstance(spec, list):
                if not spec:
                    raise ValueError(f"space: {name} lists no choices")
                self.choices[name] = list(spec)
            else:
                self.fixed[name] = spec

    def fit_to_shape(self, shape):
        """Drop ``factors`` choices above ``min(shape)`` (keeping ``min(shape)``
        when none is left)."""
        options = self.choices.get("factors")
        if options is not None and all(isinstance(o, int) for o in options):
            kept = [o for o in options if o <= min(shape)]
            self.choices["factors"] = kept or [min(shape)]

    def _unit(self, name, value):
        low, high = self.ranges[name]
        if name in LOG_SCALE:
            return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
        return (value - low) / (high - low)

    def _value(self, name, unit):
        low, high = self.ranges[name]
        unit = min(max(unit, 0.0), 1.0)
        if name in LOG_SCALE:
            return float(math.exp(math.log(low) + unit * (math.log(high) - math.log(low))))
        return float(low + unit * (high - low))

    def sample(self, units, rng):
        """A point from unit coordinates (one per range) and random choices."""
        point = dict(self.fixed)
        for name, unit in zip(self.ranges, units):
            point[name] = self._value(name, unit)
        for name, options in self.choices.items():
            point[name] = options[int(rng.integers(len(options)))]
        return point

    def start(self, density):
        """The :data:`START` point (w0 from ``density``), moved into the space."""
        wanted = dict(START, w0=UNOBSERVED_MASS * density)
        point = dict(self.fixed)
        for name, (low, high) in self.ranges.items():
            value = wanted.get(name, math.sqrt(low * high) if name in LOG_SCALE
                               else (low + high) / 2)
            point[name] = float(min(max(value, low), high))
        for name, options in self.choices.items():
            value = wanted.get(name)
            numeric = all(isinstance(o, (int, float)) for o in options)
            if value is not None and numeric:
                point[name] = min(options, key=lambda o: abs(o - value))
            else:
                point[name] = options[0]
        return point

    def perturb(self, point, scale, rng):
        """A neighbour of ``point``: ranges moved by ``N(0, scale)`` in unit
        coordinates, each choice changed with probability 0.2."""
        out = dict(point)
        for name in self.ranges:
            out[name] = self._value(name, self._unit(name, point[name])
                                    + scale * rng.standard_normal())
        for name, options in self.choices.items():
            if len(options) > 1 and rng.random() < 0.2:
                out[name] = options[int(rng.integers(len(options)))]
        return out


def search(X: InteractionsLike, *, budget: float | str = 60.0,
           space: dict[str, Any] | None = None, metric: str = "ndcg@10",
           validation: InteractionsLike | None = None, validation_fraction: float = 0.2,
           params: dict[str, Any] | None = None, max_iterations: int = 30, patience: int = 3,
           max_trials: int | None = None, engine: str = "auto", refit: bool = True,
           seed: int = 0, show_progress: bool = False) -> SearchResult:
    """Search :class:`fastwmf.WALS`'s hyper-parameters on a time budget.

    Every trial fits WALS with early stopping on the validation split (at
    most ``max_iterations``, stopping after ``patience`` iterations without
    a better ``metric``), so the number of iterations is searched too. The
    schedule runs from coarse to fine: 30% of the budget samples the space
    evenly (a scrambled Sobol sequence), the rest samples around the best
    trial so far with a shrinking radius (the first trial is the scale-free
    :data:`START` point), each of those fits starting from
    the best trial's factors when their shapes match (neighbouring settings
    have nearby optima, so it converges in fewer iterations). With
    ``engine="optuna"`` (optuna installed) its TPE sampler proposes the
    trials instead.

    Parameters
    ----------
    X : sparse matrix or (rows, cols, values) tuple
        The training interactions. Nothing else is read: the validation
        split is carved from ``X`` unless ``validation`` is given, and no
        test split should be.
    budget : float or str, default 60
        Seconds for the trials (``"90s"``, ``"5m"``, ``"1h"`` also read); a
        trial is started only while the median trial time still fits.
    space : dict, optional
        Parameter -> ``(low, high)`` (log-uniform for w0, regularization,
        alpha and eps; uniform otherwise), a list of choices, or a fixed
        value; default :data:`DEFAULT_SPACE`.
    metric : str, default "ndcg@10"
        A key of :func:`fastwmf.metrics.evaluate` (maximised, or minimised for
        ``"rmse"`` and ``"mae"``), training items left out of the ranking.
    validation : sparse matrix, optional
        Held-out entries of ``X``'s shape. Default: a per-user random
        ``validation_fraction`` of ``X``'s entries.
    validation_fraction : float, default 0.2
    params : dict, optional
        Other WALS parameters held fixed (e.g. ``confidence``, ``dtype``).
    max_iterations, patience : int
        The early stopping of every trial.
    max_trials : int, optional
        Stop after this many trials even with budget left; the schedule then
        depends on the trial count alone (30% of them space-filling), so
        the result is reproducible whatever the machine's speed.
    engine : {"auto", "random", "optuna"}, default "auto"
        ``"auto"`` is the coarse-to-fine schedule above (as ``"random"``).
    refit : bool, default True
        Fit the best setting on all of ``X`` (training and validation part)
        into ``result.model``, for its number of iterations but at least
        :data:`REFIT_MIN_ITERATIONS`.
    seed : int, default 0
        Seeds the split, the sampling and every fit.
    show_progress : bool, default False
        A tqdm bar over the budget's seconds.

    Returns
    -------
    SearchResult
    """
    started = time.perf_counter()
    seconds = parse_budget(budget)
    metric_name, k = parse_metric(metric)
    engine = check_choice(engine, "engine", ENGINES)
    max_iterations = check_int(max_iterations, "max_iterations", low=1)
    if max_trials is not None:
        max_trials = check_int(max_trials, "max_trials", low=1)
    patience = check_int(patience, "patience", low=1)
    refit = check_bool(refit, "refit")
    show_progress = check_bool(show_progress, "show_progress")
    seed = check_int(seed, "seed", low=0)
    params = dict(params or {})
    grid = _Space(DEFAULT_SPACE if space is None else space)
    clash = set(params) & (set(grid.ranges) | set(grid.choices) | set(grid.fixed))
    if clash:
        raise ValueError(f"params and space both set {sorted(clash)}")
    for name in ("iterations", "patience", "validation_metric", "warm_start"):
        if name in params:
            raise ValueError(f"params must not set {name!r}: the search sets it")
    data = check_interactions(X, "X")
    grid.fit_to_shape(data.shape)
    train = data.to_scipy()
    if validation is None:
        train, val = split_per_user(train, test_fraction=validation_fraction, seed=seed)
    else:
        val = check_interactions(validation, "validation", n_cols=data.shape[1]).to_scipy()
        if val.shape != data.shape:
            raise ValueError(f"validation must have X's shape {data.shape}, got {val.shape}")
    lower = metric_name in LOWER_IS_BETTER
    result = SearchResult(metric=metric, params=params, seed=seed)
    trials = _Trials(train, val, params, metric, max_iterations, patience, seed, lower)
    progress = None
    if show_progress:
        from tqdm.auto import tqdm
        progress = tqdm(total=round(seconds), desc="search", unit="s")
    try:
        if engine == "optuna":
            _optuna_search(grid, trials, seconds, seed, max_trials)
        else:
            density = data.nnz / max(data.shape[0] * data.shape[1], 1)
            _coarse_to_fine(grid, trials, seconds, seed, progress, density, max_trials)
    finally:
        if progress is not None:
            progress.close()
    result.table = trials.table
    result.seconds = time.perf_counter() - started
    if not trials.table:
        raise RuntimeError("the budget allowed no trial; raise budget")
    best = trials.best_row
    result.best_score = best["score"]
    result.best_params = {key: value for key, value in best.items()
                          if key not in ("score", "seconds", "phase")}
    if refit:
        result.model = result.refit(data.to_scipy())
    return result


class _Trials:
    """Runs trials, keeps the table, the best row and the best model's factors."""

    def __init__(self, train, val, params, metric, max_iterations, patience, seed, lower):
        self.train, self.val, self.params = train, val, params
        self.metric, self.max_iterations, self.patience = metric, max_iterations, patience
        self.seed, self.lower = seed, lower
        self.table, self.best_row, self.best_model = [], None, None

    def run(self, point, phase, warm=False):
        started = time.perf_counter()
        model = WALS(**dict(self.params, **{k: v for k, v in point.items()
                                            if k not in WEIGHT_EXPONENTS}))
        model.set_params(iterations=self.max_iterations, patience=self.patience,
                         validation_metric=self.metric, random_state=self.seed,
                         calculate_loss=False)
        age = 0  # iterations behind a warm start's factors, for the refit's count
        if warm and self.best_model is not None:
            age = self.best_row["iterations"]
            model.set_params(warm_start=True)
            model.user_factors_ = self.best_model.user_factors_
            model.item_factors_ = self.best_model.item_factors_
        user_weights, item_weights = _exponent_weights(self.train, point)
        try:
            model.fit(self.train, validation=self.val, user_weights=user_weights,
                      item_weights=item_weights)
        except FloatingPointError:
            logger.info("search: %s diverged", point)
            return None
        best = model.best_iteration_
        score = float(model.validation_history_[best - 1])
        row = dict(point, score=score, iterations=int(best) + age,
                   seconds=time.perf_counter() - started, phase=phase)
        self.table.append(row)
        logger.info("search: %s", row)
        if self.best_row is None or (score < self.best_row["score"] if self.lower
                                     else score > self.best_row["score"]):
            self.best_row, self.best_model = row, model
        return score

    def median_seconds(self):
        return float(np.median([r["seconds"] for r in self.table])) if self.table else 0.0


def _coarse_to_fine(grid, trials, seconds, seed, progress, density, max_trials):
    from scipy.stats import qmc

    rng = np.random.default_rng(seed)
    sobol = qmc.Sobol(d=max(len(grid.ranges), 1), scramble=True, seed=seed)
    started = time.perf_counter()

    def more():
        """Budget (and the trial limit) allow another trial."""
        if max_trials is not None and len(trials.table) >= max_trials:
            return False
        return seconds - (time.perf_counter() - started) > trials.median_seconds()

    def exploring():
        if max_trials is not None:
            return len(trials.table) < max(MIN_EXPLORE, int(EXPLORE_SHARE * max_trials))
        return (time.perf_counter() - started < EXPLORE_SHARE * seconds
                or len(trials.table) < MIN_EXPLORE)

    def tick():
        if progress is not None:
            progress.n = min(round(time.perf_counter() - started), progress.total)
            progress.refresh()

    trials.run(grid.start(density), "start")
    tick()
    if not grid.ranges and all(len(options) == 1 for options in grid.choices.values()):
        return  # a space of one point: one trial
    while more() and exploring():
        trials.run(grid.sample(sobol.random(1)[0], rng), "explore")
        tick()
    refine = 0
    while more() and trials.best_row is not None:
        scale = 0.08 / math.sqrt(1.0 + refine / 4.0)
        base = {k: v for k, v in trials.best_row.items()
                if k not in ("score", "iterations", "seconds", "phase")}
        point = grid.perturb(base, scale, rng)
        warm = point.get("factors") == base.get("factors")
        trials.run(point, "refine", warm=warm)
        refine += 1
        tick()


def _optuna_search(grid, trials, seconds, seed, max_trials):
    try:
        import optuna
    except ImportError as exc:
        raise ImportError("engine='optuna' needs optuna: pip install optuna") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        point = dict(grid.fixed)
        for name, (low, high) in grid.ranges.items():
            point[name] = trial.suggest_float(name, low, high, log=name in LOG_SCALE)
        for name, options in grid.choices.items():
            point[name] = options[trial.suggest_categorical(name, list(range(len(options))))]
        score = trials.run(point, "optuna")
        if score is None:
            raise optuna.TrialPruned()
        return score

    study = optuna.create_study(direction="minimize" if trials.lower else "maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, timeout=seconds, n_trials=max_trials)


def _exponent_weights(X, point):
    """``(user_weights, item_weights)`` for ``fit`` from a point's weight
    exponents (None where an exponent is absent or 0: uniform weights)."""
    user_exponent, item_exponent = point.get("user_exponent"), point.get("item_exponent")
    return (activity_weights(X, user_exponent) if user_exponent else None,
            popularity_weights(X, item_exponent) if item_exponent else None)


def _fit(X, params, seed, iterations):
    """WALS with ``params`` (weight exponents applied) fitted on ``X``."""
    point = {k: v for k, v in params.items() if k not in WEIGHT_EXPONENTS + ("iterations",)}
    model = WALS(**point).set_params(iterations=iterations, random_state=seed)
    user_weights, item_weights = _exponent_weights(X, params)
    return model.fit(X, user_weights=user_weights, item_weights=item_weights)
