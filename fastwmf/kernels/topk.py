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


def topk_inner_product(queries, candidates, excl_indptr, excl_indices, allowed,
                       k, out_ids, out_scores):
    """Write the ``k`` best candidates for each query by inner product.

    Parameters
    ----------
    queries : ndarray, shape (n_queries, d)
    candidates : ndarray, shape (n_candidates, d)
    excl_indptr, excl_indices : ndarray
        CSR rows (one per query) of candidate ids to leave out for that query.
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
    d = queries.shape[1]
    banned = np.empty(n_candidates, dtype=np.bool_)
    heap_scores = np.empty(k)
    heap_ids = np.empty(k, dtype=np.int64)
    for qi in range(start, stop):
        banned[:] = False
        for p in range(excl_indptr[qi], excl_indptr[qi + 1]):
            banned[excl_indices[p]] = True
        size = 0
        for j in range(n_candidates):
            if banned[j] or not allowed[j]:
                continue
            s = 0.0
            for t in range(d):
                s += np.float64(queries[qi, t]) * np.float64(candidates[j, t])
            size = offer(heap_scores, heap_ids, size, k, s, j)
        for pos in range(size, k):
            out_ids[qi, pos] = -1
            out_scores[qi, pos] = -np.inf
        for pos in range(size - 1, -1, -1):  # pop worst first, fill from the back
            out_scores[qi, pos] = heap_scores[0]
            out_ids[qi, pos] = heap_ids[0]
            heap_scores[0] = heap_scores[pos]
            heap_ids[0] = heap_ids[pos]
            _sift_down(heap_scores, heap_ids, pos, 0)
