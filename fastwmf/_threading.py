"""Thread-count control for Numba and BLAS, and work-balanced row chunking."""

import contextlib
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from ._config import (
    GRAMIAN_CHUNKS, MAX_CHUNKS, MIN_CHUNK_WORK, TASK_MAX_CHUNKS, TASK_MIN_WORK)

try:  # optional: limits BLAS pools so they do not oversubscribe Numba's
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - exercised only without threadpoolctl
    ThreadpoolController = None

_BLAS_CONTROLLER = []


def blas_controller():
    """The process's threadpoolctl controller, or None without threadpoolctl.

    Built once, on first use: a new ``threadpool_limits`` scans the loaded
    libraries again, a cost a small fit or a ``recommend`` call would pay
    every time (benchmarks/README.md). NumPy's and SciPy's BLAS are
    loaded before it is built; a BLAS that a process loads later (another
    library's) is not limited by it.
    """
    if not _BLAS_CONTROLLER:
        controller = None
        if ThreadpoolController is not None:
            import scipy.linalg  # noqa: F401 - loads SciPy's BLAS before the scan
            controller = ThreadpoolController()
        _BLAS_CONTROLLER.append(controller)
    return _BLAS_CONTROLLER[0]


def max_threads():
    """Return the largest thread count Numba was started with."""
    return int(numba.config.NUMBA_NUM_THREADS)


@contextlib.contextmanager
def thread_limits(num_threads):
    """Run a block with ``num_threads`` Numba threads and single-threaded BLAS.

    Parameters
    ----------
    num_threads : int
        Validated thread count (``1 <= num_threads <= max_threads()``).

    Notes
    -----
    The previous Numba thread count and BLAS limits are restored on exit, also
    when the block raises.
    """
    previous = numba.get_num_threads()
    numba.set_num_threads(num_threads)
    try:
        controller = blas_controller()
        if controller is None:
            yield
        else:
            with controller.limit(limits=1, user_api="blas"):
                yield
    finally:
        numba.set_num_threads(previous)


_POOL = None
_POOL_LOCK = threading.Lock()


