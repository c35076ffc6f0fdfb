"""The software-prefetch intrinsic: compiles for the index forms kernels use, changes nothing."""

import platform

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from fastwmf.kernels._llvm.prefetch import prefetch, prefetch_row


@njit
def _gather_with_prefetch(matrix, weights, rows):
    total = 0.0
    for k in range(rows.shape[0]):
        coming = rows[min(k + 4, rows.shape[0] - 1)]
        prefetch_row(matrix, coming, matrix.shape[1])
        prefetch(weights, coming)
        prefetch(weights, np.uint64(coming))
        prefetch(matrix, (np.uint64(coming), 0))
        total += weights[rows[k]] * matrix[rows[k]].sum()
    return total


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prefetch_changes_no_value(dtype):
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((50, 37)).astype(dtype)
    weights = rng.random(50)
    rows = rng.integers(0, 50, 200).astype(np.int32)
    before = matrix.copy(), weights.copy()
    got = _gather_with_prefetch(matrix, weights, rows)
    want = sum(weights[r] * matrix[r].astype(np.float64).sum() for r in rows)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_array_equal(matrix, before[0])
    np.testing.assert_array_equal(weights, before[1])


def test_prefetch_needs_one_index_per_dimension():
    @njit
    def wrong(matrix):
        prefetch(matrix, 0)

    with pytest.raises(TypingError):
        wrong(np.zeros((3, 3)))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 mnemonic")
def test_prefetch_emits_a_prefetch_instruction():
    matrix = np.zeros((8, 16))
    _gather_with_prefetch(matrix, np.zeros(8), np.arange(8, dtype=np.int32))
    asm = next(iter(_gather_with_prefetch.inspect_asm().values()))
    if "prefetch" not in asm and "Inspection disabled" in asm:
        pytest.skip("compiled code loaded from the cache")
    assert "prefetcht0" in asm
