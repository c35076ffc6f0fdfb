"""The contract every estimator keeps, as a test class to subclass per model.

A subclass sets ``make(self, **params)`` (a new estimator, small and
deterministic) and may set ``saved_class`` (what ``load_model`` returns for
it). The tests: parameters round-trip, a clone fits the same factors, a refit
replaces the fit, save/load keeps predictions, labels go in and come out,
use before fit raises, and bad input names the argument.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import fastwmf
from fastwmf.models.base import NotFittedError

from .conftest import random_interactions


class EstimatorContract:
    X = random_interactions(40, 30, 0.25, seed=11)
    OTHER = random_interactions(40, 30, 0.25, seed=12)

    def make(self, **params):  # pragma: no cover - defined by each subclass
        raise NotImplementedError

    @property
    def saved_class(self):
        return type(self.make())

    def test_params_round_trip(self):
        model = self.make()
        params = model.get_params()
        assert type(model)(**params).get_params() == params
        assert model.set_params(**params) is model and model.get_params() == params

    def test_a_clone_fits_the_same_factors(self):
        from sklearn.base import clone
        model = self.make().fit(self.X)
        twin = clone(model).fit(self.X)
        np.testing.assert_array_equal(model.user_factors_, twin.user_factors_)
        np.testing.assert_array_equal(model.item_factors_, twin.item_factors_)

    def test_a_refit_replaces_the_fit(self):
        refitted = self.make().fit(self.OTHER).fit(self.X)
        fresh = self.make().fit(self.X)
        np.testing.assert_array_equal(refitted.user_factors_, fresh.user_factors_)
        np.testing.assert_array_equal(refitted.item_factors_, fresh.item_factors_)

    def test_save_and_load_keep_the_predictions(self, tmp_path):
        model = self.make().fit(self.X)
        model.save(tmp_path / "model.npz")
        loaded = fastwmf.load_model(tmp_path / "model.npz")
        assert type(loaded) is self.saved_class
        users = np.arange(5)
        np.testing.assert_array_equal(loaded.predict(users, users), model.predict(users, users))
        for got, want in zip(loaded.recommend(users, k=4), model.recommend(users, k=4)):
            np.testing.assert_array_equal(got, want)

    def test_labels_go_in_and_come_out(self):
        pd = pytest.importorskip("pandas")
        coo = sp.coo_matrix(self.X)
        frame = pd.DataFrame({"user": [f"u{r}" for r in coo.row], "item": coo.col * 3 + 1,
                              "value": coo.data})
        model = self.make().fit(frame)
        ids, scores = model.recommend(["u0", "u7"], k=3)
        assert ids.shape == (2, 3) and scores.shape == (2, 3)
        assert set(ids.ravel()) <= set(frame["item"])
        with pytest.raises(KeyError):
            model.recommend(["nobody"], k=3)

    def test_use_before_fit_raises(self):
        with pytest.raises(NotFittedError):
            self.make().recommend([0], k=3)

    def test_bad_input_names_the_argument(self):
        model = self.make()
        with pytest.raises(TypeError, match="X"):
            model.fit(self.X.toarray())
        bad = self.X.copy()
        bad.data[0] = np.nan
        with pytest.raises(ValueError, match="X"):
            model.fit(bad)
        fitted = self.make().fit(self.X)
        with pytest.raises((ValueError, IndexError), match="users"):
            fitted.recommend([self.X.shape[0] + 5], k=3)
