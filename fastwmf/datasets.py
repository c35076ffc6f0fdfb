"""Datasets: MovieLens loaders, a generic table loader and synthetic generators.

- :func:`load_movielens` reads the official GroupLens MovieLens archives
  (100K, 1M, 10M, 20M, 25M, latest-small) from a local path, or downloads one
  once into a cache directory and checks its sha256 against
  :data:`MOVIELENS_RELEASES` (mirrored in ``datasets/manifest.json``).
- :func:`load_interactions` reads any user/item/value table (CSV, TSV,
  compressed or not; Parquet with pyarrow) with ids of any type.
- Both return an :class:`InteractionData`: a CSR matrix plus the id mappings
  (and timestamps or weights when the source has them).
- :func:`make_planted_ratings` and :func:`make_implicit_interactions` generate
  data deterministically by seed. The embedded default dataset of the demo is
  :func:`sample_ratings`: it is generated, not downloaded, and
  ``datasets/manifest.json`` records its parameters and checksum so that a
  change to the generator is noticed.

Text tables are parsed by small Numba kernels over blocks of raw bytes (no
pandas needed) while a thread inflates the next block: under a second per
million rows, once the first call has compiled the kernels (cached on disk).
"""

import bz2
import csv
import gzip
import hashlib
import io
import lzma
import os
import pathlib
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from . import _download
from ._config import MAX_INDEX
from ._download import ChecksumError, DownloadError
from ._validation import (check_bool, check_choice, check_float, check_ids, check_int,
                          check_random_state)

__all__ = [
    "load_movielens", "fetch_movielens", "movielens_path", "MOVIELENS_RELEASES",
    "load_interactions", "InteractionData", "ChecksumError", "DownloadError",
    "make_planted_ratings", "sample_ratings", "SAMPLE_PARAMS", "matrix_checksum",
    "make_implicit_interactions", "read_ml100k_file", "ML100K_SHAPE",
]

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
        # argpartition's order depends on the CPU (numpy uses AVX-512 sorting
        # networks where it can); sorted, the noise goes to the same entries anywhere
        chosen = np.sort(chosen)
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


# =========================================================== MovieLens releases

#: The official MovieLens archives: URL, sha256 and size of the zip as
#: GroupLens serves it, and the ratings file inside. Mirrors the entries of
#: ``datasets/manifest.json`` (a test keeps the two in agreement); the copy
#: lives here because ``datasets/`` is not installed with the package.
#: A release whose ``sha256`` is None is never downloaded (no way to verify
#: it); it can still be read from a local ``path``.
MOVIELENS_RELEASES = {
    "ml-100k": {
        "url": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        "sha256": "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        "size": 4924029,
        "member": "ml-100k/u.data",
        "sep": "\t",
        "header": False,
    },
    "ml-1m": {
        "url": "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        "sha256": "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        "size": 5917549,
        "member": "ml-1m/ratings.dat",
        "sep": "::",
        "header": False,
    },
    "ml-10m": {
        "url": "https://files.grouplens.org/datasets/movielens/ml-10m.zip",
        "sha256": "813c411ccb6122564edfe752e7f80c4dcc5aa25fa94c93622f6877a7ba252862",
        "size": 65566137,
        "member": "ml-10M100K/ratings.dat",
        "sep": "::",
        "header": False,
    },
    "ml-20m": {
        "url": "https://files.grouplens.org/datasets/movielens/ml-20m.zip",
        "sha256": "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
        "size": 198702078,
        "member": "ml-20m/ratings.csv",
        "sep": ",",
        "header": True,
    },
    "ml-25m": {
        "url": "https://files.grouplens.org/datasets/movielens/ml-25m.zip",
        "sha256": "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
        "size": 261978986,
        "member": "ml-25m/ratings.csv",
        "sep": ",",
        "header": True,
    },
    "ml-latest-small": {
        "url": "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
        "sha256": "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        "size": 978202,
        "member": "ml-latest-small/ratings.csv",
        "sep": ",",
        "header": True,
    },
}

#: Column names of the MovieLens ratings files, in file order.
_MOVIELENS_COLUMNS = ("userId", "movieId", "rating", "timestamp")


# ================================================================ the result

@dataclass(frozen=True, eq=False)
class InteractionData:
    """A loaded interaction table: CSR matrix plus the id mappings.

    Rows are users and columns items, both numbered ``0 .. n-1`` in ascending
    order of their original ids, so ``user_ids[i]`` is the id of row ``i``
    (and ``user_ids`` is sorted).

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix of float64, shape (n_users, n_items)
        The values (ratings; 1.0 per row of an implicit table, summed over
        repeats). Sorted indices; explicit zeros stay stored.
    user_ids, item_ids : ndarray
        Original ids, index -> id: int64, or str for non-integer ids.
    timestamps : scipy.sparse.csr_matrix of int64 or None
        Same structure as ``matrix`` (same ``indptr`` and ``indices``).
    weights : scipy.sparse.csr_matrix of float64 or None
        Per-entry weights, same structure as ``matrix``.
    name : str
        The dataset or file name.
    """

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    timestamps: sp.csr_matrix = None
    weights: sp.csr_matrix = None
    name: str = ""

    @property
    def shape(self):
        """``(n_users, n_items)``."""
        return self.matrix.shape

    @property
    def nnz(self):
        """Number of stored entries."""
        return self.matrix.nnz

    def user_index(self, ids):
        """Row indices of original user ids.

        Parameters
        ----------
        ids : id or array-like of ids
            Of the type of :attr:`user_ids` (integers or strings).

        Returns
        -------
        int or ndarray of int64
            A scalar for a scalar id.

        Raises
        ------
        ValueError
            For an id that is not in the data.
        """
        return _lookup(self.user_ids, ids, "ids", "user")

    def item_index(self, ids):
        """Column indices of original item ids (see :meth:`user_index`).

        Parameters
        ----------
        ids : id or array-like of ids

        Returns
        -------
        int or ndarray of int64
        """
        return _lookup(self.item_ids, ids, "ids", "item")

    def user_id(self, index):
        """Original user ids of row indices.

        Parameters
        ----------
        index : int or array-like of int
            In ``[0, n_users)``.

        Returns
        -------
        id or ndarray of ids
        """
        return _reverse(self.user_ids, index)

    def item_id(self, index):
        """Original item ids of column indices (see :meth:`user_id`).

        Parameters
        ----------
        index : int or array-like of int

        Returns
        -------
        id or ndarray of ids
        """
        return _reverse(self.item_ids, index)

    def __repr__(self):
        extras = [name for name in ("timestamps", "weights") if getattr(self, name) is not None]
        return (f"InteractionData(name={self.name!r}, shape={self.shape}, nnz={self.nnz}"
                + "".join(f", {name}" for name in extras) + ")")


