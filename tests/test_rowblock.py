"""The CG half-step's row-block helpers against numpy, across the 4-row blocking's remainders."""

import numpy as np
import pytest

from fastwmf.kernels.rowblock import (
    GATHER_AHEAD, diagonal_apply, gather_columns_dot, gather_rows, indexed_rows_dot,
    rows_axpy, rows_dot, rows_dot_axpy)


def _tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("D", [1, 3, 8, 13])
def test_diagonal_apply_matches_numpy(D, dtype):
    rng = np.random.default_rng(D)
    values = rng.random(D + 2).astype(dtype)
    x = rng.standard_normal(D + 2).astype(dtype)
    out = np.full(D + 2, np.nan, dtype)
    diagonal_apply(values, x, dtype(0.7), dtype(-0.2), out, D)
    want = 0.7 * (np.diag(values[:D].astype(np.float64)) @ x[:D]) - 0.2 * x[:D]
    np.testing.assert_allclose(out[:D], want, **_tolerance(dtype))
    assert np.isnan(out[D:]).all()  # entries past D untouched


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("count", [0, 1, 3, 4, 7, 9])
def test_rows_dot_axpy_is_the_dot_then_the_weighted_axpy(count, dtype):
    rng = np.random.default_rng(100 + count)
    D = 6
    block = rng.standard_normal((10, D)).astype(dtype)
    x = rng.standard_normal(D).astype(dtype)
    coef = rng.standard_normal(14).astype(dtype)
    offset = 3
    dots = np.full(10, np.nan, dtype)
    out = rng.standard_normal(D).astype(dtype)
    start = out.copy()
    rows_dot_axpy(block, count, x, coef, offset, dots, out, D, dtype(0.0))
    plain = block[:count].astype(np.float64) @ x.astype(np.float64)
    np.testing.assert_allclose(dots[:count], plain, **_tolerance(dtype))
    assert np.isnan(dots[count:]).all()
    weights = coef[offset:offset + count].astype(np.float64) * plain
    np.testing.assert_allclose(out, start + weights @ block[:count].astype(np.float64),
                               **_tolerance(dtype))


@pytest.mark.parametrize("count", [0, 1, GATHER_AHEAD, GATHER_AHEAD + 5])
def test_gather_rows_copies_the_indexed_rows(count):
    rng = np.random.default_rng(count)
    other = rng.standard_normal((40, 5)).astype(np.float32)
    indices = rng.integers(0, 40, 3 + count + 2).astype(np.int32)
    block = np.zeros((count + 1, 8), np.float32)
    gather_rows(other, indices, 3, count, block, 5)
    np.testing.assert_array_equal(block[:count, :5], other[indices[3:3 + count]])
    assert not block[count:].any() and not block[:, 5:].any()  # past count and d: untouched


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("count", [0, 1, 5, GATHER_AHEAD + 4, GATHER_AHEAD + 7])
def test_indexed_rows_dot_reads_the_indexed_rows(count, dtype):
    """Every remainder of the four-row blocking, with and without rows to prefetch."""
    rng = np.random.default_rng(200 + count)
    other = rng.standard_normal((40, 9)).astype(dtype)
    indices = rng.integers(0, 40, 2 + count + 3).astype(np.int32)
    x = rng.standard_normal(9).astype(dtype)
    dots = np.full(count + 2, np.nan, dtype)
    indexed_rows_dot(other, indices, 2, count, x, dots, 7, dtype(0.0))
    want = other[indices[2:2 + count], :7].astype(np.float64) @ x[:7].astype(np.float64)
    np.testing.assert_allclose(dots[:count], want, **_tolerance(dtype))
    assert np.isnan(dots[count:]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("count", [0, 1, GATHER_AHEAD, GATHER_AHEAD + 3])
@pytest.mark.parametrize("first, b", [(0, 4), (3, 5), (10, 2)])
def test_gather_columns_dot_copies_a_column_block_and_dots_it(count, first, b, dtype):
    rng = np.random.default_rng(300 + count + first)
    other = rng.standard_normal((30, 12)).astype(dtype)
    indices = rng.integers(0, 30, 1 + count + 2).astype(np.int32)
    x = rng.standard_normal(b).astype(dtype)
    block = np.zeros((count + 1, b + 2), dtype)
    dots = np.full(count + 1, np.nan, dtype)
    gather_columns_dot(other, indices, 1, count, first, b, block, x, dots, dtype(0.0))
    rows = other[indices[1:1 + count], first:first + b]
    np.testing.assert_array_equal(block[:count, :b], rows)
    assert not block[count:].any() and not block[:, b:].any()  # past count and b: untouched
    np.testing.assert_allclose(dots[:count], rows.astype(np.float64) @ x.astype(np.float64),
                               **_tolerance(dtype))
    assert np.isnan(dots[count:]).all()
