"""The step-size ``1 / sqrt``: an estimate within its bound in float32, exact in float64."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from numba.core.errors import TypingError

from fastwmf.kernels._llvm.rsqrt import HAS_RSQRT_ESTIMATE, RSQRT_RELATIVE_ERROR, inverse_sqrt


@njit
def _inverse_sqrts(values):
    out = np.empty_like(values)
    for k in range(values.shape[0]):
        out[k] = inverse_sqrt(values[k])
    return out


def _relative_errors(values):
    got = _inverse_sqrts(values).astype(np.float64)
    exact = 1.0 / np.sqrt(values.astype(np.float64))
    return np.abs(got / exact - 1.0)


def test_float32_estimate_is_within_its_bound_across_the_range():
    # about 120 binades, a thousand or so values in each
    values = np.geomspace(1e-18, 1e18, 200_001).astype(np.float32)
    errors = _relative_errors(values)
    assert errors.max() <= RSQRT_RELATIVE_ERROR
    if HAS_RSQRT_ESTIMATE:
        assert errors.max() > 1e-6  # the estimate, not a full-precision square root


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=float(np.float32(1e-30)), max_value=float(np.float32(1e30)), width=32))
def test_float32_estimate_bound_holds_for_any_positive_value(x):
    assert _relative_errors(np.array([x], np.float32))[0] <= RSQRT_RELATIVE_ERROR


def test_float64_is_exact():
    values = np.geomspace(1e-200, 1e200, 10_001)
    np.testing.assert_allclose(_inverse_sqrts(values), 1.0 / np.sqrt(values), rtol=4e-16)


def test_float32_special_values_follow_ieee():
    got = _inverse_sqrts(np.array([0.0, np.inf, 1.0, 4.0], np.float32))
    assert got[0] == np.inf and got[1] == 0.0
    np.testing.assert_allclose(got[2:], [1.0, 0.5], rtol=RSQRT_RELATIVE_ERROR)


def test_integers_are_rejected_at_compile_time():
    with pytest.raises(TypingError):
        _inverse_sqrts(np.arange(1, 5))
