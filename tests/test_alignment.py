"""Cache-line aligned allocations, and the SGD factors that use them."""

import numpy as np
import pytest

from fastwmf import SGD
from fastwmf._alignment import aligned_empty
from fastwmf._validation import check_interactions
from fastwmf.models._wmf import targets_and_confidence, unobserved_weights
from fastwmf.kernels.sgd import ROW_SCALARS, scalar_columns
from fastwmf.models.sgd import _State

from .conftest import random_interactions


def sgd_state(X, factors, **params):
    """The state of an SGD fit of ``X``, built as :meth:`fastwmf.SGD.fit` builds it."""
    checked = SGD(factors=factors, random_state=0, num_threads=1, **params)._checked_params()
    data = check_interactions(X, "X")
    targets, confidence = targets_and_confidence(data, checked, checked["dtype"])
    p, q = unobserved_weights(None, None, data.shape)
    return _State.build(data, [targets, confidence], p, q, checked)


@pytest.mark.parametrize("shape", [(0,), (1,), (7, 3), (1000, 64), (5, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_aligned_empty_is_aligned_contiguous_and_writable(shape, dtype):
    a = aligned_empty(shape, dtype)
    assert a.shape == shape and a.dtype == np.dtype(dtype)
    assert a.flags.c_contiguous and a.flags.writeable
    assert a.size == 0 or a.ctypes.data % 64 == 0
    a[...] = 1
    assert np.all(a == 1)


def test_sgd_factors_rows_start_on_cache_lines():
    X = random_interactions(300, 200, 0.05, seed=0)
    state = sgd_state(X, factors=16)
    for factors in (state.U, state.V):
        assert factors.ctypes.data % 64 == 0 and factors.flags.c_contiguous
    U = state.U
    saved = state.snapshot()
    state.U[...] = 0.0
    state.restore(saved)
    assert state.U is U  # restored in place, alignment kept
    np.testing.assert_array_equal(state.U, saved[0])


def test_sgd_row_scalars_share_one_cache_line_per_row():
    X = random_interactions(300, 200, 0.05, seed=0)
    state = sgd_state(X, factors=16, biased=True)
    block = state.item_scalars
    assert block.shape == (200, len(ROW_SCALARS)) and block.ctypes.data % 64 == 0
    columns = scalar_columns(block)
    for k, name in enumerate(ROW_SCALARS):
        assert columns[name].shape == (200,) and columns[name].strides == (64,)
        assert columns[name].ctypes.data == block.ctypes.data + 8 * k
    assert np.shares_memory(state.item_bias, block)
    np.testing.assert_array_equal(columns["acc"], 1.0)
    np.testing.assert_array_equal(columns["tail_acc"], 1.0)
    np.testing.assert_array_equal(state.item_bias, 0.0)
    np.testing.assert_array_equal(columns["weight"], state.q)
