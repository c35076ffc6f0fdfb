"""The client side of a DaskWALS fit: the block layout, the task graph of each
iteration, and the iterations run through the shared fit driver."""

import itertools
import logging
import uuid
import warnings
from dataclasses import dataclass

import numpy as np

from .._config import MAX_INDEX
from .._frames import _labels, check_columns
from .._threading import row_chunks, thread_limits, uniform_chunks
from .._validation import check_int, check_interactions
from ..kernels.gramian import weighted_gramian
from ..models._fitloop import run_iterations
from ..models._serving import pattern_of
from ..models._wmf import (
    check_factors_fit, resolve_w0, targets_and_confidence, unobserved_weights)
from . import _tasks as tasks
from ._checkpoint import write_checkpoint

logger = logging.getLogger(__name__)

@dataclass
class _Side:
    """One orientation on the cluster: block futures and their row bounds."""

    name: str            # "users" or "items"
    bounds: np.ndarray   # int64 row bounds of the blocks
    blocks: list         # futures of tasks.Block

    def ranges(self):
        return list(zip(self.bounds[:-1].tolist(), self.bounds[1:].tolist()))


@dataclass
class _Data:
    shape: tuple
    nnz: int
    users: _Side
    items: _Side
    p: np.ndarray        # user weights or None (all ones)
    q: np.ndarray        # item weights or None
    seen: tuple = None   # the input's CSR pattern (indptr, indices), when kept


