"""Synthetic data generators, deterministic by seed.

The embedded default dataset of the demo is :func:`sample_ratings`: it is
generated, not downloaded, and ``datasets/manifest.json`` records its
parameters and checksum so that a change to the generator is noticed.
"""

import hashlib

import numpy as np
import scipy.sparse as sp

from ._validation import check_float, check_int, check_random_state

#: Parameters of the embedded sample (see ``datasets/manifest.json``).
SAMPLE_PARAMS = {"n_users": 2000, "n_items": 1000, "rank": 8, "density": 0.05,
                 "noise": 0.3, "seed": 20260101}


def make_planted_ratings(n_users=1000, n_items=500, rank=8, density=0.05, noise=0.3,
                         selectivity=1.0, seed=0):
    """Ratings on a 1-5 scale from a planted low-rank model.

    Each rating is ``3 + b_i + b_j + l_i . r_j + noise`` clipped to ``[1, 5]``,
    with the low-rank part scaled to standard deviation 1. Users rate what
    they like more often, as in real data: user ``i`` rates item ``j`` with
    probability proportional to ``exp(selectivity * rating_ij)``, so the
    pattern of observed entries carries signal for ranking.

    Parameters
    ----------
    n_users, n_items : int
    rank : int
        Rank of the planted interaction part.
    density : float in (0, 1]
        Fraction of entries observed (each independently).
    noise : float
        Standard deviation of Gaussian noise added to observed ratings.
    selectivity : float, default 1.0
        How strongly the choice of rated items follows the rating; 0 picks
        them uniformly at random.
    seed : int or numpy.random.Generator

    Returns
    -------
    scipy.sparse.csr_matrix of float64, shape (n_users, n_items)
    """
    n_users = check_int(n_users, "n_users", low=1)
    n_items = check_int(n_items, "n_items", low=1)
    rank = check_int(rank, "rank", low=1)
    density = check_float(density, "density", low=0.0, low_inclusive=False, high=1.0)
    noise = check_float(noise, "noise", low=0.0)
    rng = check_random_state(seed, "seed")
    left = rng.standard_normal((n_users, rank)) / np.sqrt(rank)
    right = rng.standard_normal((n_items, rank))
    user_bias = 0.5 * rng.standard_normal(n_users)
    item_bias = 0.5 * rng.standard_normal(n_items)
    selectivity = check_float(selectivity, "selectivity", low=0.0)
    per_user = rng.binomial(n_items, density, size=n_users)
    rows = np.repeat(np.arange(n_users), per_user)
    cols = np.empty(len(rows), dtype=np.int64)
    values = np.empty(len(rows))
    start = 0
    for user, count in enumerate(per_user):
        ratings = 3.0 + user_bias[user] + item_bias + right @ left[user]
        # Gumbel top-k: a sample without replacement, P(j) ~ exp(selectivity * rating)
        keys = selectivity * ratings + rng.gumbel(size=n_items)
        chosen = np.argpartition(-keys, count - 1)[:count] if count else keys[:0].astype(int)
        cols[start:start + count] = chosen
        values[start:start + count] = ratings[chosen]
        start += count
    values = np.clip(values + noise * rng.standard_normal(len(rows)), 1.0, 5.0)
    matrix = sp.csr_matrix((values, (rows, cols)), shape=(n_users, n_items))
    matrix.sort_indices()
    return matrix


def sample_ratings():
    """The embedded default dataset: 2000 users x 1000 items, about 100k ratings."""
    return make_planted_ratings(**SAMPLE_PARAMS)


def matrix_checksum(X, decimals=6):
    """sha256 of a CSR matrix's shape, structure and values rounded to ``decimals``.

    Rounding keeps the checksum stable across BLAS builds whose last bits differ.
    """
    X = sp.csr_matrix(X)
    digest = hashlib.sha256()
    digest.update(np.asarray(X.shape, dtype=np.int64).tobytes())
    digest.update(X.indptr.astype(np.int64).tobytes())
    digest.update(X.indices.astype(np.int64).tobytes())
    digest.update(np.round(X.data.astype(np.float64), decimals).tobytes())
    return digest.hexdigest()


