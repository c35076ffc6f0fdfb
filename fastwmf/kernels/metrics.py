"""Ranking and rating metrics per user, scored item by item (no m x n matrix).

The ranking order is the one of :mod:`fastwmf.kernels.topk`: higher score
first, lower item id first among equal scores. Scores are ``u . v`` summed in
float64 whatever the factor dtype.
"""

import numpy as np
from numba import njit

from .._config import CHUNK
from .._threading import run_tasks, work_chunks
from .topk import _sift_down, offer

#: Columns of the per-user ranking output, in this order.
RANKING_COLUMNS = ("precision", "recall", "ndcg", "map", "hit_rate")

_CANDIDATE = 0  # neither in train nor relevant
_TRAIN = 1      # excluded from the ranking
_RELEVANT = 2   # a test item outside train

#: Up to this many relevant items the AUC scans them per candidate; above, it
#: sorts them and binary-searches.
_AUC_LINEAR_MAX = 96


def ranking_metrics(users, user_factors, item_factors, train, test, ks, want_auc, outputs):
    """Per-user ranking metrics at each cut-off in ``ks``, training items excluded.

    For user ``u`` the candidates are the items not in its train row, the
    relevant items the test items among the candidates. Each cut-off ``k`` is
    clamped to the number of candidates (``k_u = min(k, n_candidates)``).

    Parameters
    ----------
    users : ndarray of int64, shape (b,)
        User ids (rows of the factor, train and test matrices).
    user_factors : ndarray, shape (n_users, d)
    item_factors : ndarray, shape (n_items, d)
        Same dtype as ``user_factors``.
    train : (ndarray of int64, ndarray of int32)
        ``(indptr, indices)``: CSR rows (sorted, duplicate-free) of the items
        to exclude per user.
    test : (ndarray of int64, ndarray of int32)
        ``(indptr, indices)``: CSR rows (sorted, duplicate-free) of the test
        items per user.
    ks : ndarray of int64, shape (n_ks,)
        Cut-offs, ascending, each in ``[1, n_items]``.
    want_auc : bool
        Compute the AUC (an extra pass over the candidates).
    outputs : tuple of ndarray
        ``(out, out_relevant, out_auc, covered)``, filled in place:
        ``out`` (float64, shape (b, n_ks, 5)) receives precision, recall,
        NDCG, average precision and hit (0 or 1) per user and cut-off (see
        ``RANKING_COLUMNS``), NaN for users without relevant items;
        ``out_relevant`` (int64, shape (b,)) the number of relevant items per
        user; ``out_auc`` (float64, shape (b,)) the AUC, NaN where it is
        undefined (no relevant item, or no candidate that is not relevant) or
        not asked for. ``covered`` (uint8, shape (n_ks, n_items)) is set to 1
        for every item in the top ``k_u`` of a user with relevant items (other
        entries are left as they are; threads may store 1 into one byte at
        once, which gives the same result in any order).
    """
    bounds = work_chunks(len(users), item_factors.shape[0] * (item_factors.shape[1] + 1))
    train, test, outputs = tuple(train), tuple(test), tuple(outputs)
    want_auc = bool(want_auc)
    run_tasks(lambda c: _ranking_metrics_chunk(
        bounds[c], bounds[c + 1], users, user_factors, item_factors, train, test, ks,
        want_auc, outputs), len(bounds) - 1)


