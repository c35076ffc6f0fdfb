"""Kernels compiled for one factor count.

A loop over ``d`` whose length LLVM knows at compile time becomes straight
SIMD code; with ``d`` read from an array shape it stays a generic loop that
is several times slower per stored entry. Kernel factories therefore build
one closure per *width*: ``d`` rounded up to a multiple of
:data:`WIDTH_MULTIPLE`, the rows padded with zeros (padding never changes a
result: zero columns stay zero through every product). Each width compiles
once per process, or loads from Numba's disk cache: a closure is cached under
the values it captures, which are plain integers and numpy scalar types here.
Factor counts above :data:`MAX_SPECIALISED_FACTORS` share one generic kernel.
"""


#: Widths are multiples of this (one AVX2 register of float32).
WIDTH_MULTIPLE = 8

#: Larger factor counts use the generic (width 0) kernel.
MAX_SPECIALISED_FACTORS = 256


def kernel_width(factors):
    """The compiled width for ``factors`` columns, or 0 for the generic kernel."""
    if factors > MAX_SPECIALISED_FACTORS:
        return 0
    return -(-factors // WIDTH_MULTIPLE) * WIDTH_MULTIPLE


def exact_width(factors):
    """The compiled width for kernels that cannot pad (their arrays have exactly
    ``factors`` columns): ``factors`` when it is a width, else 0 (generic)."""
    return factors if kernel_width(factors) == factors else 0