def make_implicit_interactions(n_users=10_000, n_items=5_000, nnz=500_000, item_exponent=1.0,
                               activity_sigma=1.0, seed=0):
    """Power-law implicit feedback: Zipf-like items, log-normal user activity.

    Each of ``nnz`` draws picks a user with probability proportional to a
    log-normal activity and an item with probability proportional to
    ``rank**-item_exponent`` (items shuffled so ids carry no order); repeated
    (user, item) pairs are summed into counts. Linear in ``nnz``.

    Parameters
    ----------
    n_users, n_items : int
    nnz : int
        Number of interaction events drawn (the stored entries are slightly
        fewer, after repeats are merged).
    item_exponent : float, default 1.0
        Zipf exponent of item popularity; 0 is uniform.
    activity_sigma : float, default 1.0
        Spread of the log-normal user activity; 0 is uniform.
    seed : int or numpy.random.Generator

    Returns
    -------
    scipy.sparse.csr_matrix of float64
        Interaction counts, users as rows.
    """
    n_users = check_int(n_users, "n_users", low=1)
    n_items = check_int(n_items, "n_items", low=1)
    nnz = check_int(nnz, "nnz", low=1)
    item_exponent = check_float(item_exponent, "item_exponent", low=0.0)
    activity_sigma = check_float(activity_sigma, "activity_sigma", low=0.0)
    rng = check_random_state(seed, "seed")
    activity = rng.lognormal(0.0, activity_sigma, size=n_users)
    popularity = rng.permutation(np.arange(1, n_items + 1, dtype=np.float64) ** -item_exponent)
    users = _draw(rng, activity, nnz)
    items = _draw(rng, popularity, nnz)
    matrix = sp.csr_matrix((np.ones(nnz), (users, items)), shape=(n_users, n_items))
    matrix.sum_duplicates()
    return matrix


def _draw(rng, weights, size):
    """``size`` ids drawn with probability proportional to ``weights`` (inverse CDF)."""
    cumulative = np.cumsum(weights)
    draws = rng.random(size) * cumulative[-1]
    return np.minimum(np.searchsorted(cumulative, draws, side="right"), len(weights) - 1)


#: Users and items of MovieLens 100K (ids in the files are 1-based).
ML100K_SHAPE = (943, 1682)


def read_ml100k_file(path, name="u.data"):
    """Ratings of one file of the official MovieLens 100K archive.

    Parameters
    ----------
    path : str or os.PathLike
        The ``ml-100k.zip`` archive as distributed by GroupLens.
    name : str, default "u.data"
        A ratings file inside ``ml-100k/``: ``u.data`` (all ratings), ``u1.base``
        .. ``u5.test`` (the official five folds), ``ua.base`` ... ``ub.test``.

    Returns
    -------
    scipy.sparse.csr_matrix of float64, shape (943, 1682)
        Ratings 1-5, users as rows; file ids minus one are the indices, so
        every split of the archive shares one index space.
    """
    import io
    import os
    import zipfile

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no MovieLens archive at {path!r}")
    member = f"ml-100k/{name}"
    try:
        with zipfile.ZipFile(path) as archive:
            raw = archive.read(member)
    except KeyError:
        raise ValueError(f"name: {member!r} is not in {path!r}") from None
    except zipfile.BadZipFile as exc:
        raise ValueError(f"path: {path!r} is not a valid zip archive ({exc})") from exc
    try:
        table = np.loadtxt(io.BytesIO(raw), dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{member} in {path!r} is malformed: {exc}") from exc
    if table.shape[1] != 4:
        raise ValueError(f"{member} must have 4 columns (user item rating time), "
                         f"got {table.shape[1]}")
    users, items, ratings = table[:, 0] - 1, table[:, 1] - 1, table[:, 2]
    m, n = ML100K_SHAPE
    if users.min() < 0 or users.max() >= m or items.min() < 0 or items.max() >= n:
        raise ValueError(f"{member} has ids outside MovieLens 100K's {m} users x {n} items")
    return sp.csr_matrix((ratings.astype(np.float64), (users, items)), shape=ML100K_SHAPE)
