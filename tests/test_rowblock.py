"""The CG half-step's row-block helpers against numpy, across the 4-row blocking's remainders."""

import numpy as np
import pytest

from fastwmf.kernels.rowblock import rows_axpy, rows_dot, symmetric_apply


def _tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("D", [1, 3, 4, 5, 8, 13, 64])
def test_symmetric_apply_matches_numpy(D, dtype):
    rng = np.random.default_rng(D)
    A = rng.standard_normal((D, D))
    G = (A @ A.T).astype(dtype)
    x = rng.standard_normal(D).astype(dtype)
    out = np.full(D, np.nan, dtype)
    symmetric_apply(G, x, dtype(0.7), dtype(-0.2), out, D, dtype(0.0))
    want = 0.7 * (G.astype(np.float64) @ x) - 0.2 * x
    np.testing.assert_allclose(out, want, **_tolerance(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("count", [0, 1, 3, 4, 7, 9])
def test_rows_dot_and_axpy_match_numpy(count, dtype):
    rng = np.random.default_rng(count)
    D = 6
    block = rng.standard_normal((10, D)).astype(dtype)
    x = rng.standard_normal(D).astype(dtype)
    dots = np.full(10, np.nan, dtype)
    rows_dot(block, count, x, dots, D, dtype(0.0))
    np.testing.assert_allclose(dots[:count], block[:count] @ x, **_tolerance(dtype))
    assert np.isnan(dots[count:]).all()  # rows past count untouched
    weights = rng.standard_normal(10).astype(dtype)
    out = rng.standard_normal(D).astype(dtype)
    want = out + weights[:count] @ block[:count]
    rows_axpy(block, count, weights, out, D)
    np.testing.assert_allclose(out, want, **_tolerance(dtype))
