import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from fastwmf.kernels._llvm.rowhead import head_sums, head_update, split_update


def _kernels(size):
    @njit
    def call_sums(U, V, i, j):
        return head_sums(U, V, i, j, size)

    @njit
    def call_update(U, V, i, j, keep_u, take_u, keep_v, take_v):
        head_update(U, V, i, j, (keep_u, take_u, keep_v, take_v), size)

    return call_sums, call_update


@pytest.mark.parametrize("dtype,size", [(np.float32, 8), (np.float64, 8), (np.float32, 3)])
def test_head_sums_and_update_match_numpy(dtype, size):
    rng = np.random.default_rng(0)
    U = rng.standard_normal((6, 12)).astype(dtype)
    V = rng.standard_normal((5, 12)).astype(dtype)
    call_sums, call_update = _kernels(size)
    u, v = U[4, :size].astype(np.float64), V[2, :size].astype(np.float64)
    got = call_sums(U, V, 4, np.uint64(2))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, (u @ v, u @ u, v @ v), rtol=rtol)
    U2, V2 = U.copy(), V.copy()
    # a heterogeneous tuple (float32 and float64 coefficients) is cast to the dtype
    call_update(U2, V2, np.uint64(4), 2, np.float32(0.9), 0.25, 0.8, -0.5)
    want_u, want_v = U.copy(), V.copy()
    want_u[4, :size] = 0.9 * U[4, :size] + 0.25 * V[2, :size]
    want_v[2, :size] = 0.8 * V[2, :size] - 0.5 * U[4, :size]
    np.testing.assert_allclose(U2, want_u, rtol=1e-6)
    np.testing.assert_allclose(V2, want_v, rtol=1e-6)
    assert np.array_equal(U2[:, size:], U[:, size:]) and np.array_equal(V2[:, size:], V[:, size:])


def test_head_operations_type_only_c_contiguous_float_matrices():
    call_sums, _ = _kernels(4)
    U = np.ones((3, 8))
    with pytest.raises(TypingError):
        call_sums(U[:, ::2], U[:, ::2], 0, 0)  # rows not contiguous
    with pytest.raises(TypingError):
        call_sums(U, U.astype(np.float32), 0, 0)  # mixed dtypes
    with pytest.raises(TypingError):
        call_sums(np.ones((3, 8), np.int64), np.ones((3, 8), np.int64), 0, 0)


def test_head_size_must_be_a_positive_compile_time_constant():
    @njit
    def runtime_size(U, size):
        return head_sums(U, U, 0, 0, size)

    @njit
    def zero_size(U):
        return head_sums(U, U, 0, 0, 0)

    U = np.ones((2, 8))
    for call in (lambda: runtime_size(U, 4), lambda: zero_size(U)):
        with pytest.raises(TypingError):
            call()


@pytest.mark.parametrize("dtype,size,head", [(np.float32, 64, 8), (np.float64, 16, 8),
                                             (np.float32, 12, 3)])
def test_split_update_matches_numpy(dtype, size, head):
    @njit
    def call(U, V, i, j, coefficients):
        a, b, c, d, e, f, g, h = coefficients
        split_update(U, V, i, j, (a, b, c, d), (e, f, g, h), size, head)

    rng = np.random.default_rng(1)
    U = rng.standard_normal((4, size + 4)).astype(dtype)
    V = rng.standard_normal((3, size + 4)).astype(dtype)
    coefficients = (0.9, 0.25, 0.8, -0.5, 0.7, -0.1, 1.0, 0.0)
    U2, V2 = U.copy(), V.copy()
    call(U2, V2, np.uint64(3), 1, coefficients)
    want_u, want_v = U.copy(), V.copy()
    for lo, hi, (ku, tu, kv, tv) in ((0, head, coefficients[:4]), (head, size, coefficients[4:])):
        want_u[3, lo:hi] = ku * U[3, lo:hi] + tu * V[1, lo:hi]
        want_v[1, lo:hi] = kv * V[1, lo:hi] + tv * U[3, lo:hi]
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(U2, want_u, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(V2, want_v, rtol=rtol, atol=rtol)
    assert np.array_equal(U2[:, size:], U[:, size:]) and np.array_equal(V2[:, size:], V[:, size:])
    assert np.array_equal(np.delete(U2, 3, 0), np.delete(U, 3, 0))


def test_split_update_needs_a_head_inside_the_row():
    @njit
    def whole_row(U):
        split_update(U, U, 0, 0, (1.0, 0.0, 1.0, 0.0), (1.0, 0.0, 1.0, 0.0), 8, 8)

    with pytest.raises(TypingError):
        whole_row(np.ones((2, 8)))


def test_row_updates_take_four_float_coefficients():
    @njit
    def three(U):
        head_update(U, U, 0, 0, (1.0, 0.0, 1.0), 8)

    @njit
    def integers(U):
        split_update(U, U, 0, 0, (1, 0, 1, 0), (1.0, 0.0, 1.0, 0.0), 8, 4)

    for call in (three, integers):
        with pytest.raises(TypingError):
            call(np.ones((2, 8)))
