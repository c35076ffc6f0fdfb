"""Hogwild-style parallel stochastic gradient descent for the WMF model family."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np

from .._alignment import aligned_empty
from .._threading import uniform_chunks
from .._validation import (
    check_bool, check_choice, check_float, check_int, check_interactions)
from ..io import register_model
from ..kernels.gramian import weighted_gramian
from ..kernels.loss import observed_loss_entries, weighted_squared_norm
from ..kernels.sgd import (
    MAX_TILES, MIN_USER_BLOCKS, Entries, EpochSettings, EpochTiles, block_shape, row_scalars,
    scalar_columns, sgd_epoch, tile_entries)
from ._fitloop import run_iterations
from ._growth import Growth
from ._problem import frequency_scaled_regularization
from ._serving import pattern_of
from ._wmf import (
    OBJECTIVE_PARAMS, check_common_params, check_factors_fit, check_finite_factors,
    objective_params, solve_new_rows, targets_and_confidence, unobserved_weights,
    validation_input)
from .base import FactorModel

if TYPE_CHECKING:
    from typing import Any, Callable

    from numpy.typing import ArrayLike, DTypeLike

    from .._typing import FitInput, FloatArray, RandomState, SparseMatrix

SCHEDULES = ("adagrad", "decay")

@register_model
class SGD(Growth, FactorModel):
    """Matrix factorization fitted by lock-free parallel SGD (Hogwild).

    Two modes of one model family:

    - explicit ratings (``w0 = 0``, the default): the biased model
      ``pred = mu + b_i + b_j + u_i.v_j`` fitted to the stored entries, with
      L2 on factors (``regularization``) and biases (``bias_regularization``);
      ``mu`` is the confidence-weighted mean of the targets;
    - WMF (``w0 > 0``): the objective of :class:`fastwmf.WALS`, unbiased,
      with the unobserved term's gradient ``w0 p_i Gv u_i`` taken through the
      Gramian ``Gv = V^T diag(q) V`` refreshed at each epoch (Krichene et al.
      2018). This is exact rather than sampled: no negative sampling noise,
      at ``O(d^2)`` per visit instead of ``O(d)``.

    Regularization follows the WMF objective: row ``i`` carries
    ``lam_i = regularization * (n_i + w0 p_i sum(q))**nu``, spread over its
    ``n_i`` visits per epoch. ``nu = 1`` is the classic per-entry ("Funk")
    regularization of rating-prediction SGD; the default ``nu = 0.5`` sits
    between that and plain L2.

    The defaults were chosen on a validation split carved from MovieLens
    100K's ``u1.base`` (never on its test folds); their test RMSE on the
    official folds u1..u5 is in benchmarks/README.md.

    Each epoch visits every stored entry once. The entries are laid out per
    fit in (user block, item block) tiles, a user block small enough for its
    factor rows to stay in cache while all its tiles are visited; threads take
    whole user blocks, in an order shuffled every epoch, as they become free,
    and update the shared item factors without locks; each tile is walked
    from a random start in a random direction every epoch. ``num_threads=1``
    with an int ``random_state`` is bit-for-bit reproducible.

    Parameters
    ----------
    factors : int, default 100
    epochs : int, default 50
    learning_rate : float, default 0.02
        Base step. With ``schedule="adagrad"`` (default) each row's step is
        ``learning_rate / sqrt(G_i)`` where ``G_i`` (starting at 1) sums the
        mean squared gradients of that row (LIBMF's per-row AdaGrad), which
        adapts to the data's scale without tuning. With ``"decay"`` the step
        is ``learning_rate / (1 + decay * epoch)``.
    schedule : {"adagrad", "decay"}, default "adagrad"
    decay : float, default 0.1
        Decay rate for ``schedule="decay"``.
    regularization : float, default 1.0
        L2 strength ``lam`` of the factors.
    bias_regularization : float, default 0.01
        L2 strength of the biases (same frequency scaling as the factors).
    nu : float, default 0.5
        Frequency-scaling exponent of the regularization.
    w0 : float, default 0.0
        Unobserved weight; ``> 0`` selects the WMF mode.
    biased : bool or None, default None
        Fit biases; ``None`` means ``True`` when ``w0 == 0``. Biases are not
        available with ``w0 > 0``.
    warmup_factors : int, default 8
        The first epoch updates only the first ``warmup_factors`` columns (the
        others keep their initial values but count in the predictions), and
        with AdaGrad those columns and the rest keep AdaGrad sums of their
        own: a rank-``warmup_factors`` start, after which the other columns
        begin with fresh steps (LIBMF's scheme, with 8). It lowers the held-out
        RMSE reached in a given number of epochs for a few percent more time
        per epoch (benchmarks/README.md, "Kernel constants"). 0, or at least
        ``factors``, turns it off.
    init_scale : float, default 0.1
        Initial factors are normal with standard deviation
        ``init_scale / sqrt(factors)``, so initial predictions stay small for
        any ``factors``.
    confidence, alpha, eps : as in :class:`fastwmf.WALS`
    patience : int or None, default None
        With a ``validation`` matrix in :meth:`fit`: stop after this many
        epochs without a better validation RMSE and keep the best epoch's
        factors.
    dtype, random_state, num_threads, show_progress, callback, calculate_loss :
        as in :class:`fastwmf.WALS` (the callback receives the epoch).
    keep_interactions : bool, default True
        Remember the pattern of the training interactions (4 bytes per stored
        entry, saved with the model), so that :meth:`recommend` leaves seen
        items out without an ``exclude`` matrix.

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray
        In biased mode two columns are appended so that ``u.v`` includes the
        biases: users carry ``[u, mu + b_i, 1]``, items ``[v, 1, b_j]``.
    user_bias_, item_bias_ : ndarray of float64 or None
    global_bias_ : float
    loss_history_ : list of float
        Objective after each epoch (biases included).
    validation_history_ : list of float
        Validation RMSE after each epoch (empty without validation data).
    best_epoch_ : int
    n_iter_ : int
        Epochs run.
    item_weights_ : ndarray of float64
    fit_params_ : dict
        The objective's parameters at fit time, used by fold-in.
    fit_time_ : float

    Notes
    -----
    Like :class:`fastwmf.WALS`, a fit either completes or leaves the model as
    it was (attributes are replaced at the end).
    """

    _fitted_arrays = ("user_factors_", "item_factors_", "item_weights_")
    _fit_param_names = OBJECTIVE_PARAMS + ("bias_regularization",)
    _fitted_values = ("loss_history_", "validation_history_", "n_iter_", "best_epoch_",
                      "global_bias_", "biased_", "fit_time_", "fit_params_")

    def __init__(self, factors: int = 100, epochs: int = 50, learning_rate: float = 0.02,
                 schedule: str = "adagrad", decay: float = 0.1,
                 regularization: float = 1.0, bias_regularization: float = 0.01,
                 nu: float = 0.5, w0: float = 0.0, biased: bool | None = None,
                 warmup_factors: int = 8, init_scale: float = 0.1,
                 confidence: str | None = None, alpha: float = 1.0, eps: float = 1.0,
                 patience: int | None = None, dtype: DTypeLike = "float32",
                 random_state: RandomState = None, num_threads: int = 0,
                 show_progress: bool = False,
                 callback: Callable[[int, float | None, FloatArray, FloatArray], object]
                 | None = None,
                 calculate_loss: bool = True, keep_interactions: bool = True) -> None:
        self.factors = factors
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.decay = decay
        self.regularization = regularization
        self.bias_regularization = bias_regularization
        self.nu = nu
        self.w0 = w0
        self.biased = biased
        self.warmup_factors = warmup_factors
        self.init_scale = init_scale
        self.confidence = confidence
        self.alpha = alpha
        self.eps = eps
        self.patience = patience
        self.dtype = dtype
        self.random_state = random_state
        self.num_threads = num_threads
        self.show_progress = show_progress
        self.callback = callback
        self.calculate_loss = calculate_loss
        self.keep_interactions = keep_interactions

    # ------------------------------------------------------------ checks
    def _checked_params(self):
        params = check_common_params(self)
        params["epochs"] = check_int(self.epochs, "epochs", low=1)
        params["learning_rate"] = check_float(self.learning_rate, "learning_rate", low=0.0,
                                              low_inclusive=False)
        params["schedule"] = check_choice(self.schedule, "schedule", SCHEDULES)
        params["decay"] = check_float(self.decay, "decay", low=0.0)
        params["bias_regularization"] = check_float(self.bias_regularization,
                                                    "bias_regularization", low=0.0)
        params["warmup_factors"] = check_int(self.warmup_factors, "warmup_factors", low=0)
        params["init_scale"] = check_float(self.init_scale, "init_scale", low=0.0)
        if self.biased is None:
            params["biased"] = params["w0"] == 0.0
        else:
            params["biased"] = check_bool(self.biased, "biased")
            if params["biased"] and params["w0"] > 0.0:
                raise ValueError("biased=True needs w0 == 0: the WMF mode (w0 > 0) is unbiased")
        params["patience"] = (None if self.patience is None
                              else check_int(self.patience, "patience", low=1))
        return params

    # --------------------------------------------------------------- fit
    def fit(self, X: FitInput, y: Any = None, *,
            weights: SparseMatrix | ArrayLike | None = None,
            validation: FitInput | None = None, user_weights: ArrayLike | None = None,
            item_weights: ArrayLike | None = None,
            columns: dict[str, Any] | None = None) -> SGD:
        """Fit by SGD epochs over the stored entries of ``X``.

        Parameters
        ----------
        X : sparse matrix or (rows, cols, values) tuple
            Feedback, users as rows.
        y : ignored
            Present for scikit-learn compatibility (pipelines pass it).
        weights : sparse matrix or array-like, optional
            Per-entry confidences, as in :meth:`fastwmf.WALS.fit`.
        validation : sparse matrix or (rows, cols, values) tuple, optional
            Held-out ratings (at most ``X``'s shape) scored by RMSE after each
            epoch; with ``patience``, used for early stopping.
        user_weights, item_weights : array-like, optional
            Unobserved-weight multipliers (WMF mode), as in WALS.
        columns : dict, optional
            Column names when ``X`` (and ``validation``) are DataFrames, as in
            :meth:`fastwmf.WALS.fit`.

        Returns
        -------
        self
        """
        started = time.perf_counter()
        X, weights, user_labels, item_labels = self._unpack_fit_input(X, weights, columns)
        params = self._checked_params()
        data = check_interactions(X, "X", weights=weights)
        check_factors_fit(params["factors"], data.shape)
        dtype = params["dtype"]
        targets, confidence = targets_and_confidence(data, params, dtype)
        targets = targets.astype(dtype, copy=False)  # frees the float64 copies early
        confidence = confidence.astype(dtype, copy=False)
        data = dataclasses.replace(data, values=None, weights=None)  # only the structure is used now
        p, q = unobserved_weights(user_weights, item_weights, data.shape)
        val = validation_input(validation, user_labels, item_labels, columns, data.shape)
        if val is None and params["patience"] is not None:
            raise ValueError("patience needs a validation matrix in fit")

        entries = [targets, confidence]
        del targets, confidence  # build frees them once it holds its tiled copies
        state = _State.build(data, entries, p, q, params)
        log = run_iterations(
            _SGDEpoch(state, params, val), iterations=params["epochs"],
            num_threads=params["num_threads"], label="SGD",
            show_progress=params["show_progress"], callback=params["callback"],
            remedy="lower learning_rate or raise regularization", unit="epoch",
            validate=val is not None, patience=params["patience"])
        factors = state.augmented_factors()
        biases = ((state.user_bias.copy(), state.item_bias.copy()) if state.biased
                  else (None, None))
        global_bias, biased = float(state.global_bias), bool(state.biased)
        del state  # its tiled entries go before the kept pattern is copied
        seen = pattern_of(data) if params["keep_interactions"] else (None, None)
        self.user_factors_, self.item_factors_ = factors
        self.user_bias_, self.item_bias_ = biases
        self.global_bias_ = global_bias
        self.biased_ = biased
        self.item_weights_ = q
        self.fit_params_ = objective_params(params, extra=("bias_regularization",))
        self.user_ids_, self.item_ids_ = user_labels, item_labels
        self.seen_indptr_, self.seen_indices_ = seen
        self.loss_history_ = log.loss_history
        self.validation_history_ = log.validation_history
        self.best_epoch_ = log.n_iter if log.best_iteration is None else log.best_iteration
        self.n_iter_ = log.n_iter
        self.fit_time_ = time.perf_counter() - started
        return self

    def _check_loaded(self):
        """Biased models carry ``[u, mu + b, 1]``: at least 3 columns."""
        return self._bias_settings_problem(3)

    # ----------------------------------------------------------- fold-in
    def _fold_in(self, data):
        """Exact least-squares rows for new users, items (and their biases) fixed."""
        return self._solve_side(data, "user", None)

    def _solve_side(self, data, which, own_weights):
        """Exact rows of one side (``"user"`` or ``"item"``) for the rows of
        ``data``, the other side's factors (and biases) fixed.

        This is the exact minimiser of the SGD objective for those rows, which
        the epochs approach; no SGD step is taken.
        """
        params = self.fit_params_
        threads = self._threads()
        V = self.item_factors_ if which == "user" else self.user_factors_
        other_weights = self.item_weights_ if which == "user" else np.ones(V.shape[0])
        targets, confidence = targets_and_confidence(data, params, V.dtype)
        if not self.biased_:
            return solve_new_rows(data, targets, confidence, V, other_weights,
                                  params["w0"], params["regularization"], params["nu"],
                                  threads, row_weights=own_weights)
        d = V.shape[1] - 2
        # users carry [u, mu + b_i, 1], items [v, 1, b_j]: the other side's bias
        # column enters the residual, the own bias is solved for
        if which == "user":
            other_bias = self.global_bias_ + V[:, d + 1].astype(np.float64)
        else:
            other_bias = V[:, d].astype(np.float64)
        residual = targets - other_bias[data.indices]
        # Solve for [u, b'] with feature column t = sqrt(lam / lam_b) and one
        # shared ridge penalty: the bias b = t b' then carries penalty lam_b b^2.
        lam = params["regularization"]
        lam_b = max(params["bias_regularization"], 1e-12 * lam)
        t = np.sqrt(lam / lam_b) if lam > 0 else 1.0
        features = np.empty((V.shape[0], d + 1), dtype=V.dtype)
        features[:, :d] = V[:, :d]
        features[:, d] = t
        solved = solve_new_rows(data, residual, confidence, features, other_weights,
                                0.0, lam, params["nu"], threads, row_weights=own_weights)
        out = np.empty((data.shape[0], d + 2), dtype=V.dtype)
        out[:, :d] = solved[:, :d]
        if which == "user":
            out[:, d] = self.global_bias_ + t * solved[:, d]
            out[:, d + 1] = 1.0
        else:
            out[:, d] = 1.0
            out[:, d + 1] = t * solved[:, d]
        return out

    def _grown(self, which):
        """Keep ``user_bias_`` / ``item_bias_`` in step with the grown factors."""
        if not self.biased_:
            return
        d = self.user_factors_.shape[1] - 2
        if which == "user":
            self.user_bias_ = self.user_factors_[:, d].astype(np.float64) - self.global_bias_
        else:
            self.item_bias_ = self.item_factors_[:, d + 1].astype(np.float64)


class _SGDEpoch:
    """One SGD epoch over a :class:`_State` for :func:`run_iterations`."""

    def __init__(self, state, params, validation):
        self.state, self.params, self.validation = state, params, validation

    def step(self, epoch):
        self.state.epoch(epoch, self.params)
        check_finite_factors(self.state.U, self.state.V, epoch, "epoch")
        return self.state.loss(self.params) if self.params["calculate_loss"] else None

    def callback_factors(self):
        return self.state.U, self.state.V

    def validation_score(self):
        return self.state.rmse(self.validation)

    def snapshot(self):
        return self.state.snapshot()

    def restore(self, snapshot):
        self.state.restore(snapshot)

    def finish(self):
        pass


class _State:
    """Working arrays of one SGD fit (COO entries, factors, accumulators)."""

    @classmethod
    def build(cls, data, entries, p, q, params):
        """The state of a fit; ``entries`` is the list ``[targets, confidence]`` in CSR
        order, emptied here so that those arrays are freed once tiled (peak memory)."""
        targets, confidence = entries
        entries.clear()
        self = cls()
        m, n = data.shape
        d = params["factors"]
        dtype = params["dtype"]
        rng = params["rng"]
        self.rng = rng
        self.shape = (m, n)
        user_counts = np.diff(data.indptr)
        item_counts = np.bincount(data.indices, minlength=n)
        # entries in (user block, item block) tiles, laid out in linear time
        user_rows, self.item_rows = block_shape(d, np.dtype(dtype).itemsize)
        self.user_rows = max(1, min(user_rows, -(-m // MIN_USER_BLOCKS)))
        tiles = -(-m // self.user_rows) * -(-n // self.item_rows)
        if tiles > MAX_TILES:  # grow both blocks alike: a huge grid costs more than misses
            grow = np.sqrt(tiles / MAX_TILES)
            self.user_rows = int(np.ceil(self.user_rows * grow))
            self.item_rows = int(np.ceil(self.item_rows * grow))
        self.n_user_blocks = -(-m // self.user_rows)
        self.n_item_blocks = max(1, -(-n // self.item_rows))
        nnz = len(data.indices)
        self.rows = np.empty(nnz, dtype=np.int32)
        self.cols = np.empty(nnz, dtype=np.int32)
        self.targets = np.empty(nnz, dtype=dtype)
        self.confidence = np.empty(nnz, dtype=dtype)
        self.tile_ptr = tile_entries(data.indptr, data.indices, targets, confidence,
                                     self.user_rows, self.item_rows, self.n_item_blocks,
                                     self.rows, self.cols, self.targets, self.confidence)
        self.p, self.q = p, q
        self.biased = params["biased"]
        self.global_bias = (float(np.average(targets, weights=confidence))
                            if self.biased and confidence.sum() > 0 else 0.0)
        del targets, confidence  # before the factors are allocated
        scale = params["init_scale"] / np.sqrt(d)
        # rows on cache-line boundaries: a visit reads 4 lines per row, not 5 (d = 64)
        self.U = rng.standard_normal(dtype=dtype, out=aligned_empty((m, d), dtype))
        self.U *= scale
        self.V = rng.standard_normal(dtype=dtype, out=aligned_empty((n, d), dtype))
        self.V *= scale
        self.U[user_counts == 0] = 0.0  # never visited: 0 is their optimum
        self.V[item_counts == 0] = 0.0
        w0 = params["w0"]
        self.w0 = w0
        lam_u = frequency_scaled_regularization(params["regularization"], params["nu"],
                                                user_counts, w0, p, q.sum())
        lam_v = frequency_scaled_regularization(params["regularization"], params["nu"],
                                                item_counts, w0, q, p.sum())
        bias_u = frequency_scaled_regularization(params["bias_regularization"], params["nu"],
                                                 user_counts, w0, p, q.sum())
        bias_v = frequency_scaled_regularization(params["bias_regularization"], params["nu"],
                                                 item_counts, w0, q, p.sum())
        self.lam_u, self.lam_v = lam_u, lam_v
        self.bias_lam_u, self.bias_lam_v = bias_u, bias_v
        per_user = 1.0 / np.maximum(user_counts, 1)
        per_item = 1.0 / np.maximum(item_counts, 1)
        self.user_scalars = row_scalars(m, lam_u * per_user, bias_u * per_user,
                                        w0 * p * per_user, p)
        self.item_scalars = row_scalars(n, lam_v * per_item, bias_v * per_item,
                                        w0 * q * per_item, q)
        users, items = scalar_columns(self.user_scalars), scalar_columns(self.item_scalars)
        self.user_bias, self.item_bias = users["bias"], items["bias"]
        self.entry_chunks = uniform_chunks(len(self.rows))
        self.user_chunks = uniform_chunks(m)
        self.item_chunks = uniform_chunks(n)
        return self

    def epoch(self, epoch, params):
        block_order = self.rng.permutation(self.n_user_blocks).astype(np.int64)
        tile_offsets = self.rng.integers(0, self.n_item_blocks, self.n_user_blocks)
        seed = int(self.rng.integers(0, 2**62))
        d = self.U.shape[1]
        if self.w0 > 0.0:
            user_gram = weighted_gramian(self.U, self.p, self.user_chunks)
            item_gram = weighted_gramian(self.V, self.q, self.item_chunks)
        else:
            user_gram = item_gram = np.zeros((d, d))
        adagrad = params["schedule"] == "adagrad"
        rate = params["learning_rate"]
        if not adagrad:
            rate = rate / (1.0 + params["decay"] * (epoch - 1))
        sgd_epoch(EpochTiles(self.tile_ptr, self.n_item_blocks, block_order, tile_offsets, seed),
                  Entries(self.rows, self.cols, self.targets, self.confidence), self.U, self.V,
                  self.user_scalars, self.item_scalars, (user_gram, item_gram),
                  EpochSettings(self.global_bias, self.biased, self.w0, rate, adagrad,
                                params["warmup_factors"], epoch == 1))

    def _residual_targets(self):
        if not self.biased:
            return self.targets
        return (self.targets - self.global_bias - self.user_bias[self.rows]
                - self.item_bias[self.cols])

    def loss(self, params):
        """The full objective, biases included, without visiting unobserved entries."""
        data_part = observed_loss_entries(
            self.rows, self.cols, self._residual_targets(), self.confidence, self.U, self.V,
            self.w0, self.p, self.q, self.entry_chunks)
        unobserved = 0.0
        if self.w0 > 0.0:
            unobserved = self.w0 * float(np.sum(
                weighted_gramian(self.U, self.p, self.user_chunks)
                * weighted_gramian(self.V, self.q, self.item_chunks)))
        penalty = (weighted_squared_norm(self.U, self.lam_u, self.user_chunks)
                   + weighted_squared_norm(self.V, self.lam_v, self.item_chunks))
        if self.biased:
            penalty += float(self.bias_lam_u @ self.user_bias ** 2
                             + self.bias_lam_v @ self.item_bias ** 2)
        return float(data_part + unobserved + penalty)

    def rmse(self, val, batch=262_144):
        """RMSE of the current model on validated held-out entries."""
        rows = np.repeat(np.arange(val.shape[0]), np.diff(val.indptr))
        total = 0.0
        for start in range(0, val.nnz, batch):
            r = rows[start:start + batch]
            c = val.indices[start:start + batch]
            pred = np.einsum("ij,ij->i", self.U[r].astype(np.float64),
                             self.V[c].astype(np.float64))
            if self.biased:
                pred += self.global_bias + self.user_bias[r] + self.item_bias[c]
            total += float(np.sum((val.values[start:start + batch] - pred) ** 2))
        return float(np.sqrt(total / val.nnz))

    def snapshot(self):
        return (self.U.copy(), self.V.copy(), self.user_bias.copy(), self.item_bias.copy())

    def restore(self, snapshot):
        for current, saved in zip((self.U, self.V, self.user_bias, self.item_bias), snapshot):
            current[...] = saved  # in place: the factors keep their alignment

    def augmented_factors(self):
        if not self.biased:
            return self.U, self.V
        m, d = self.U.shape
        n = self.V.shape[0]
        U = np.empty((m, d + 2), dtype=self.U.dtype)
        V = np.empty((n, d + 2), dtype=self.V.dtype)
        U[:, :d], V[:, :d] = self.U, self.V
        U[:, d] = self.global_bias + self.user_bias
        U[:, d + 1] = 1.0
        V[:, d] = 1.0
        V[:, d + 1] = self.item_bias
        return U, V
