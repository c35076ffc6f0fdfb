"""Worker-side tasks of :class:`fastwmf.distributed.DaskWALS`.

Everything here runs inside Dask worker processes and is pickled *by
reference* (module-level functions of the installed package), so the workers
import the same Numba kernels as the single-machine estimator and share its
on-disk JIT cache. Nothing here imports Dask at module level.

Tasks never modify their inputs: Dask may hand the same object to several
tasks, or keep it to recompute a lost result.
"""

import contextlib
import threading
from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp

from .._threading import blas_controller, max_threads, row_chunks, uniform_chunks
from .._validation import check_interactions
from ..kernels.als import half_step_cg, half_step_cholesky
from ..kernels.halfstep import HalfStepRows
from ..kernels.gramian import weighted_gramian
from ..kernels.loss import observed_loss, weighted_squared_norm
from ..models._problem import frequency_scaled_regularization
from ..models._wmf import targets_and_confidence

#: One Numba parallel region per worker process at a time: each kernel call
#: already uses all of the worker's threads, so concurrent calls from a
#: multi-threaded worker would only oversubscribe the cores.
_KERNEL_LOCK = threading.Lock()


# ------------------------------------------------------------------ blocks

@dataclass
class Layout:
    """Static description of one orientation's blocks (small; sent with tasks).

    Attributes
    ----------
    n_other : int
        Columns of this orientation (items for user blocks, users for item blocks).
    other_bounds : ndarray of int64
        Row bounds of the other orientation's blocks (for routed mode).
    dtype : numpy.dtype
    w0, regularization, nu : float
    other_weight_total : float
        ``sum(q)`` for user blocks, ``sum(p)`` for item blocks.
    row_cost : float
        Fixed work per row for chunk balancing (as in WALS).
    routed : bool
        Whether to precompute the index maps of routed mode.
    """

    n_other: int
    other_bounds: np.ndarray
    dtype: np.dtype
    w0: float
    regularization: float
    nu: float
    other_weight_total: float
    row_cost: float
    routed: bool


@dataclass
class Block:
    """Rows ``start:stop`` of one orientation, laid out for the kernels.

    ``indices`` hold global column ids. In routed mode ``cols`` lists the
    distinct columns the block touches and ``local_indices`` index into it;
    ``routes[k]`` lists the block's own (local) rows that block ``k`` of the
    other orientation needs.
    """

    start: int
    stop: int
    indptr: np.ndarray        # int64, local rows
    indices: np.ndarray       # int32, global column ids
    targets: np.ndarray       # model dtype
    confidence: np.ndarray    # model dtype
    row_weights: np.ndarray   # float64 (p or q of these rows)
    col_weights: np.ndarray   # float64, full other-side weights, or None (all ones)
    row_reg: np.ndarray       # float64
    chunks: np.ndarray        # int64
    gram_chunks: np.ndarray   # int64
    cols: np.ndarray = None
    local_indices: np.ndarray = None
    local_col_weights: np.ndarray = None
    routes: list = None

    @property
    def n_rows(self):
        return self.stop - self.start

    @property
    def nnz(self):
        return len(self.indices)

    def __sizeof__(self):
        # Dask's scheduler uses sizeof for placement and memory accounting
        total = 0
        for value in vars(self).values():
            if isinstance(value, np.ndarray):
                total += value.nbytes
            elif isinstance(value, list):
                total += sum(v.nbytes for v in value)
        return total + 1000