def _lookup(table, ids, name, kind):
    scalar = np.ndim(ids) == 0
    query = np.atleast_1d(np.asarray(ids))
    if query.ndim != 1:
        raise ValueError(f"{name} must be an id or a 1-D array of ids, got shape {query.shape}")
    if table.dtype.kind in "iu":
        if query.size and query.dtype.kind not in "iu":
            raise TypeError(f"{name} must be integer {kind} ids (the data's ids are "
                            f"integers), got dtype {query.dtype}")
        query = query.astype(np.int64)
    else:
        if query.size and query.dtype.kind not in "US":
            raise TypeError(f"{name} must be string {kind} ids (the data's ids are "
                            f"strings), got dtype {query.dtype}")
        query = query.astype(str)
    if len(table) == 0:
        positions = np.zeros(len(query), dtype=np.int64)
        found = np.zeros(len(query), dtype=bool)
    else:
        positions = np.minimum(np.searchsorted(table, query), len(table) - 1)
        found = table[positions] == query
    if not np.all(found):
        missing = query[~found]
        raise ValueError(f"{name}: unknown {kind} id{'s' if len(missing) > 1 else ''} "
                         f"{missing[:5].tolist()}{' ...' if len(missing) > 5 else ''}")
    positions = positions.astype(np.int64)
    return int(positions[0]) if scalar else positions


def _reverse(table, index):
    array, scalar = check_ids(index, "index", len(table))
    out = table[array]
    return out[0].item() if scalar else out


# ====================================================== byte-level table parsing
# Kernels take a block of raw bytes that ends at a line end. No fastmath: the
# number parser relies on exactly rounded float division.

_NJIT = {"cache": True, "nogil": True}

#: Exact powers of ten (10**22 is the largest exactly representable one).
_POW10 = np.array([10.0 ** k for k in range(23)])

#: Bytes of text parsed per block (bounds the parser's scratch memory).
_BLOCK_BYTES = 1 << 24

_OK, _BAD_FIELD_COUNT, _QUOTED = 0, 1, 2

#: Stands in for a multi-character separator inside the tokenizer.
_UNIT_SEPARATOR = 0x1F


@njit(**_NJIT)
def _tokenize(buf, sep, ncols, slots, trim_space, trim_tab, starts, ends, lines):
    """Split the lines of ``buf`` at the byte ``sep``; record the wanted fields.

    Blank lines are skipped, a ``\\r`` before ``\\n`` is dropped and fields are
    trimmed of spaces (and tabs when ``trim_tab``). ``slots[f]`` is the output
    column of field ``f`` or -1. Returns ``(rows, status, line, fields)``:
    status 0 when every line had ``ncols`` fields (``line`` is then the number
    of lines read), 1 at the first line (``line``, 0-based) that had
    ``fields`` fields instead, 2 at a line with a quote character (left to the
    csv module).
    """
    n = buf.shape[0]
    stop = n if n > 0 and buf[n - 1] == 10 else n + 1
    row = 0
    line = 0
    f = 0
    fs = 0
    nonblank = False
    for p in range(stop):
        c = buf[p] if p < n else np.uint8(10)
        if c == 10 or c == sep:
            if c == sep:
                nonblank = True
            if nonblank:
                if f < ncols and slots[f] >= 0:
                    a = fs
                    b = p
                    if c == 10 and b > a and buf[b - 1] == 13:
                        b -= 1
                    while a < b and ((trim_space and buf[a] == 32) or (trim_tab and buf[a] == 9)):
                        a += 1
                    while b > a and ((trim_space and buf[b - 1] == 32)
                                     or (trim_tab and buf[b - 1] == 9)):
                        b -= 1
                    starts[row, slots[f]] = a
                    ends[row, slots[f]] = b
                f += 1
            if c == 10:
                if nonblank:
                    if f != ncols:
                        return row, 1, line, f
                    lines[row] = line
                    row += 1
                line += 1
                f = 0
                nonblank = False
            fs = p + 1
        elif c == 34:
            return row, 2, line, f
        elif c != 32 and c != 9 and c != 13:
            nonblank = True
    return row, 0, line, 0


@njit(**_NJIT)
def _parse_floats(buf, starts, ends, col, pow10, out, slow):
    """Decimal numbers ``[+-]digits[.digits]`` of one column, exactly rounded.

    Anything else (exponents, more than 15-16 significant digits, words such
    as ``nan``, empty fields) is flagged in ``slow`` for Python's ``float``.
    Returns the number of flagged fields.
    """
    limit = (2 ** 53 - 10) // 10
    flagged = 0
    for r in range(starts.shape[0]):
        a = starts[r, col]
        b = ends[r, col]
        neg = False
        if a < b and (buf[a] == 45 or buf[a] == 43):
            neg = buf[a] == 45
            a += 1
        mantissa = 0
        scale = 0
        digits = 0
        dot = False
        ok = a < b
        for p in range(a, b):
            c = buf[p]
            if 48 <= c <= 57:
                if mantissa > limit:
                    ok = False
                    break
                mantissa = mantissa * 10 + (c - 48)
                digits += 1
                if dot:
                    scale += 1
            elif c == 46 and not dot:
                dot = True
            else:
                ok = False
                break
        if ok and digits > 0 and scale < pow10.shape[0]:
            value = mantissa / pow10[scale]
            out[r] = -value if neg else value
            slow[r] = False
        else:
            out[r] = np.nan
            slow[r] = True
            flagged += 1
    return flagged


