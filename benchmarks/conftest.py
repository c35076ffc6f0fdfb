"""Shared data and settings for the pytest-benchmark suite.

Sizes come from ``FASTWMF_BENCH_SIZE``: ``smoke`` (CI runs every case once
on tiny data, ``--benchmark-disable``), ``small`` (default, ~1M nonzeros),
``medium`` (~5M) and ``large`` (200,000 x 50,000, ~10M draws).
"""

import os

import numba
import pytest

from fastwmf.datasets import make_implicit_interactions

SIZES = {
    "smoke": dict(n_users=2_000, n_items=500, nnz=20_000),
    "small": dict(n_users=40_000, n_items=10_000, nnz=1_000_000),
    "medium": dict(n_users=100_000, n_items=25_000, nnz=5_000_000),
    "large": dict(n_users=200_000, n_items=50_000, nnz=10_000_000),
}


def bench_size():
    size = os.environ.get("FASTWMF_BENCH_SIZE", "small")
    if size not in SIZES:
        raise pytest.UsageError(f"FASTWMF_BENCH_SIZE must be one of {sorted(SIZES)}, got {size!r}")
    return size


def pytest_report_header(config):
    return (f"fastwmf benchmarks: size={bench_size()} {SIZES[bench_size()]}, "
            f"numba threads={numba.config.NUMBA_NUM_THREADS}, "
            f"threading layer={numba.config.THREADING_LAYER}")


@pytest.fixture(scope="session")
def implicit_matrix():
    """Power-law implicit counts of the selected size."""
    return make_implicit_interactions(**SIZES[bench_size()], seed=0)


@pytest.fixture(scope="session")
def small_dense_matrix():
    """A matrix small enough for the dense SVD baseline."""
    return make_implicit_interactions(n_users=3_000, n_items=1_500, nnz=60_000, seed=1)
