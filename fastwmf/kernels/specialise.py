"""Kernels compiled for one factor count.

A loop over ``d`` whose length LLVM knows at compile time becomes straight
SIMD code; with ``d`` read from an array shape it stays a generic loop
(compared in benchmarks/README.md, "Kernel constants"). Kernel
factories therefore build one closure per *width*: ``d`` rounded up to a
multiple of :data:`WIDTH_MULTIPLE`, the rows padded with zeros (padding never
changes a result: zero columns stay zero through every product). Each width
compiles once per process, or loads from Numba's disk cache: a closure is
cached under the values it captures, which are plain integers and numpy
scalar types here.
Factor counts above :data:`MAX_SPECIALISED_FACTORS` share one generic kernel.

:func:`specialised` is the one place that builds such kernels: it decorates
a factory ``factory(width, float_type, *options)``, keeps one build per key,
checks that every key is a value Numba can key its disk cache on, and
records what was built (:func:`compiled_kernels`).
"""

import functools
import numbers
import threading

import numpy as np


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



#: ``(kind, key)`` of every kernel built so far, in build order.
_BUILT = []

#: ``kind -> factory`` of every decorated factory.
_FACTORIES = {}

#: Held while a build is looked up or made (Dask runs half-steps on threads).
_LOCK = threading.Lock()


def _check_key(kind, key):
    """Raise unless ``key`` is ``(width, float_type, *options)`` with plain values.

    Numba keys a closure's disk cache on the values it captures; anything but
    plain integers and numpy scalar types (an array, a function, a float
    computed at run time) would compile again in every process, or worse,
    load a build made for another value.
    """
    width, float_type, *options = key
    if not isinstance(width, numbers.Integral) or width < 0 or \
            width not in (0, kernel_width(width)):
        raise ValueError(f"{kind}: width must be 0 or a compiled width, got {width!r}")
    if float_type not in (np.float32, np.float64):
        raise TypeError(f"{kind}: float_type must be np.float32 or np.float64, "
                        f"got {float_type!r}")
    for option in options:
        if not isinstance(option, (bool, np.bool_, numbers.Integral)):
            raise TypeError(f"{kind}: options must be integers or booleans, got {option!r}")


def specialised(kind, widths=kernel_width):
    """Decorate a kernel factory ``factory(width, float_type, *options)``.

    The decorated factory returns one build per key (the same dispatcher for
    equal keys) and records it under ``kind``; ``factory.for_factors(d,
    dtype, *options)`` maps ``d`` columns to the compiled width with
    ``widths`` (:func:`kernel_width`: rows padded to a multiple of
    :data:`WIDTH_MULTIPLE`; :func:`exact_width` for kernels whose arrays
    cannot be padded) and returns that build.
    """
    def decorate(factory):
        builds = {}

        @functools.wraps(factory)
        def build(width, float_type, *options):
            _check_key(kind, (width, np.dtype(float_type).type, *options))
            key = (int(width), np.dtype(float_type).type,
                   *(bool(o) if isinstance(o, (bool, np.bool_)) else int(o) for o in options))
            with _LOCK:
                kernel = builds.get(key)
                if kernel is None:
                    kernel = builds[key] = factory(*key)
                    _BUILT.append((kind, key))
            return kernel

        def for_factors(factors, dtype, *options):
            return build(widths(factors), dtype, *options)

        if kind in _FACTORIES:
            raise ValueError(f"a kernel factory of kind {kind!r} exists already")
        build.for_factors = for_factors
        build.kind = kind
        _FACTORIES[kind] = build
        return build

    return decorate


def compiled_kernels(kind=None):
    """``[(kind, key, dispatcher)]`` of the kernels built so far in this process
    (of one ``kind`` if given), in build order."""
    with _LOCK:
        built = [(k, key) for k, key in _BUILT if kind in (None, k)]
    return [(k, key, _FACTORIES[k](*key)) for k, key in built]