@njit(**_NJIT)
def _parse_ints(buf, starts, ends, col, out):
    """Canonical integers (``-?[1-9][0-9]*|0``, at most 18 digits) of one column.

    Returns the first row holding anything else, or -1.
    """
    for r in range(starts.shape[0]):
        a = starts[r, col]
        b = ends[r, col]
        neg = a < b and buf[a] == 45
        if neg:
            a += 1
        if a >= b or b - a > 18 or (buf[a] == 48 and b - a > 1):
            return r
        value = 0
        for p in range(a, b):
            c = buf[p]
            if c < 48 or c > 57:
                return r
            value = value * 10 + (c - 48)
        if neg:
            if value == 0:
                return r
            value = -value
        out[r] = value
    return -1


@njit(**_NJIT)
def _gather(buf, starts, ends, col, out):
    """Copy one column's fields into the rows of ``out`` (zero padded)."""
    for r in range(starts.shape[0]):
        a = starts[r, col]
        for q in range(ends[r, col] - a):
            out[r, q] = buf[a + q]


class _Block:
    """Wanted fields of consecutive rows: byte offsets into one buffer."""

    def __init__(self, buf, starts, ends, lines):
        self.buf = buf          # uint8 array
        self.starts = starts    # (rows, wanted) int64
        self.ends = ends
        self.lines = lines      # (rows,) 1-based line numbers in the file

    def text(self, row, col):
        raw = bytes(self.buf[self.starts[row, col]:self.ends[row, col]])
        return raw.decode("utf-8", errors="replace")


class _Column:
    """Accumulates one column over blocks; ``prefix`` and ``label`` word errors."""

    def __init__(self, prefix, label):
        self.prefix = prefix
        self.label = label

    def _where(self, block, row):
        return f"at line {block.lines[row]} of {self.label}"


class _IdColumn(_Column):
    """Ids: int64 while every field is a canonical integer, else bytes strings."""

    def __init__(self, prefix, label, integers_only=False):
        super().__init__(prefix, label)
        self.integers_only = integers_only
        self.chunks = []
        self.as_bytes = False

    def add(self, block, col):
        n = block.starts.shape[0]
        if n == 0:
            return
        lengths = block.ends[:, col] - block.starts[:, col]
        if not lengths.all():
            row = int(np.argmin(lengths))
            raise ValueError(f"{self.prefix} has an empty id {self._where(block, row)}")
        if not self.as_bytes:
            out = np.empty(n, dtype=np.int64)
            bad = _parse_ints(block.buf, block.starts, block.ends, col, out)
            if bad < 0:
                self.chunks.append(out)
                return
            if self.integers_only:
                raise ValueError(f"{self.prefix} has a non-integer id "
                                 f"{block.text(bad, col)!r} {self._where(block, bad)}")
            self.as_bytes = True
            self.chunks = [chunk.astype(np.bytes_) for chunk in self.chunks]
        width = int(lengths.max())
        out = np.zeros((n, width), dtype=np.uint8)
        _gather(block.buf, block.starts, block.ends, col, out)
        self.chunks.append(out.view(f"S{width}").reshape(n))

    def result(self):
        if not self.chunks:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate(self.chunks)


class _FloatColumn(_Column):
    """Finite numbers; optionally non-negative, or integral (timestamps)."""

    def __init__(self, prefix, label, nonnegative=False, integral=False):
        super().__init__(prefix, label)
        self.nonnegative = nonnegative
        self.integral = integral
        self.chunks = []

    def add(self, block, col):
        n = block.starts.shape[0]
        if n == 0:
            return
        out = np.empty(n)
        slow = np.empty(n, dtype=np.bool_)
        if _parse_floats(block.buf, block.starts, block.ends, col, _POW10, out, slow):
            for row in np.flatnonzero(slow):
                text = block.text(row, col)
                try:
                    out[row] = float(text)
                except ValueError:
                    what = "an empty (missing) value" if text == "" else \
                        f"a non-numeric value {text!r}"
                    raise ValueError(f"{self.prefix} has {what} "
                                     f"{self._where(block, row)}") from None
        finite = np.isfinite(out)
        if not finite.all():
            row = int(np.argmin(finite))
            what = "NaN" if np.isnan(out[row]) else "an infinite value"
            raise ValueError(f"{self.prefix} has {what} ({block.text(row, col)!r}) "
                             f"{self._where(block, row)}")
        if self.nonnegative and (out < 0).any():
            row = int(np.argmax(out < 0))
            raise ValueError(f"{self.prefix} has a negative value {block.text(row, col)!r} "
                             f"{self._where(block, row)}; weights must be >= 0")
        if self.integral:
            bad = (out != np.round(out)) | (np.abs(out) >= 2.0 ** 62)
            if bad.any():
                row = int(np.argmax(bad))
                raise ValueError(f"{self.prefix} has a non-integer timestamp "
                                 f"{block.text(row, col)!r} {self._where(block, row)}; "
                                 f"timestamps must be integers (e.g. Unix seconds)")
            out = out.astype(np.int64)
        self.chunks.append(out)

    def result(self):
        dtype = np.int64 if self.integral else np.float64
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=dtype)


class _NeedsCsvModule(Exception):
    """The fast tokenizer met a quote character."""


