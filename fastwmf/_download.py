"""Verified downloads into a cache directory, with the standard library only.

A download goes to a temporary file beside its destination, is checked
against the expected size and sha256 while it streams, and is renamed into
place (atomically) only when it matches. A failed, interrupted or mismatching
download therefore never leaves a file under the final name.
"""

import hashlib
import os
import pathlib
import socket
import tempfile
import urllib.error
from urllib.request import Request, urlopen  # module global: tests patch ``urlopen``

#: Environment variable that overrides the default cache directory.
CACHE_ENV = "FASTWMF_DATA"

#: Bytes read per network or disk read.
BLOCK_SIZE = 1 << 20

#: Seconds before a stalled connection is abandoned.
TIMEOUT = 60.0

_USER_AGENT = "fastwmf (+https://github.com/; dataset loader)"


class DownloadError(ConnectionError):
    """A dataset could not be downloaded (no network, HTTP error, cut-off transfer)."""


class ChecksumError(ValueError):
    """A file's sha256 (or size) differs from the value recorded for it."""


def cache_dir(cache_dir=None):
    """The directory where downloaded datasets are kept.

    Parameters
    ----------
    cache_dir : str, os.PathLike or None
        An explicit directory. When None, the environment variable
        ``FASTWMF_DATA`` is used if set, else ``$XDG_CACHE_HOME/fastwmf``,
        else ``~/.cache/fastwmf``.

    Returns
    -------
    pathlib.Path
        The directory (not created here).
    """
    if cache_dir is None:
        env = os.environ.get(CACHE_ENV, "").strip()
        if env:
            return pathlib.Path(env).expanduser()
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        base = pathlib.Path(xdg).expanduser() if xdg else pathlib.Path.home() / ".cache"
        return base / "fastwmf"
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a path or None, got {type(cache_dir).__name__}")
    return pathlib.Path(cache_dir).expanduser()


def file_sha256(path):
    """Hex sha256 of a file, read in blocks.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress_bar(total, label, progress):
    if progress is False:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                disable=None if progress is None else not progress, leave=False)


def download(url, dest, sha256, size=None, label=None, progress=None, timeout=TIMEOUT):
    """Download ``url`` to ``dest``, verifying its size and sha256 first.

    Parameters
    ----------
    url : str
        Any URL ``urllib`` opens (``https://``, ``file://``).
    dest : str or os.PathLike
        Final path; its directory is created if needed. Written only once
        the download is complete and verified (atomic rename).
    sha256 : str
        Expected hex digest.
    size : int, optional
        Expected size in bytes, checked before the digest.
    label : str, optional
        Name used in messages and the progress bar (default: the file name).
    progress : bool or None
        Show a progress bar; None shows one only on a terminal.
    timeout : float
        Seconds before a stalled connection is abandoned.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    DownloadError
        The URL cannot be reached or the transfer stops early.
    ChecksumError
        The downloaded bytes do not match ``size`` or ``sha256``; nothing is
        left on disk.
    """
    dest = pathlib.Path(dest)
    label = label or dest.name
    manual = (f"download {url} by hand and save it as {dest} (or pass its location "
              f"as path=)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    bar = None
    try:
        digest = hashlib.sha256()
        received = 0
        try:
            request = Request(url, headers={"User-Agent": _USER_AGENT})
            with urlopen(request, timeout=timeout) as response, os.fdopen(fd, "wb") as out:
                fd = None
                announced = response.headers.get("Content-Length") if response.headers else None
                announced = int(announced) if announced and announced.isdigit() else None
                bar = _progress_bar(announced or size, label, progress)
                while True:
                    block = response.read(BLOCK_SIZE)
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    if bar is not None:
                        bar.update(len(block))
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"{label}: the server answered {exc.code} {exc.reason} "
                                f"for {url}; {manual}") from exc
        except urllib.error.URLError as exc:
            raise DownloadError(f"{label}: cannot reach {url} ({exc.reason}); no network? "
                                f"{manual}") from exc
        except (socket.timeout, TimeoutError, ConnectionError) as exc:
            raise DownloadError(f"{label}: the connection to {url} failed ({exc}); "
                                f"{manual}") from exc
        except OSError as exc:
            raise DownloadError(f"{label}: downloading {url} failed ({exc}); {manual}") from exc
        if announced is not None and received != announced:
            raise DownloadError(f"{label}: the transfer from {url} stopped after {received} of "
                                f"{announced} bytes; try again, or {manual}")
        if size is not None and received != size:
            raise ChecksumError(f"{label}: the download from {url} has {received} bytes, "
                                f"expected {size}; it was discarded (a changed release or a "
                                f"proxy page?)")
        got = digest.hexdigest()
        if got != sha256.lower():
            raise ChecksumError(f"{label}: sha256 of the download from {url} is {got}, "
                                f"expected {sha256}; it was discarded (corrupted transfer or a "
                                f"changed release)")
        os.replace(tmp, dest)
        tmp = None
        return dest
    finally:
        if bar is not None:
            bar.close()
        if fd is not None:
            os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


def verify_file(path, sha256, size=None, label=None):
    """Raise :class:`ChecksumError` unless ``path`` has this size and sha256.

    Parameters
    ----------
    path : str or os.PathLike
    sha256 : str
        Expected hex digest.
    size : int, optional
        Expected size in bytes (checked first: it is free).
    label : str, optional
        Name used in the message.
    """
    path = pathlib.Path(path)
    label = label or path.name
    hint = "delete it to download it again, or pass path= to load an unverified copy"
    if size is not None:
        actual = path.stat().st_size
        if actual != size:
            raise ChecksumError(f"{label}: {path} has {actual} bytes, expected {size} "
                                f"(truncated or a different release); {hint}")
    got = file_sha256(path)
    if got != sha256.lower():
        raise ChecksumError(f"{label}: {path} has sha256 {got}, expected {sha256}; {hint}")
