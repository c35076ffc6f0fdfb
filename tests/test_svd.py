"""SVD baselines: exact low-rank approximations with the shared interface."""

import numpy as np
import pytest

import fastwmf

from . import naive
from .conftest import random_interactions


@pytest.fixture(scope="module")
def matrix():
    return random_interactions(30, 20, 0.3, seed=4)


@pytest.mark.parametrize("cls", [fastwmf.DenseSVD, fastwmf.TruncatedSVD])
def test_svd_reaches_eckart_young_error(matrix, cls):
    kwargs = {"random_state": 0} if cls is fastwmf.TruncatedSVD else {}
    model = cls(factors=5, **kwargs).fit(matrix)
    approx = model.user_factors_ @ model.item_factors_.T
    error = np.sum((matrix.toarray() - approx) ** 2)
    assert error == pytest.approx(naive.truncated_svd_error(matrix.toarray(), 5), rel=1e-8)
    assert np.all(np.diff(model.singular_values_) <= 0)


def test_dense_and_truncated_agree(matrix):
    dense = fastwmf.DenseSVD(factors=4).fit(matrix)
    sparse = fastwmf.TruncatedSVD(factors=4, random_state=1).fit(matrix)
    np.testing.assert_allclose(dense.singular_values_, sparse.singular_values_, rtol=1e-8)
    np.testing.assert_allclose(dense.user_factors_ @ dense.item_factors_.T,
                               sparse.user_factors_ @ sparse.item_factors_.T, atol=1e-8)


def test_truncated_svd_is_reproducible(matrix):
    a = fastwmf.TruncatedSVD(factors=3, random_state=5).fit(matrix)
    b = fastwmf.TruncatedSVD(factors=3, random_state=5).fit(matrix)
    assert np.array_equal(a.user_factors_, b.user_factors_)


def test_svd_fold_in_recovers_training_rows(matrix):
    model = fastwmf.DenseSVD(factors=5).fit(matrix)
    np.testing.assert_allclose(model.fold_in(matrix), model.user_factors_, atol=1e-10)


def test_wals_with_unit_weights_matches_svd_error(matrix):
    svd = fastwmf.DenseSVD(factors=2).fit(matrix)
    wals = fastwmf.WALS(factors=2, w0=1.0, regularization=0.0, iterations=300,
                        dtype="float64", random_state=0).fit(matrix)
    svd_error = np.sum((matrix.toarray() - svd.user_factors_ @ svd.item_factors_.T) ** 2)
    assert wals.loss_history_[-1] == pytest.approx(svd_error, rel=1e-3)