def _text_blocks(stream, block_bytes=None):
    """Yield ``bytes`` blocks of whole lines (the last one may lack its ``\\n``)."""
    block_bytes = block_bytes or _BLOCK_BYTES
    rest = b""
    while True:
        data = stream.read(block_bytes)
        if not data:
            break
        if rest:
            data = rest + data
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        yield data[:cut + 1]
        rest = data[cut + 1:]
    if rest:
        yield rest


def _prefetched(blocks):
    """Iterate ``blocks`` while a worker thread reads (and inflates) the next one.

    zlib and the Numba kernels release the GIL, so decompression overlaps
    parsing; errors of the reader surface here, in order.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(next, blocks, None)
        while True:
            block = pending.result()
            if block is None:
                return
            pending = pool.submit(next, blocks, None)
            yield block


def _split_header(text, sep):
    names = [name.strip().strip('"').strip() for name in text.rstrip("\r\n").split(sep)]
    if names:
        names[0] = names[0].lstrip("\ufeff")
    return names


def _scan_fast(stream, sep, header, encoding, resolve, columns):
    """Parse a delimited text stream with the Numba tokenizer.

    ``resolve(names, ncols)`` maps the header (or None) to the list of field
    positions wanted, in the order of ``columns`` (objects with ``add``).
    Returns the header names (or None).
    """
    sep_bytes = sep.encode(encoding)
    # the tokenizer splits at one byte: a longer separator ("::") is replaced
    # by a control byte that does not occur in the text
    sep_byte = sep_bytes[0] if len(sep_bytes) == 1 else _UNIT_SEPARATOR
    trim_space = " " not in sep
    trim_tab = "\t" not in sep
    names = None
    ncols = None
    positions = slots = None
    line_base = 0
    scratch = None
    blocks = _prefetched(_text_blocks(stream))
    try:
        for raw in blocks:
            if ncols is None:
                # the first non-blank line gives the header or the field count
                offset = 0
                while True:
                    end = raw.find(b"\n", offset)
                    end = len(raw) if end < 0 else end
                    first = raw[offset:end]
                    if first.strip() or end >= len(raw):
                        break
                    line_base += 1
                    offset = end + 1
                if not first.strip():
                    line_base += raw.count(b"\n", offset)
                    continue
                try:
                    first_text = first.decode(encoding)
                except UnicodeDecodeError as exc:
                    raise ValueError(f"encoding: line {line_base + 1} is not valid {encoding} "
                                     f"text ({exc})") from None
                if '"' in first_text:
                    raise _NeedsCsvModule
                fields = _split_header(first_text, sep)
                ncols = len(fields)
                if header:
                    names = fields
                    line_base += 1
                    raw = raw[end + 1:]
                else:
                    raw = raw[offset:]
                positions = resolve(names, ncols)
                slots = np.full(ncols, -1, dtype=np.int64)
                for slot, position in enumerate(positions):
                    if slots[position] < 0:
                        slots[position] = slot
                positions = [int(slots[p]) for p in positions]
            if len(sep_bytes) > 1:
                if bytes([_UNIT_SEPARATOR]) in raw:
                    raise ValueError(f"sep: the text holds the byte 0x1f, which the {sep!r} "
                                     f"separator needs internally")
                raw = raw.replace(sep_bytes, bytes([_UNIT_SEPARATOR]))
            buf = np.frombuffer(raw, dtype=np.uint8)
            capacity = raw.count(b"\n") + 1
            if scratch is None or len(scratch[2]) < capacity:
                # reused across blocks: fresh pages cost as much as the parsing
                wanted = int((slots >= 0).sum())
                scratch = (np.empty((capacity, wanted), dtype=np.int32),
                           np.empty((capacity, wanted), dtype=np.int32),
                           np.empty(capacity, dtype=np.int64))
            starts, ends, lines = scratch
            rows, status, line, found = _tokenize(buf, np.uint8(sep_byte), ncols, slots,
                                                  trim_space, trim_tab, starts, ends, lines)
            if status == _QUOTED:
                raise _NeedsCsvModule
            if status == _BAD_FIELD_COUNT:
                raise _FieldCountError(line_base + line + 1, ncols, found)
            block = _Block(buf, starts[:rows], ends[:rows], lines[:rows] + line_base + 1)
            for column, slot in zip(columns, positions):
                column.add(block, slot)
            line_base += line
    finally:
        # stop the reader thread before anything else touches the stream
        blocks.close()
    if ncols is None:
        resolve(None, 0)
    return names


class _FieldCountError(Exception):
    def __init__(self, line, expected, found):
        super().__init__(line, expected, found)
        self.line, self.expected, self.found = line, expected, found


def _scan_csv_module(stream, sep, header, encoding, resolve, columns, rows_per_block=1 << 18):
    """Parse with the csv module (quoted fields); same blocks as the fast path."""
    if len(sep) != 1:
        raise ValueError(f"sep: quoted fields need a one-character separator, got {sep!r}")
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    reader = csv.reader(text, delimiter=sep, skipinitialspace=True, strict=True)
    names = None
    positions = None
    ncols = None
    fields, lines = [], []

    def flush():
        if not lines:
            return
        encoded = [field.encode("utf-8") for field in fields]
        lengths = np.fromiter((len(item) for item in encoded), dtype=np.int64, count=len(encoded))
        ends = np.cumsum(lengths).astype(np.int32)
        starts = ends - lengths.astype(np.int32)
        buf = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        shape = (len(lines), len(positions))
        block = _Block(buf, starts.reshape(shape), ends.reshape(shape),
                       np.asarray(lines, dtype=np.int64))
        for slot, column in enumerate(columns):
            column.add(block, slot)
        fields.clear()
        lines.clear()

    try:
        for record in reader:
            if not record or all(not item.strip() for item in record):
                continue
            if ncols is None:
                if record:
                    record[0] = record[0].lstrip("\ufeff")
                ncols = len(record)
                if header:
                    names = [item.strip() for item in record]
                    positions = resolve(names, ncols)
                    continue
                positions = resolve(None, ncols)
            if len(record) != ncols:
                raise _FieldCountError(reader.line_num, ncols, len(record))
            fields.extend(record[p].strip() for p in positions)
            lines.append(reader.line_num)
            if len(lines) >= rows_per_block:
                flush()
    except csv.Error as exc:
        raise ValueError(f"malformed CSV at line {reader.line_num}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"encoding: the file is not valid {encoding} text ({exc})") from None
    flush()
    if ncols is None:
        resolve(None, 0)
    return names


# ============================================================ assembling CSR

def _encode_ids(raw, encoding="utf-8"):
    """``(sorted unique ids, index of each entry)``; bytes ids are decoded."""
    if raw.dtype.kind in "iu":
        raw = raw.astype(np.int64, copy=False)
        if raw.size == 0:
            return raw, raw
        low, high = int(raw.min()), int(raw.max())
        if low >= 0 and high < max(4 * raw.size, 1 << 20):
            present = np.zeros(high + 1, dtype=np.bool_)
            present[raw] = True
            lookup = np.cumsum(present, dtype=np.int64) - 1
            return np.flatnonzero(present).astype(np.int64), lookup[raw]
        unique, inverse = np.unique(raw, return_inverse=True)
        return unique, inverse.reshape(-1).astype(np.int64)
    unique, inverse = np.unique(raw, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    if unique.dtype.kind == "S":
        try:
            decoded = np.array([item.decode(encoding) for item in unique.tolist()], dtype=str)
        except UnicodeDecodeError as exc:
            raise ValueError(f"encoding: ids are not valid {encoding} text ({exc})") from None
    else:
        decoded = unique.astype(str)
    if decoded.size > 1 and not np.all(decoded[1:] > decoded[:-1]):
        order = np.argsort(decoded, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        decoded, inverse = decoded[order], rank[inverse]
    return decoded, inverse


def _assemble(users, items, values, weights, timestamps, duplicates, name, subject=None):
    """Build :class:`InteractionData` from per-entry columns.

    ``subject`` starts the message of a repeated (user, item) pair when
    ``duplicates="error"``.
    """
    user_ids, rows = _encode_ids(users)
    item_ids, cols = _encode_ids(items)
    m, n = len(user_ids), len(item_ids)
    if m > MAX_INDEX or n > MAX_INDEX:
        raise ValueError(f"{name} has {m} users and {n} items; each must be below 2**31 - 1")
    key = rows * max(n, 1) + cols
    if key.size > 1 and not np.all(key[1:] > key[:-1]):
        order = np.argsort(key, kind="stable")
        key = key[order]
        values = values[order]
        weights = None if weights is None else weights[order]
        timestamps = None if timestamps is None else timestamps[order]
    repeated = key[1:] == key[:-1]
    if repeated.any():
        if duplicates == "error":
            at = int(np.argmax(repeated))
            user, item = divmod(int(key[at]), n)
            raise ValueError(f"{subject or name} has more than one row for user "
                             f"{user_ids[user].item()!r} and item {item_ids[item].item()!r}")
        starts = np.flatnonzero(np.concatenate(([True], ~repeated)))
        if duplicates == "sum":
            values = np.add.reduceat(values, starts)
            weights = None if weights is None else np.add.reduceat(weights, starts)
            timestamps = None if timestamps is None else np.maximum.reduceat(timestamps, starts)
        else:
            keep = starts if duplicates == "first" else \
                np.concatenate((starts[1:] - 1, [key.size - 1]))
            values = values[keep]
            weights = None if weights is None else weights[keep]
            timestamps = None if timestamps is None else timestamps[keep]
        key = key[starts]
    rows, cols = np.divmod(key, max(n, 1))
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    indices = cols.astype(np.int32)

    def csr(data):
        matrix = sp.csr_matrix((data, indices.copy(), indptr.copy()), shape=(m, n))
        matrix.has_sorted_indices = True
        return matrix

    return InteractionData(
        matrix=csr(np.asarray(values, dtype=np.float64)),
        user_ids=user_ids,
        item_ids=item_ids,
        timestamps=None if timestamps is None else csr(timestamps.astype(np.int64)),
        weights=None if weights is None else csr(np.asarray(weights, dtype=np.float64)),
        name=name,
    )


# ================================================================= MovieLens

def movielens_path(name, cache_dir=None):
    """Where the archive of a MovieLens release is kept in the cache.

    Parameters
    ----------
    name : str
        A key of :data:`MOVIELENS_RELEASES`.
    cache_dir : str, os.PathLike or None
        The cache directory; None uses ``$FASTWMF_DATA`` or
        ``~/.cache/fastwmf`` (see :func:`fastwmf._download.cache_dir`).

    Returns
    -------
    pathlib.Path
        The archive's path (it may not exist yet).
    """
    name = check_choice(name, "name", MOVIELENS_RELEASES)
    url = MOVIELENS_RELEASES[name]["url"]
    return _download.cache_dir(cache_dir) / url.rsplit("/", 1)[-1]


def fetch_movielens(name, cache_dir=None, download=True, progress=None):
    """The verified archive of a MovieLens release, downloaded once if needed.

    A cached archive is checked (size and sha256) on every call; a download
    streams to a temporary file that is renamed into place only once it
    matches the recorded sha256.

    Parameters
    ----------
    name : str
        ``"ml-100k"``, ``"ml-1m"``, ``"ml-10m"``, ``"ml-20m"``, ``"ml-25m"``
        or ``"ml-latest-small"``.
    cache_dir : str, os.PathLike or None
        Cache directory; None uses ``$FASTWMF_DATA``, else
        ``~/.cache/fastwmf``.
    download : bool, default True
        Download the archive when it is not in the cache.
    progress : bool or None
        Progress bar for the download; None shows one only on a terminal.

    Returns
    -------
    pathlib.Path
        Path of the verified ``.zip`` archive.

    Raises
    ------
    FileNotFoundError
        Not cached and ``download=False``.
    DownloadError
        No network, an HTTP error or a cut-off transfer.
    ChecksumError
        The download or the cached file does not match the recorded sha256.
    """
    dest = movielens_path(name, cache_dir)
    download = check_bool(download, "download")
    release = MOVIELENS_RELEASES[name]
    url, sha256, size = release["url"], release["sha256"], release.get("size")
    if sha256 is None:
        raise ValueError(f"name: no published sha256 is recorded for {name}, so fastwmf will "
                         f"neither download nor trust a cached copy it cannot verify; download "
                         f"{url} yourself and pass its location as path=")
    if dest.is_file():
        _download.verify_file(dest, sha256, size, label=name)
        return dest
    if not download:
        raise FileNotFoundError(f"name: {name} is not in the cache ({dest}) and download=False; "
                                f"download {url} to that path, or pass path= to the archive")
    return _download.download(url, dest, sha256, size, label=name, progress=progress)


def load_movielens(name="ml-100k", path=None, cache_dir=None, download=True, progress=None):
    """Ratings of an official MovieLens release as a CSR matrix with id maps.

    Reads the ratings file of the GroupLens archive: ``u.data`` of ml-100k
    (tab separated), ``ratings.dat`` of ml-1m and ml-10m (``::``), and
    ``ratings.csv`` of ml-20m, ml-25m and ml-latest-small.

    Parameters
    ----------
    name : str, default "ml-100k"
        ``"ml-100k"``, ``"ml-1m"``, ``"ml-10m"``, ``"ml-20m"``, ``"ml-25m"``
        or ``"ml-latest-small"`` (see :data:`MOVIELENS_RELEASES`).
    path : str, os.PathLike or None
        A local copy: the ``.zip`` archive, the extracted ratings file, or a
        directory holding the extracted archive (or its ratings file). It is
        read as is (no checksum). None uses the cache (see
        :func:`fetch_movielens`).
    cache_dir : str, os.PathLike or None
        Cache directory when ``path`` is None; None uses ``$FASTWMF_DATA``,
        else ``~/.cache/fastwmf``.
    download : bool, default True
        Download into the cache when the archive is not there.
    progress : bool or None
        Progress bar for a download; None shows one only on a terminal.

    Returns
    -------
    InteractionData
        ``matrix`` holds the ratings (float64, 0.5-5), ``timestamps`` the
        Unix times (int64), ``user_ids`` and ``item_ids`` the MovieLens ids of
        each row and column (only rated movies get a column). For ml-100k
        row ``i`` is user ``i + 1`` and column ``j`` is movie ``j + 1``, as in
        :func:`read_ml100k_file`.

    Raises
    ------
    ValueError
        Unknown name, an archive that is not a valid zip (truncated or
        corrupted), that lacks the ratings file, or that holds malformed rows.
    FileNotFoundError
        ``path`` does not exist, or the archive is not cached and
        ``download=False``.
    DownloadError, ChecksumError
        See :func:`fetch_movielens`.

    Examples
    --------
    >>> data = load_movielens("ml-100k", path="ml-100k.zip")  # doctest: +SKIP
    >>> data.matrix.shape, data.user_index(196), data.item_id(241)  # doctest: +SKIP
    ((943, 1682), 195, 242)
    """
    name = check_choice(name, "name", MOVIELENS_RELEASES)
    release = MOVIELENS_RELEASES[name]
    if path is None:
        archive = fetch_movielens(name, cache_dir=cache_dir, download=download, progress=progress)
    else:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a path or None, got {type(path).__name__}")
        archive = pathlib.Path(path).expanduser()
        if archive.is_dir():
            member = release["member"]
            for candidate in (archive / member, archive / pathlib.PurePosixPath(member).name):
                if candidate.is_file():
                    with open(candidate, "rb") as stream:
                        return _parse_movielens(name, stream, f"{candidate}")
            raise FileNotFoundError(f"path: {archive} is a directory without {member} "
                                    f"(or {pathlib.PurePosixPath(member).name}) of {name}")
        if not archive.is_file():
            raise FileNotFoundError(f"path: no {name} archive at {str(archive)!r}")
        if archive.name == pathlib.PurePosixPath(release["member"]).name:
            with open(archive, "rb") as stream:  # the extracted ratings file itself
                return _parse_movielens(name, stream, f"{archive}")
    return _read_movielens_zip(name, archive)


def _read_movielens_zip(name, archive):
    member = MOVIELENS_RELEASES[name]["member"]
    corrupted = (f"path: {archive} is not a valid {name} zip archive: it is truncated or "
                 f"corrupted; download it again")
    zip_errors = (zipfile.BadZipFile, zlib.error, EOFError)
    try:
        handle = zipfile.ZipFile(archive)
    except zip_errors as exc:
        raise ValueError(f"{corrupted} ({exc})") from exc
    with handle:
        try:
            info = handle.getinfo(member)
        except KeyError:
            found = sorted({item.split("/")[0] for item in handle.namelist()})[:5]
            raise ValueError(f"path: {archive} has no member {member!r}, so it is not the "
                             f"official {name} archive (top-level entries: {found})") from None
        try:
            with handle.open(info) as stream:
                try:
                    return _parse_movielens(name, stream, member)
                except ValueError as exc:
                    # garbage from a damaged deflate stream reads as malformed rows:
                    # finish the member so that its CRC check can say so
                    while stream.read(_BLOCK_BYTES):
                        pass
                    raise exc
        except zip_errors as exc:
            raise ValueError(f"{corrupted} ({exc} in {member})") from exc


def _parse_movielens(name, stream, label):
    release = MOVIELENS_RELEASES[name]
    prefix = f"{name}: column"
    users = _IdColumn(f"{prefix} 'userId'", label, integers_only=True)
    items = _IdColumn(f"{prefix} 'movieId'", label, integers_only=True)
    ratings = _FloatColumn(f"{prefix} 'rating'", label)
    times = _FloatColumn(f"{prefix} 'timestamp'", label, integral=True)

    def resolve(names, ncols):
        if ncols and ncols != 4:
            raise ValueError(f"{name}: {label} has {ncols} fields per line, expected 4 "
                             f"({', '.join(_MOVIELENS_COLUMNS)})")
        if names is not None and tuple(names) != _MOVIELENS_COLUMNS:
            raise ValueError(f"{name}: {label} has the header {names}, expected "
                             f"{list(_MOVIELENS_COLUMNS)}")
        return [0, 1, 2, 3]

    try:
        _scan_fast(stream, release["sep"], release["header"], "utf-8", resolve,
                   [users, items, ratings, times])
    except _NeedsCsvModule:
        raise ValueError(f"{name}: {label} holds quote characters; it is not an official "
                         f"MovieLens ratings file") from None
    except _FieldCountError as exc:
        raise ValueError(f"{name}: line {exc.line} of {label} is malformed: {exc.found} "
                         f"fields, expected 4 ({', '.join(_MOVIELENS_COLUMNS)})") from None
    users, items = users.result(), items.result()
    if users.size == 0:
        raise ValueError(f"{name}: {label} holds no ratings")
    return _assemble(users, items, ratings.result(), None, times.result(), "error", name,
                     subject=f"{name}: {label}")


# ======================================================== generic table loader

_COMPRESSION = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_DUPLICATES = ("sum", "first", "last", "error")


def load_interactions(path, user_col, item_col, value_col=None, weight_col=None,
                      timestamp_col=None, sep=None, header=True, duplicates="sum",
                      encoding="utf-8", file_format=None):
    """Read a user/item(/value) table into a CSR matrix with id maps.

    Ids may be of any type: a column whose every entry is a canonical integer
    (``-?[1-9][0-9]*`` or ``0``) gives int64 ids, anything else (``"u17"``,
    ``"007"``) string ids. Users and items are numbered in ascending id
    order; :class:`InteractionData` maps both ways.

    Parameters
    ----------
    path : str or os.PathLike
        A delimited text file (``.csv``, ``.tsv``; ``.gz``, ``.bz2`` or
        ``.xz`` compressed) or a Parquet file (``.parquet``, ``.pq``; needs
        pyarrow).
    user_col, item_col : str or int
        Column name (needs ``header=True`` for text) or 0-based position.
    value_col : str, int or None
        The values (ratings, counts). None gives 1.0 per row (implicit
        feedback; repeated rows add up with ``duplicates="sum"``).
    weight_col : str, int or None
        Per-entry confidence weights (finite, >= 0), returned as ``weights``.
    timestamp_col : str, int or None
        Integer timestamps, returned as ``timestamps``.
    sep : str or None
        Field separator of a text file; None infers it from the extension
        (``.csv`` -> ``","``, ``.tsv``/``.tab`` -> tab). Quoted fields are
        supported for one-character separators.
    header : bool, default True
        Whether the first non-blank line of a text file names the columns.
    duplicates : {"sum", "first", "last", "error"}, default "sum"
        What repeated (user, item) rows become: values and weights summed
        (the latest timestamp kept), the first or last row in file order,
        or an error.
    encoding : str, default "utf-8"
        Text encoding (ASCII-compatible).
    file_format : {"csv", "parquet"} or None
        None infers it from the extension (``"csv"`` covers every delimited
        text file).

    Returns
    -------
    InteractionData

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        An unknown column, lines with the wrong number of fields, empty ids,
        or values that are missing, non-numeric, NaN or infinite (the message
        names the column and the line).
    ImportError
        A Parquet file without pyarrow installed.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path, got {type(path).__name__}")
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"path: no file at {str(path)!r}")
    header = check_bool(header, "header")
    duplicates = check_choice(duplicates, "duplicates", _DUPLICATES)
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a str, got {type(encoding).__name__}")
    try:
        "a".encode(encoding)
    except LookupError:
        raise ValueError(f"encoding: unknown encoding {encoding!r}") from None
    specs = {"user_col": user_col, "item_col": item_col, "value_col": value_col,
             "weight_col": weight_col, "timestamp_col": timestamp_col}
    for arg, spec in specs.items():
        if spec is None and arg in ("user_col", "item_col"):
            raise TypeError(f"{arg} must be a column name or position, got None")
        if spec is not None and (isinstance(spec, (bool, np.bool_))
                                 or not isinstance(spec, (str, int, np.integer))):
            raise TypeError(f"{arg} must be a column name (str) or position (int), "
                            f"got {type(spec).__name__}")
        if isinstance(spec, (int, np.integer)) and spec < 0:
            raise ValueError(f"{arg} must be a non-negative column position, got {spec}")
    given = {arg: spec for arg, spec in specs.items() if spec is not None}
    seen = {}
    for arg, spec in given.items():
        key = int(spec) if isinstance(spec, (int, np.integer)) else spec
        if key in seen:
            raise ValueError(f"{arg} names the same column as {seen[key]} ({spec!r})")
        seen[key] = arg

    suffixes = [s.lower() for s in path.suffixes]
    opener = _COMPRESSION.get(suffixes[-1]) if suffixes else None
    base_suffix = (suffixes[-2] if opener and len(suffixes) > 1 else
                   (suffixes[-1] if suffixes and not opener else ""))
    if file_format is None:
        file_format = "parquet" if base_suffix in (".parquet", ".pq") else "csv"
    file_format = check_choice(file_format, "file_format", ("csv", "parquet"))
    if file_format == "parquet":
        columns = _read_parquet(path, given)
    else:
        if sep is None:
            sep = _SEPARATORS.get(base_suffix)
            if sep is None:
                raise ValueError(f"sep: cannot infer the separator of {path.name!r} from its "
                                 f"extension; pass sep=',' or sep='\\t'")
        if not isinstance(sep, str):
            raise TypeError(f"sep must be a str, got {type(sep).__name__}")
        if not sep or any(c in sep for c in '\r\n"'):
            raise ValueError(f"sep must be a non-empty string without quotes or line breaks, "
                             f"got {sep!r}")
        columns = _read_text(path, opener or open, given, sep, header, encoding)
    n = len(columns["user_col"])
    values = columns.get("value_col")
    if values is None:
        values = np.ones(n)
    return _assemble(columns["user_col"], columns["item_col"], values,
                     columns.get("weight_col"), columns.get("timestamp_col"),
                     duplicates, path.name,
                     subject=f"duplicates: with duplicates='error', {path.name}")


