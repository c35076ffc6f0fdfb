"""ALS and SGD epochs, loss, batch recommendation and the SVD baselines.

Each case times one unit of work with its setup outside the timed region:
one WALS epoch (user then item half-step on a prepared problem), one Hogwild
SGD epoch (on a prepared state), one loss evaluation, top-10 for every user,
and whole SVD fits (they have no epochs). See ``conftest.py`` for sizes,
threads and rounds, and ``README.md`` for the regression workflow.
"""

import pytest

import harness


@pytest.mark.parametrize("factors", [32, 64, 128])
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_als_epoch(measure, dataset, threads, solver, factors):
    name, X = dataset
    measure(harness.als_epoch_case(X, factors, solver, threads), name)


@pytest.mark.parametrize("factors", [32, 64])
def test_sgd_epoch(measure, dataset, threads, factors):
    name, X = dataset
    measure(harness.sgd_epoch_case(X, factors, threads), name)


def test_loss(measure, dataset, threads):
    name, X = dataset
    measure(harness.loss_case(X, 64, threads), name)


def test_recommend_all_users(measure, dataset, threads):
    name, X = dataset
    measure(harness.recommend_case(X, 64, threads), name)


def test_truncated_svd(measure, dataset, threads):
    name, X = dataset
    measure(harness.truncated_svd_case(X, 64, threads), name)


def test_dense_svd(measure, dataset, threads):
    """Dense SVD of the most-active-users x most-popular-items block (all of ml-100k)."""
    name, X = dataset
    if name in harness.DENSE_BLOCKS:
        X = harness.dense_block(X, harness.DENSE_BLOCKS[name])
    measure(harness.dense_svd_case(X, min(64, min(X.shape)), threads), name)