class _Run:
    """The futures and task submission of one fit (client side)."""

    def __init__(self, client, workers, params):
        self.client = client
        self.workers = workers
        self.params = params
        self.token = uuid.uuid4().hex[:12]
        self.serial = itertools.count()
        self.live = []  # the current iteration's futures (cancelled on error)

    # ----------------------------------------------------------- submit
    def submit(self, func, *args, name, index=(), worker=None):
        kwargs = {}
        if worker is not None:
            # loose: a block stays where it lives, but a task whose worker died
            # may run elsewhere (Dask rebuilds the lost blocks it needs)
            kwargs = {"workers": [worker], "allow_other_workers": True}
        key = (f"fastwmf-{name}-{self.token}",) + tuple(index)
        with warnings.catch_warnings():
            # in-memory input and initial factors travel inside the graph on
            # purpose (recomputable, unlike scatter)
            warnings.filterwarnings("ignore", message="Sending large graph")
            return self.client.submit(func, *args, key=key, **kwargs)

    def holders(self, futures):
        """The worker holding each future's result (None while it is being computed)."""
        who = self.client.who_has(futures)
        out = []
        for future in futures:
            holders = who.get(future.key) or who.get(str(future.key)) or ()
            out.append(sorted(holders)[0] if holders else None)
        return out

    def target(self, index):
        return self.workers[index % len(self.workers)]

    def cancel(self):
        futures = [f for f in self.live if f is not None]
        self.live = []
        if futures:
            try:
                self.client.cancel(futures)
            except Exception:  # pragma: no cover - best effort on the way out
                logger.debug("cancelling futures failed", exc_info=True)

    # ------------------------------------------------------------ build
    def _layouts(self, shape, user_bounds, item_bounds, p, q):
        params = self.params
        common = dict(dtype=params["dtype"], w0=params["w0"],
                      regularization=params["regularization"], nu=params["nu"],
                      row_cost=self._row_cost(), routed=params["exchange"] == "routed")
        m, n = shape
        q_total = float(q.sum()) if q is not None else float(n)
        p_total = float(p.sum()) if p is not None else float(m)
        return (tasks.Layout(n_other=n, other_bounds=item_bounds, other_weight_total=q_total,
                             **common),
                tasks.Layout(n_other=m, other_bounds=user_bounds, other_weight_total=p_total,
                             **common))

    def _weights_futures(self, p, q):
        """``p`` and ``q`` as graph roots (each worker fetches them once, at build time)."""
        p_future = None if p is None else self.submit(tasks.constant, p, name="user-weights")
        q_future = None if q is None else self.submit(tasks.constant, q, name="item-weights")
        return p_future, q_future

    def build_from_matrix(self, X, weights, user_weights, item_weights, n_blocks):
        """Validate like WALS, then cut the CSR matrix into user blocks (graph-embedded)."""
        params = self.params
        data = check_interactions(X, "X", weights=weights)
        check_factors_fit(params["factors"], data.shape)
        params["w0"] = resolve_w0(params["w0"], data.nnz, data.shape)
        targets, confidence = targets_and_confidence(data, params, params["dtype"])
        p, q = _given_weights(user_weights, item_weights, data.shape)
        m, n = data.shape
        row_cost = self._row_cost()
        user_bounds = row_chunks(data.indptr, row_cost, max_chunks=n_blocks, min_work=0)
        item_indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(data.indices, minlength=n), out=item_indptr[1:])
        item_bounds = row_chunks(item_indptr, row_cost, max_chunks=n_blocks, min_work=0)
        user_layout, item_layout = self._layouts(data.shape, user_bounds, item_bounds, p, q)
        p_future, q_future = self._weights_futures(p, q)
        dtype = params["dtype"]
        user_blocks = []
        for b, (lo, hi) in enumerate(zip(user_bounds[:-1], user_bounds[1:])):
            s, e = data.indptr[lo], data.indptr[hi]
            user_blocks.append(self.submit(
                tasks.user_block_from_csr, int(lo), int(hi), data.indptr[lo:hi + 1] - s,
                data.indices[s:e], targets[s:e].astype(dtype), confidence[s:e].astype(dtype),
                user_layout, p_future, q_future, name="users", index=(b,),
                worker=self.target(b)))
        built = self._finish_build(data.shape, data.nnz, user_bounds, user_blocks, item_bounds,
                                   item_layout, p, q, p_future, q_future)
        if params["keep_interactions"]:
            built.seen = pattern_of(data)
        return built

    def _row_cost(self):
        d = self.params["factors"]
        return d / 3.0 if self.params["solver"] == "cholesky" else float(d)

    def build_from_frame(self, X, user_weights, item_weights, shape, columns, n_blocks):
        """Read a dask DataFrame on the workers, count it, cut it into user blocks.

        Returns the data and the ``(user, item)`` labels (None with ``shape``).
        """
        params = self.params
        roles = _frame_roles(X, columns, positions=shape is not None)
        if "weight" in roles and params["confidence"] is not None:
            raise ValueError(f"weights cannot be combined with "
                             f"confidence={params['confidence']!r}; pass one or the other")
        labels = (None, None)
        label_futures = (None, None)
        if shape is None:
            labels = self._collect_labels(X, roles)
            label_futures = tuple(self.submit(tasks.constant, lab, name=f"{role}-labels")
                                  for role, lab in zip(("user", "item"), labels))
        else:
            if not (isinstance(shape, tuple) and len(shape) == 2):
                raise TypeError(f"shape must be a tuple (n_users, n_items), got {shape!r}")
            shape = (check_int(shape[0], "shape[0]", low=1, high=MAX_INDEX),
                     check_int(shape[1], "shape[1]", low=1, high=MAX_INDEX))
        import dask
        parts = X[list(roles.values())].to_delayed()
        raw = self.client.compute([dask.delayed(tasks.partition_arrays)(part, roles,
                                                                        *label_futures)
                                   for part in parts])
        stats = [self.submit(tasks.partition_stats, r, name="stats", index=(i,))
                 for i, r in enumerate(raw)]
        level = 0
        while len(stats) > 1:
            level += 1
            stats = [self.submit(tasks.merge_stats, *stats[i:i + 8], name="stats",
                                 index=(level, i)) for i in range(0, len(stats), 8)]
        stats = stats[0].result()
        if shape is None:
            shape = (len(labels[0]), len(labels[1]))
        m, n = _check_frame_stats(stats, roles, shape)
        check_factors_fit(params["factors"], (m, n))
        params["w0"] = resolve_w0(params["w0"], int(np.sum(stats["user_counts"])), (m, n))
        p, q = _given_weights(user_weights, item_weights, (m, n))
        row_cost = self._row_cost()
        counts = {}
        for role, length in (("user", m), ("item", n)):
            indptr = np.zeros(length + 1, dtype=np.int64)
            c = stats[f"{role}_counts"]
            indptr[1:len(c) + 1] = np.cumsum(c)
            indptr[len(c) + 1:] = indptr[len(c)]
            counts[role] = indptr
        user_bounds = row_chunks(counts["user"], row_cost, max_chunks=n_blocks, min_work=0)
        item_bounds = row_chunks(counts["item"], row_cost, max_chunks=n_blocks, min_work=0)
        user_layout, item_layout = self._layouts((m, n), user_bounds, item_bounds, p, q)
        p_future, q_future = self._weights_futures(p, q)
        splits = [self.submit(tasks.split_rows, r, user_bounds, name="split-rows", index=(i,))
                  for i, r in enumerate(raw)]
        transform = {k: params[k] for k in ("confidence", "alpha", "eps")}
        user_blocks = []
        for b, (lo, hi) in enumerate(zip(user_bounds[:-1], user_bounds[1:])):
            pieces = [self.submit(tasks.take, s, b, name="piece-rows", index=(i, b))
                      for i, s in enumerate(splits)]
            user_blocks.append(self.submit(
                tasks.user_block_from_entries, pieces, int(lo), int(hi), user_layout,
                transform, p_future, q_future, name="users", index=(b,),
                worker=self.target(b)))
        del raw, splits
        data = self._finish_build((m, n), None, user_bounds, user_blocks, item_bounds,
                                  item_layout, p, q, p_future, q_future)
        return data, labels

    def _collect_labels(self, X, roles):
        """The sorted distinct user and item labels (one pass, as WALS numbers them)."""
        columns = [roles["user"], roles["item"]]
        futures = self.client.compute([X[c].isna().any() for c in columns] +
                                      [X[c].unique() for c in columns])
        has_na_user, has_na_item, users, items = self.client.gather(futures)
        for role, has_na in (("user", has_na_user), ("item", has_na_item)):
            if has_na:
                raise ValueError(f"columns: the {role} column holds missing labels")
        return (_labels(np.asarray(users), "user")[0], _labels(np.asarray(items), "item")[0])

    def _finish_build(self, shape, nnz, user_bounds, user_blocks, item_bounds, item_layout,
                      p, q, p_future, q_future):
        """Item blocks from the user blocks (a one-time exchange), then wait for all."""
        splits = [self.submit(tasks.split_block_columns, blk, item_bounds,
                              name="split-cols", index=(b,), worker=self.target(b))
                  for b, blk in enumerate(user_blocks)]
        item_blocks = []
        for c, (lo, hi) in enumerate(zip(item_bounds[:-1], item_bounds[1:])):
            pieces = [self.submit(tasks.take, s, c, name="piece-cols", index=(b, c),
                                  worker=self.target(b)) for b, s in enumerate(splits)]
            item_blocks.append(self.submit(
                tasks.item_block_from_pieces, pieces, int(lo), int(hi), item_layout,
                q_future, p_future, name="items", index=(c,), worker=self.target(c)))
        self.live = user_blocks + item_blocks
        summaries = self.client.gather(
            [self.submit(tasks.block_summary, blk, name="summary", index=(i,))
             for i, blk in enumerate(user_blocks + item_blocks)])
        if nnz is None:
            nnz = sum(s[1] for s in summaries[:len(user_blocks)])
        logger.debug("built %d user and %d item blocks, %d entries", len(user_blocks),
                     len(item_blocks), nnz)
        return _Data(shape=shape, nnz=int(nnz), users=_Side("users", user_bounds, user_blocks),
                     items=_Side("items", item_bounds, item_blocks), p=p, q=q)

    # -------------------------------------------------------- iterating
    def task_params(self):
        params = self.params
        return {"dtype": params["dtype"].name, "solver": params["solver"],
                "cg_steps": params["cg_steps"], "w0": params["w0"],
                "num_threads": params["task_threads"],
                "calculate_loss": params["calculate_loss"]}

    def fixed_inputs(self, it, side, other, fixed, holders, other_holders):
        """Submit the transfer of ``other``'s new factors to ``side``'s blocks.

        ``"full"``: one gather task per worker holding blocks of ``side``,
        which Dask feeds worker to worker (an all-gather). ``"routed"``: per
        block, one route task per block of ``other``, on that block's worker.
        Returns one input per block of ``side`` (a future, or a list of them).
        """
        name = "U" if side.name == "users" else "V"
        # a fresh key per call: resubmitting a live key would silently reuse the old
        # task, with its old dependencies (e.g. across a checkpoint's graph restart)
        serial = next(self.serial)
        if self.params["exchange"] == "full":
            assembled = {}
            for worker in holders:
                if worker not in assembled:
                    assembled[worker] = self.submit(
                        tasks.assemble_full, fixed, name=f"gather-{name}", worker=worker,
                        index=(it, serial, worker or "any"))
            return [assembled[worker] for worker in holders]
        return [[self.submit(tasks.take_rows, other.blocks[c], fixed[c], b,
                             name=f"route-{name}", index=(it, serial, b, c),
                             worker=other_holders[c])
                 for c in range(len(other.blocks))]
                for b in range(len(side.blocks))]

    def half_step(self, it, side, inputs, prev, holders):
        """Submit one half-step: solve ``side``'s blocks given the fixed ``inputs``.

        ``prev`` holds the blocks' previous rows (CG warm start) or None.
        Returns the result futures ``(rows, gramian part, stats)`` per block,
        futures of the rows alone (a key no other worker fetches, so it stays
        on the block's worker: Dask's memory manager may drop the home copy of
        an all-gathered result), and futures of the stats.
        """
        params = self.params
        task_params = self.task_params()
        name = "U" if side.name == "users" else "V"
        solve = tasks.solve_full if params["exchange"] == "full" else tasks.solve_routed
        outs = [self.submit(solve, block, inputs[b], None if prev is None else prev[b],
                            task_params, name=f"solve-{name}", index=(it, b),
                            worker=holders[b])
                for b, block in enumerate(side.blocks)]
        stats = [self.submit(tasks.take, o, 2, name=f"stats-{name}", index=(it, b),
                             worker=holders[b]) for b, o in enumerate(outs)]
        rows = None
        if params["solver"] != "cholesky" or (params["calculate_loss"] and side.name == "users"):
            rows = [self.submit(tasks.take, o, 0, name=f"rows-{name}", index=(it, b),
                                worker=holders[b]) for b, o in enumerate(outs)]
        return outs, rows, stats

    def roots(self, name, index, side, blocks, weights, holders):
        """Factor blocks as graph-embedded root tasks, in the form solve tasks return."""
        d = blocks[0].shape[1]
        out = []
        with thread_limits(self.params["num_threads"]):
            for b, ((lo, hi), block, worker) in enumerate(zip(side.ranges(), blocks, holders)):
                w = np.ones(hi - lo) if weights is None else weights[lo:hi]
                part = (weighted_gramian(block, w, uniform_chunks(hi - lo)) if hi > lo
                        else np.zeros((d, d)))
                out.append(self.submit(tasks.constant, (block, part, None), name=name,
                                       index=index + (b,), worker=worker))
        return out

    def iterate(self, data, initial):
        """The fit: :class:`_DaskSweep` iterations through the shared fit driver."""
        params = self.params
        sweep = _DaskSweep(self, data, initial)
        log = run_iterations(
            sweep, iterations=params["iterations"], num_threads=params["num_threads"],
            label="DaskWALS", show_progress=params["show_progress"],
            callback=params["callback"], remedy="increase regularization or use dtype='float64'",
            checkpoint=sweep.checkpoint)
        self.live = []  # (kept on failure: the caller cancels them)
        return (*sweep.gathered, log.loss_history, log.n_iter)

    def placement(self, data):
        """Where each data block lives now (one scheduler call for both sides)."""
        holders = self.holders(data.users.blocks + data.items.blocks)
        k = len(data.users.blocks)
        return holders[:k], holders[k:]

    def gather_pattern(self, data):
        """The user blocks' stored pattern on the client, as one CSR pair
        (moves 4 bytes per entry and 8 per user)."""
        futures = [self.submit(tasks.block_pattern, block, name="pattern", index=(b,),
                               worker=self.target(b))
                   for b, block in enumerate(data.users.blocks)]
        parts = self.client.gather(futures)
        indptr = np.zeros(data.shape[0] + 1, dtype=np.int64)
        offset = 0
        for (lo, hi), (part_ptr, _) in zip(data.users.ranges(), parts):
            indptr[lo + 1:hi + 1] = part_ptr[1:] - part_ptr[0] + offset
            offset += int(part_ptr[-1] - part_ptr[0])
        indices = (np.concatenate([part[1] for part in parts]) if parts
                   else np.zeros(0, dtype=np.int32)).astype(np.int32, copy=False)
        return indptr, indices

    def gather_factors(self, U, V):
        """Both factor matrices on the client (moves ``|U| + |V|``)."""
        outs = self.client.gather(U + V)
        return (np.concatenate([o[0] for o in outs[:len(U)]]),
                np.concatenate([o[0] for o in outs[len(U):]]))