def _column_for(arg, label, prefix):
    if arg in ("user_col", "item_col"):
        return _IdColumn(prefix, label)
    if arg == "timestamp_col":
        return _FloatColumn(prefix, label, integral=True)
    return _FloatColumn(prefix, label, nonnegative=arg == "weight_col")


def _read_text(path, opener, given, sep, header, encoding):
    label = path.name
    args = list(given)

    def make_columns():
        return {arg: _column_for(arg, label, f"{arg}: column {given[arg]!r}") for arg in args}

    state = {}

    def resolve(names, ncols):
        if ncols == 0:
            raise ValueError(f"path: {label} holds no rows")
        positions = []
        for arg in args:
            spec = given[arg]
            if isinstance(spec, str):
                if names is None:
                    raise ValueError(f"{arg}: column names need header=True; pass a column "
                                     f"position (int) instead of {spec!r}")
                if spec not in names:
                    raise ValueError(f"{arg}: no column named {spec!r} in {label} "
                                     f"(columns: {names})")
                if names.count(spec) > 1:
                    raise ValueError(f"{arg}: {label} has several columns named {spec!r}; "
                                     f"pass a position instead")
                positions.append(names.index(spec))
            else:
                if int(spec) >= ncols:
                    raise ValueError(f"{arg}: column {int(spec)} is out of range; {label} "
                                     f"has {ncols} columns")
                positions.append(int(spec))
        for later, position in enumerate(positions):
            if position in positions[:later]:
                raise ValueError(f"{args[later]} names the same column as "
                                 f"{args[positions.index(position)]} ({given[args[later]]!r})")
        # the columns were created before the header was known: rename them
        for arg, column in state["columns"].items():
            spec = given[arg]
            shown = spec if isinstance(spec, str) or names is None else names[int(spec)]
            column.prefix = f"{arg}: column {shown!r}"
        return positions

    for scanner in (_scan_fast, _scan_csv_module):
        state["columns"] = make_columns()
        try:
            with opener(path, "rb") as stream:
                scanner(stream, sep, header, encoding, resolve, list(state["columns"].values()))
            break
        except _NeedsCsvModule:
            continue
        except _FieldCountError as exc:
            raise ValueError(f"path: line {exc.line} of {label} has {exc.found} fields, "
                             f"expected {exc.expected} (sep={sep!r})") from None
        except (OSError, EOFError, zlib.error) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise ValueError(f"path: cannot read {label}: {exc} (truncated or corrupted "
                             f"compressed file?)") from exc
    result = {arg: column.result() for arg, column in state["columns"].items()}
    if len(result["user_col"]) == 0:
        raise ValueError(f"path: {label} holds no rows")
    return result


