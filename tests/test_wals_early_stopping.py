"""WALS validation tracking and early stopping through the shared fit driver."""

import numpy as np
import pytest
import scipy.sparse as sp

import fastwmf
from fastwmf.metrics import evaluate
from fastwmf.model_selection import split_per_user

from .conftest import random_interactions


@pytest.fixture(scope="module")
def split():
    X = random_interactions(120, 60, 0.15, seed=5)
    X.data[:] = 1.0
    return split_per_user(X, test_fraction=0.25, seed=1)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("metric", ["ndcg@5", "rmse"])
def test_history_matches_evaluate_and_the_best_iteration_is_kept(split, solver, metric):
    train, val = split
    params = dict(factors=6, w0=0.05, regularization=0.01, solver=solver, dtype="float64",
                  random_state=4)
    seen = []

    def callback(iteration, loss, U, V):
        factors = fastwmf.WALS(**params)
        factors.user_factors_, factors.item_factors_ = U.copy(), V.copy()
        seen.append(evaluate(factors, train, val, k=5, metrics=[metric.split("@")[0]])[metric])

    tracked = fastwmf.WALS(iterations=12, validation_metric=metric, callback=callback,
                           **params).fit(train, validation=val)
    np.testing.assert_allclose(tracked.validation_history_, seen, rtol=1e-9)
    assert tracked.best_iteration_ == tracked.n_iter_ == 12  # no patience: the last one

    stopped = fastwmf.WALS(iterations=40, patience=2, validation_metric=metric,
                           **params).fit(train, validation=val)
    history = stopped.validation_history_
    best = (np.argmin(history) if metric == "rmse" else np.argmax(history)) + 1
    assert stopped.best_iteration_ == best and len(history) == stopped.n_iter_
    assert stopped.n_iter_ == 40 or stopped.n_iter_ - best == 2
    # the kept factors are those of the best iteration: a plain fit of that length
    plain = fastwmf.WALS(iterations=best, **params).fit(train)
    scale = np.abs(plain.user_factors_).max()
    np.testing.assert_allclose(stopped.user_factors_, plain.user_factors_, rtol=1e-8,
                               atol=1e-10 * scale)
    np.testing.assert_allclose(stopped.item_factors_, plain.item_factors_, rtol=1e-8,
                               atol=1e-10 * scale)


def test_early_stopping_on_a_renumbered_problem(split, monkeypatch):
    from fastwmf.models import _problem
    train, val = split
    params = dict(factors=6, w0=0.05, regularization=0.01, dtype="float64", random_state=4,
                  solver="cholesky")
    stopped = fastwmf.WALS(iterations=30, patience=2, **params).fit(train, validation=val)
    monkeypatch.setattr(_problem, "RENUMBER_MIN_ENTRIES", 0)
    renumbered = fastwmf.WALS(iterations=30, patience=2, **params).fit(train, validation=val)
    assert renumbered.best_iteration_ == stopped.best_iteration_
    np.testing.assert_allclose(renumbered.validation_history_, stopped.validation_history_,
                               rtol=1e-8)
    np.testing.assert_allclose(renumbered.user_factors_, stopped.user_factors_, rtol=1e-7,
                               atol=1e-9)


def test_validation_with_dataframes_and_saved_history(tmp_path):
    pd = pytest.importorskip("pandas")
    X = random_interactions(50, 30, 0.3, seed=2).tocoo()
    frame = pd.DataFrame({"user": [f"u{r}" for r in X.row], "item": X.col + 100})
    mask = np.arange(len(frame)) % 5 == 0
    model = fastwmf.WALS(factors=3, iterations=4, patience=3, random_state=0).fit(
        frame[~mask], validation=frame[mask])
    assert len(model.validation_history_) == model.n_iter_ and 1 <= model.best_iteration_ <= 4
    model.save(tmp_path / "m.npz")
    loaded = fastwmf.load_model(tmp_path / "m.npz")
    assert loaded.validation_history_ == model.validation_history_
    assert loaded.best_iteration_ == model.best_iteration_


def test_bad_validation_settings_name_the_argument(split):
    train, val = split
    with pytest.raises(ValueError, match="patience needs a validation matrix"):
        fastwmf.WALS(factors=2, patience=2).fit(train)
    with pytest.raises(ValueError, match="patience must be >= 1"):
        fastwmf.WALS(factors=2, patience=0).fit(train, validation=val)
    with pytest.raises(ValueError, match="validation_metric"):
        fastwmf.WALS(factors=2, validation_metric="ndcg").fit(train, validation=val)
    with pytest.raises(ValueError, match="validation"):
        fastwmf.WALS(factors=2).fit(train, validation=sp.csr_matrix((3, 5)))
    with pytest.raises(ValueError, match="validation: a DataFrame needs X"):
        pd = pytest.importorskip("pandas")
        fastwmf.WALS(factors=2).fit(train, validation=pd.DataFrame({"user": [0], "item": [1]}))
