"""BayesianMF: the Gibbs kernel against numpy, the hyperprior draws, the
posterior mean's compression, and the estimator's guarantees."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import fastwmf
from fastwmf._threading import row_chunks
from fastwmf.kernels.gibbs import add_predictions, sample_rows
from fastwmf.models.bayes import MERGE_EVERY, PosteriorMean, sample_row_prior, sample_wishart

from .conftest import planted_low_rank, random_interactions


def reference_draws(X, residuals, other, precision, mean, alpha, noise):
    """Row by row in numpy: ``A = P + alpha Y^T Y``, ``b = P m + alpha Y^T r``,
    draw ``U^-1 (U^-T b + z)`` for ``A = U^T U``."""
    out = np.empty((X.shape[0], other.shape[1]))
    squares = 0.0
    for i in range(X.shape[0]):
        lo, hi = X.indptr[i], X.indptr[i + 1]
        Y = other[X.indices[lo:hi]]
        r = residuals[lo:hi]
        A = precision + alpha * Y.T @ Y
        b = precision @ mean + alpha * Y.T @ r
        U = np.linalg.cholesky(A).T
        out[i] = np.linalg.solve(U, np.linalg.solve(U.T, b) + noise[i])
        squares += np.sum((r - Y @ out[i]) ** 2)
    return out, squares


def random_precision(rng, D):
    B = rng.standard_normal((D, D))
    return B @ B.T + D * np.eye(D)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 12), n=st.integers(1, 10), D=st.integers(1, 7),
       density=st.floats(0.0, 1.0), seed=st.integers(0, 2 ** 16))
def test_draws_match_numpy(m, n, D, density, seed):
    rng = np.random.default_rng(seed)
    X = sp.random(m, n, density=density, format="csr", random_state=seed)
    X.sort_indices()
    residuals = rng.standard_normal(X.nnz)
    other = rng.standard_normal((n, D))
    precision = random_precision(rng, D)
    mean = rng.standard_normal(D)
    noise = rng.standard_normal((m, D))
    alpha = float(rng.uniform(0.1, 3.0))
    chunks = row_chunks(X.indptr.astype(np.int64), min_work=1)
    out = np.empty((m, D))
    squares = np.empty(len(chunks) - 1)
    sample_rows(X.indptr.astype(np.int64), X.indices.astype(np.int32), residuals, chunks,
                other, precision, mean, alpha, noise, out, squares)
    expected, expected_squares = reference_draws(X, residuals, other, precision, mean, alpha,
                                                 noise)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(squares.sum(), expected_squares, rtol=1e-9, atol=1e-9)


def test_a_row_without_entries_is_drawn_from_the_prior():
    rng = np.random.default_rng(0)
    D = 3
    precision = random_precision(rng, D)
    mean = np.array([1.0, -2.0, 0.5])
    draws = 20000
    indptr = np.zeros(draws + 1, dtype=np.int64)
    out = np.empty((draws, D))
    chunks = row_chunks(indptr)
    sample_rows(indptr, np.empty(0, np.int32), np.empty(0), chunks, np.ones((1, D)),
                precision, mean, 1.0, rng.standard_normal((draws, D)), out,
                np.empty(len(chunks) - 1))
    np.testing.assert_allclose(out.mean(axis=0), mean, atol=0.03)
    np.testing.assert_allclose(np.cov(out, rowvar=False), np.linalg.inv(precision), atol=0.01)


def test_wishart_draws_have_the_wishart_mean():
    rng = np.random.default_rng(1)
    scale = random_precision(rng, 3) / 10
    root = np.linalg.cholesky(scale)
    df = 7.5
    draws = np.mean([sample_wishart(root, df, rng) for _ in range(20000)], axis=0)
    np.testing.assert_allclose(draws, df * scale, rtol=0.05, atol=0.02)


def test_row_prior_follows_the_rows():
    rng = np.random.default_rng(2)
    centre = np.array([3.0, -1.0])
    spread = np.array([[0.5, 0.2], [0.2, 0.3]])
    X = rng.multivariate_normal(centre, spread, size=50000)
    mean, precision = sample_row_prior(X, rng)
    np.testing.assert_allclose(mean, centre, atol=0.02)
    np.testing.assert_allclose(np.linalg.inv(precision), spread, rtol=0.05, atol=0.01)
    again = sample_row_prior(X, np.random.default_rng(5))
    same = sample_row_prior(X, np.random.default_rng(5))
    np.testing.assert_array_equal(again[1], same[1])


def test_posterior_mean_is_exact_below_its_rank():
    rng = np.random.default_rng(3)
    draws = [(rng.standard_normal((30, 2)), rng.standard_normal((20, 2)))
             for _ in range(2 * MERGE_EVERY + 3)]
    mean = PosteriorMean(rank=20)
    for X, Y in draws:
        mean.add(X, Y)
    P, Q = mean.factors()
    expected = np.mean([X @ Y.T for X, Y in draws], axis=0)
    np.testing.assert_allclose(P @ Q.T, expected, atol=1e-10)


def test_posterior_mean_with_fewer_rows_than_columns_gathered():
    rng = np.random.default_rng(6)
    draws = [(rng.standard_normal((4, 3)), rng.standard_normal((5, 3)))
             for _ in range(MERGE_EVERY + 2)]
    mean = PosteriorMean(rank=6)
    for X, Y in draws:
        mean.add(X, Y)
    P, Q = mean.factors()
    assert P.shape[1] <= 4 and Q.shape[1] == P.shape[1]
    np.testing.assert_allclose(P @ Q.T, np.mean([X @ Y.T for X, Y in draws], axis=0),
                               atol=1e-10)


def test_posterior_mean_of_zero_draws_is_zero():
    mean = PosteriorMean(rank=3)
    for _ in range(MERGE_EVERY + 1):
        mean.add(np.zeros((6, 2)), np.zeros((5, 2)))
    P, Q = mean.factors()
    np.testing.assert_array_equal(P @ Q.T, np.zeros((6, 5)))


def test_posterior_mean_truncates_to_the_best_rank():
    rng = np.random.default_rng(4)
    draws = [(rng.standard_normal((30, 3)), rng.standard_normal((20, 3)))
             for _ in range(MERGE_EVERY - 1)]
    mean = PosteriorMean(rank=4)
    for X, Y in draws:
        mean.add(X, Y)
    P, Q = mean.factors()
    exact = np.mean([X @ Y.T for X, Y in draws], axis=0)
    w, s, zt = np.linalg.svd(exact)
    np.testing.assert_allclose(P @ Q.T, (w[:, :4] * s[:4]) @ zt[:4], atol=1e-10)


def test_add_predictions():
    rng = np.random.default_rng(5)
    X = random_interactions(15, 12, 0.3, seed=5)
    U, V = rng.standard_normal((15, 4)), rng.standard_normal((12, 4))
    out = np.ones(X.nnz)
    add_predictions(X.indptr.astype(np.int64), X.indices.astype(np.int32), U, V, out)
    rows, cols = X.nonzero()
    np.testing.assert_allclose(out, 1.0 + np.einsum("ij,ij->i", U[rows], V[cols]))


def planted_ratings(seed, m=120, n=80, density=0.3, noise=0.3):
    """Ratings ``3 + low rank + biases + noise`` on a random pattern; the
    noiseless values of every cell come back as the truth."""
    rng = np.random.default_rng(seed)
    truth = 3.0 + 0.5 * planted_low_rank(m, n, 3, seed) / np.sqrt(3)
    truth += rng.normal(0, 0.4, (m, 1)) + rng.normal(0, 0.4, (1, n))
    mask = rng.random((m, n)) < density
    observed = truth + noise * rng.standard_normal((m, n))
    rows, cols = np.nonzero(mask)
    X = sp.csr_matrix((observed[rows, cols], (rows, cols)), shape=(m, n))
    return X, truth, mask


@pytest.fixture(scope="module")
def planted():
    X, truth, mask = planted_ratings(0)
    model = fastwmf.BayesianMF(factors=5, samples=60, burn_in=10, random_state=0).fit(X)
    return X, truth, mask, model


def test_fit_recovers_planted_ratings(planted):
    X, truth, mask, model = planted
    predicted = model.user_factors_.astype(np.float64) @ model.item_factors_.T
    unseen = ~mask
    error = np.sqrt(np.mean((predicted[unseen] - truth[unseen]) ** 2))
    baseline = np.sqrt(np.mean((X.data.mean() - truth[unseen]) ** 2))
    assert error < 0.5 * baseline
    assert model.n_iter_ == 70 and model.n_samples_ == 60
    assert len(model.loss_history_) == 70
    assert model.noise_precision_ > 0
    # the mean rating and the mean biases are in their columns
    np.testing.assert_allclose(model.user_factors_[:, -1], 1.0)
    np.testing.assert_allclose(model.item_factors_[:, -2], 1.0)


@pytest.mark.parametrize("scale, shift", [(0.01, 0.0), (100.0, -250.0)])
def test_predictions_follow_the_rating_scale(scale, shift):
    """Ratings ``scale * r + shift`` give predictions ``scale * p + shift``: the
    sweeps see the same standardised ratings, so the same draws."""
    X = planted_ratings(1)[0]
    moved = X.copy()
    moved.data = scale * X.data + shift
    make = lambda: fastwmf.BayesianMF(factors=4, samples=10, burn_in=3, dtype="float64",
                                      random_state=0)
    base, other = make().fit(X), make().fit(moved)
    expected = scale * (base.user_factors_ @ base.item_factors_.T) + shift
    np.testing.assert_allclose(other.user_factors_ @ other.item_factors_.T, expected,
                               rtol=1e-7, atol=1e-7 * abs(scale))
    assert other.noise_precision_ == pytest.approx(base.noise_precision_ / scale ** 2)


def test_draws_do_not_depend_on_threads(planted):
    X, _, _, model = planted
    if fastwmf._threading.max_threads() < 2:
        pytest.skip("needs two Numba threads")
    again = fastwmf.BayesianMF(factors=5, samples=60, burn_in=10, random_state=0,
                               num_threads=1).fit(X)
    np.testing.assert_array_equal(again.user_factors_, model.user_factors_)
    np.testing.assert_array_equal(again.item_factors_, model.item_factors_)
    assert again.loss_history_ == model.loss_history_


def test_validation_history_scores_the_running_mean(planted):
    X, truth, mask, _ = planted
    rng = np.random.default_rng(1)
    rows, cols = np.nonzero(~mask)
    pick = rng.choice(len(rows), 300, replace=False)
    val = sp.csr_matrix((truth[rows[pick], cols[pick]], (rows[pick], cols[pick])),
                        shape=X.shape)
    model = fastwmf.BayesianMF(factors=5, samples=20, burn_in=5, random_state=0)
    model.fit(X, validation=val)
    assert len(model.validation_history_) == 25
    # the last score is that of the fitted mean up to its rank truncation
    assert model.validation_history_[-1] == pytest.approx(fastwmf.metrics.rmse(model, val),
                                                          abs=0.02)
    assert model.validation_history_[-1] < model.validation_history_[4]


def test_fixed_noise_precision_and_no_biases(planted):
    X = planted[0]
    model = fastwmf.BayesianMF(factors=4, samples=5, burn_in=1, noise_precision=3.0,
                               biased=False, random_state=0).fit(X)
    assert model.noise_precision_ == 3.0
    assert model.user_factors_.shape[1] == 2 * 4 + 1 and not model.biased_
    np.testing.assert_allclose(model.user_factors_[:, -1], X.data.mean(), rtol=1e-6)
    np.testing.assert_allclose(model.item_factors_[:, -1], 1.0)


def test_fold_in(planted):
    X, _, _, model = planted
    empty = sp.csr_matrix((2, X.shape[1]))
    rows = model.fold_in(empty)
    np.testing.assert_allclose(rows, np.broadcast_to(model.user_factors_.mean(axis=0), rows.shape),
                               rtol=1e-5, atol=1e-5)
    known = model.fold_in(X[:20])
    fitted = model.user_factors_[:20].astype(np.float64) @ model.item_factors_.T
    folded = known.astype(np.float64) @ model.item_factors_.T
    # a fold-in from the same ratings predicts like the fitted rows
    assert np.sqrt(np.mean((folded - fitted) ** 2)) < 0.25
    assert np.all(known[:, -1] == 1.0)


def test_callback_can_stop_during_burn_in(planted):
    X = planted[0]
    model = fastwmf.BayesianMF(factors=3, samples=5, burn_in=5, random_state=0,
                               callback=lambda sweep, *_: sweep == 2).fit(X)
    assert model.n_iter_ == 2 and model.n_samples_ == 1
    assert np.all(np.isfinite(model.user_factors_))


@pytest.mark.parametrize("params, match", [
    (dict(factors=0), "factors"),
    (dict(samples=0), "samples"),
    (dict(burn_in=-1), "burn_in"),
    (dict(rank=0), "rank"),
    (dict(noise_precision=0.0), "noise_precision"),
    (dict(noise_precision=float("nan")), "noise_precision"),
    (dict(biased="yes"), "biased"),
    (dict(factors=500), "factors"),
])
def test_bad_parameters_name_the_argument(params, match):
    X = random_interactions(10, 8, 0.5, seed=0)
    with pytest.raises((ValueError, TypeError), match=match):
        fastwmf.BayesianMF(**params).fit(X)


def test_bad_data_is_rejected():
    with pytest.raises(ValueError, match="X has no stored entries"):
        fastwmf.BayesianMF(factors=2).fit(sp.csr_matrix((5, 4)))
    X = random_interactions(10, 8, 0.5, seed=0)
    bad = X.copy()
    bad.data[0] = np.inf
    with pytest.raises(ValueError, match="X"):
        fastwmf.BayesianMF(factors=2).fit(bad)
    with pytest.raises(ValueError, match="validation"):
        fastwmf.BayesianMF(factors=2, samples=2, burn_in=0).fit(
            X, validation=random_interactions(10, 9, 0.5, seed=1))
    model = fastwmf.BayesianMF(factors=2, samples=2, burn_in=0, random_state=0).fit(X)
    with pytest.raises(ValueError, match="weights"):
        model.fold_in(X, weights=X)


def test_a_loaded_model_with_bad_values_is_rejected(tmp_path, planted):
    model = planted[3]
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fastwmf.load_model(path)
    np.testing.assert_array_equal(loaded.user_factors_, model.user_factors_)
    assert loaded.noise_precision_ == model.noise_precision_ and loaded.biased_
    broken = fastwmf.load_model(path)
    broken.noise_precision_ = -1.0
    broken.save(tmp_path / "broken.npz")
    with pytest.raises(fastwmf.ModelFileError, match="noise_precision_"):
        fastwmf.load_model(tmp_path / "broken.npz")