@njit(**CHUNK)
def _ranking_metrics_chunk(start, stop, users, user_factors, item_factors, train, test, ks,
                           want_auc, outputs):
    """:func:`ranking_metrics` for ``users[start:stop]``."""
    train_indptr, train_indices = train
    test_indptr, test_indices = test
    out, out_relevant, out_auc, covered = outputs
    n_items = item_factors.shape[0]
    d = item_factors.shape[1]
    n_ks = ks.shape[0]
    kmax = ks[n_ks - 1]
    state = np.empty(n_items, dtype=np.int8)
    for b in range(start, stop):
        u = users[b]
        state[:] = _CANDIDATE
        for p in range(train_indptr[u], train_indptr[u + 1]):
            state[train_indices[p]] = _TRAIN
        n_candidates = n_items - (train_indptr[u + 1] - train_indptr[u])
        n_relevant = 0
        for p in range(test_indptr[u], test_indptr[u + 1]):
            j = test_indices[p]
            if state[j] == _CANDIDATE:
                state[j] = _RELEVANT
                n_relevant += 1
        out_relevant[b] = n_relevant
        out_auc[b] = np.nan
        if n_relevant == 0:
            for ki in range(n_ks):
                for c in range(out.shape[2]):
                    out[b, ki, c] = np.nan
            continue

        # score every candidate; keep the kmax best in a heap whose root is the worst
        scores = np.empty(n_items)
        heap_scores = np.empty(kmax)
        heap_ids = np.empty(kmax, dtype=np.int64)
        size = 0
        for j in range(n_items):
            if state[j] == _TRAIN:
                continue
            s = 0.0
            for t in range(d):
                s += np.float64(user_factors[u, t]) * np.float64(item_factors[j, t])
            scores[j] = s
            size = offer(heap_scores, heap_ids, size, kmax, s, j)
        top = np.empty(size, dtype=np.int64)  # best first; size == min(kmax, n_candidates)
        for pos in range(size - 1, -1, -1):
            top[pos] = heap_ids[0]
            heap_scores[0] = heap_scores[pos]
            heap_ids[0] = heap_ids[pos]
            _sift_down(heap_scores, heap_ids, pos, 0)

        for ki in range(n_ks):
            k = min(ks[ki], size)
            hits = 0
            dcg = 0.0
            precision_sum = 0.0
            for pos in range(k):
                j = top[pos]
                covered[ki, j] = 1
                if state[j] == _RELEVANT:
                    hits += 1
                    dcg += 1.0 / np.log2(pos + 2.0)
                    precision_sum += hits / (pos + 1.0)
            n_ideal = min(k, n_relevant)
            idcg = 0.0
            for pos in range(n_ideal):
                idcg += 1.0 / np.log2(pos + 2.0)
            out[b, ki, 0] = hits / k
            out[b, ki, 1] = hits / n_ideal
            out[b, ki, 2] = dcg / idcg
            out[b, ki, 3] = precision_sum / n_ideal
            out[b, ki, 4] = 1.0 if hits > 0 else 0.0

        n_negative = n_candidates - n_relevant
        if want_auc and n_negative > 0:
            relevant_scores = np.empty(n_relevant)
            c = 0
            for p in range(test_indptr[u], test_indptr[u + 1]):
                j = test_indices[p]
                if state[j] == _RELEVANT:
                    relevant_scores[c] = scores[j]
                    c += 1
            twice_correct = 0  # 2 per pair ranked correctly, 1 per tie: exact in int64
            if n_relevant <= _AUC_LINEAR_MAX:  # a scan beats two binary searches
                for j in range(n_items):
                    if state[j] != _CANDIDATE:
                        continue
                    s = scores[j]
                    for c in range(n_relevant):  # branch-free: 2 if >, 1 if ==, 0 if <
                        twice_correct += (np.int64(relevant_scores[c] > s)
                                          + np.int64(relevant_scores[c] >= s))
            else:
                relevant_scores.sort()
                for j in range(n_items):
                    if state[j] != _CANDIDATE:
                        continue
                    s = scores[j]
                    base = 0  # branch-free lower bound: lo = relevant scores below s
                    length = n_relevant
                    while length > 1:
                        half = length >> 1
                        base += half * np.int64(relevant_scores[base + half] < s)
                        length -= half
                    lo = base + np.int64(relevant_scores[base] < s)
                    end = lo  # end of the run equal to s
                    while end < n_relevant and relevant_scores[end] == s:
                        end += 1
                    twice_correct += 2 * n_relevant - lo - end
            out_auc[b] = twice_correct / (2.0 * n_relevant * n_negative)


def pointwise_errors(indptr, indices, values, user_factors, item_factors, out_squared,
                     out_absolute):
    """Per-row sums of squared and absolute errors ``a_ij - u_i . v_j``.

    Parameters
    ----------
    indptr, indices, values : ndarray of int64, int32, float64
        CSR rows of the entries to predict; row ``i`` is user ``i``.
    user_factors, item_factors : ndarray, same dtype
    out_squared, out_absolute : ndarray of float64, shape (n_rows,)
        Receive the sums per row (summed in stored order, so the totals do not
        depend on the thread count).
    """
    n_rows = indptr.shape[0] - 1
    bounds = work_chunks(n_rows, (indptr[-1] / max(n_rows, 1) + 1) * item_factors.shape[1])
    run_tasks(lambda c: _pointwise_errors_chunk(
        bounds[c], bounds[c + 1], indptr, indices, values, user_factors, item_factors,
        out_squared, out_absolute), len(bounds) - 1)


@njit(**CHUNK)
def _pointwise_errors_chunk(start, stop, indptr, indices, values, user_factors, item_factors,
                            out_squared, out_absolute):
    """:func:`pointwise_errors` for rows ``start:stop``."""
    d = item_factors.shape[1]
    for i in range(start, stop):
        squared = 0.0
        absolute = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            s = 0.0
            for t in range(d):
                s += np.float64(user_factors[i, t]) * np.float64(item_factors[j, t])
            err = values[p] - s
            squared += err * err
            absolute += abs(err)
        out_squared[i] = squared
        out_absolute[i] = absolute
