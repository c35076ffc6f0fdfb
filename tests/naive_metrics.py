"""Brute-force references for fastwmf.evaluation: dense scores, Python sorting.

Definitions (the module notes of fastwmf.evaluation): candidates are the items
not in train; relevant items the test items among them; ranking by score, the
lower item id first among equal scores; k clamped to the candidates.
"""

import numpy as np
import scipy.sparse as sp

RANKING = ("precision", "recall", "ndcg", "map", "hit_rate")


def dense_scores(U, V):
    """The full users x items score matrix in float64."""
    return np.asarray(U, dtype=np.float64) @ np.asarray(V, dtype=np.float64).T


def ranking_order(scores_row, candidates):
    """Candidates best first: higher score first, lower id first among ties."""
    return sorted(candidates, key=lambda j: (-scores_row[j], j))


def user_metrics(scores_row, seen, relevant, k):
    """Precision, recall, NDCG, AP and hit at ``k`` for one user, and the top items."""
    candidates = [j for j in range(len(scores_row)) if j not in seen]
    order = ranking_order(scores_row, candidates)
    top = order[:min(k, len(candidates))]
    flags = [j in relevant for j in top]
    hits = sum(flags)
    n_ideal = min(len(top), len(relevant))
    dcg = sum(1.0 / np.log2(p + 2) for p, hit in enumerate(flags) if hit)
    idcg = sum(1.0 / np.log2(p + 2) for p in range(n_ideal))
    ap = sum(sum(flags[:p + 1]) / (p + 1) for p, hit in enumerate(flags) if hit) / n_ideal
    values = {"precision": hits / len(top), "recall": hits / n_ideal, "ndcg": dcg / idcg,
              "map": ap, "hit_rate": float(hits > 0)}
    return values, top


def user_auc(scores_row, seen, relevant):
    """Share of (relevant, non-relevant candidate) pairs ordered right, ties 1/2; None if none."""
    negatives = [j for j in range(len(scores_row)) if j not in seen and j not in relevant]
    if not negatives:
        return None
    total = 0.0
    for r in relevant:
        for j in negatives:
            if scores_row[r] > scores_row[j]:
                total += 1.0
            elif scores_row[r] == scores_row[j]:
                total += 0.5
    return total / (len(relevant) * len(negatives))


def evaluate(U, V, train, test, ks):
    """Every metric of ``fastwmf.metrics.evaluate``, brute force, as one dict."""
    scores = dense_scores(U, V)
    n_users, n_items = scores.shape
    train = sp.csr_matrix((n_users, n_items)) if train is None else sp.csr_matrix(train)
    test = sp.csr_matrix(test)
    sums = {(name, k): 0.0 for name in RANKING for k in ks}
    covered = {k: set() for k in ks}
    aucs = []
    n_evaluated = 0
    for user in range(n_users):
        seen = set(train[user].indices.tolist())
        relevant = set(test[user].indices.tolist()) - seen
        if not relevant:
            continue
        n_evaluated += 1
        for k in ks:
            values, top = user_metrics(scores[user], seen, relevant, k)
            for name in RANKING:
                sums[name, k] += values[name]
            covered[k].update(top)
        auc = user_auc(scores[user], seen, relevant)
        if auc is not None:
            aucs.append(auc)
    result = {}
    for name in RANKING:
        for k in ks:
            result[f"{name}@{k}"] = sums[name, k] / n_evaluated if n_evaluated else np.nan
    for k in ks:
        result[f"coverage@{k}"] = len(covered[k]) / n_items
    result["auc"] = float(np.mean(aucs)) if aucs else np.nan
    coo = test.tocoo()
    errors = scores[coo.row, coo.col] - coo.data
    result["rmse"] = float(np.sqrt(np.mean(errors ** 2)))
    result["mae"] = float(np.mean(np.abs(errors)))
    result["n_users"] = n_evaluated
    result["n_users_skipped"] = n_users - n_evaluated
    result["n_users_auc"] = len(aucs)
    return result


def per_user_test_sizes(counts, test_fraction=None, test_count=None, min_train=1):
    """Entries each user should send to test under the per-user split rules."""
    sizes = []
    for n in counts:
        size = test_count if test_count is not None else int(np.floor(test_fraction * n + 0.5))
        sizes.append(size if n - size >= min_train else 0)
    return np.array(sizes, dtype=np.int64)
