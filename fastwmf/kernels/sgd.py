"""One Hogwild SGD epoch over the stored entries, visited tile by tile.

The entries are laid out once per fit in (user block, item block) tiles
(:func:`tile_entries`, linear time). A block holds few enough rows that one
user block and one item block of factors stay in the core's L2 cache while
their tile is visited, so an update rarely misses cache; visiting entries in
a global random order instead misses on nearly every update. Threads take
whole user blocks in an order shuffled every epoch and update the shared
item factors without locks (Recht et al. 2011); inside a user block the
tiles start at a random item block, and each tile is walked from a random
start in a random direction (see :func:`visit_order`). While a visit is
computed, the factor rows of the visit :data:`PREFETCH_VISITS` ahead are
prefetched, so that the cache misses of successive visits overlap: on a
large sparse matrix a tile holds about one entry per row, so most visits
read rows that are not yet in cache. With one thread an
epoch is a plain sequential pass and fully reproducible.
"""

import functools

import numpy as np
from numba import njit, prange

from .._config import PARALLEL, SERIAL
from .prefetch import prefetch, prefetch_row
from .specialise import exact_width

#: Bytes of one block of factor rows (a user block and an item block share L2).
BLOCK_BYTES = 128 * 1024

#: At least this many user blocks (when there are rows enough), so that the
#: threads can share the work of a small matrix.
MIN_USER_BLOCKS = 16

#: At most this many tiles (their offsets are one int64 each).
MAX_TILES = 1 << 20

#: The factor rows of the entry this many visits ahead are prefetched. On the
#: 10M-entry benchmark (d = 64, one thread) prefetching cut an epoch's CPU
#: cycles by about a third; distances 4, 8 and 16 measured alike.
PREFETCH_VISITS = 8