def _finish_block(start, stop, indptr, indices, targets, confidence, layout,
                  row_weights, col_weights):
    """Derive the per-row terms (as :meth:`Problem.build` does) and routed maps."""
    n_rows = stop - start
    counts = np.diff(indptr)
    p = np.ones(n_rows) if row_weights is None else _kernel_array(
        row_weights[start:stop], np.float64)
    if col_weights is not None:
        col_weights = _kernel_array(col_weights, np.float64)
    row_reg = frequency_scaled_regularization(
        layout.regularization, layout.nu, counts, layout.w0, p, layout.other_weight_total)
    block = Block(
        start=int(start), stop=int(stop),
        indptr=_kernel_array(indptr, np.int64),
        indices=_kernel_array(indices, np.int32),
        targets=_kernel_array(targets, layout.dtype),
        confidence=_kernel_array(confidence, layout.dtype),
        row_weights=p, col_weights=col_weights, row_reg=row_reg,
        chunks=row_chunks(indptr, layout.row_cost),
        gram_chunks=uniform_chunks(n_rows))
    if layout.routed:
        cols, local = np.unique(block.indices, return_inverse=True)
        block.cols = cols.astype(np.int64)
        block.local_indices = local.astype(np.int32).reshape(-1)
        block.local_col_weights = (None if col_weights is None
                                   else np.ascontiguousarray(col_weights[block.cols]))
        # rows of this block that block k of the other orientation needs:
        # those with an entry in k's row range (the same set k computes as its cols)
        rows = np.repeat(np.arange(n_rows, dtype=np.int64), counts)
        dest = np.searchsorted(layout.other_bounds, block.indices, side="right") - 1
        pairs = np.unique(dest.astype(np.int64) * n_rows + rows)
        split = np.searchsorted(pairs // n_rows, np.arange(len(layout.other_bounds)))
        block.routes = [pairs[split[k]:split[k + 1]] % n_rows
                        for k in range(len(layout.other_bounds) - 1)]
    return block


def user_block_from_csr(start, stop, indptr, indices, targets, confidence, layout,
                        row_weights=None, col_weights=None):
    """A user block from a validated CSR slice (in-memory input)."""
    return _finish_block(start, stop, indptr, indices, targets, confidence, layout,
                         row_weights, col_weights)


def user_block_from_entries(pieces, start, stop, layout, params, row_weights=None,
                            col_weights=None):
    """A user block from unsorted entry pieces (DataFrame input).

    Duplicates are summed and the entries validated exactly as
    :func:`fastwmf._validation.check_interactions` does for WALS (all
    entries of a user live in one block), then transformed into targets and
    confidences by the same function WALS uses.
    """
    rows = np.concatenate([p["user"] for p in pieces]) - start
    cols = np.concatenate([p["item"] for p in pieces])
    values = np.concatenate([p["value"] for p in pieces])
    weights = None
    if pieces and pieces[0].get("weight") is not None:
        weights = np.concatenate([p["weight"] for p in pieces])
    matrix = sp.coo_matrix((values, (rows, cols)), shape=(stop - start, layout.n_other))
    data = check_interactions(matrix, "X", weights=weights, allow_empty=True)
    targets, confidence = targets_and_confidence(data, params, layout.dtype)
    return _finish_block(start, stop, data.indptr, data.indices, targets, confidence,
                         layout, row_weights, col_weights)


def split_block_columns(block, bounds):
    """Entries of a user block, cut by the item blocks' row ranges.

    Returns one piece per item block: item ids local to that block, global
    user ids, targets and confidences, in row-major order.
    """
    rows = block.start + np.repeat(np.arange(block.n_rows, dtype=np.int64),
                                   np.diff(block.indptr))
    dest = np.searchsorted(bounds, block.indices, side="right") - 1
    order = np.argsort(dest, kind="stable")
    cuts = np.searchsorted(dest[order], np.arange(len(bounds)))
    pieces = []
    for k in range(len(bounds) - 1):
        sel = order[cuts[k]:cuts[k + 1]]
        pieces.append({"item": block.indices[sel].astype(np.int64) - bounds[k],
                       "user": rows[sel], "targets": block.targets[sel],
                       "confidence": block.confidence[sel]})
    return pieces


def item_block_from_pieces(pieces, start, stop, layout, row_weights=None, col_weights=None):
    """An item block (rows of ``A^T``) from the pieces of every user block, in order.

    A stable sort by item keeps the users of each item ascending, so the
    layout equals WALS's CSC view entry for entry.
    """
    items = np.concatenate([p["item"] for p in pieces])
    users = np.concatenate([p["user"] for p in pieces])
    targets = np.concatenate([p["targets"] for p in pieces])
    confidence = np.concatenate([p["confidence"] for p in pieces])
    order = np.argsort(items, kind="stable")
    counts = np.bincount(items, minlength=stop - start)
    indptr = np.zeros(stop - start + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return _finish_block(start, stop, indptr, users[order], targets[order],
                         confidence[order], layout, row_weights, col_weights)


def block_summary(block):
    """``(n_rows, nnz)`` of a block (surfaces build errors early)."""
    return block.n_rows, block.nnz


def block_pattern(block):
    """``(indptr, indices)`` of a block: its rows' stored columns (global ids)."""
    return block.indptr, block.indices


def take(items, index):
    """``items[index]`` (used for list and tuple task outputs)."""
    return items[index]


# -------------------------------------------------------------- DataFrame

def partition_arrays(frame, roles, user_labels=None, item_labels=None):
    """The columns of one DataFrame partition as numpy arrays.

    ``roles`` maps ``user``, ``item`` and optionally ``value`` and ``weight``
    to column names (a missing ``value`` is 1 per row). With label arrays,
    user and item labels become their positions in them (the sorted labels
    of the whole frame, as WALS numbers them); without, the ids must already
    be integer positions. Missing values and weights become NaN (rejected as
    non-finite).
    """
    out = {}
    for role, labels in (("user", user_labels), ("item", item_labels)):
        series = frame[roles[role]]
        if series.isna().any():
            raise ValueError(f"columns: the {role} column holds missing labels")
        if labels is None:
            out[role] = series.to_numpy(dtype=np.int64)
        else:
            out[role] = _positions(np.asarray(series.to_numpy()), labels, role)
    n = len(out["user"])
    for role in ("value", "weight"):
        column = roles.get(role)
        if column is None:
            out[role] = np.ones(n) if role == "value" else None
        else:
            out[role] = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _positions(values, labels, role):
    """Positions of ``values`` in the sorted ``labels``."""
    if labels.dtype.kind == "U" and values.dtype.kind != "U":
        values = values.astype(str)
    positions = np.searchsorted(labels, values)
    found = positions < len(labels)
    found[found] = labels[positions[found]] == values[found]
    if not found.all():
        raise ValueError(f"columns: the {role} column has labels outside those counted "
                         f"when the fit started (did the data change?)")
    return positions.astype(np.int64)


def partition_stats(arrays):
    """Counts and ranges of one partition's entries, for checks and balancing."""
    users, items, values, weights = (arrays["user"], arrays["item"], arrays["value"],
                                     arrays["weight"])
    stats = {"entries": len(users), "values_finite": bool(np.all(np.isfinite(values)))}
    for role, ids in (("user", users), ("item", items)):
        if len(ids) and ids.min() >= 0:
            stats[f"{role}_counts"] = np.bincount(ids)
        else:
            stats[f"{role}_counts"] = np.zeros(0, dtype=np.int64)
        stats[f"{role}_min"] = int(ids.min()) if len(ids) else None
        stats[f"{role}_max"] = int(ids.max()) if len(ids) else None
    if weights is not None:
        stats["weights_finite"] = bool(np.all(np.isfinite(weights)))
        stats["weights_min"] = float(weights.min()) if len(weights) else None
    return stats


def merge_stats(*parts):
    """Combine :func:`partition_stats` results."""
    out = {"entries": sum(p["entries"] for p in parts),
           "values_finite": all(p["values_finite"] for p in parts)}
    for role in ("user", "item"):
        counts = [p[f"{role}_counts"] for p in parts]
        total = np.zeros(max(len(c) for c in counts), dtype=np.int64)
        for c in counts:
            total[:len(c)] += c
        out[f"{role}_counts"] = total
        lows = [p[f"{role}_min"] for p in parts if p[f"{role}_min"] is not None]
        highs = [p[f"{role}_max"] for p in parts if p[f"{role}_max"] is not None]
        out[f"{role}_min"] = min(lows) if lows else None
        out[f"{role}_max"] = max(highs) if highs else None
    if "weights_finite" in parts[0]:
        out["weights_finite"] = all(p["weights_finite"] for p in parts)
        lows = [p["weights_min"] for p in parts if p["weights_min"] is not None]
        out["weights_min"] = min(lows) if lows else None
    return out


def split_rows(arrays, bounds):
    """One partition's entries cut by the user blocks' row ranges."""
    users = arrays["user"]
    dest = np.searchsorted(bounds, users, side="right") - 1
    order = np.argsort(dest, kind="stable")
    cuts = np.searchsorted(dest[order], np.arange(len(bounds)))
    pieces = []
    for k in range(len(bounds) - 1):
        sel = order[cuts[k]:cuts[k + 1]]
        pieces.append({role: (None if a is None else a[sel]) for role, a in arrays.items()})
    return pieces


# ------------------------------------------------------------- iteration

def _kernel_threads(requested):
    """Numba threads for a task: the worker's thread count (capped by ``requested``)."""
    try:
        from distributed import get_worker
        threads = get_worker().state.nthreads
    except (ImportError, ValueError):  # not inside a worker (direct calls in tests)
        threads = max_threads()
    threads = max(1, min(threads, max_threads()))
    return min(threads, requested) if requested else threads


@contextlib.contextmanager
def task_threads(requested):
    """Run kernels with the worker's threads, one kernel call per process at a time.

    ``numba.set_num_threads`` is called here, inside the task: it is
    per-thread state, and setting ``NUMBA_NUM_THREADS`` through a nanny's
    environment comes too late (numba is imported before it is applied).
    BLAS (used by the Gramian) is held to one thread meanwhile.
    """
    with _KERNEL_LOCK:
        previous = numba.get_num_threads()
        numba.set_num_threads(_kernel_threads(requested))
        try:
            controller = blas_controller()
            if controller is None:  # pragma: no cover
                yield
            else:
                with controller.limit(limits=1, user_api="blas"):
                    yield
        finally:
            numba.set_num_threads(previous)


def _kernel_array(array, dtype=None):
    """A writeable C-contiguous array: a read-only one would compile a second
    specialisation of every kernel (Numba types read-only arrays separately)."""
    array = np.asarray(array, dtype=dtype)
    if not (array.flags.c_contiguous and array.flags.writeable):
        array = np.array(array, order="C", copy=True)
    return array


def constant(value):
    """``value`` itself: initial and restarted factor blocks are graph-embedded roots."""
    return value


def _sum_gramians(parts):
    """The Gramian of a whole factor matrix: per-block partials added in block order
    (the same order on every worker, so every block sees the same matrix)."""
    total = np.zeros_like(parts[0])
    for part in parts:
        total += part
    return total


def assemble_full(outs):
    """The full fixed factor matrix and its Gramian on one worker ("full" exchange).

    ``outs`` are the ``(rows, gramian part, stats)`` results of the previous
    half-step, one per block in order; Dask fetches the ones held elsewhere,
    once per worker (an all-gather).
    """
    return np.concatenate([o[0] for o in outs], axis=0), _sum_gramians([o[1] for o in outs])


def take_rows(block, out, dest):
    """The rows of this block's new factors that block ``dest`` of the other
    side needs ("routed" exchange), with the block's Gramian part."""
    return out[0][block.routes[dest]], out[1]


def _rows(prev):
    """Factor rows from a solve result tuple or a plain array."""
    return prev[0] if isinstance(prev, tuple) else prev


def _solve(block, indices, other, col_weights, gram, prev, params, own_other=False):
    dtype = np.dtype(params["dtype"])
    d = gram.shape[0]
    other = _kernel_array(other, dtype)
    gram = _kernel_array(gram, np.float64)
    if col_weights is None:
        col_weights = np.ones(other.shape[0])
    if prev is None or params["solver"] == "cholesky":
        out = np.zeros((block.n_rows, d), dtype=dtype)
    else:  # warm start; never in place
        out = np.array(_rows(prev), dtype=dtype, order="C", copy=True)
    rows = HalfStepRows(block.indptr, indices, block.targets, block.confidence,
                        block.row_weights, block.row_reg, block.chunks)
    stats = {}
    with task_threads(params["num_threads"]):
        if params["solver"] == "cholesky":
            half_step_cholesky(rows, other, gram, params["w0"], col_weights, out)
        else:
            # rotated in place only when this task built ``other`` itself
            half_step_cg(rows, other, gram, params["w0"], col_weights, params["cg_steps"], out,
                         overwrite_other=own_other)
        part = weighted_gramian(out, block.row_weights, block.gram_chunks)
        stats["finite"] = bool(np.isfinite(out).all())
        if params["calculate_loss"]:
            stats["gram"] = part
            stats["penalty"] = float(weighted_squared_norm(out, block.row_reg, block.chunks))
    return out, part, stats


def _fixed_routed(pieces, dtype):
    """The routed rows of the fixed factors and their full Gramian."""
    gram = _sum_gramians([p[1] for p in pieces])
    rows = [p[0] for p in pieces if len(p[0])]
    other = (np.concatenate(rows, axis=0) if rows
             else np.zeros((0, gram.shape[0]), dtype=dtype))
    return other, gram


def solve_full(block, fixed, prev, params):
    """One half-step on a block given the full fixed factors and their Gramian.

    Returns ``(new rows, their weighted Gramian, scalars)``; the scalars hold
    the penalty (and the Gramian again) for the loss. ``prev`` (the block's
    previous rows, or result tuple) is the CG warm start.
    """
    other, gram = fixed
    return _solve(block, block.indices, other, block.col_weights, gram, prev, params)


def solve_routed(block, pieces, prev, params):
    """As :func:`solve_full`, given only the rows of the fixed factors the
    block uses: ``pieces`` from :func:`take_rows`, one per block of the other side."""
    other, gram = _fixed_routed(pieces, np.dtype(params["dtype"]))
    return _solve(block, block.local_indices, other, block.local_col_weights, gram, prev,
                  params, own_other=True)


def _observed(block, indices, rows, other, col_weights, params):
    dtype = np.dtype(params["dtype"])
    rows = _kernel_array(_rows(rows), dtype)
    other = _kernel_array(other, dtype)
    if col_weights is None:
        col_weights = np.ones(other.shape[0])
    with task_threads(params["num_threads"]):
        return float(observed_loss(block.indptr, indices, block.targets, block.confidence,
                                   rows, other, params["w0"], block.row_weights, col_weights,
                                   block.chunks))


def observed_full(block, rows, fixed, params):
    """The observed part of the loss over a user block (as ``Problem.loss``).

    Runs on the user side: there the random reads go to the item factors,
    usually the smaller matrix (WALS's ``Problem.loss`` sums the item side,
    which is stored in its factors' order when they are renumbered). ``fixed`` is the gather of the new
    item factors that the next user half-step uses, so it moves nothing extra.
    """
    return _observed(block, block.indices, rows, fixed[0], block.col_weights, params)


def observed_routed(block, rows, pieces, params):
    """As :func:`observed_full`, from routed rows."""
    other, _ = _fixed_routed(pieces, np.dtype(params["dtype"]))
    return _observed(block, block.local_indices, rows, other, block.local_col_weights, params)
