import functools

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from fastwmf.kernels._llvm.gramtile import gram_tile, vector_length


@functools.lru_cache(maxsize=None)
def _tile_kernel(tile_rows, tile_vectors):
    @njit
    def tile(out, weighted, rows, count, r0, c0):
        gram_tile(out, weighted, rows, count, r0, c0, tile_rows, tile_vectors)

    return tile


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tile_rows,tile_vectors", [(4, 2), (4, 1), (3, 1)])
@pytest.mark.parametrize("count", [0, 1, 7, 33])
def test_gram_tile_matches_numpy_and_writes_only_its_tile(dtype, tile_rows, tile_vectors,
                                                          count):
    rng = np.random.default_rng(count)
    lanes = vector_length(dtype)
    cols = 3 * 2 * lanes
    weighted = rng.standard_normal((40, cols)).astype(dtype)
    rows = rng.standard_normal((40, cols)).astype(dtype)
    out = np.full((cols, cols), 7.0, dtype)
    r0, c0 = 5, lanes  # any row, a column on a register boundary
    _tile_kernel(tile_rows, tile_vectors)(out, weighted, rows, count, r0, np.uint64(c0))
    stop = c0 + tile_vectors * lanes
    want = (weighted[:count, r0:r0 + tile_rows].T.astype(np.float64)
            @ rows[:count, c0:stop].astype(np.float64))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out[r0:r0 + tile_rows, c0:stop], want, rtol=rtol,
                               atol=rtol * max(1.0, np.abs(want).max()))
    outside = np.ones(out.shape, bool)
    outside[r0:r0 + tile_rows, c0:stop] = False
    assert (out[outside] == 7.0).all()


def test_gram_tile_types_only_c_contiguous_float_matrices_of_one_dtype():
    tile = _tile_kernel(4, 1)
    A = np.ones((8, 16))
    with pytest.raises(TypingError):
        tile(A[:, ::2], A[:, ::2], A[:, ::2], 1, 0, 0)  # rows not contiguous
    with pytest.raises(TypingError):
        tile(A, A.astype(np.float32), A, 1, 0, 0)  # mixed dtypes
    with pytest.raises(TypingError):
        tile(A, A, A, 1.0, 0, 0)  # a float count
    ints = np.ones((8, 16), np.int64)
    with pytest.raises(TypingError):
        tile(ints, ints, ints, 1, 0, 0)


def test_gram_tile_shape_must_be_a_positive_compile_time_constant():
    @njit
    def runtime_rows(A, tile_rows):
        gram_tile(A, A, A, 1, 0, 0, tile_rows, 1)

    @njit
    def zero_vectors(A):
        gram_tile(A, A, A, 1, 0, 0, 4, 0)

    A = np.ones((8, 8))
    for call in (lambda: runtime_rows(A, 4), lambda: zero_vectors(A)):
        with pytest.raises(TypingError):
            call()
