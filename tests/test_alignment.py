"""Cache-line aligned allocations, and the SGD factors that use them."""

import numpy as np
import pytest

from fastwmf import SGD
from fastwmf._alignment import aligned_empty
from fastwmf._validation import check_interactions
from fastwmf.models._wmf import targets_and_confidence, unobserved_weights
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
    item_scalars = [state.visit["reg_v"], state.acc["v"], state.visit["bias_v"], state.item_bias,
                    state.acc["bv"], state.visit["gram_v"], state.col_weights, state.acc["v_tail"]]
    start = item_scalars[0].ctypes.data
    assert start % 64 == 0
    for k, column in enumerate(item_scalars):
        assert column.shape == (200,) and column.strides == (64,)
        assert column.ctypes.data == start + 8 * k
    np.testing.assert_array_equal(state.acc["v"], 1.0)
    np.testing.assert_array_equal(state.acc["v_tail"], 1.0)
    np.testing.assert_array_equal(state.item_bias, 0.0)
    np.testing.assert_array_equal(state.col_weights, state.q)
