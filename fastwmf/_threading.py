"""Thread-count control for Numba and BLAS, and work-balanced row chunking."""

import contextlib

import numba
import numpy as np

from ._config import GRAMIAN_CHUNKS, MAX_CHUNKS, MIN_CHUNK_WORK

try:  # optional: limits BLAS pools so they do not oversubscribe Numba's
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - exercised only without threadpoolctl
    threadpool_limits = None


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
        if threadpool_limits is None:
            yield
        else:
            with threadpool_limits(limits=1, user_api="blas"):
                yield
    finally:
        numba.set_num_threads(previous)


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


def uniform_chunks(n_rows, n_chunks=GRAMIAN_CHUNKS, min_rows=1):
    """Boundaries of at most ``n_chunks`` contiguous chunks of equal row count,
    each of at least ``min_rows`` rows where there are that many.

    Depends only on ``n_rows``, never on the thread count.
    """
    n_chunks = max(1, min(n_rows // max(min_rows, 1), n_chunks))
    return np.unique(np.linspace(0, n_rows, n_chunks + 1).round().astype(np.int64))