class _DaskSweep:
    """One distributed ALS iteration for :func:`run_iterations`.

    The factors stay on the workers as futures; ``gathered`` holds them on
    the client once an iteration needed them (a checkpoint, a callback that
    asks for factors, the end of the fit). After a checkpoint the next
    iteration restarts the task graph from the gathered copy, so that Dask
    forgets the history and recovers a lost block from there.
    """

    def __init__(self, run, data, initial):
        self.run, self.data = run, data
        users, items = data.users, data.items
        users_init, items_init = initial
        self.holders = run.placement(data)
        user_holders, item_holders = self.holders
        # initial factors travel inside the graph (recomputable)
        self.V = run.roots("init-V", (), items, items_init, data.q, item_holders)
        self.U = (None if users_init is None else
                  run.roots("init-U", (), users, users_init, data.p, user_holders))
        self.U_rows, self.V_rows = self.U, (None if users_init is None else self.V)
        self.base = [*users.blocks, *items.blocks]
        self.prepared = None  # V's transfer to the user blocks, submitted early for the loss
        self.gathered = None
        self.restart_from = None  # (iteration, factors) of the last checkpoint

    def step(self, iteration):
        run, data, params = self.run, self.data, self.run.params
        users, items = data.users, data.items
        if self.restart_from is not None:
            self._restart(*self.restart_from)
        self.gathered = None
        if iteration > 1:
            self.holders = run.placement(data)
        user_holders, item_holders = self.holders
        if self.prepared is not None and self.prepared[0] == self.holders:
            inputs = self.prepared[1]
        else:
            inputs = run.fixed_inputs(iteration, users, items, self.V, user_holders,
                                      item_holders)
        self.U, self.U_rows, stats_U = run.half_step(iteration, users, inputs, self.U_rows,
                                                     user_holders)
        inputs = run.fixed_inputs(iteration, items, users, self.U, item_holders, user_holders)
        self.V, self.V_rows, stats_V = run.half_step(iteration, items, inputs, self.V_rows,
                                                     item_holders)
        del inputs
        observed = []
        self.prepared = None
        if params["calculate_loss"]:
            # the observed part of the loss runs on the user side, on the transfer
            # of V that the next user half-step reuses
            inputs = run.fixed_inputs(iteration + 1, users, items, self.V, user_holders,
                                      item_holders)
            self.prepared = (self.holders, inputs)
            observe = (tasks.observed_full if params["exchange"] == "full"
                       else tasks.observed_routed)
            observed = [run.submit(observe, block, self.U_rows[b], inputs[b],
                                   run.task_params(), name="observed", index=(iteration, b),
                                   worker=user_holders[b])
                        for b, block in enumerate(users.blocks)]
            del inputs
        run.live = self.base + self.U + self.V + stats_U + stats_V + observed
        gathered = run.client.gather(stats_U + stats_V + observed)
        stats = gathered[:len(stats_U) + len(stats_V)]
        if not all(s["finite"] for s in stats):
            raise FloatingPointError(
                f"the factors became non-finite at iteration {iteration}; increase "
                f"regularization, lower the learning rate or use dtype='float64'")
        if params["solver"] == "cholesky":
            self.U_rows = self.V_rows = None  # no warm start (a restart sets them again)
        if not params["calculate_loss"]:
            return None
        return _assemble_loss(stats[:len(stats_U)], stats[len(stats_U):],
                              gathered[len(stats):], params["w0"])

    def _gather(self):
        if self.gathered is None:
            self.gathered = self.run.gather_factors(self.U, self.V)
        return self.gathered

    def checkpoint(self, iteration, loss_history):
        params = self.run.params
        if not (params["checkpoint_every"] > 0 and iteration % params["checkpoint_every"] == 0):
            return
        factors = self._gather()
        if params["checkpoint_path"] is not None:
            write_checkpoint(params["checkpoint_path"], iteration, *factors, loss_history)
        if iteration < params["iterations"]:
            self.restart_from = (iteration, factors)

    def _restart(self, iteration, factors):
        """Root the graph at the client's copy of the factors of ``iteration``."""
        run, data, params = self.run, self.data, self.run.params
        self.restart_from = None
        self.prepared = None
        self.holders = run.placement(data)
        user_holders, item_holders = self.holders
        Uf, Vf = factors
        self.V = run.roots("root-V", (iteration,), data.items,
                           [Vf[lo:hi] for lo, hi in data.items.ranges()], data.q, item_holders)
        self.U = (None if params["solver"] == "cholesky" else
                  run.roots("root-U", (iteration,), data.users,
                            [Uf[lo:hi] for lo, hi in data.users.ranges()], data.p,
                            user_holders))
        self.U_rows, self.V_rows = self.U, (None if self.U is None else self.V)
        run.live = self.base + (self.U or []) + self.V

    def callback_factors(self):
        if not self.run.params["callback_factors"]:
            return None, None
        return self._gather()

    def finish(self):
        self._gather()


