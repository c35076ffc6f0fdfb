"""One Hogwild SGD epoch over the stored entries, visited tile by tile.

The entries are laid out once per fit in (user block, item block) tiles
(:func:`tile_entries`, linear time). A thread visits all the tiles of a user
block before the next, so the block's factor rows stay in the core's cache
throughout; visiting entries in a global random order instead misses on
nearly every update. On a sparse matrix an item row is rarely visited twice
in one tile, so item blocks are made wide instead (see :func:`block_shape`):
inside a tile entries keep CSR order, and the more entries a user has in one
tile, the more often consecutive visits reuse its row. Threads take whole
user blocks, in an order shuffled every epoch, as they become free, and
update the shared item factors without locks (Recht et al. 2011); inside a
user block the tiles start at a random item block, and each tile is walked
from a random start in a random direction (see :func:`visit_order`). While
a visit is computed, the factor rows of the visit :data:`PREFETCH_VISITS`
ahead are prefetched, so that the cache misses of successive visits overlap:
most visits read an item row that is not yet in cache. With one thread an
epoch is a plain sequential pass and fully reproducible.
"""

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .._alignment import aligned_empty
from .._config import PARALLEL, SERIAL
from .._threading import dynamic_schedule
from ._llvm import head_sums, head_update, inverse_sqrt, prefetch, prefetch_row, split_update
from .specialise import exact_width, specialised

#: Bytes of the factor rows of one user block: it stays in the core's cache
#: while its tiles are visited.
USER_BLOCK_BYTES = 64 * 1024

#: Bytes of the factor rows of one item block: its rows come from the shared
#: cache on nearly every visit anyway; its 4 KB pages still fit the data TLB
#: (wide item blocks beat square ones: benchmarks/README.md, "Kernel constants").
ITEM_BLOCK_BYTES = 1024 * 1024

#: At least this many user blocks (when there are rows enough), so that the
#: threads can share the work of a small matrix.
MIN_USER_BLOCKS = 16

#: At most this many tiles (their offsets are one int64 each).
MAX_TILES = 1 << 20

#: The factor rows of the entry this many visits ahead are prefetched
#: (distance chosen by measurement: benchmarks/README.md, "Kernel constants").
PREFETCH_VISITS = 8


