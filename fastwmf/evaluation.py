"""Splits and metrics for fitted models."""

import numpy as np
import scipy.sparse as sp

from ._validation import check_float, check_int, check_interactions, check_random_state


def split_entries(X, test_fraction=0.2, seed=0):
    """Hold out a random fraction of the stored entries.

    Parameters
    ----------
    X : sparse matrix or (rows, cols, values) tuple
    test_fraction : float in (0, 1)
    seed : int or numpy.random.Generator

    Returns
    -------
    train, test : scipy.sparse.csr_matrix
        Same shape as ``X``; every stored entry is in exactly one of them.
    """
    test_fraction = check_float(test_fraction, "test_fraction", low=0.0, low_inclusive=False,
                                high=1.0)
    data = check_interactions(X, "X")
    rng = check_random_state(seed, "seed")
    in_test = rng.random(data.nnz) < test_fraction
    rows = np.repeat(np.arange(data.shape[0]), np.diff(data.indptr))
    parts = []
    for mask in (~in_test, in_test):
        parts.append(sp.csr_matrix((data.values[mask], (rows[mask], data.indices[mask])),
                                   shape=data.shape))
    return parts[0], parts[1]


def rmse(model, test):
    """Root mean squared error of ``model.predict`` on the stored entries of ``test``.

    Parameters
    ----------
    model : FactorModel
        A fitted model whose shape covers ``test``.
    test : sparse matrix or (rows, cols, values) tuple

    Returns
    -------
    float
    """
    data = check_interactions(test, "test", n_cols=model.n_items)
    if data.shape[0] > model.n_users:
        raise ValueError(f"test has {data.shape[0]} rows but the model has {model.n_users} users")
    rows = np.repeat(np.arange(data.shape[0]), np.diff(data.indptr))
    predictions = model.predict(rows, data.indices.astype(np.int64))
    return float(np.sqrt(np.mean((predictions - data.values) ** 2)))


def recall_at_k(model, train, test, k=10, batch_size=4096):
    """Mean recall@k over users with test items, training items excluded.

    Recall of a user is the share of their test items among the top ``k``
    recommendations, divided by ``min(k, number of test items)``.

    Parameters
    ----------
    model : FactorModel
    train, test : sparse matrix, shape (n_users, n_items)
    k : int
    batch_size : int
        Users scored at once (bounds memory).

    Returns
    -------
    float
    """
    k = check_int(k, "k", low=1, high=model.n_items)
    batch_size = check_int(batch_size, "batch_size", low=1)
    train = check_interactions(train, "train", n_cols=model.n_items, allow_empty=True).to_scipy()
    test = check_interactions(test, "test", n_cols=model.n_items, allow_empty=True).to_scipy()
    if train.shape[0] != model.n_users or test.shape[0] != model.n_users:
        raise ValueError(f"train and test must have {model.n_users} rows (the model's users)")
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if len(users) == 0:
        raise ValueError("test has no stored entries")
    total = 0.0
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        ids, _ = model.recommend(batch, k=k, exclude=train[batch])
        for row, user in enumerate(batch):
            relevant = test.indices[test.indptr[user]:test.indptr[user + 1]]
            hits = np.isin(ids[row], relevant).sum()
            total += hits / min(k, len(relevant))
    return total / len(users)
