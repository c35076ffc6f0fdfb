"""Where Numba caches fastwmf's compiled kernels, and when an entry is stale.

Numba's default cache lives beside each source file (``__pycache__``) and is
keyed by that one file's content. fastwmf's kernels inline helpers from other
modules, so an edit to a helper would leave a stale entry behind, and every
new installation (a new virtual environment, a CI image, a container) starts
with an empty cache and compiles for half a minute.

:class:`PackageCacheLocator` keeps the entries of every function defined in
the package in one user-wide folder, in a subfolder per version of the kernel
sources, keyed by the package-relative file and by one hash of all sources
that compiled code depends on (the kernels, the configuration and the
defining file). A reinstall of the same sources, in any environment of the
same user and machine, finds its kernels compiled; any source change starts
afresh. Subfolders of other versions are never read again and may be deleted. Numba itself checks its own version, the Python
version and the CPU of each entry.

The folder is ``$FASTWMF_CACHE_DIR``, else ``$XDG_CACHE_HOME/fastwmf/numba``,
else ``~/.cache/fastwmf/numba``. Numba's ``NUMBA_CACHE_DIR`` still takes
precedence when set.
"""

import functools
import hashlib
import os
import sys

try:
    from numba.core import caching as _caching
except ImportError:  # pragma: no cover - numba always has it in supported versions
    _caching = None

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

#: Package files (relative) whose content every compiled kernel depends on.
SHARED_SOURCES = ("_config.py", "_alignment.py", "_hardware.py", "_threading.py")


def cache_dir():
    """The folder of fastwmf's Numba cache (see the module docstring)."""
    configured = os.environ.get("FASTWMF_CACHE_DIR")
    if configured:
        return os.path.abspath(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastwmf", "numba")


@functools.lru_cache(maxsize=None)
def _kernels_hash():
    """SHA-256 over the kernel sources (code generators included) and the shared sources."""
    kernels = os.path.join(PACKAGE_DIR, "kernels")
    paths = sorted(os.path.join(folder, name) for folder, _, names in os.walk(kernels)
                   for name in names if name.endswith(".py"))
    paths += [os.path.join(PACKAGE_DIR, name) for name in SHARED_SOURCES]
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.path.relpath(path, PACKAGE_DIR).encode())
        with open(path, "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def _source_hash(py_file):
    """SHA-256 over :func:`_kernels_hash` and ``py_file``."""
    digest = hashlib.sha256(_kernels_hash().encode())
    digest.update(os.path.relpath(os.path.abspath(py_file), PACKAGE_DIR).encode())
    with open(py_file, "rb") as handle:
        digest.update(handle.read())
    return digest.hexdigest()


def clear_hashes():
    """Forget the source hashes (after the sources changed in this process)."""
    _kernels_hash.cache_clear()
    _source_hash.cache_clear()


if _caching is not None:
    class PackageCacheLocator(_caching._CacheLocator):
        """Numba cache locator for functions defined in the fastwmf package."""

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            relative = os.path.relpath(os.path.dirname(os.path.abspath(py_file)), PACKAGE_DIR)
            # one folder per version of the kernel sources: Numba unpickles a
            # whole index before it compares stamps, so an index written by
            # other sources at the same file and line (a kernel signature
            # naming a record class since removed) would fail to load
            self._cache_path = os.path.normpath(
                os.path.join(cache_dir(), _kernels_hash()[:16], relative))

        def get_cache_path(self):
            return self._cache_path

        def get_source_stamp(self):
            return _source_hash(self._py_file)

        def get_disambiguator(self):
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func, py_file):
            path = os.path.abspath(py_file)
            if not path.startswith(PACKAGE_DIR + os.sep) or not os.path.exists(path):
                return None
            if getattr(sys, "frozen", False):
                return None
            self = cls(py_func, py_file)
            try:
                self.ensure_cache_path()
            except OSError:  # not writable: numba's own locators take over
                return None
            return self
else:  # pragma: no cover
    PackageCacheLocator = None


def install():
    """Put :class:`PackageCacheLocator` right after numba's ``NUMBA_CACHE_DIR`` locator.

    Idempotent; a no-op where numba's caching internals differ from the
    expected ones (numba's default locators then apply).
    """
    impl = getattr(_caching, "CacheImpl", None) or getattr(_caching, "_CacheImpl", None)
    classes = getattr(impl, "_locator_classes", None)
    if PackageCacheLocator is None or not isinstance(classes, list):
        return
    if PackageCacheLocator in classes:
        return
    first = getattr(_caching, "UserProvidedCacheLocator", None)
    position = classes.index(first) + 1 if first in classes else 0
    classes.insert(position, PackageCacheLocator)