def block_shape(factors, itemsize):
    """``(user rows, item rows)`` per block for ``factors`` columns of ``itemsize`` bytes."""
    row_bytes = max(1, factors * itemsize)
    return max(16, USER_BLOCK_BYTES // row_bytes), max(16, ITEM_BLOCK_BYTES // row_bytes)


@njit(**PARALLEL)
def tile_entries(indptr, indices, targets, confidence, user_rows, item_rows, n_item_blocks,
                 rows_out, cols_out, targets_out, confidence_out):
    """Copy the CSR entries into tiled order in ``O(nnz + tiles)`` (counting sort).

    A user block's entries are contiguous in CSR order and stay contiguous in
    tiled order, so each block is sorted on its own, in parallel and in cache.

    Parameters
    ----------
    indptr, indices, targets, confidence : ndarray
        CSR structure (rows are users) and the values aligned with it.
    user_rows, item_rows : int
        Rows per user block and per item block.
    n_item_blocks : int
    rows_out, cols_out, targets_out, confidence_out : ndarray, shape (nnz,)
        Receive user, item, target and confidence of each tiled position.

    Returns
    -------
    tile_ptr : ndarray of int64
        Tile ``ub * n_item_blocks + ib`` holds positions
        ``tile_ptr[t]:tile_ptr[t + 1]``; within a tile, entries keep CSR order.
    """
    m = indptr.shape[0] - 1
    n_user_blocks = (m + user_rows - 1) // user_rows
    n_tiles = n_user_blocks * n_item_blocks
    tile_ptr = np.zeros(n_tiles + 1, np.int64)
    for ub in prange(n_user_blocks):
        base = ub * n_item_blocks + 1
        for i in range(ub * user_rows, min(m, (ub + 1) * user_rows)):
            for e in range(indptr[i], indptr[i + 1]):
                tile_ptr[base + indices[e] // item_rows] += 1
    for t in range(n_tiles):
        tile_ptr[t + 1] += tile_ptr[t]
    for ub in prange(n_user_blocks):
        base = ub * n_item_blocks
        fill = tile_ptr[base:base + n_item_blocks].copy()
        for i in range(ub * user_rows, min(m, (ub + 1) * user_rows)):
            for e in range(indptr[i], indptr[i + 1]):
                ib = indices[e] // item_rows
                pos = fill[ib]
                fill[ib] = pos + 1
                rows_out[pos] = i
                cols_out[pos] = indices[e]
                targets_out[pos] = targets[e]
                confidence_out[pos] = confidence[e]
    return tile_ptr


@njit(inline="always", **SERIAL)
def _mix(x):
    """A 64-bit integer hash (splitmix64's finaliser), as a non-negative int."""
    z = np.uint64(x & 0x7FFFFFFFFFFFFFFF)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.int64(z >> np.uint64(1))


@njit(inline="always", **SERIAL)
def visit_order(seed, tile, n):
    """``(start, step)`` of a tile's visiting order this epoch.

    The tile is walked from a random start, forwards or backwards, wrapping
    around: ``start + s * step (mod n)`` for ``s = 0 .. n-1`` visits each of
    the ``n`` positions once. Neighbouring positions keep CSR order (users
    ascending), which the hardware prefetcher follows; a random stride does
    not (benchmarks/README.md, "Kernel constants").
    """
    h = _mix((seed & 0xFFFFFFFF) * 1_000_003 + tile)
    step = 1 if (h & 1) or n == 1 else n - 1
    return (h >> 1) % n, step % n


#: Columns of a side's per-row scalars, one 64-byte row per user (item): a
#: visit reads them at its user's and its item's row, so side by side they
#: cost one cache miss, not up to seven. ``reg``, ``bias_reg`` and ``gram``
#: are the per-visit weights (row totals over the row's entry count),
#: ``weight`` the unobserved weight ``p_i`` (``q_j``), ``bias`` the row's
#: bias, and ``acc``, ``tail_acc``, ``bias_acc`` its AdaGrad sums.
ROW_SCALARS = ("reg", "acc", "bias_reg", "bias", "bias_acc", "gram", "weight", "tail_acc")


def row_scalars(rows, reg, bias_reg, gram, weight):
    """A cache-line aligned ``(rows, 8)`` float64 block of per-row scalars
    (:data:`ROW_SCALARS`): biases 0, AdaGrad sums 1."""
    block = aligned_empty((rows, len(ROW_SCALARS)), np.float64)
    block[...] = 0.0
    columns = scalar_columns(block)
    columns["reg"][:] = reg
    columns["bias_reg"][:] = bias_reg
    columns["gram"][:] = gram
    columns["weight"][:] = weight
    for name in ("acc", "tail_acc", "bias_acc"):
        columns[name][:] = 1.0
    return block


def scalar_columns(block):
    """Named column views of a :func:`row_scalars` block."""
    return {name: block[:, k] for k, name in enumerate(ROW_SCALARS)}


_BIAS, _REG, _BIAS_REG, _ACC, _TAIL_ACC, _BIAS_ACC, _GRAM, _WEIGHT = (
    ROW_SCALARS.index(name) for name in
    ("bias", "reg", "bias_reg", "acc", "tail_acc", "bias_acc", "gram", "weight"))


@njit(inline="always", **SERIAL)
def _scalar_columns(block):
    """Column views of a :func:`row_scalars` block, inside a kernel: ``(bias, reg,
    bias_reg, acc, tail_acc, bias_acc, gram, weight)``."""
    return (block[:, _BIAS], block[:, _REG], block[:, _BIAS_REG], block[:, _ACC],
            block[:, _TAIL_ACC], block[:, _BIAS_ACC], block[:, _GRAM], block[:, _WEIGHT])


class EpochTiles(NamedTuple):
    """Where an epoch's threads go: the tiles of :func:`tile_entries` and this
    epoch's order (``block_order``: user blocks in the order the threads take
    them; ``tile_offsets``: the item block each user block starts from;
    ``seed``: the visiting order inside the tiles)."""

    tile_ptr: np.ndarray
    n_item_blocks: int
    block_order: np.ndarray
    tile_offsets: np.ndarray
    seed: int


class Entries(NamedTuple):
    """The stored entries in tiled order: user, item, target, confidence."""

    rows: np.ndarray
    cols: np.ndarray
    targets: np.ndarray
    confidence: np.ndarray


class EpochSettings(NamedTuple):
    """The scalars of an epoch (``head``: columns of the first part; ``warmup``:
    update the first part only)."""

    global_bias: float
    biased: bool
    w0: float
    learning_rate: float
    adagrad: bool
    head: int
    warmup: bool


def sgd_epoch(tiles, entries, U, V, user_scalars, item_scalars, gramians, settings):
    """Visit every stored entry once, updating factors (and biases) in place.

    Each visit of entry ``e = (i, j)`` steps along minus the gradient of its
    share of the objective (halved)::

        c (a - pred)^2 - w0 p_i q_j (u.v)^2
          + gram_u[i] u^T Gv u + gram_v[j] v^T Gu v
          + reg_u[i] |u|^2 + reg_v[j] |v|^2 + bias_reg_u[i] b_i^2 + bias_reg_v[j] b_j^2

    (the ``_u`` and ``_v`` scalars are columns of ``user_scalars`` and
    ``item_scalars``) with ``pred = u.v (+ global_bias + b_i + b_j when
    biased)``. The per-visit weights are the row totals divided by the row's
    entry count, so one epoch sums to the full objective. ``gramians`` is
    ``(U^T diag(p) U, V^T diag(q) V)``, both fixed for the epoch.

    With ``adagrad`` each row keeps the running sum of its mean squared
    gradient (LIBMF's per-row rule, the sums starting at 1) and steps
    ``learning_rate / sqrt(sum)``, its own gradient included (steadier at large
    rates than LIBMF, which steps before adding; in float32 without ``w0`` the
    square root is :func:`.rsqrt.inverse_sqrt`'s estimate); otherwise the step is
    ``learning_rate``. With ``0 < head < d`` the columns ``[0, head)`` and
    ``[head, d)`` are two parts with sums of their own (``acc`` and
    ``tail_acc``), as in LIBMF; with ``warmup`` only the first part is updated
    (the rest still counts in the predictions). ``head`` is 0 or at least
    ``d`` for one part (each value compiles kernels of its own).

    Parameters
    ----------
    tiles : EpochTiles
    entries : Entries
        In the tiled order of ``tiles``.
    U, V : ndarray
        Factors, updated in place.
    user_scalars, item_scalars : ndarray, shape (n_rows, 8)
        :func:`row_scalars` blocks; biases and AdaGrad sums updated in place.
    gramians : (ndarray, ndarray)
        User and item Gramians (read when ``w0 > 0``).
    settings : EpochSettings
    """
    d = U.shape[1]
    head = settings.head if 0 < settings.head < d else 0
    settings = EpochSettings(float(settings.global_bias), bool(settings.biased),
                             float(settings.w0), float(settings.learning_rate),
                             bool(settings.adagrad), int(head), bool(settings.warmup))
    tiles = EpochTiles(tiles.tile_ptr, int(tiles.n_item_blocks), tiles.block_order,
                       tiles.tile_offsets, int(tiles.seed))
    with dynamic_schedule():  # user blocks to whichever thread is free
        if settings.w0 > 0.0:
            kernel = _wmf_epoch_kernel.for_factors(d, U.dtype, head)
            kernel(tiles, entries, U, V, user_scalars, item_scalars, tuple(gramians), settings)
        else:
            kernel = _explicit_epoch_kernel.for_factors(d, U.dtype, head)
            kernel(tiles, entries, U, V, user_scalars, item_scalars, settings)


@njit(inline="always", **SERIAL)
def _next_position(pos, step, n):
    """The position after ``pos`` in a tile's walk of ``n`` positions."""
    pos += step
    if pos >= n:
        pos -= n
    return pos


@njit(inline="always", **SERIAL)
def _tile_span(tile_ptr, n_item_blocks, tile_offsets, ub, k):
    """``(tile, first position, entry count)`` of user block ``ub``'s ``k``-th tile
    this epoch (its item blocks start from ``tile_offsets[ub]``)."""
    tile = ub * n_item_blocks + (tile_offsets[ub] + k) % n_item_blocks
    lo = tile_ptr[tile]
    return tile, lo, tile_ptr[tile + 1] - lo


@njit(inline="always", **SERIAL)
def _walk_start(seed, tile, n):
    """``(pos, step, coming)``: a tile's walk this epoch (:func:`visit_order`) and
    the position :data:`PREFETCH_VISITS` visits ahead of its start."""
    pos, step = visit_order(seed, tile, n)
    return pos, step, (pos + PREFETCH_VISITS * step) % n


@njit(inline="always", **SERIAL)
def _visit_entry(s, lo, n, pos, coming, step, U, V, item_scalars, rows, cols, width):
    """``(entry, pos, coming)``: the entry of a tile's ``s``-th visit (at ``pos``),
    then both positions advanced. The visit :data:`PREFETCH_VISITS` ahead (at
    ``coming``) gets its two factor rows and its item's scalars (one cache line
    in the model's layout) prefetched. Entries are unsigned: no negative-index
    wraparound code where they index."""
    e = np.uint64(lo + pos)
    pos = _next_position(pos, step, n)
    if s + PREFETCH_VISITS < n:
        c = np.uint64(lo + coming)
        prefetch_row(U, rows[c], width)
        prefetch_row(V, cols[c], width)
        prefetch(item_scalars, cols[c])
        coming = _next_position(coming, step, n)
    return e, pos, coming


@njit(inline="always", **SERIAL)
def _dot_and_norms(U, V, i, j, width, float_type):
    """``(u.v, |u|^2, |v|^2)`` of ``u = U[i]``, ``v = V[j]`` as float64, summed in
    ``float_type`` over two halves apart (two dependency chains, not one)."""
    half = width // 2
    dot0 = float_type(0.0)
    uu0 = float_type(0.0)
    vv0 = float_type(0.0)
    dot1 = float_type(0.0)
    uu1 = float_type(0.0)
    vv1 = float_type(0.0)
    for t in range(half):
        ut = U[i, t]
        vt = V[j, t]
        dot0 += ut * vt
        uu0 += ut * ut
        vv0 += vt * vt
        ut = U[i, t + half]
        vt = V[j, t + half]
        dot1 += ut * vt
        uu1 += ut * ut
        vv1 += vt * vt
    for t in range(2 * half, width):
        ut = U[i, t]
        vt = V[j, t]
        dot0 += ut * vt
        uu0 += ut * ut
        vv0 += vt * vt
    return np.float64(dot0 + dot1), np.float64(uu0 + uu1), np.float64(vv0 + vv1)


@njit(inline="always", **SERIAL)
def _prediction(dot, biased, global_bias, user_bias, item_bias, i, j):
    """``dot``, plus the biases when ``biased``, without a branch.

    The bias slots are read either way (they share the cache line of the row's
    other scalars, and hold zeros in a model without biases). Behind a branch,
    LLVM computed the dot product before it and the norms after it, which kept
    factor-row registers live across the branch: spilled to the stack and
    reloaded on every visit. (A conditional expression compiles to a branch too.)
    """
    return dot + np.float64(biased) * (global_bias + user_bias[i] + item_bias[j])


@njit(inline="always", **SERIAL)
def _mean_square_gradient(reg, werr, dot, own_norm2, other_norm2, width):
    """``|reg x - werr y|^2 / width`` from ``x.y``, ``|x|^2`` and ``|y|^2`` (no pass
    over the rows)."""
    square = reg * (reg * own_norm2 - 2.0 * werr * dot) + werr * werr * other_norm2
    return max(square, 0.0) / width


@njit(inline="always", **SERIAL)
def _explicit_steps(i, j, products, columns, regs, werr, rate, adagrad, frozen, user_acc,
                    item_acc, float_type):
    """``(keep_u, take_u, keep_v, take_v)`` of one column part of a visit: its step
    ``u - su (ru u - werr v)`` is ``keep_u u + take_u v``, and likewise for
    ``v`` (``products``: the part's ``(u.v, |u|^2, |v|^2)``; ``columns``: its
    size; ``regs``: ``(ru, rv)``; ``user_acc``, ``item_acc``: its AdaGrad
    sums, apart: a tuple of arrays built on every visit costs two atomic
    reference counts). A ``frozen`` part keeps its values and its sums
    (``(1, 0, 1, 0)``).

    The sums are updated on every call, by 0 when they are not kept: behind a
    branch, LLVM sank the computation of the row's squared norms into it,
    which kept the row's SIMD registers live across the branch (spills).
    """
    dot, uu, vv = products
    ru, rv = regs
    gain = 1.0 if adagrad and not frozen else 0.0
    user_acc[i] += gain * _mean_square_gradient(ru, werr, dot, uu, vv, columns)
    item_acc[j] += gain * _mean_square_gradient(rv, werr, dot, vv, uu, columns)
    su = rate
    sv = rate
    if adagrad:
        su = rate * inverse_sqrt(float_type(user_acc[i]))
        sv = rate * inverse_sqrt(float_type(item_acc[j]))
    if frozen:
        su = float_type(0.0)
        sv = float_type(0.0)
    one = float_type(1.0)
    return (one - su * float_type(ru), su * float_type(werr), one - sv * float_type(rv),
            sv * float_type(werr))


@njit(inline="always", **SERIAL)
def _update_rows(U, V, i, j, lo, hi, steps):
    """Columns ``[lo, hi)`` of ``U[i]`` and ``V[j]`` become ``keep_u u + take_u v``
    and ``keep_v v + take_v u`` (``steps``: ``(keep_u, take_u, keep_v, take_v)``)."""
    keep_u, take_u, keep_v, take_v = steps
    for t in range(lo, hi):
        ut = U[i, t]
        vt = V[j, t]
        U[i, t] = keep_u * ut + take_u * vt
        V[j, t] = keep_v * vt + take_v * ut


@njit(inline="always", **SERIAL)
def _wmf_steps(i, j, gu, gv, lo, hi, learning_rate, adagrad, user_acc, item_acc, float_type):
    """``(su, sv)``: the steps of the column part ``[lo, hi)`` of a visit whose
    gradients are ``gu``, ``gv``."""
    step_u = learning_rate
    step_v = learning_rate
    if adagrad:
        sq_u = float_type(0.0)
        sq_v = float_type(0.0)
        for t in range(lo, hi):
            sq_u += gu[t] * gu[t]
            sq_v += gv[t] * gv[t]
        user_acc[i] += np.float64(sq_u) / (hi - lo)
        item_acc[j] += np.float64(sq_v) / (hi - lo)
        step_u = learning_rate / np.sqrt(user_acc[i])
        step_v = learning_rate / np.sqrt(item_acc[j])
    return float_type(step_u), float_type(step_v)


@njit(inline="always", **SERIAL)
def _bias_step(i, j, werr, learning_rate, adagrad, user_bias, item_bias, user_visit_bias_reg,
               item_visit_bias_reg, user_bias_acc, item_bias_acc):
    """The biases' step of one visit (``werr``: confidence times error)."""
    gbu = user_visit_bias_reg[i] * user_bias[i] - werr
    gbv = item_visit_bias_reg[j] * item_bias[j] - werr
    step_bu = learning_rate
    step_bv = learning_rate
    if adagrad:
        user_bias_acc[i] += gbu * gbu
        item_bias_acc[j] += gbv * gbv
        step_bu = learning_rate / np.sqrt(user_bias_acc[i])
        step_bv = learning_rate / np.sqrt(item_bias_acc[j])
    user_bias[i] -= step_bu * gbu
    item_bias[j] -= step_bv * gbv


@specialised("sgd-explicit", widths=exact_width)
def _explicit_epoch_kernel(width, float_type, head):
    """The epoch of the explicit model (``w0 = 0``), compiled for ``width`` factors
    exactly (0: any), one dtype and a first column part of ``head`` columns (0:
    one part; the head's sums and update are vector operations of that size,
    see :mod:`.rowhead`); vectors in that dtype, scalars in float64.

    Apart from the WMF epoch so that it carries none of the Gramian terms'
    ``O(d^2)`` code: it is smaller and keeps fewer values live than a
    combined kernel (compared in benchmarks/README.md, "Kernel constants").
    """
    head_size = max(head, 1)  # 1: never used (one part); intrinsics need a size > 0
    row_size = max(width, head_size + 1)  # likewise where width is 0 (generic)

    @njit(**PARALLEL)
    def epoch_kernel(tiles, entries, U, V, user_scalars, item_scalars, settings):
        tile_ptr, n_item_blocks, block_order, tile_offsets, seed = tiles
        rows, cols, targets, confidence = entries
        global_bias, biased, _, learning_rate, adagrad, _, warmup = settings
        user_bias, user_visit_reg, user_visit_bias_reg, user_acc, user_tail_acc, \
            user_bias_acc, _, _ = _scalar_columns(user_scalars)
        item_bias, item_visit_reg, item_visit_bias_reg, item_acc, item_tail_acc, \
            item_bias_acc, _, _ = _scalar_columns(item_scalars)
        D = width if width else U.shape[1]
        split = head if head else D  # sgd_epoch passes 0 < head < d, or 0
        rate = float_type(learning_rate)
        for b in prange(block_order.shape[0]):
            ub = block_order[b]
            for k in range(n_item_blocks):
                tile, lo, n = _tile_span(tile_ptr, n_item_blocks, tile_offsets, ub, k)
                if n == 0:
                    continue
                pos, step, coming = _walk_start(seed, tile, n)
                for s in range(n):
                    e, pos, coming = _visit_entry(s, lo, n, pos, coming, step, U, V, item_acc,
                                                  rows, cols, D)
                    i = np.uint64(rows[e])
                    j = np.uint64(cols[e])
                    dot, uu, vv = _dot_and_norms(U, V, i, j, D, float_type)
                    pred = _prediction(dot, biased, global_bias, user_bias, item_bias, i, j)
                    werr = np.float64(confidence[e]) * (np.float64(targets[e]) - pred)
                    ru = user_visit_reg[i]
                    rv = item_visit_reg[j]
                    if split < D:
                        dot_h, uu_h, vv_h = head_sums(U, V, i, j, head_size)
                        head_steps = _explicit_steps(
                            i, j, (dot_h, uu_h, vv_h), split, (ru, rv), werr, rate, adagrad,
                            False, user_acc, item_acc, float_type)
                        # the warm-up's tail is frozen: rewritten with its own values
                        tail_steps = _explicit_steps(
                            i, j, (dot - dot_h, uu - uu_h, vv - vv_h), D - split, (ru, rv),
                            werr, rate, adagrad, warmup, user_tail_acc, item_tail_acc,
                            float_type)
                        if width:
                            split_update(U, V, i, j, head_steps, tail_steps, row_size,
                                         head_size)
                        else:
                            head_update(U, V, i, j, head_steps, head_size)
                            _update_rows(U, V, i, j, split, D, tail_steps)
                    else:
                        steps = _explicit_steps(i, j, (dot, uu, vv), D, (ru, rv), werr, rate,
                                                adagrad, False, user_acc, item_acc,
                                                float_type)
                        _update_rows(U, V, i, j, 0, D, steps)
                    if biased:
                        _bias_step(i, j, werr, learning_rate, adagrad, user_bias, item_bias,
                                   user_visit_bias_reg, item_visit_bias_reg, user_bias_acc,
                                   item_bias_acc)

    return epoch_kernel


@specialised("sgd-wmf", widths=exact_width)
def _wmf_epoch_kernel(width, float_type, head):
    """The epoch of the WMF model (``w0 > 0``: each visit also steps along its
    share of the Gramian terms, ``O(d^2)``), compiled for ``width`` factors exactly
    (0: any), one dtype and a first column part of ``head`` columns (0: one
    part); vectors in that dtype, scalars in float64."""

    @njit(**PARALLEL)
    def epoch_kernel(tiles, entries, U, V, user_scalars, item_scalars, gramians, settings):
        tile_ptr, n_item_blocks, block_order, tile_offsets, seed = tiles
        rows, cols, targets, confidence = entries
        user_gramian, item_gramian = gramians
        global_bias, biased, w0, learning_rate, adagrad, _, warmup = settings
        user_bias, user_visit_reg, user_visit_bias_reg, user_acc, user_tail_acc, \
            user_bias_acc, user_visit_gram, row_weights = _scalar_columns(user_scalars)
        item_bias, item_visit_reg, item_visit_bias_reg, item_acc, item_tail_acc, \
            item_bias_acc, item_visit_gram, col_weights = _scalar_columns(item_scalars)
        D = width if width else U.shape[1]
        split = head if head else D  # sgd_epoch passes 0 < head < d, or 0
        for b in prange(block_order.shape[0]):
            ub = block_order[b]
            gu = np.empty(D, U.dtype)
            gv = np.empty(D, U.dtype)
            u = np.empty(D, U.dtype)
            v = np.empty(D, U.dtype)
            for k in range(n_item_blocks):
                tile, lo, n = _tile_span(tile_ptr, n_item_blocks, tile_offsets, ub, k)
                if n == 0:
                    continue
                pos, step, coming = _walk_start(seed, tile, n)
                for s in range(n):
                    e, pos, coming = _visit_entry(s, lo, n, pos, coming, step, U, V, item_acc,
                                                  rows, cols, D)
                    i = np.uint64(rows[e])
                    j = np.uint64(cols[e])
                    dot = float_type(0.0)
                    for t in range(D):
                        dot += U[i, t] * V[j, t]
                    pred = _prediction(np.float64(dot), biased, global_bias, user_bias, item_bias,
                                       i, j)
                    werr = np.float64(confidence[e]) * (np.float64(targets[e]) - pred)
                    scale = float_type(werr + w0 * row_weights[i] * col_weights[j]
                                       * np.float64(dot))
                    ru = float_type(user_visit_reg[i])
                    rv = float_type(item_visit_reg[j])
                    for t in range(D):
                        u[t] = U[i, t]
                        v[t] = V[j, t]
                        gu[t] = ru * u[t] - scale * v[t]
                        gv[t] = rv * v[t] - scale * u[t]
                    wu = user_visit_gram[i]
                    wv = item_visit_gram[j]
                    for r in range(D):
                        acc_u = 0.0
                        acc_v = 0.0
                        for t in range(D):
                            acc_u += item_gramian[r, t] * u[t]
                            acc_v += user_gramian[r, t] * v[t]
                        gu[r] += wu * acc_u
                        gv[r] += wv * acc_v
                    su, sv = _wmf_steps(i, j, gu, gv, 0, split, learning_rate, adagrad,
                                        user_acc, item_acc, float_type)
                    su_t, sv_t = su, sv
                    if split < D:
                        if warmup:  # the tail stays as it is
                            su_t = sv_t = float_type(0.0)
                        else:
                            su_t, sv_t = _wmf_steps(i, j, gu, gv, split, D, learning_rate,
                                                    adagrad, user_tail_acc, item_tail_acc,
                                                    float_type)
                    for t in range(split):
                        U[i, t] = u[t] - su * gu[t]
                        V[j, t] = v[t] - sv * gv[t]
                    for t in range(split, D):
                        U[i, t] = u[t] - su_t * gu[t]
                        V[j, t] = v[t] - sv_t * gv[t]
                    if biased:
                        _bias_step(i, j, werr, learning_rate, adagrad, user_bias, item_bias,
                                   user_visit_bias_reg, item_visit_bias_reg, user_bias_acc,
                                   item_bias_acc)

    return epoch_kernel