def _assemble_loss(stats_U, stats_V, observed, w0):
    """The objective from per-block scalars and ``d x d`` Gramians (as Problem.loss)."""
    loss = sum(observed)
    loss += sum(s["penalty"] for s in stats_U) + sum(s["penalty"] for s in stats_V)
    if w0 != 0.0:
        gram_U = np.zeros_like(stats_U[0]["gram"])
        for s in stats_U:
            gram_U += s["gram"]
        gram_V = np.zeros_like(stats_V[0]["gram"])
        for s in stats_V:
            gram_V += s["gram"]
        loss += w0 * float(np.sum(gram_U * gram_V))
    return float(loss)


def _given_weights(user_weights, item_weights, shape):
    """Validated ``p`` and ``q``, or None where not given (all ones, never shipped)."""
    p, q = unobserved_weights(user_weights, item_weights, shape)
    return (None if user_weights is None else p), (None if item_weights is None else q)


def _frame_roles(X, columns, positions):
    """Role -> column name of a dask DataFrame (WALS's roles and defaults), checked
    against the frame's metadata; ``positions``: ids must be integers."""
    from pandas.api.types import is_integer_dtype, is_numeric_dtype
    roles = {role: name for role, name in check_columns(columns).items() if name is not None}
    present = list(X.columns)
    for role, name in roles.items():
        if name not in present:
            raise ValueError(f"columns: the {role} column {name!r} is not in the frame "
                             f"(it has {present})")
    dtypes = X.dtypes
    for role, name in roles.items():
        dtype = dtypes[name]
        if role in ("user", "item") and positions and not is_integer_dtype(dtype):
            raise TypeError(f"X column {name!r} must hold integer positions with shape=, "
                            f"got dtype {dtype}; leave shape out to number labels")
        if role in ("value", "weight") and not is_numeric_dtype(dtype):
            raise TypeError(f"X column {name!r} must hold real numbers, got dtype {dtype}")
    return roles


def _check_frame_stats(stats, roles, shape):
    """Raise on what WALS's validation would reject; return ``(m, n)``."""
    if stats["entries"] == 0:
        raise ValueError("X has no stored entries")
    for axis, role in enumerate(("user", "item")):
        column = roles[role]
        low, high = stats[f"{role}_min"], stats[f"{role}_max"]
        if low < 0:
            raise ValueError(f"X column {column!r} must be non-negative, found {low}")
        if high >= shape[axis]:
            raise ValueError(f"X column {column!r} must be < shape[{axis}] = {shape[axis]}, "
                             f"found {high}")
    if not stats["values_finite"]:
        raise ValueError(f"X column {roles['value']!r} must be finite (found NaN or inf)")
    if "weights_finite" in stats:
        if not stats["weights_finite"]:
            raise ValueError(f"X column {roles['weight']!r} must be finite (found NaN or inf)")
        if stats["weights_min"] is not None and stats["weights_min"] < 0:
            raise ValueError(f"X column {roles['weight']!r} must be non-negative")
    return tuple(shape)