def _read_parquet(path, given):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(f"reading the Parquet file {path.name!r} needs pyarrow, which is not "
                          f"installed; install it (pip install 'fastwmf[parquet]') or convert the file "
                          f"to CSV") from None
    try:
        schema_names = pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises its own error types
        raise ValueError(f"path: {path.name} is not a readable Parquet file ({exc})") from exc
    names = {}
    for arg, spec in given.items():
        if isinstance(spec, str):
            if spec not in schema_names:
                raise ValueError(f"{arg}: no column named {spec!r} in {path.name} "
                                 f"(columns: {schema_names})")
            names[arg] = spec
        else:
            if int(spec) >= len(schema_names):
                raise ValueError(f"{arg}: column {int(spec)} is out of range; {path.name} has "
                                 f"{len(schema_names)} columns")
            names[arg] = schema_names[int(spec)]
    table = pq.read_table(path, columns=sorted(set(names.values())))
    result = {}
    for arg, column_name in names.items():
        column = table.column(column_name)
        prefix = f"{arg}: column {column_name!r}"
        if column.null_count:
            raise ValueError(f"{prefix} has {column.null_count} missing values in {path.name}")
        array = column.to_numpy()
        if arg in ("user_col", "item_col"):
            if array.dtype.kind in "iu":
                array = array.astype(np.int64)
            elif array.dtype.kind in "OUS":
                array = array.astype(str)
                if (np.char.str_len(array) == 0).any():
                    raise ValueError(f"{prefix} has an empty id in {path.name}")
            else:
                raise ValueError(f"{prefix} must hold integer or string ids, got {array.dtype}")
        else:
            if array.dtype.kind not in "biuf":
                raise ValueError(f"{prefix} must hold numbers, got {array.dtype}")
            array = array.astype(np.float64)
            if not np.all(np.isfinite(array)):
                what = "NaN" if np.isnan(array).any() else "an infinite value"
                raise ValueError(f"{prefix} has {what} in {path.name}")
            if arg == "weight_col" and (array < 0).any():
                raise ValueError(f"{prefix} has a negative value in {path.name}; weights "
                                 f"must be >= 0")
            if arg == "timestamp_col":
                if np.any(array != np.round(array)):
                    raise ValueError(f"{prefix} has a non-integer timestamp in {path.name}")
                array = array.astype(np.int64)
        result[arg] = array
    return result
