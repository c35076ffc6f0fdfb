"""Bayesian matrix factorization of explicit ratings, fitted by Gibbs sampling."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg

from .._threading import row_chunks, thread_limits
from .._validation import (
    check_bool, check_callable, check_dtype, check_float, check_int, check_interactions,
    check_num_threads, check_random_state)
from ..io import register_model
from ..kernels.gibbs import add_predictions, sample_rows
from ._fitloop import run_iterations
from ._wmf import check_factors_fit, validation_input
from .base import FactorModel

if TYPE_CHECKING:
    from typing import Any, Callable

    from numpy.typing import DTypeLike

    from .._typing import FitInput, FloatArray, RandomState

#: Standard deviation of the starting factors.
INIT_SCALE = 0.1

#: Normal-Wishart hyperprior of the row vectors: mean 0, this many prior
#: observations of the mean (``beta_0``), scale matrix the identity and as
#: many degrees of freedom as dimensions (Salakhutdinov and Mnih 2008).
PRIOR_MEAN_WEIGHT = 2.0

#: Gamma prior (shape, rate) of the noise precision when it is sampled.
NOISE_PRIOR = (1.0, 1.0)

#: Draws gathered before the running posterior mean is truncated again.
MERGE_EVERY = 4

#: Eigenvalues of a Gramian below this fraction of its largest are dropped
#: when the posterior mean is merged.
GRAM_TOLERANCE = 1e-13


def sample_wishart(scale_root, df, rng):
    """A draw from the Wishart distribution (Bartlett decomposition).

    Parameters
    ----------
    scale_root : ndarray, shape (D, D)
        A square root ``L`` of the scale matrix, ``W = L L^T`` (its Cholesky
        factor, or any other).
    df : float
        Degrees of freedom, greater than ``D - 1``.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (D, D)
        ``L A A^T L^T`` with ``A`` lower triangular, ``A_kk^2 ~ chi2(df - k)``
        and standard normal entries below the diagonal.
    """
    D = scale_root.shape[0]
    A = np.zeros((D, D))
    A[np.diag_indices(D)] = np.sqrt(rng.chisquare(df - np.arange(D)))
    A[np.tril_indices(D, -1)] = rng.standard_normal(D * (D - 1) // 2)
    LA = scale_root @ A
    return LA @ LA.T


def sample_row_prior(X, rng, mean_weight=PRIOR_MEAN_WEIGHT):
    """Draw the mean and precision of the rows of ``X`` from their
    Normal-Wishart posterior (prior: mean 0, ``mean_weight`` prior
    observations, scale the identity, ``D`` degrees of freedom).

    Parameters
    ----------
    X : ndarray of float64, shape (N, D)
    rng : numpy.random.Generator
    mean_weight : float

    Returns
    -------
    mean : ndarray, shape (D,)
    precision : ndarray, shape (D, D)
    """
    N, D = X.shape
    average = X.mean(axis=0)
    centred = X - average
    inverse_scale = (np.eye(D) + centred.T @ centred
                     + (mean_weight * N / (mean_weight + N)) * np.outer(average, average))
    # the posterior scale is inverse_scale^-1 = C^-T C^-1 for inverse_scale = C C^T:
    # C^-T is a square root of it, which is all Bartlett's construction needs
    lower = np.linalg.cholesky(inverse_scale)
    root = scipy.linalg.solve_triangular(lower, np.eye(D), lower=True).T
    precision = sample_wishart(root, D + N, rng)
    weight = mean_weight + N
    mean = (N / weight) * average
    # the mean's covariance is (weight * precision)^-1 = C^-T C^-1 for weight *
    # precision = C C^T: C^-T z has it
    lower = np.linalg.cholesky(weight * precision)
    mean = mean + scipy.linalg.solve_triangular(lower.T, rng.standard_normal(D), lower=False)
    return mean, precision


def _orthonormalising(F):
    """``(T, A)`` with ``F T`` orthonormal columns spanning ``F``'s range and
    ``F = (F T) A^T``, from the eigendecomposition of ``F^T F``; directions
    whose squared length is below ``1e-13`` of the largest are dropped (at
    most a ``3e-7`` relative part of ``F``)."""
    values, vectors = np.linalg.eigh(F.T @ F)
    if not values[-1] > 0.0:  # F is zero: one zero direction stands for it
        return np.zeros((F.shape[1], 1)), np.zeros((F.shape[1], 1))
    kept = values > GRAM_TOLERANCE * values[-1]
    values, vectors = values[kept], vectors[:, kept]
    root = np.sqrt(values)
    return vectors / root, vectors * root


class PosteriorMean:
    """The running mean of rank-``D`` matrices ``X_s Y_s^T``, kept as a rank-``rank`` product.

    Draws are gathered :data:`MERGE_EVERY` at a time and merged into the sum:
    each side is orthonormalised through its Gramian and the small core's SVD
    keeps the sum's ``rank`` leading singular directions (the best rank-``rank``
    approximation of the previous approximation plus the new draws).
    """

    def __init__(self, rank):
        self.rank = rank
        self.left = None
        self.right = None
        self.pending = []
        self.count = 0

    def add(self, X, Y):
        """Add the draw ``X Y^T`` (copies of ``X`` and ``Y`` are kept)."""
        self.pending.append((X.copy(), Y.copy()))
        self.count += 1
        if len(self.pending) >= MERGE_EVERY:
            self._merge()

    def _merge(self):
        if not self.pending:
            return
        lefts = [X for X, _ in self.pending]
        rights = [Y for _, Y in self.pending]
        if self.left is not None:
            lefts.insert(0, self.left)
            rights.insert(0, self.right)
        self.pending = []
        left, right = np.hstack(lefts), np.hstack(rights)
        # L R^T = (L A^-T) (A^T B) (R B^-T)^T with L^T L = A A^T, R^T R = B B^T:
        # the outer factors have orthonormal columns, so the SVD of the small
        # core A^T B gives the product's; only Gramians and products touch the
        # long sides (BLAS-3; chosen over their QR by measurement:
        # benchmarks/README.md)
        to_left, root_left = _orthonormalising(left)
        to_right, root_right = _orthonormalising(right)
        w, s, zt = np.linalg.svd(root_left.T @ root_right, full_matrices=False)
        keep = min(self.rank, len(s))
        root = np.sqrt(s[:keep])
        self.left = left @ (to_left @ (w[:, :keep] * root))
        self.right = right @ (to_right @ (zt[:keep].T * root))

    def factors(self):
        """``(P, Q)`` with ``P Q^T`` the mean of the draws so far."""
        self._merge()
        scale = 1.0 / np.sqrt(self.count)
        return self.left * scale, self.right * scale


@register_model
class BayesianMF(FactorModel):
    """Bayesian matrix factorization of explicit ratings (BPMF), fitted by Gibbs sampling.

    The model of Salakhutdinov and Mnih (2008), with biases:
    ``r_ij ~ N(mu + b_i + c_j + u_i.v_j, 1 / alpha)``, where the vectors
    ``[u_i, b_i]`` of the users (and ``[v_j, c_j]`` of the items) are
    normal with a mean and precision matrix of their own, drawn from a
    Normal-Wishart hyperprior; ``mu`` is the mean rating. A sweep draws the
    users' hyper-parameters, every user row from its Gaussian conditional,
    the same for the items, and the noise precision ``alpha`` (Gamma prior)
    unless it is fixed. The prediction is the mean of ``u_i.v_j`` (biases
    included) over the draws after ``burn_in``: averaging over the posterior
    replaces the choice of a regularization strength, which the hyperprior
    learns from the data. The sweeps fit the standardised ratings
    ``(r - mu) / s`` (``s`` their standard deviation), so the hyperprior
    means the same on any rating scale; the fitted factors predict ratings.

    The defaults were chosen on a validation split carved from MovieLens
    100K's ``u1.base`` (never on its test folds); their test RMSE on the
    official folds u1..u5 is in benchmarks/README.md.

    The mean of the draws' ``u_i.v_j`` is a matrix of rank up to ``samples *
    factors``; the fit keeps a rank-``rank`` approximation of it (truncated
    SVDs as the draws come in) and the mean biases exactly, so the fitted
    model is a plain factor model (``predict``, ``recommend``, ``save``).

    Each sweep costs ``O(nnz D^2 + (m + n) D^3)`` with ``D = factors + 1``:
    an exact ALS sweep. Draws depend on ``random_state`` only, not on the
    thread count.

    Parameters
    ----------
    factors : int, default 16
    samples : int, default 100
        Draws averaged into the prediction, one per sweep after ``burn_in``.
    burn_in : int, default 20
        Sweeps discarded at the start. On sparse data (a few ratings per
        row) the chain can take several times longer to leave its start:
        watch ``validation_history_`` or ``loss_history_`` and raise it.
    rank : int or None, default None
        Rank kept of the mean of the draws' ``u_i.v_j`` (the biases are kept
        exactly, in two more columns); None means ``2 * factors``.
    noise_precision : float or None, default None
        ``alpha``, the inverse variance of the ratings around the model;
        None draws it each sweep from its posterior (Gamma prior with shape
        and rate 1, on the standardised ratings).
    biased : bool, default True
        Give each user and item a bias.
    dtype : {"float32", "float64"}, default "float32"
        Of the fitted factors (the sampler works in float64).
    random_state : None, int or numpy.random.Generator
    num_threads : int, default 0
        Threads (0: all Numba threads).
    show_progress : bool, default False
    callback : callable, optional
        ``callback(sweep, train_rmse, U, V)`` after each sweep, with the
        current draw's row vectors for the standardised ratings (biases in
        the last column when ``biased``); a true return value stops the fit.
    keep_interactions : bool, default True
        As in :class:`fastwmf.WALS`.

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray
        The posterior mean prediction as ``U V^T``: users ``[p, mu + b, 1]``,
        items ``[q, 1, c]`` with ``rank`` columns in ``p`` and ``q`` and the
        mean biases ``b`` and ``c`` (users ``[p, mu]`` and items ``[q, 1]``
        without biases).
    global_bias_ : float
        The mean training rating ``mu``.
    biased_ : bool
    noise_precision_ : float
        ``alpha`` of the last sweep.
    loss_history_ : list of float
        Training RMSE of each sweep's draw (it levels off once the chain has
        forgotten its start).
    validation_history_ : list of float
        With a ``validation`` matrix in :meth:`fit`: its RMSE after each
        sweep, of the mean of the draws so far (of the current draw during
        ``burn_in``).
    n_iter_ : int
        Sweeps run.
    n_samples_ : int
        Draws averaged.
    fit_time_ : float

    Notes
    -----
    A fit either completes or leaves the model as it was.

    References
    ----------
    R. Salakhutdinov and A. Mnih, "Bayesian probabilistic matrix factorization
    using Markov chain Monte Carlo", ICML 2008.
    """

    _fitted_arrays = ("user_factors_", "item_factors_")
    _fitted_values = ("global_bias_", "biased_", "noise_precision_", "loss_history_",
                      "validation_history_", "n_iter_", "n_samples_", "fit_time_")

    def __init__(self, factors: int = 16, samples: int = 100, burn_in: int = 20,
                 rank: int | None = None, noise_precision: float | None = None,
                 biased: bool = True, dtype: DTypeLike = "float32",
                 random_state: RandomState = None, num_threads: int = 0,
                 show_progress: bool = False,
                 callback: Callable[[int, float | None, FloatArray, FloatArray], object]
                 | None = None,
                 keep_interactions: bool = True) -> None:
        self.factors = factors
        self.samples = samples
        self.burn_in = burn_in
        self.rank = rank
        self.noise_precision = noise_precision
        self.biased = biased
        self.dtype = dtype
        self.random_state = random_state
        self.num_threads = num_threads
        self.show_progress = show_progress
        self.callback = callback
        self.keep_interactions = keep_interactions

    def _checked_params(self):
        params = {
            "factors": check_int(self.factors, "factors", low=1),
            "samples": check_int(self.samples, "samples", low=1),
            "burn_in": check_int(self.burn_in, "burn_in", low=0),
            "noise_precision": (None if self.noise_precision is None else check_float(
                self.noise_precision, "noise_precision", low=0.0, low_inclusive=False)),
            "biased": check_bool(self.biased, "biased"),
            "dtype": check_dtype(self.dtype),
            "rng": check_random_state(self.random_state),
            "num_threads": check_num_threads(self.num_threads),
            "show_progress": check_bool(self.show_progress, "show_progress"),
            "callback": check_callable(self.callback, "callback"),
            "keep_interactions": check_bool(self.keep_interactions, "keep_interactions"),
        }
        params["rank"] = (2 * params["factors"] if self.rank is None
                          else check_int(self.rank, "rank", low=1))
        return params

    def fit(self, X: FitInput, y: Any = None, *, validation: FitInput | None = None,
            columns: dict[str, Any] | None = None) -> BayesianMF:
        """Draw the posterior by Gibbs sweeps over the ratings ``X``.

        Parameters
        ----------
        X : sparse matrix, (rows, cols, values) tuple or DataFrame
            Ratings, users as rows; every stored entry is an observed rating.
        y : ignored
            Present for scikit-learn compatibility.
        validation : sparse matrix or (rows, cols, values) tuple, optional
            Held-out ratings (at most ``X``'s shape), scored by RMSE after each
            sweep into ``validation_history_``; they never enter the fit.
        columns : dict, optional
            Column names when ``X`` (and ``validation``) are DataFrames, as in
            :meth:`fastwmf.WALS.fit`.

        Returns
        -------
        self
        """
        started = time.perf_counter()
        X, user_labels, item_labels = self._unpack_unweighted_fit_input(X, columns)
        params = self._checked_params()
        data = check_interactions(X, "X")
        check_factors_fit(params["factors"], data.shape)
        val = validation_input(validation, user_labels, item_labels, columns, data.shape)
        sampler = _GibbsSweep(data, params, val)
        log = run_iterations(
            sampler, iterations=params["burn_in"] + params["samples"],
            num_threads=params["num_threads"], label="BayesianMF",
            show_progress=params["show_progress"], callback=params["callback"],
            remedy="the ratings may be too large for float64 products", unit="sweep",
            validate=val is not None)
        user_factors, item_factors = sampler.fitted
        self.user_factors_ = user_factors.astype(params["dtype"])
        self.item_factors_ = item_factors.astype(params["dtype"])
        self.global_bias_ = sampler.mean_rating
        self.biased_ = params["biased"]
        self.noise_precision_ = float(sampler.alpha) / sampler.scale ** 2
        self.loss_history_ = log.loss_history
        self.validation_history_ = log.validation_history
        self.n_iter_ = log.n_iter
        self.n_samples_ = sampler.posterior.count
        self.user_ids_, self.item_ids_ = user_labels, item_labels
        self._remember(data, params["keep_interactions"])
        self.fit_time_ = time.perf_counter() - started
        return self

    def _fold_in(self, data):
        """Posterior mean rows for new users: the fitted item factors fixed, the
        fitted users' mean and covariance as the prior, ``noise_precision_``
        as the noise.

        The conditional a sweep draws a user from, with the fitted (averaged)
        factors in place of one draw, taken at its mean; a user without
        ratings gets the prior mean, the average user's predictions.
        """
        if data.weights is not None:
            raise ValueError(f"weights are not used by {type(self).__name__}")
        U = self.user_factors_.astype(np.float64)
        V = self.item_factors_.astype(np.float64)
        rank = U.shape[1] - (2 if self.biased_ else 1)
        ratings = data.values.astype(np.float64)
        if self.biased_:  # solve [p, mean + b] against [q, 1]; the item bias is known
            solved = rank + 1
            ratings = ratings - V[data.indices, rank + 1]
        else:  # solve p against q; the mean rating is known
            solved = rank
            ratings = ratings - self.global_bias_
        known = U[:, :solved]
        mean = known.mean(axis=0)
        covariance = np.cov(known, rowvar=False, bias=True).reshape(solved, solved)
        # a rank-deficient spread (fewer users than columns) gets a small ridge
        covariance += np.eye(solved) * (1e-6 * max(np.trace(covariance) / solved, 1e-12))
        precision = np.linalg.inv(covariance)
        precision = (precision + precision.T) / 2
        n_rows = data.shape[0]
        out = np.empty((n_rows, U.shape[1]))
        rows = np.empty((n_rows, solved))
        chunks = row_chunks(data.indptr, row_cost=2 * solved / 3)
        with thread_limits(self._threads()):
            sample_rows(data.indptr, data.indices, ratings, chunks,
                        np.ascontiguousarray(V[:, :solved]), precision, mean,
                        self.noise_precision_, np.zeros((n_rows, solved)), rows,
                        np.empty(len(chunks) - 1))
        out[:, :solved] = rows
        out[:, solved:] = 1.0 if self.biased_ else self.global_bias_
        return out.astype(self.user_factors_.dtype)

    def _check_loaded(self):
        """The bias settings, at least 2 columns (3 with biases), and a finite
        positive ``noise_precision_``."""
        if self.user_factors_.shape[1] < 2:
            return "has invalid bias settings"
        problem = self._bias_settings_problem(3)
        if problem:
            return problem
        value = getattr(self, "noise_precision_", None)
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not np.isfinite(value) or value <= 0):
            return f"has an invalid noise_precision_: {value!r}"
        return None


class _GibbsSweep:
    """One Gibbs sweep of :class:`BayesianMF` for :func:`run_iterations`."""

    def __init__(self, data, params, validation):
        self.params = params
        self.rng = rng = params["rng"]
        m, n = data.shape
        d = params["factors"]
        self.biased = params["biased"]
        D = d + 1 if self.biased else d
        self.d = d
        self.ratings = data.values.astype(np.float64)
        self.mean_rating = float(self.ratings.mean())
        # the sweeps fit standardised ratings (r - mean) / scale, so that the
        # hyperprior's unit scale means the same for any rating scale
        spread = float(np.std(self.ratings))
        self.scale = spread if spread > 0 else 1.0
        self.users = (data.indptr, data.indices)
        by_item = data.to_scipy().tocsc()
        by_item.sort_indices()
        self.items = (by_item.indptr.astype(np.int64), by_item.indices.astype(np.int32))
        self.item_ratings = by_item.data.astype(np.float64)
        self.user_chunks = row_chunks(self.users[0], row_cost=2 * D / 3)
        self.item_chunks = row_chunks(self.items[0], row_cost=2 * D / 3)
        self.U = rng.normal(0.0, INIT_SCALE, (m, D))
        self.V = rng.normal(0.0, INIT_SCALE, (n, D))
        if self.biased:
            self.U[:, d] = 0.0
            self.V[:, d] = 0.0
        fixed = params["noise_precision"]
        # in standardised units; sampled, it starts at 1 (the first sweep redraws it)
        self.alpha = 1.0 if fixed is None else fixed * self.scale ** 2
        self.posterior = PosteriorMean(params["rank"])
        self.bias_sums = [np.zeros(m), np.zeros(n)]
        self.validation = validation
        if validation is not None:
            self.validation_sums = np.zeros(validation.nnz)
            self.validation_draw = np.empty(validation.nnz)

    def _features(self, Z):
        """The fixed side's vectors as the other side's features: the bias
        column replaced by ones (it multiplies the other side's bias)."""
        if not self.biased:
            return Z
        features = Z.copy()
        features[:, self.d] = 1.0
        return features

    def _half_step(self, rows, ratings, chunks, own, other):
        mean, precision = sample_row_prior(own, self.rng)
        residuals = (ratings - self.mean_rating) / self.scale
        if self.biased:
            residuals -= other[rows[1], self.d]
        noise = self.rng.standard_normal(own.shape)
        sums = np.empty(len(chunks) - 1)
        sample_rows(rows[0], rows[1], residuals, chunks, self._features(other), precision,
                    mean, self.alpha, noise, own, sums)
        return float(sums.sum())

    def step(self, sweep):
        self._half_step(self.users, self.ratings, self.user_chunks, self.U, self.V)
        squared = self._half_step(self.items, self.item_ratings, self.item_chunks, self.V,
                                  self.U)
        if not (np.isfinite(self.U).all() and np.isfinite(self.V).all()):
            raise FloatingPointError(f"non-finite factors at sweep {sweep}")
        if self.params["noise_precision"] is None:
            shape, rate = NOISE_PRIOR
            self.alpha = self.rng.gamma(shape + 0.5 * len(self.ratings),
                                        1.0 / (rate + 0.5 * squared))
        self.kept = sweep > self.params["burn_in"]
        if self.kept:
            self._keep()
        return self.scale * float(np.sqrt(squared / len(self.ratings)))

    def _augmented(self):
        """``(P, Q)`` with ``P Q^T`` this draw's predictions: ``[u, mu + b, 1]``
        and ``[v, 1, c]`` (``[u, mu]`` and ``[v, 1]`` without biases)."""
        scale = self.scale
        return augmented(scale * self.U[:, :self.d], self.V[:, :self.d], self.mean_rating,
                         *(None if b is None else scale * b
                           for b in (self._biases(self.U), self._biases(self.V))))

    def _biases(self, Z):
        return Z[:, self.d] if self.biased else None

    def _keep(self):
        """Add this draw to the posterior mean: the product of the factors in
        rank-truncated form, the biases as exact sums."""
        self.posterior.add(self.U[:, :self.d], self.V[:, :self.d])
        if self.biased:
            self.bias_sums[0] += self.U[:, self.d]
            self.bias_sums[1] += self.V[:, self.d]

    def callback_factors(self):
        return self.U, self.V

    def validation_score(self):
        val = self.validation
        self.validation_draw[:] = 0.0
        add_predictions(val.indptr, val.indices, *self._augmented(), self.validation_draw)
        if self.kept:
            self.validation_sums += self.validation_draw
            predicted = self.validation_sums / self.posterior.count
        else:
            predicted = self.validation_draw
        return float(np.sqrt(np.mean((val.values - predicted) ** 2)))

    def snapshot(self):
        return None

    def restore(self, snapshot):
        raise RuntimeError("a Gibbs sampler has no state to return to")

    def finish(self):
        """Form the posterior mean's factors, inside the fit's thread limits
        like every merge (BLAS on one thread: benchmarks/README.md); the last
        draw's if none was kept (a callback stopped the fit during
        ``burn_in``)."""
        if self.posterior.count == 0:
            self._keep()
        P, Q = self.posterior.factors()
        count = self.posterior.count
        biases = [None, None] if not self.biased else [b / count for b in self.bias_sums]
        self.fitted = augmented(self.scale * P, Q, self.mean_rating,
                                *(None if b is None else self.scale * b for b in biases))


def augmented(P, Q, mean_rating, user_bias=None, item_bias=None):
    """Factors whose products are ``P Q^T`` plus the mean rating and biases:
    ``[P, mean + user_bias, 1]`` and ``[Q, 1, item_bias]``, or ``[P, mean]``
    and ``[Q, 1]`` without biases."""
    m, n = len(P), len(Q)
    if user_bias is None:
        return (np.hstack([P, np.full((m, 1), mean_rating)]), np.hstack([Q, np.ones((n, 1))]))
    return (np.hstack([P, (mean_rating + user_bias)[:, None], np.ones((m, 1))]),
            np.hstack([Q, np.ones((n, 1)), item_bias[:, None]]))
