import os

import numpy as np
import pytest
import scipy.sparse as sp


def random_interactions(m, n, density, seed, value_scale=1.0, empty_rows=(), empty_cols=()):
    """A random CSR matrix with optional empty rows and columns."""
    rng = np.random.default_rng(seed)
    mask = rng.random((m, n)) < density
    mask[list(empty_rows), :] = False
    mask[:, list(empty_cols)] = False
    rows, cols = np.nonzero(mask)
    values = rng.uniform(0.5, 5.0, size=len(rows)) * value_scale
    return sp.csr_matrix((values, (rows, cols)), shape=(m, n))


def planted_low_rank(m, n, rank, seed, noise=0.0):
    """A dense m x n matrix of the given rank plus optional noise."""
    rng = np.random.default_rng(seed)
    L = rng.standard_normal((m, rank))
    R = rng.standard_normal((n, rank))
    return L @ R.T + noise * rng.standard_normal((m, n))


@pytest.fixture
def small_matrix():
    return random_interactions(30, 25, 0.25, seed=0, empty_rows=(3,), empty_cols=(7,))


#: Most of the suite's time is Numba compiling kernels. Each pytest-xdist worker
#: compiles the kernels of its own test files (the disk cache only helps once a
#: worker has written an entry), and the largest file takes about a fifth of a
#: serial run, so more workers than this add compile work and memory but
#: hardly any speed.
MAX_TEST_WORKERS = 4


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """Workers for ``-n auto``: one per available core, at most :data:`MAX_TEST_WORKERS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_TEST_WORKERS, cores))
