"""DaskWALS: the WALS estimator on a ``dask.distributed`` cluster (client side)."""

import copy
import os
import time

import numpy as np
import scipy.sparse as sp

from .._frames import is_frame
from .._threading import max_threads
from .._validation import check_bool, check_choice, check_int
from ..models._wmf import objective_params
from ..models.base import FactorModel
from ..models.wals import WALS
from ._run import _Run

#: How the fixed factor matrix reaches the blocks of each half-step.
EXCHANGES = ("full", "routed")


class DaskWALS(FactorModel):
    """:class:`fastwmf.WALS` fitted on a ``dask.distributed`` cluster.

    Same objective, parameters, random initialisation and fitted attributes
    as :class:`~fastwmf.WALS`: with one ``random_state`` both reach the same
    factors (to rounding, float64 agrees to ~1e-12). The fitted model
    predicts, recommends and folds in like WALS (through the WALS that
    :meth:`to_local` returns, which is also what :meth:`save` writes). It
    holds the WALS parameters and runs WALS's own validation of them, but is
    not a subclass: the cluster fit is its own, over the shared fit driver.

    The data live on the workers as contiguous row blocks of both
    orientations (users x items and items x users), balanced by stored
    entries, built once by tasks (not scattered, so Dask can rebuild a lost
    worker's blocks from the input) and never moved again. A half-step sends
    the fixed factor matrix to the blocks, solves every block where it lives
    with the WALS kernels, and returns per block the new rows, their
    ``d x d`` weighted Gramian and a few scalars of the loss.

    Parameters
    ----------
    factors, w0, regularization, nu, iterations, solver, cg_steps, confidence, \
alpha, eps, dtype, random_state, show_progress, callback, calculate_loss, warm_start, \
block_size, \
keep_interactions
        As in :class:`~fastwmf.WALS` (with a dask DataFrame the pattern of
        the entries is gathered from the workers at the end of the fit).
    patience, validation_metric
        Taken for compatibility with :class:`~fastwmf.WALS`; DaskWALS does not
        stop early yet, so ``patience`` must stay None.
    num_threads : int, default 0
        Numba threads of each task; ``0`` uses each worker's thread count
        (``nthreads`` of the Dask worker). Tasks call
        ``numba.set_num_threads`` themselves; one kernel runs at a time per
        worker process.
    client : distributed.Client, optional
        Cluster to run on; default: the current client (``distributed.get_client()``).
    n_blocks : int, optional
        Row blocks per orientation; default: the number of workers.
    exchange : {"full", "routed"}, default "full"
        ``"full"``: every worker holding blocks receives the whole fixed
        factor matrix, worker to worker (an all-gather of the blocks, one full
        copy per worker). ``"routed"``: each block receives only the rows its
        entries touch, for factor matrices too large to copy to every worker.
    callback_factors : bool, default True
        Pass the gathered factors to ``callback`` (``callback(iteration,
        loss, U, V)``), which moves both matrices to the client every
        iteration; with ``False`` the callback gets ``U = V = None``.
    checkpoint_path : str or os.PathLike, optional
        Directory on the client's file system to save the factors in at each
        checkpoint (``np.save`` into a temporary directory renamed into
        place); see :func:`load_checkpoint`.
    checkpoint_every : int, optional
        Iterations between checkpoints; default 1 with ``checkpoint_path``
        and none without. At a checkpoint the factors are gathered to the
        client and the task graph restarts from them, so a lost worker costs
        at most ``checkpoint_every`` iterations of recomputation (without
        checkpoints Dask recomputes its lost blocks from the start of the
        fit). Without ``checkpoint_path`` the checkpoint stays in memory.

    Attributes
    ----------
    user_factors_, item_factors_, item_weights_, fit_params_, loss_history_, \
n_iter_, fit_time_
        As in :class:`~fastwmf.WALS`.
    n_blocks_ : tuple of int
        User and item blocks used by the last fit.
    nnz_ : int
        Stored entries after duplicates were summed.

    Notes
    -----
    Input: what :meth:`fastwmf.WALS.fit` takes (a scipy.sparse matrix, a
    ``(rows, cols, values)`` triple or a pandas DataFrame), validated on the
    client as WALS does and then cut into blocks that travel inside the task
    graph (so the scheduler keeps a copy for recovery); or a dask DataFrame,
    e.g. from ``dask.dataframe.read_parquet``, which only the workers read,
    with WALS's meaning of the ``columns`` and labels; see :meth:`fit`.
    """

    def __init__(self, factors=64, w0="auto", regularization=0.02, nu=1.0, iterations=15,
                 solver="cg", cg_steps=3, confidence=None, alpha=1.0, eps=1.0,
                 dtype="float32", random_state=None, num_threads=0, show_progress=False,
                 callback=None, calculate_loss=True, warm_start=False, client=None,
                 n_blocks=None, exchange="full", callback_factors=True, checkpoint_path=None,
                 checkpoint_every=None, patience=None, validation_metric="ndcg@10",
                 keep_interactions=True, block_size=64):
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
        self.client = client
        self.n_blocks = n_blocks
        self.exchange = exchange
        self.callback_factors = callback_factors
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every

    _fitted_arrays = WALS._fitted_arrays
    _fitted_values = WALS._fitted_values

    # ------------------------------------------------------------ params
    def _wals_params(self):
        return {name: getattr(self, name) for name in WALS._param_names()}

    def _checked_params(self):
        """WALS's own validation, plus the distributed parameters."""
        requested = 0 if self.num_threads is None else check_int(
            self.num_threads, "num_threads", low=0)
        params = WALS(**dict(self._wals_params(), num_threads=0))._checked_params()
        if params["solver"] == "block":
            raise ValueError("solver: DaskWALS runs 'cg' and 'cholesky'; fit a WALS for "
                             "solver='block'")
        if params["patience"] is not None:
            raise ValueError("patience: DaskWALS does not stop early yet; fit a WALS for "
                             "early stopping, or leave patience=None")
        params["task_threads"] = requested
        params["num_threads"] = min(requested or max_threads(), max_threads())  # client side
        params["n_blocks"] = (None if self.n_blocks is None
                              else check_int(self.n_blocks, "n_blocks", low=1))
        params["exchange"] = check_choice(self.exchange, "exchange", EXCHANGES)
        params["callback_factors"] = check_bool(self.callback_factors, "callback_factors")
        if self.checkpoint_path is not None and not isinstance(
                self.checkpoint_path, (str, os.PathLike)):
            raise TypeError(f"checkpoint_path must be a path or None, "
                            f"got {type(self.checkpoint_path).__name__}")
        params["checkpoint_path"] = (None if self.checkpoint_path is None
                                     else os.fspath(self.checkpoint_path))
        if self.checkpoint_every is None:
            params["checkpoint_every"] = 1 if params["checkpoint_path"] is not None else 0
        else:
            params["checkpoint_every"] = check_int(self.checkpoint_every, "checkpoint_every",
                                                   low=1)
        return params

    def _threads(self):
        """Local threads (predict, fold-in): ``num_threads`` capped by this machine."""
        requested = self.num_threads if isinstance(self.num_threads, int) else 0
        return min(requested if requested > 0 else max_threads(), max_threads())

    def __sklearn_clone__(self):
        """A new unfitted estimator for ``sklearn.base.clone``: every parameter is
        deep-copied as scikit-learn does, except the client, which is shared (a
        connection cannot be copied)."""
        params = {name: value if name == "client" else copy.deepcopy(value)
                  for name, value in self.get_params().items()}
        return type(self)(**params)

    def _get_client(self):
        from distributed import Client
        if self.client is not None:
            if not isinstance(self.client, Client):
                raise TypeError(f"client must be a distributed.Client or None, "
                                f"got {type(self.client).__name__}")
            return self.client
        from distributed import get_client
        try:
            return get_client()
        except ValueError as exc:
            raise ValueError("client: no dask.distributed Client is running; create one "
                             "(distributed.Client(...)) or pass client=") from exc

    # --------------------------------------------------------------- fit
    def fit(self, X, y=None, *, weights=None, user_weights=None, item_weights=None,
            columns=None, shape=None):
        """Fit the factors on the cluster.

        Parameters
        ----------
        X : sparse matrix, (rows, cols, values) tuple, or DataFrame
            Feedback, users as rows, as for :meth:`fastwmf.WALS.fit`. A pandas
            (or polars) DataFrame is read as WALS reads it, on the client. A
            dask DataFrame (e.g. from ``dask.dataframe.read_parquet``) is read
            by the workers, with the same meaning: one row per entry, the
            ``columns`` roles ``user``, ``item``, ``value`` (default 1 per
            row) and ``weight`` (per-entry confidence, default none), labels
            of any type numbered in ascending order and kept in
            ``user_ids_`` / ``item_ids_``. Duplicates are summed.
        y : ignored
            Present for scikit-learn compatibility.
        weights : sparse matrix or array-like, optional
            Per-entry confidences, for matrix input (as in WALS).
        user_weights, item_weights : array-like, optional
            Per-user ``p_i`` and per-item ``q_j`` unobserved weights (as in
            WALS; in ascending label order for a DataFrame).
        columns : dict, optional
            Column name of each role of a DataFrame (as in WALS).
        shape : (int, int), optional
            Dask DataFrame only: the user and item columns already hold
            integer positions in ``0..shape[0]-1`` and ``0..shape[1]-1``. This
            skips the pass that collects the labels, keeps rows and columns
            without entries, and leaves ``user_ids_`` / ``item_ids_`` unset.

        Returns
        -------
        self
        """
        started = time.perf_counter()
        params = self._checked_params()
        dask_frame = _is_dask_frame(X)
        labels = (None, None)
        if not dask_frame:
            if shape is not None:
                raise ValueError("shape is only used when X is a dask DataFrame")
            if not (sp.issparse(X) or isinstance(X, (tuple, np.ndarray)) or is_frame(X)):
                raise TypeError(f"X must be a scipy.sparse matrix, a (rows, cols, values) "
                                f"tuple or a (pandas, polars or dask) DataFrame, "
                                f"got {type(X).__name__}")
            X, weights, *labels = self._unpack_fit_input(X, weights, columns)
        elif weights is not None:
            raise ValueError("weights: pass per-entry weights as columns={'weight': ...} "
                             "with a DataFrame")
        client = self._get_client()
        workers = _worker_addresses(client)
        if not workers:
            raise ValueError("client: the cluster has no workers")
        n_blocks = params["n_blocks"] or len(workers)
        run = _Run(client, workers, params)
        try:
            if dask_frame:
                data, labels = run.build_from_frame(X, user_weights, item_weights, shape,
                                                    columns, n_blocks)
            else:
                data = run.build_from_matrix(X, weights, user_weights, item_weights, n_blocks)
            result = run.iterate(data, self._initial_factors(data, params))
            if params["keep_interactions"] and data.seen is None:
                data.seen = run.gather_pattern(data)
        except BaseException:
            run.cancel()
            raise
        U, V, history, n_iter = result
        self.user_factors_ = U
        self.item_factors_ = V
        self.item_weights_ = data.q if data.q is not None else np.ones(data.shape[1])
        self.fit_params_ = objective_params(params)
        self.user_ids_, self.item_ids_ = labels
        self.seen_indptr_, self.seen_indices_ = data.seen or (None, None)
        self.loss_history_ = history
        self.validation_history_ = []
        self.best_iteration_ = n_iter
        self.n_iter_ = n_iter
        self.n_blocks_ = (len(data.users.blocks), len(data.items.blocks))
        self.nnz_ = data.nnz
        self.fit_time_ = time.perf_counter() - started
        return self

    def _initial_factors(self, data, params):
        """Per-block initial factors, drawn exactly as WALS draws them."""
        m, n = data.shape
        d = params["factors"]
        dtype = params["dtype"]
        if (params["warm_start"] and self.is_fitted
                and self.user_factors_.shape == (m, d) and self.item_factors_.shape == (n, d)
                and self.user_factors_.dtype == dtype):
            U, V = self.user_factors_, self.item_factors_
            users = [U[lo:hi].copy() for lo, hi in data.users.ranges()]
            items = [V[lo:hi].copy() for lo, hi in data.items.ranges()]
        else:
            # WALS starts U at 0 and draws V (n x d) from the generator
            # (starting_factors); numpy's Generator fills arrays sequentially,
            # so drawing block by block gives the same numbers without
            # holding a full matrix twice
            rng = params["rng"]
            scale = 0.1 / np.sqrt(d)
            users = [np.zeros((hi - lo, d), dtype) for lo, hi in data.users.ranges()]
            items = [(rng.standard_normal((hi - lo, d)) * scale).astype(dtype)
                     for lo, hi in data.items.ranges()]
        if params["solver"] == "cholesky":
            users = None
        return users, items

    # --------------------------------------------------------- conversion
    def to_local(self):
        """A plain :class:`fastwmf.WALS` with this model's parameters and fit.

        The factor arrays are shared, not copied. ``num_threads`` larger than
        this machine allows becomes ``0`` (all threads).
        """
        self._check_fitted()
        params = self._wals_params()
        if isinstance(params["num_threads"], int) and params["num_threads"] > max_threads():
            params["num_threads"] = 0
        model = WALS(**params)
        for name in WALS._fitted_arrays + WALS._fitted_values:
            setattr(model, name, getattr(self, name))
        model.user_ids_ = self.user_ids_
        model.seen_indptr_, model.seen_indices_ = self.seen_indptr_, self.seen_indices_
        model.item_ids_ = self.item_ids_
        return model

    def save(self, path):
        """Write the fitted model as a :class:`fastwmf.WALS` (load it with ``WALS.load``)."""
        self.to_local().save(path)

    def loss(self, X, weights=None, user_weights=None, item_weights=None):
        """The objective of the fitted factors on ``X``, computed locally
        (as :meth:`fastwmf.WALS.loss`)."""
        return self.to_local().loss(X, weights=weights, user_weights=user_weights,
                                    item_weights=item_weights)

    def _fold_in(self, data):
        return self.to_local()._fold_in(data)


# ====================================================================== helpers

def _worker_addresses(client):
    """The cluster's worker addresses, asked of the scheduler itself.

    Not ``client.scheduler_info()``: it returns the client's cached identity,
    which the client's periodic refresh (fetched without the worker list) can
    overwrite between the fetch and the return, so that a loaded machine saw
    a cluster with no workers.
    """
    try:
        info = client.sync(client.scheduler.identity, n_workers=-1)
    except TypeError:  # older distributed: identity() takes no arguments, lists all
        info = client.sync(client.scheduler.identity)
    return sorted(info["workers"])


def _is_dask_frame(X):
    module = type(X).__module__
    return module.startswith(("dask.dataframe", "dask_expr")) and hasattr(X, "columns")
