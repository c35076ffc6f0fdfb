"""The one place for Numba decorator options and the dtype policy."""

import numpy as np

#: NaN-safe subset of LLVM fast-math flags: ``fastmath=True`` would also allow
#: ``nnan``/``ninf``, which lets ``isnan`` fold to ``False``.
FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

#: Options for serial kernels.
SERIAL = {"cache": True, "nogil": True, "fastmath": set(FASTMATH)}

#: Options for a serial kernel that runs one chunk of a parallel task
#: (:func:`fastwmf._threading.run_tasks`): NumPy's error model, as inside a
#: ``prange`` loop, so a division by zero gives inf or NaN (caught by the
#: fit's finite checks) rather than raising from a worker thread.
CHUNK = dict(SERIAL, error_model="numpy")

#: Numba's parallel passes, only the ``prange`` loop on: with every pass on,
#: each array expression in a parallel kernel (``np.zeros``, ``a += b``, a
#: slice assignment) becomes a parfor of its own, compiled as a separate
#: gufunc, although the work is inside the ``prange`` loop, where nested
#: parfors run serially (compile times: benchmarks/README.md).
PARALLEL_PASSES = {"prange": True, "comprehension": False, "reduction": False,
                   "inplace_binop": False, "setitem": False, "numpy": False,
                   "stencil": False, "fusion": False}

#: Options for kernels that run a ``prange`` loop.
PARALLEL = dict(SERIAL, parallel=dict(PARALLEL_PASSES))

#: Floating point types the factor matrices may have.
SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: Rows per chunk are balanced so that each chunk carries about this share of
#: the work; the chunk count never depends on the thread count, so sums over
#: chunks are bit-identical for any ``num_threads``.
MAX_CHUNKS = 512

#: Largest index a kernel accepts (indices are stored as int32).
MAX_INDEX = np.iinfo(np.int32).max

#: Fewest stored-entry units of work per half-step chunk: on small data each
#: chunk's scratch and task overhead would otherwise outweigh its rows.
MIN_CHUNK_WORK = 4096

#: Fewest units of work (multiply-adds) per task of a row-parallel kernel
#: such as top-k or the ranking metrics: a task is one call into compiled
#: code from Python, whose fixed cost it must outweigh.
TASK_MIN_WORK = 1 << 18

#: Most tasks one row-parallel call is split into.
TASK_MAX_CHUNKS = 256

#: A WALS fit keeps its factor rows by activity (most active users and most
#: popular items first) from this many stored entries on, where the rows a
#: half-step gathers no longer fit in the caches (benchmarks/README.md).
RENUMBER_MIN_ENTRIES = 1_000_000

#: Row chunks of a Gramian; each holds a d x d float64 partial sum.
GRAMIAN_CHUNKS = 32

#: Fewest rows per Gramian chunk (one BLAS product of this many rows or more).
GRAMIAN_MIN_ROWS = 256
