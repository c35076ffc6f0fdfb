"""What the code generators need to know about this machine, detected once.

The values come from the host CPU as LLVM sees it (the vector extensions)
and from the C library (the first-level cache line); where either cannot
tell, the x86-64 defaults (64-byte lines, AVX2) stand in.
"""

import os

try:
    from llvmlite import binding as _llvm
except ImportError:  # pragma: no cover - llvmlite comes with numba
    _llvm = None


def _cpu_features():
    if _llvm is None:
        return frozenset()
    try:
        features = _llvm.get_host_cpu_features()
    except (RuntimeError, OSError, AttributeError):  # pragma: no cover - exotic hosts
        return frozenset()
    return frozenset(name for name, enabled in features.items() if enabled)


def _cache_line_bytes():
    try:
        value = os.sysconf("SC_LEVEL1_DCACHE_LINESIZE")
    except (ValueError, OSError, AttributeError):
        value = 0
    return int(value) if value and value > 0 and value & (value - 1) == 0 else 64


#: Vector extensions of the host CPU (LLVM's feature names, e.g. "avx2").
CPU_FEATURES = _cpu_features()

#: Bytes of the widest SIMD register: 64 with AVX-512, 32 with AVX, 16 otherwise
#: (SSE, NEON).
SIMD_BYTES = (64 if "avx512f" in CPU_FEATURES
              else 32 if "avx" in CPU_FEATURES or not CPU_FEATURES else 16)

#: Bytes per first-level data cache line.
CACHE_LINE_BYTES = _cache_line_bytes()
