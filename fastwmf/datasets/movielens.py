"""The official GroupLens MovieLens archives: releases, download with
checksum, and readers of their ratings files."""

import os
import pathlib
import zipfile
import zlib

import numpy as np
import scipy.sparse as sp

from .. import _download
from .._validation import check_bool, check_choice
from . import _text
from ._text import _FieldCountError, _FloatColumn, _IdColumn, _NeedsCsvModule, _scan_fast
from .readers import _assemble


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
                    while stream.read(_text._BLOCK_BYTES):
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