def block_rows(factors, itemsize):
    """Rows per block for ``factors`` columns of ``itemsize`` bytes."""
    return max(16, BLOCK_BYTES // max(1, factors * itemsize))


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
    ascending), which the hardware prefetcher follows; a random stride
    instead (tried) took 1.85x as long per epoch on the 10M-entry benchmark.
    """
    h = _mix((seed & 0xFFFFFFFF) * 1_000_003 + tile)
    step = 1 if (h & 1) or n == 1 else n - 1
    return (h >> 1) % n, step % n


def sgd_epoch(tile_ptr, n_item_blocks, block_order, tile_offsets, seed, rows, cols, targets,
              confidence, U, V, user_bias, item_bias, global_bias, biased, w0, row_weights,
              col_weights, user_gramian, item_gramian, user_visit_reg, item_visit_reg,
              user_visit_bias_reg, item_visit_bias_reg, user_visit_gram, item_visit_gram,
              learning_rate, adagrad, user_acc, item_acc, user_bias_acc, item_bias_acc):
    """Visit every stored entry once, updating factors (and biases) in place.

    Each visit of entry ``e = (i, j)`` steps along minus the gradient of its
    share of the objective (halved)::

        c (a - pred)^2 - w0 p_i q_j (u.v)^2
          + user_visit_gram[i] u^T Gv u + item_visit_gram[j] v^T Gu v
          + user_visit_reg[i] |u|^2 + item_visit_reg[j] |v|^2
          + user_visit_bias_reg[i] b_i^2 + item_visit_bias_reg[j] b_j^2

    with ``pred = u.v (+ global_bias + b_i + b_j when biased)``. The per-visit
    weights are the row totals divided by the row's entry count, so one epoch
    sums to the full objective. ``item_gramian`` is ``V^T diag(q) V`` and
    ``user_gramian`` is ``U^T diag(p) U``, both fixed for the epoch.

    With ``adagrad`` each row keeps the running sum of its mean squared
    gradient (LIBMF's per-row rule, the sums starting at 1) and steps
    ``learning_rate / sqrt(sum)``, its own gradient included (steadier at large
    rates than LIBMF, which steps before adding); otherwise the step is
    ``learning_rate``.

    Parameters
    ----------
    tile_ptr, n_item_blocks :
        The tiles of :func:`tile_entries`; ``rows``, ``cols``, ``targets`` and
        ``confidence`` are in tiled order.
    block_order : ndarray of int64
        User blocks in the order the threads take them.
    tile_offsets : ndarray of int64, one per user block
        The item block each user block starts from.
    seed : int
        Seeds this epoch's visiting order inside the tiles.
    """
    kernel = _epoch_kernel(exact_width(U.shape[1]), U.dtype.type)
    kernel(tile_ptr, n_item_blocks, block_order, tile_offsets, seed, rows, cols, targets,
           confidence, U, V, user_bias, item_bias, global_bias, biased, w0, row_weights,
           col_weights, user_gramian, item_gramian, user_visit_reg, item_visit_reg,
           user_visit_bias_reg, item_visit_bias_reg, user_visit_gram, item_visit_gram,
           learning_rate, adagrad, user_acc, item_acc, user_bias_acc, item_bias_acc)


@functools.lru_cache(maxsize=None)
def _epoch_kernel(width, float_type):
    """The epoch compiled for ``width`` factors exactly (0: any) and one dtype;
    vectors are in that dtype, scalars in float64."""

    @njit(**PARALLEL)
    def epoch_kernel(tile_ptr, n_item_blocks, block_order, tile_offsets, seed, rows, cols,
                     targets, confidence, U, V, user_bias, item_bias, global_bias, biased,
                     w0, row_weights, col_weights, user_gramian, item_gramian,
                     user_visit_reg, item_visit_reg, user_visit_bias_reg,
                     item_visit_bias_reg, user_visit_gram, item_visit_gram, learning_rate,
                     adagrad, user_acc, item_acc, user_bias_acc, item_bias_acc):
        D = width if width else U.shape[1]
        gram = w0 > 0.0
        for b in prange(block_order.shape[0]):
            ub = block_order[b]
            gu = np.empty(D, U.dtype)
            gv = np.empty(D, U.dtype)
            u = np.empty(D, U.dtype)
            v = np.empty(D, U.dtype)
            for k in range(n_item_blocks):
                tile = ub * n_item_blocks + (tile_offsets[ub] + k) % n_item_blocks
                lo = tile_ptr[tile]
                n = tile_ptr[tile + 1] - lo
                if n == 0:
                    continue
                pos, step = visit_order(seed, tile, n)
                coming = (pos + PREFETCH_VISITS * step) % n
                for s in range(n):
                    # unsigned indices: no negative-index wraparound code
                    e = np.uint64(lo + pos)
                    pos += step
                    if pos >= n:
                        pos -= n
                    if s + PREFETCH_VISITS < n:
                        c = np.uint64(lo + coming)
                        coming += step
                        if coming >= n:
                            coming -= n
                        prefetch_row(U, rows[c], D)
                        prefetch_row(V, cols[c], D)
                        # the item's scalars share one cache line in the model's layout
                        prefetch(item_acc, cols[c])
                    i = np.uint64(rows[e])
                    j = np.uint64(cols[e])
                    # two halves summed apart: two dependency chains instead of one
                    half = D // 2
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
                    for t in range(2 * half, D):
                        ut = U[i, t]
                        vt = V[j, t]
                        dot0 += ut * vt
                        uu0 += ut * ut
                        vv0 += vt * vt
                    dot = dot0 + dot1
                    uu = uu0 + uu1
                    vv = vv0 + vv1
                    pred = np.float64(dot)
                    if biased:
                        pred += global_bias + user_bias[i] + item_bias[j]
                    conf = np.float64(confidence[e])
                    err = np.float64(targets[e]) - pred
                    scale64 = conf * err
                    if gram:
                        scale64 += w0 * row_weights[i] * col_weights[j] * np.float64(dot)
                    scale = float_type(scale64)
                    ru = float_type(user_visit_reg[i])
                    rv = float_type(item_visit_reg[j])
                    step_u = learning_rate
                    step_v = learning_rate
                    if gram:
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
                        if adagrad:
                            sq_u = float_type(0.0)
                            sq_v = float_type(0.0)
                            for t in range(D):
                                sq_u += gu[t] * gu[t]
                                sq_v += gv[t] * gv[t]
                            user_acc[i] += np.float64(sq_u) / D
                            item_acc[j] += np.float64(sq_v) / D
                            step_u = learning_rate / np.sqrt(user_acc[i])
                            step_v = learning_rate / np.sqrt(item_acc[j])
                        su = float_type(step_u)
                        sv = float_type(step_v)
                        for t in range(D):
                            U[i, t] = u[t] - su * gu[t]
                            V[j, t] = v[t] - sv * gv[t]
                    else:
                        if adagrad:
                            # |r u - s v|^2 expanded: no second pass over the rows
                            s64 = np.float64(scale)
                            cross = 2.0 * s64 * np.float64(dot)
                            sq_u = (np.float64(ru) * (np.float64(ru) * np.float64(uu) - cross)
                                    + s64 * s64 * np.float64(vv))
                            sq_v = (np.float64(rv) * (np.float64(rv) * np.float64(vv) - cross)
                                    + s64 * s64 * np.float64(uu))
                            user_acc[i] += max(sq_u, 0.0) / D
                            item_acc[j] += max(sq_v, 0.0) / D
                            su = float_type(learning_rate) / np.sqrt(float_type(user_acc[i]))
                            sv = float_type(learning_rate) / np.sqrt(float_type(item_acc[j]))
                        else:
                            su = float_type(learning_rate)
                            sv = float_type(learning_rate)
                        # u - su (ru u - scale v) = keep_u u + take_u v, and likewise v
                        keep_u = float_type(1.0) - su * ru
                        keep_v = float_type(1.0) - sv * rv
                        take_u = su * scale
                        take_v = sv * scale
                        for t in range(D):
                            ut = U[i, t]
                            vt = V[j, t]
                            U[i, t] = keep_u * ut + take_u * vt
                            V[j, t] = keep_v * vt + take_v * ut
                    if biased:
                        gbu = user_visit_bias_reg[i] * user_bias[i] - conf * err
                        gbv = item_visit_bias_reg[j] * item_bias[j] - conf * err
                        step_bu = learning_rate
                        step_bv = learning_rate
                        if adagrad:
                            user_bias_acc[i] += gbu * gbu
                            item_bias_acc[j] += gbv * gbv
                            step_bu = learning_rate / np.sqrt(user_bias_acc[i])
                            step_bv = learning_rate / np.sqrt(item_bias_acc[j])
                        user_bias[i] -= step_bu * gbu
                        item_bias[j] -= step_bv * gbv

    return epoch_kernel
