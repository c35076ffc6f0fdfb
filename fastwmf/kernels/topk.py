"""Top-k selection of inner-product scores for a batch of queries."""

import numpy as np
from numba import njit

from .._config import CHUNK, SERIAL
from .._threading import run_tasks, work_chunks


@njit(**SERIAL)
def _better(score_a, id_a, score_b, id_b):
    """Ranking order: higher score first, lower id first among ties."""
    return score_a > score_b or (score_a == score_b and id_a < id_b)


@njit(**SERIAL)
def _sift_down(heap_scores, heap_ids, size, pos):
    """Restore a heap whose root is the worst kept candidate."""
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        worst = left
        right = left + 1
        if right < size and _better(heap_scores[worst], heap_ids[worst],
                                    heap_scores[right], heap_ids[right]):
            worst = right
        if _better(heap_scores[pos], heap_ids[pos], heap_scores[worst], heap_ids[worst]):
            heap_scores[pos], heap_scores[worst] = heap_scores[worst], heap_scores[pos]
            heap_ids[pos], heap_ids[worst] = heap_ids[worst], heap_ids[pos]
            pos = worst
        else:
            return


@njit(**SERIAL)
def _sift_up(heap_scores, heap_ids, pos):
    while pos > 0:
        parent = (pos - 1) // 2
        if _better(heap_scores[parent], heap_ids[parent], heap_scores[pos], heap_ids[pos]):
            heap_scores[pos], heap_scores[parent] = heap_scores[parent], heap_scores[pos]
            heap_ids[pos], heap_ids[parent] = heap_ids[parent], heap_ids[pos]
            pos = parent
        else:
            return


@njit(**SERIAL)
def offer(heap_scores, heap_ids, size, k, score, item):
    """Offer ``(score, item)`` to a heap keeping the best ``k``; return its new size."""
    if size < k:
        heap_scores[size] = score
        heap_ids[size] = item
        _sift_up(heap_scores, heap_ids, size)
        return size + 1
    if _better(score, item, heap_scores[0], heap_ids[0]):
        heap_scores[0] = score
        heap_ids[0] = item
        _sift_down(heap_scores, heap_ids, size, 0)
    return size


#: Queries whose scores one matrix product computes together.
QUERY_BLOCK = 64

#: Candidates per matrix product: the score block is ``QUERY_BLOCK x
#: CANDIDATE_BLOCK`` (1 MiB in float32), small enough to stay in L2 while
#: the selection reads it.
CANDIDATE_BLOCK = 4096


def topk_inner_product(queries, candidates, excl_indptr, excl_indices, allowed,
                       k, out_ids, out_scores):
    """Write the ``k`` best candidates for each query by inner product.

    Scores come in blocks from a BLAS matrix product in the factors' dtype;
    a heap per query keeps the best ``k`` (ties: lower id first), and the
    winners' scores are recomputed in float64 and put in order, so the scores
    returned do not depend on the blocking. In float32 two candidates whose
    scores differ by about 1e-7 relative may be ranked as the float32 product
    ranks them.

    Parameters
    ----------
    queries : ndarray, shape (n_queries, d)
        C-contiguous, of ``candidates``' dtype.
    candidates : ndarray, shape (n_candidates, d)
        C-contiguous.
    excl_indptr, excl_indices : ndarray of int64, int32
        CSR rows (one per query) of candidate ids to leave out for that
        query, ascending within each row.
    allowed : ndarray of bool, shape (n_candidates,)
        Candidates that may be returned to any query.
    k : int
    out_ids : ndarray of int64, shape (n_queries, k)
        Receives ids best first; ``-1`` where fewer than ``k`` are eligible.
    out_scores : ndarray of float64, shape (n_queries, k)
        Receives scores; ``-inf`` beside each ``-1`` id.
    """
    bounds = work_chunks(queries.shape[0], candidates.shape[0] * (queries.shape[1] + 1))
    run_tasks(lambda c: _topk_chunk(bounds[c], bounds[c + 1], queries, candidates,
                                    excl_indptr, excl_indices, allowed, k, out_ids,
                                    out_scores), len(bounds) - 1)


@njit(**CHUNK)
def _topk_chunk(start, stop, queries, candidates, excl_indptr, excl_indices, allowed, k,
                out_ids, out_scores):
    """:func:`topk_inner_product` for queries ``start:stop``."""
    n_candidates = candidates.shape[0]
    tile = max(1, min(CANDIDATE_BLOCK, n_candidates))
    block = np.empty(QUERY_BLOCK * tile, dtype=candidates.dtype)
    heap_scores = np.empty((QUERY_BLOCK, k))
    heap_ids = np.empty((QUERY_BLOCK, k), dtype=np.int64)
    sizes = np.zeros(QUERY_BLOCK, dtype=np.int64)
    cursor = np.zeros(QUERY_BLOCK, dtype=np.int64)
    for q0 in range(start, stop, QUERY_BLOCK):
        q1 = min(q0 + QUERY_BLOCK, stop)
        rows = q1 - q0
        for r in range(rows):
            sizes[r] = 0
            cursor[r] = excl_indptr[q0 + r]
        for t0 in range(0, n_candidates, tile):
            t1 = min(t0 + tile, n_candidates)
            width = t1 - t0
            scores = block[:rows * width].reshape((rows, width))
            np.dot(queries[q0:q1], candidates[t0:t1].T, scores)
            for r in range(rows):
                p = cursor[r]
                end = excl_indptr[q0 + r + 1]
                while p < end and excl_indices[p] < t1:
                    if excl_indices[p] >= t0:
                        scores[r, excl_indices[p] - t0] = -np.inf
                    p += 1
                cursor[r] = p
                size = sizes[r]
                kept_scores = heap_scores[r]
                kept_ids = heap_ids[r]
                # candidates come in ascending id order, so one tied with the
                # worst kept one ranks below it: only a higher score enters
                floor = kept_scores[0] if size == k else -np.inf
                for c in range(width):
                    s = np.float64(scores[r, c])
                    if s > floor and allowed[t0 + c]:
                        size = offer(kept_scores, kept_ids, size, k, s, t0 + c)
                        if size == k:
                            floor = kept_scores[0]
                sizes[r] = size
        for r in range(rows):
            _finish_row(queries[q0 + r], candidates, heap_scores[r], heap_ids[r], sizes[r], k,
                        out_ids[q0 + r], out_scores[q0 + r])


@njit(**SERIAL)
def _finish_row(query, candidates, heap_scores, heap_ids, size, k, ids, scores):
    """Write one query's kept candidates best first, rescored in float64."""
    d = query.shape[0]
    for pos in range(size, k):
        ids[pos] = -1
        scores[pos] = -np.inf
    for pos in range(size):
        j = heap_ids[pos]
        s = 0.0
        for t in range(d):
            s += np.float64(query[t]) * np.float64(candidates[j, t])
        ids[pos] = j
        scores[pos] = s
    for pos in range(1, size):  # insertion sort: k is small
        s, j = scores[pos], ids[pos]
        q = pos - 1
        while q >= 0 and _better(s, j, scores[q], ids[q]):
            scores[q + 1], ids[q + 1] = scores[q], ids[q]
            q -= 1
        scores[q + 1], ids[q + 1] = s, j