def _forget_pool():
    """In a forked child: the parent's helper threads do not exist there."""
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _pool():
    """The process's helper threads for :func:`run_tasks` (started on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(max_threads() - 1, 1),
                                       thread_name_prefix="fastwmf",
                                       initializer=_mark_helper)
        return _POOL


_ON_HELPER = threading.local()


def _mark_helper():
    """Pool initializer: tasks on this thread run nested calls serially."""
    _ON_HELPER.active = True


def run_tasks(task, n_tasks):
    """Call ``task(k)`` for ``k = 0 .. n_tasks-1`` on up to ``numba.get_num_threads()``
    threads, handing out one ``k`` at a time.

    For tasks that spend their time outside the GIL (BLAS, ``nogil`` kernels):
    the thread count follows :func:`thread_limits` like Numba's ``prange``, but
    nothing is compiled for the parallelism (a ``prange`` kernel compiles far
    longer than the same loop without it: benchmarks/README.md). The calling
    thread works too,
    so concurrent calls always finish; a call from inside a task runs its
    tasks serially on that thread (Numba's thread limit is per thread, and the
    outer call already uses the threads it was given). Each task must write
    outputs of its own. The first exception raised by a task, or an interrupt
    of the caller, stops the handing out; the call returns only once no task
    runs any more, and then re-raises it.

    Parameters
    ----------
    task : callable
        Takes the task index.
    n_tasks : int
    """
    threads = min(numba.get_num_threads(), n_tasks)
    if threads <= 1 or getattr(_ON_HELPER, "active", False):
        for k in range(n_tasks):
            task(k)
        return
    counter = itertools.count()
    lock = threading.Lock()
    failures = []

    def work():
        while not failures:
            with lock:
                k = next(counter)
            if k >= n_tasks:
                return
            try:
                task(k)
            except BaseException as error:  # noqa: B036 - re-raised by the caller
                failures.append(error)
                raise

    try:
        pool = _pool()
        helpers = [pool.submit(work) for _ in range(threads - 1)]
    except RuntimeError:  # the interpreter is shutting down: no new threads
        for k in range(n_tasks):
            task(k)
        return
    try:
        work()
    except BaseException:
        if not failures:  # an interrupt between tasks: stop the helpers too
            failures.append(None)
        raise
    finally:
        for helper in helpers:
            if not helper.cancel():  # started: wait for its current task
                while True:
                    try:
                        helper.exception()
                        break
                    except BaseException:  # noqa: B036 - a second interrupt: keep waiting
                        failures.append(None)
    if failures and failures[0] is not None:
        raise failures[0]


def dynamic_schedule():
    """A context in which each ``prange`` loop hands out one iteration at a time.

    Numba splits a ``prange`` range into one equal share per thread by default.
    On a machine whose cores run at different speeds (a VM beside other work,
    a core busy with something else) the faster thread then waits at the end
    for the slower; with one iteration at a time it takes the next instead.
    Worth it only for loops of a few hundred to a few thousand costly
    iterations: each one becomes a task of its own. Results do not depend on
    the schedule where each iteration writes its own output.
    """
    return numba.parallel_chunksize(1)


def row_chunks(indptr, row_cost=1.0, max_chunks=MAX_CHUNKS, min_work=MIN_CHUNK_WORK):
    """Split rows into contiguous chunks of about equal work.

    The work of row ``i`` is taken as ``nnz_i + row_cost``, so rows with few
    entries still count for their dense solve.

    Parameters
    ----------
    indptr : ndarray of int64, shape (n_rows + 1,)
        CSR row pointer.
    row_cost : float
        Fixed work per row, in units of one stored entry.
    max_chunks : int
        Upper bound on the number of chunks.
    min_work : float
        Fewer chunks where each would carry less than this work (small data).

    Returns
    -------
    ndarray of int64
        Chunk boundaries ``b`` with ``b[0] == 0`` and ``b[-1] == n_rows``;
        chunk ``c`` holds rows ``b[c]:b[c + 1]``.
    """
    n_rows = len(indptr) - 1
    if n_rows <= 0:
        return np.zeros(1, dtype=np.int64)
    cumulative = indptr[1:].astype(np.float64) + row_cost * np.arange(1, n_rows + 1)
    by_work = max(1, int(cumulative[-1] // min_work)) if min_work > 0 else n_rows
    n_chunks = int(min(n_rows, max_chunks, by_work))
    targets = cumulative[-1] * np.arange(1, n_chunks) / n_chunks
    inner = np.searchsorted(cumulative, targets, side="left") + 1
    bounds = np.concatenate(([0], inner, [n_rows])).astype(np.int64)
    return np.unique(bounds)


def work_chunks(n_rows, row_cost, min_work=TASK_MIN_WORK, max_chunks=TASK_MAX_CHUNKS):
    """Boundaries of contiguous chunks of rows of equal cost for :func:`run_tasks`.

    Each chunk carries at least ``min_work`` units (a chunk is one call into a
    compiled kernel, which has a fixed cost), and there are at most
    ``max_chunks``. Depends only on the arguments, never on the thread count.

    Parameters
    ----------
    n_rows : int
    row_cost : float
        Work per row (e.g. multiply-adds).
    min_work, max_chunks : float, int
    """
    by_work = int(n_rows * max(row_cost, 1.0) // max(min_work, 1.0))
    n_chunks = max(1, min(n_rows, max_chunks, by_work))
    return np.unique(np.linspace(0, n_rows, n_chunks + 1).round().astype(np.int64))


def uniform_chunks(n_rows, n_chunks=GRAMIAN_CHUNKS, min_rows=1):
    """Boundaries of at most ``n_chunks`` contiguous chunks of equal row count,
    each of at least ``min_rows`` rows where there are that many.

    Depends only on ``n_rows``, never on the thread count.
    """
    n_chunks = max(1, min(n_rows // max(min_rows, 1), n_chunks))
    return np.unique(np.linspace(0, n_rows, n_chunks + 1).round().astype(np.int64))
