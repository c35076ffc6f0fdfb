"""Weighted alternating least squares with the Gramian trick."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from .._threading import thread_limits
from .._validation import check_bool, check_choice, check_int, check_interactions
from ..io import register_model
from ..metrics import LOWER_IS_BETTER, evaluate, parse_metric
from ._basis import SharedBasis
from ._fitloop import run_iterations
from ._growth import Growth
from ._problem import Problem, as_dtype
from ._wmf import (
    OBJECTIVE_PARAMS, check_common_params, check_factors_fit, objective_params, resolve_w0,
    solve_new_rows, starting_factors, targets_and_confidence, unobserved_weights,
    validation_input)
from .base import FactorModel

if TYPE_CHECKING:
    from typing import Any, Callable

    from numpy.typing import ArrayLike, DTypeLike

    from .._typing import FitInput, FloatArray, InteractionsLike, RandomState, SparseMatrix

SOLVERS = ("cholesky", "cg", "block")


@register_model
class WALS(Growth, FactorModel):
    """Weighted matrix factorization fitted by alternating least squares.

    Minimises over user factors ``U`` (m x d) and item factors ``V`` (n x d)::

        sum_{(i,j) observed}     c_ij (a_ij - u_i.v_j)^2
      + w0 * sum_{(i,j) unobserved} p_i q_j (u_i.v_j)^2
      + sum_i lam_i |u_i|^2 + sum_j lam_j |v_j|^2

    with ``lam_i = regularization * (n_i + w0 p_i sum(q))**nu``. The
    unobserved term enters each row's normal equations through the Gramian
    ``V^T diag(q) V``, so an iteration costs ``O(nnz d^2 + (m + n) d^3)`` with
    the exact solver and never touches the ``m x n`` unobserved entries.

    Parameters
    ----------
    factors : int, default 64
        Latent dimension ``d``; at most ``min(n_users, n_items)``.
    w0 : float or "auto", default "auto"
        Weight of each unobserved entry (times ``p_i q_j``). ``0`` fits the
        observed entries only (explicit ALS); ``1`` with unit confidences and no
        regularization gives the truncated SVD. Usually the parameter that
        matters most: tune it first, on a log scale. ``"auto"`` makes an
        average user's unobserved entries weigh five times its observed
        ones, ``w0 = 5 nnz / (n_users n_items)``, so the default follows the
        data's density (the value used is in ``fit_params_["w0"]``).
    regularization : float, default 0.02
        L2 strength ``lam``; with ``nu = 1`` a share of each row's total
        weight.
    nu : float, default 1.0
        Frequency-scaling exponent of the regularization (``0``: plain L2,
        ``1``: proportional to each row's total weight, like ALS-WR and the
        iALS recipe of Rendle et al. 2022).
    iterations : int, default 15
        Full sweeps (user half-step, then item half-step).
    solver : {"cg", "cholesky", "block"}, default "cg"
        ``"cg"`` runs ``cg_steps`` warm-started conjugate-gradient steps per
        row (Takacs et al. 2011), with both factor matrices in the eigenbasis
        of the fixed side's Gramian during the fit (rotated back before the
        callback and at the end): there the Gramian is diagonal, and a CG step
        costs ``O(n_i d)`` per row instead of ``O(n_i d + d^2)``.
        ``"cholesky"`` solves each row exactly (in the Gramian's eigenbasis:
        rows with fewer entries than about ``0.6 * factors`` through the
        Woodbury identity, longer ones by a Cholesky factorisation). CG is the
        default: on MovieLens 100K and the synthetic generators it reaches the
        exact solver's objective and held-out NDCG@10 within the exact
        solver's own distance from convergence at the default iterations, in
        less time per iteration (figures: benchmarks/README.md, "Default
        solver").
        ``"block"`` is the subspace solver of iALS++ (Rendle et al. 2021), in
        the Gramian's eigenbasis like CG: one sweep per half-step over blocks
        of ``block_size`` columns, each block solved exactly with the others
        fixed, ``O(nnz d b + (m + n) d b^2)`` per iteration; a row with at
        most ``block_size`` entries is solved exactly instead, through the
        Woodbury identity (:mod:`fastwmf.kernels.block`). ``block_size =
        factors`` is the exact solver. It converges like the exact solver per
        iteration; CG stays the default (the comparison with CG by
        ``factors``: README.md, "Which solver", and benchmarks/README.md,
        "Block solver").
    cg_steps : int, default 3
        Conjugate-gradient steps per row and half-step, for ``solver="cg"``.
    confidence : {None, "linear", "log"}, default None
        Implicit-feedback transform of the stored values ``r`` into targets
        ``a = 1`` (``r > 0``) and confidences ``c = 1 + alpha r`` (``"linear"``)
        or ``c = 1 + alpha log(1 + r/eps)`` (``"log"``). ``None`` fits the
        stored values as targets with confidence 1, or the ``weights`` given to
        :meth:`fit`.
    alpha : float, default 1.0
        Confidence scale for ``confidence``.
    eps : float, default 1.0
        Count scale of the ``"log"`` transform.
    dtype : {"float32", "float64"}, default "float32"
        Type of the factor matrices; per-row systems are always solved in
        float64.
    random_state : None, int or numpy.random.Generator
        Seeds the initial item factors, ``N(0, 0.01 / factors)`` each; the
        user factors start at 0 (the first half-step solves them from the
        item factors, so they are only its starting point). With an int,
        fits are bit-for-bit reproducible for any ``num_threads``.
    num_threads : int, default 0
        Numba threads during the fit (``0``: all). BLAS is limited to one
        thread meanwhile; the previous settings are restored afterwards.
    show_progress : bool, default False
        Show a tqdm progress bar.
    callback : callable, optional
        Called after each iteration as ``callback(iteration, loss, U, V)`` with
        the 1-based iteration, the objective (``None`` when
        ``calculate_loss=False``) and the factor arrays (read only: the
        working arrays, or on a fit of 10^6 entries or more, whose rows are
        kept by activity, copies in the input's order). A true return value
        stops the fit after that iteration.
    calculate_loss : bool, default True
        Record the objective after each iteration in ``loss_history_``. It is
        summed inside the half-steps as they store each row, so it costs one
        extra ``n_items x d`` Gramian per fit and ``O(nnz)`` per iteration.
    warm_start : bool, default False
        Start the next :meth:`fit` from the current factors when their shape
        and dtype match the new problem (e.g. while tuning ``w0``); otherwise
        from random factors.
    patience : int or None, default None
        With a ``validation`` matrix in :meth:`fit`: stop after this many
        iterations without a better ``validation_metric`` and keep the factors
        of the best iteration.
    validation_metric : str, default "ndcg@10"
        A key of :func:`fastwmf.metrics.evaluate` (``"ndcg@10"``,
        ``"recall@20"``, ``"auc"``, ``"rmse"``, ...) computed on the
        ``validation`` matrix after each iteration, the training entries left
        out of the ranking. Each evaluation scores every validation user
        against every item (``O(users x items x d)``).
    block_size : int, default 64
        Columns per block of ``solver="block"`` (at most ``factors``; the
        last block holds the remainder).
    keep_interactions : bool, default True
        Remember the pattern of the training interactions (4 bytes per stored
        entry, saved with the model), so that :meth:`recommend` leaves seen
        items out without an ``exclude`` matrix.

    Attributes
    ----------
    fit_params_ : dict
        The objective's parameters at fit time (``w0``, ``regularization``,
        ``nu``, ``confidence``, ``alpha``, ``eps``); fold-in uses these, so
        ``set_params`` affects only the next fit.
    user_factors_ : ndarray, shape (n_users, factors)
    item_factors_ : ndarray, shape (n_items, factors)
    loss_history_ : list of float
        Objective after each iteration (empty when not calculated).
    validation_history_ : list of float
        ``validation_metric`` after each iteration (empty without validation).
    best_iteration_ : int
        The iteration whose factors the model holds: the best one with
        ``patience`` and validation, else the last.
    n_iter_ : int
        Iterations run.
    item_weights_ : ndarray of float64, shape (n_items,)
        Per-item unobserved weights ``q`` used in the fit (kept for fold-in).
    fit_time_ : float
        Seconds spent in :meth:`fit`.

    Notes
    -----
    A fit either completes or leaves the model as it was: the fitted
    attributes are replaced only at the end, so an exception or
    ``KeyboardInterrupt`` raised mid-fit (from the callback, say) leaves a
    previously fitted model intact.

    Stored zeros in the input are observed entries with value 0; call
    ``X.eliminate_zeros()`` first to treat them as unobserved. (A BSR matrix
    stores whole blocks, so its padding zeros count as observed; DIA drops
    zeros.) A ``(rows, cols, values)`` triple has the shape ``(max row + 1,
    max col + 1)``; pass a scipy matrix to fix a larger shape.

    Without regularization a row with fewer independent observations than
    ``factors`` has a singular system; the solvers then return a finite
    solution of the normal equations (not the minimum-norm one), so factor
    norms can drift: keep ``regularization > 0`` in practice.
    """

    _fitted_arrays = ("user_factors_", "item_factors_", "item_weights_")
    _fit_param_names = OBJECTIVE_PARAMS
    _fitted_values = ("loss_history_", "n_iter_", "fit_time_", "fit_params_",
                      "validation_history_", "best_iteration_")

    def __init__(self, factors: int = 64, w0: float | str = "auto",
                 regularization: float = 0.02, nu: float = 1.0, iterations: int = 15,
                 solver: str = "cg",
                 cg_steps: int = 3, confidence: str | None = None, alpha: float = 1.0,
                 eps: float = 1.0, dtype: DTypeLike = "float32",
                 random_state: RandomState = None, num_threads: int = 0,
                 show_progress: bool = False,
                 callback: Callable[[int, float | None, FloatArray, FloatArray], object]
                 | None = None,
                 calculate_loss: bool = True, warm_start: bool = False,
                 patience: int | None = None, validation_metric: str = "ndcg@10",
                 keep_interactions: bool = True, block_size: int = 64) -> None:
        self.factors = factors
        self.w0 = w0
        self.regularization = regularization
        self.nu = nu
        self.iterations = iterations
        self.solver = solver
        self.cg_steps = cg_steps
        self.confidence = confidence
        self.alpha = alpha
        self.eps = eps
        self.dtype = dtype
        self.random_state = random_state
        self.num_threads = num_threads
        self.show_progress = show_progress
        self.callback = callback
        self.calculate_loss = calculate_loss
        self.warm_start = warm_start
        self.patience = patience
        self.validation_metric = validation_metric
        self.keep_interactions = keep_interactions
        self.block_size = block_size

    # ------------------------------------------------------------ checks
    def _checked_params(self):
        """Validate every constructor parameter; return them resolved."""
        params = check_common_params(self, allow_auto_w0=True)
        params["iterations"] = check_int(self.iterations, "iterations", low=1)
        params["solver"] = check_choice(self.solver, "solver", SOLVERS)
        params["cg_steps"] = check_int(self.cg_steps, "cg_steps", low=1)
        params["block_size"] = check_int(self.block_size, "block_size", low=1)
        if params["solver"] == "block" and params["block_size"] > params["factors"]:
            raise ValueError(f"block_size must be <= factors ({params['factors']}), "
                             f"got {params['block_size']}")
        params["warm_start"] = check_bool(self.warm_start, "warm_start")
        params["patience"] = (None if self.patience is None
                              else check_int(self.patience, "patience", low=1))
        try:
            name, k = parse_metric(self.validation_metric)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"validation_metric: {exc}") from None
        params["validation_metric"] = (self.validation_metric, name, k)
        return params

    def _problem(self, X, weights, user_weights, item_weights, params, renumber=None,
                 shape=None):
        """The kernel-ready :class:`Problem` for ``X`` (of ``shape`` when given);
        resolves ``params["w0"]``."""
        data = check_interactions(X, "X", weights=weights)
        if shape is not None and data.shape != shape:
            raise ValueError(f"X must have shape {shape}, got {data.shape}")
        params["w0"] = resolve_w0(params["w0"], data.nnz, data.shape)
        check_factors_fit(params["factors"], data.shape)
        targets, confidence = targets_and_confidence(data, params, params["dtype"],
                                                     unit_view=True)
        targets = as_dtype(targets, params["dtype"])
        confidence = as_dtype(confidence, params["dtype"])
        shape, indptr, indices = data.shape, data.indptr, data.indices
        # the float64 values (and any float64 copies made from them) are freed
        # before the layout is built
        del data
        p, q = unobserved_weights(user_weights, item_weights, shape)
        d = params["factors"]
        row_cost = d / 3.0 if params["solver"] == "cholesky" else float(d)
        with thread_limits(params["num_threads"]):
            return Problem.build(shape, indptr, indices, targets, confidence, p, q,
                                 params["w0"], params["regularization"], params["nu"],
                                 params["dtype"], row_cost, renumber=renumber)

    def _prepare(self, X, weights=None, user_weights=None, item_weights=None):
        """Validated parameters and the kernel-ready :class:`Problem` for ``X``."""
        params = self._checked_params()
        return params, self._problem(X, weights, user_weights, item_weights, params)

    # --------------------------------------------------------------- fit
    def fit(self, X: FitInput, y: Any = None, *,
            weights: SparseMatrix | ArrayLike | None = None,
            user_weights: ArrayLike | None = None, item_weights: ArrayLike | None = None,
            columns: dict[str, Any] | None = None,
            validation: FitInput | None = None) -> WALS:
        """Fit the factors to a users x items feedback matrix.

        Parameters
        ----------
        X : sparse matrix or (rows, cols, values) tuple
            Feedback, users as rows. Any scipy.sparse format; duplicates are
            summed.
        y : ignored
            Present for scikit-learn compatibility (pipelines pass it).
        weights : sparse matrix or array-like, optional
            Per-entry confidences ``c_ij >= 0``: a sparse matrix with the stored
            entries of ``X`` or one value per stored entry. Not combinable with
            ``confidence``.
        user_weights, item_weights : array-like, optional
            Per-user ``p_i`` and per-item ``q_j`` multipliers of ``w0`` for the
            unobserved entries (default 1); see
            :func:`fastwmf.weights.popularity_weights`.
        columns : dict, optional
            When ``X`` is a DataFrame: the column names of the roles
            ``"user"``, ``"item"`` (default ``"user"``, ``"item"``),
            ``"value"`` (default: 1 per row) and ``"weight"``. Labels of any
            type are numbered in ascending order and kept in ``user_ids_`` /
            ``item_ids_``; the model then takes and returns labels.
        validation : sparse matrix, (rows, cols, values) tuple or DataFrame, optional
            Held-out entries (at most ``X``'s rows, its columns; a DataFrame
            when ``X`` is one, read with ``columns``): ``validation_metric``
            after each iteration goes to ``validation_history_``; with
            ``patience``, it stops the fit early and keeps the best iteration.

        Returns
        -------
        self
        """
        started = time.perf_counter()
        X, weights, user_labels, item_labels = self._unpack_fit_input(X, weights, columns)
        params, problem = self._prepare(X, weights, user_weights, item_weights)
        val = validation_input(validation, user_labels, item_labels, columns, problem.shape)
        if val is None and params["patience"] is not None:
            raise ValueError("patience needs a validation matrix in fit")
        m, n = problem.shape
        d = params["factors"]
        dtype = params["dtype"]
        rng = params["rng"]
        if (params["warm_start"] and self.is_fitted
                and self.user_factors_.shape == (m, d) and self.item_factors_.shape == (n, d)
                and self.user_factors_.dtype == dtype):
            U, V = self.user_factors_.copy(), self.item_factors_.copy()
        else:
            U, V = starting_factors(rng, m, n, d, dtype)
        problem.to_layout(U, V)
        scorer = None if val is None else _ValidationScore(X, val, params)
        sweep = _ALSIteration(problem, U, V, params, scorer)
        log = run_iterations(
            sweep, iterations=params["iterations"], num_threads=params["num_threads"],
            label="WALS", show_progress=params["show_progress"], callback=params["callback"],
            remedy="increase regularization or use dtype='float64'",
            validate=scorer is not None, patience=params["patience"],
            maximize=scorer is not None and scorer.maximize)
        seen = problem.take_user_pattern() if params["keep_interactions"] else (None, None)
        self.user_factors_ = U
        self.item_factors_ = V
        self.item_weights_ = problem.item_weights
        self.fit_params_ = objective_params(params)
        self.user_ids_, self.item_ids_ = user_labels, item_labels
        self.seen_indptr_, self.seen_indices_ = seen
        self.loss_history_ = log.loss_history
        self.validation_history_ = log.validation_history
        self.best_iteration_ = log.n_iter if log.best_iteration is None else log.best_iteration
        self.n_iter_ = log.n_iter
        self.fit_time_ = time.perf_counter() - started
        return self

    def loss(self, X: InteractionsLike, weights: SparseMatrix | ArrayLike | None = None,
             user_weights: ArrayLike | None = None,
             item_weights: ArrayLike | None = None) -> float:
        """The objective of the fitted factors on ``X`` (same shape as in fit).

        Parameters are those of :meth:`fit`.

        Returns
        -------
        float
        """
        self._check_fitted()
        params = self._checked_params()
        params["factors"] = self.user_factors_.shape[1]
        params["dtype"] = self.user_factors_.dtype
        problem = self._problem(X, weights, user_weights, item_weights, params,
                                renumber=False, shape=(self.n_users, self.n_items))
        with thread_limits(params["num_threads"]):
            return problem.loss(self.user_factors_, self.item_factors_)

    # ----------------------------------------------------------- fold-in
    def _solve_side(self, data, which, own_weights):
        """Exact half-step rows of ``which`` side for the rows of ``data``."""
        if which == "user":
            return self._fold_in(data)
        fitted = self.fit_params_
        U = self.user_factors_
        targets, confidence = targets_and_confidence(data, fitted, U.dtype)
        return solve_new_rows(data, targets, confidence, U, np.ones(U.shape[0]), fitted["w0"],
                              fitted["regularization"], fitted["nu"], self._threads(),
                              row_weights=own_weights)

    def _fold_in(self, data):
        """Exact user half-step for new rows with the item factors fixed."""
        fitted = self.fit_params_
        targets, confidence = targets_and_confidence(data, fitted, self.item_factors_.dtype)
        return solve_new_rows(data, targets, confidence, self.item_factors_,
                              self.item_weights_, fitted["w0"], fitted["regularization"],
                              fitted["nu"], self._threads())


class _ALSIteration:
    """One ALS sweep (user, then item half-step) for :func:`run_iterations`.

    CG keeps both factor matrices in the eigenbasis of the fixed side's
    Gramian between sweeps (:class:`SharedBasis`) and a large problem keeps
    their rows by activity (:class:`Problem`); :meth:`callback_factors` and
    :meth:`finish` bring them back into the caller's basis and order.
    """

    def __init__(self, problem, U, V, params, scorer=None):
        self.problem, self.U, self.V, self.params = problem, U, V, params
        self.scorer = scorer
        self.basis = SharedBasis()
        self.gramian = None  # of V in its current basis, when known

    def step(self, iteration):
        params = self.params
        try:
            loss, self.gramian = self.problem.iterate(
                self.U, self.V, params["solver"], params["cg_steps"], self.basis,
                params["calculate_loss"], self.gramian, block_size=params["block_size"])
        except FloatingPointError:
            raise FloatingPointError(
                f"the factors became non-finite at iteration {iteration}; "
                f"increase regularization or use dtype='float64'") from None
        return loss

    def callback_factors(self):
        if self.basis.rotated:
            self.basis.restore(self.U, self.V)
            self.gramian = None  # computed in the basis just left
        if not self.problem.renumbered:
            return self.U, self.V
        U, V = self.U.copy(), self.V.copy()
        self.problem.to_original(U, V)
        return U, V

    def validation_score(self):
        return self.scorer(*self.callback_factors())

    def snapshot(self):
        U, V = self.callback_factors()  # in the caller's basis and order
        return U.copy(), V.copy()

    def restore(self, snapshot):
        self.basis.restore(self.U, self.V)  # the working basis is the original again
        self.U[:], self.V[:] = snapshot
        self.problem.to_layout(self.U, self.V)
        self.gramian = None

    def finish(self):
        self.basis.restore(self.U, self.V)
        self.problem.to_original(self.U, self.V)


class _ValidationScore:
    """``validation_metric`` of factors on the validation entries, the training
    entries left out of the ranking (:func:`fastwmf.metrics.evaluate`)."""

    def __init__(self, X, validation, params):
        self.train = X
        self.test = validation.to_scipy()
        self.metric, name, k = params["validation_metric"]
        self.k = k or 10
        self.names = [name]
        self.maximize = name not in LOWER_IS_BETTER
        self.num_threads = params["num_threads"]

    def __call__(self, U, V):
        factors = _Factors(U, V, self.num_threads)
        return float(evaluate(factors, self.train, self.test, k=self.k,
                              metrics=self.names)[self.metric])


class _Factors:
    """Factor matrices with the attributes :func:`fastwmf.metrics.evaluate` reads."""

    def __init__(self, user_factors, item_factors, num_threads):
        self.user_factors_ = user_factors
        self.item_factors_ = item_factors
        self.num_threads = num_threads
