"""Numba kernels; each module holds one algorithm. Nothing here validates input."""
