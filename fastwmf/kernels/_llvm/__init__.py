"""LLVM code generators the kernels call: Numba intrinsics that emit vector
code, prefetches and the hardware reciprocal square root.

The algorithms in :mod:`fastwmf.kernels` import only the names below; the
modules here hold the IR they stand for and read the machine's vector width
and cache line from :mod:`fastwmf._hardware`.
"""

from .gramtile import VECTOR_BYTES, gram_tile, vector_length
from .prefetch import prefetch, prefetch_row
from .rowhead import head_sums, head_update, split_update
from .rsqrt import HAS_RSQRT_ESTIMATE, RSQRT_RELATIVE_ERROR, inverse_sqrt

__all__ = [
    "gram_tile", "vector_length", "VECTOR_BYTES", "prefetch", "prefetch_row", "head_sums",
    "head_update", "split_update", "inverse_sqrt", "HAS_RSQRT_ESTIMATE", "RSQRT_RELATIVE_ERROR",
]
