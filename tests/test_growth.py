"""partial_fit_users / partial_fit_items: exact half-steps, growth, labels, bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

import fastwmf

from . import naive
from .conftest import random_interactions

W0, LAM, NU = 0.3, 0.1, 0.5


@pytest.fixture
def wals():
    X = random_interactions(30, 20, 0.3, seed=0)
    model = fastwmf.WALS(factors=3, w0=W0, regularization=LAM, nu=NU, iterations=3,
                         dtype="float64", random_state=0)
    return X, model.fit(X, item_weights=np.linspace(0.5, 2.0, 20))


def reference_rows(R, other, other_weights, own_weights, w0=W0, lam=LAM, nu=NU):
    """Exact rows for the rows of ``R`` (dense, zeros unobserved) by dense normal equations."""
    observed = R != 0
    W = np.where(observed, 1.0, w0 * np.outer(own_weights, other_weights))
    reg = naive.row_regularization(lam, nu, observed.sum(axis=1), w0, own_weights,
                                   other_weights.sum())
    return naive.solve_rows(W, R, other, reg)


def arrays(model):
    return {name: np.array(getattr(model, name), copy=True)
            for name in ("user_factors_", "item_factors_", "item_weights_", "seen_indptr_",
                         "seen_indices_")}


def test_refreshed_users_are_exact_half_steps_and_others_untouched(wals):
    X, model = wals
    before = arrays(model)
    rows = sp.random(2, 20, density=0.4, random_state=3, format="csr")
    rows.data += 0.5
    model.partial_fit_users(rows, users=[7, 2])
    expected = reference_rows(rows.toarray(), before["item_factors_"], before["item_weights_"],
                              np.ones(2))
    np.testing.assert_allclose(model.user_factors_[[7, 2]], expected, rtol=1e-6, atol=1e-10)
    others = np.setdiff1d(np.arange(30), [2, 7])
    np.testing.assert_array_equal(model.user_factors_[others], before["user_factors_"][others])
    np.testing.assert_array_equal(model.item_factors_, before["item_factors_"])
    seen = model.interactions_.toarray()
    np.testing.assert_array_equal(seen[[7, 2]], rows.toarray() != 0)
    np.testing.assert_array_equal(seen[others], X.toarray()[others] != 0)


def test_new_users_are_appended_and_served_at_once(wals):
    _, model = wals
    rows = sp.random(3, 20, density=0.3, random_state=4, format="csr")
    model.partial_fit_users(rows)
    assert model.n_users == 33 and model.seen_indptr_.shape == (34,)
    np.testing.assert_array_equal(model.user_factors_[30:], model.fold_in(rows))
    ids, _ = model.recommend([30, 31, 32], k=5)
    for r in range(3):
        assert not set(rows[r].indices.tolist()) & set(ids[r].tolist())
    model.partial_fit_users(rows[:1], users=[33])  # integer ids may continue the numbering
    assert model.n_users == 34


def test_new_items_are_exact_half_steps_and_can_be_recommended(wals):
    X, model = wals
    before = arrays(model)
    columns = sp.random(30, 2, density=0.5, random_state=5, format="csr")
    columns.data += 1.0
    model.partial_fit_items(columns)
    assert model.n_items == 22
    np.testing.assert_array_equal(model.item_weights_[20:], [1.0, 1.0])
    expected = reference_rows(columns.toarray().T, before["user_factors_"], np.ones(30),
                              np.ones(2))
    np.testing.assert_allclose(model.item_factors_[20:], expected, rtol=1e-6, atol=1e-10)
    np.testing.assert_array_equal(model.item_factors_[:20], before["item_factors_"])
    np.testing.assert_array_equal(model.user_factors_, before["user_factors_"])
    seen = model.interactions_.toarray()
    np.testing.assert_array_equal(seen[:, 20:], columns.toarray() != 0)
    np.testing.assert_array_equal(seen[:, :20], X.toarray() != 0)
    ids, _ = model.recommend(np.arange(30), k=22 - 1, exclude_seen=False)
    assert {20, 21} <= set(ids.ravel().tolist())


def test_a_refreshed_item_keeps_its_weight(wals):
    _, model = wals
    before = arrays(model)
    column = sp.random(30, 1, density=0.5, random_state=6, format="csr")
    model.partial_fit_items(column, items=[4])
    expected = reference_rows(column.toarray().T, before["user_factors_"], np.ones(30),
                              before["item_weights_"][[4]])
    np.testing.assert_allclose(model.item_factors_[4], expected[0], rtol=1e-6, atol=1e-10)
    np.testing.assert_array_equal(model.item_weights_, before["item_weights_"])


def test_dataframes_grow_labels_on_both_sides():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"user": ["ann", "bob", "bob", "cy", "cy", "dee"],
                          "item": ["x", "x", "y", "y", "z", "z"]})
    model = fastwmf.WALS(factors=2, iterations=3, random_state=0).fit(frame)
    model.partial_fit_users(pd.DataFrame({"user": ["eve", "eve", "ann"],
                                          "item": ["z", "y", "y"]}))
    assert model.user_ids_.tolist() == ["ann", "bob", "cy", "dee", "eve"]
    ids, _ = model.recommend("eve", k=1)
    assert ids.tolist() == ["x"]
    model.partial_fit_items(pd.DataFrame({"user": ["ann", "bob"], "item": ["new", "new"]}))
    assert model.item_ids_.tolist() == ["x", "y", "z", "new"]
    assert "new" in model.recommend("cy", k=2)[0].tolist()
    assert model.similar_items("new", k=1)[0].shape == (1,)
    with pytest.raises(KeyError, match="'w'"):
        model.partial_fit_users(pd.DataFrame({"user": ["fay"], "item": ["w"]}))


@pytest.mark.parametrize("call, exc, match", [
    (lambda m, X: m.partial_fit_users(X[:2], users=[1, 1]), ValueError, "repeat"),
    (lambda m, X: m.partial_fit_users(X[:2], users=[1]), ValueError, "one id per row"),
    (lambda m, X: m.partial_fit_users(X[:1], users=[31]), ValueError, "without gaps"),
    (lambda m, X: m.partial_fit_users(X[:1], users=["a"]), TypeError, "integer ids"),
    (lambda m, X: m.partial_fit_users(X[:, :5]), ValueError, "20 columns"),
    (lambda m, X: m.partial_fit_items(sp.csr_matrix((31, 1))), ValueError, "31 rows"),
    (lambda m, X: m.partial_fit_items(X[:, :2], items=[0]), ValueError, "one id per column"),
    (lambda m, X: m.partial_fit_users(X[:1], columns={"user": "u"}), ValueError, "columns"),
])
def test_bad_input_leaves_the_model_unchanged(wals, call, exc, match):
    X, model = wals
    before = arrays(model)
    with pytest.raises(exc, match=match):
        call(model, X)
    for name, value in arrays(model).items():
        np.testing.assert_array_equal(value, before[name])


def test_unfitted_models_refuse():
    with pytest.raises(fastwmf.NotFittedError):
        fastwmf.WALS().partial_fit_users(sp.csr_matrix((1, 3)))


@pytest.mark.parametrize("biased", [False, True])
def test_sgd_grows_by_exact_rows(biased):
    X = random_interactions(30, 20, 0.3, seed=1)
    model = fastwmf.SGD(factors=3, epochs=3, biased=biased, random_state=0).fit(X)
    model.partial_fit_users(X[[4]], users=[4])
    np.testing.assert_allclose(model.user_factors_[4], model.fold_in(X[[4]])[0])
    before = arrays(model)
    columns = sp.random(30, 2, density=0.5, random_state=5, format="csr")
    columns.data += 1.0
    model.partial_fit_items(columns)
    assert model.item_factors_.shape[0] == 22
    np.testing.assert_array_equal(model.item_factors_[:20], before["item_factors_"])
    if biased:
        d = model.item_factors_.shape[1] - 2
        np.testing.assert_array_equal(model.item_factors_[20:, d], 1.0)
        np.testing.assert_array_equal(model.item_bias_, model.item_factors_[:, d + 1])
        np.testing.assert_allclose(model.user_bias_,
                                   model.user_factors_[:, d] - model.global_bias_)
        # [v, b_j] minimises sum_i (a_ij - (mu + b_i) - u_i.v - b_j)^2 over the item's
        # users + lam_j |v|^2 + lam_b' b_j^2, lam_j = lam n_j^nu, lam_b' = lam_j lam_b / lam
        fitted = model.fit_params_
        lam, lam_b, nu = fitted["regularization"], fitted["bias_regularization"], fitted["nu"]
        U = before["user_factors_"].astype(np.float64)
        for j in range(2):
            users = columns[:, j].nonzero()[0]
            a = columns[:, j].toarray().ravel()[users]
            F = np.hstack([U[users, :d], np.ones((len(users), 1))])
            lam_j = lam * len(users) ** nu
            penalty = np.diag([lam_j] * d + [lam_j * lam_b / lam])
            x = np.linalg.solve(F.T @ F + penalty, F.T @ (a - U[users, d]))
            np.testing.assert_allclose(model.item_factors_[20 + j, :d], x[:d], rtol=1e-4,
                                       atol=1e-5)
            np.testing.assert_allclose(model.item_factors_[20 + j, d + 1], x[d], rtol=1e-4,
                                       atol=1e-5)
    else:
        # no w0 and no biases: each new item solves a ridge problem on its users
        fitted = model.fit_params_
        R = columns.toarray().T
        observed = R != 0
        reg = naive.row_regularization(fitted["regularization"], fitted["nu"],
                                       observed.sum(axis=1), 0.0, np.ones(2), 30.0)
        expected = naive.solve_rows(observed.astype(float), R, before["user_factors_"], reg)
        np.testing.assert_allclose(model.item_factors_[20:], expected, rtol=1e-5, atol=1e-6)


def test_grown_models_save_and_load(wals, tmp_path):
    _, model = wals
    model.partial_fit_users(sp.random(2, 20, density=0.3, random_state=1, format="csr"))
    model.partial_fit_items(sp.random(32, 1, density=0.3, random_state=2, format="csr"))
    path = tmp_path / "grown.npz"
    model.save(path)
    loaded = fastwmf.WALS.load(path)
    assert loaded.user_factors_.shape == (32, 3) and loaded.item_factors_.shape == (21, 3)
    np.testing.assert_array_equal(loaded.recommend([0, 31])[0], model.recommend([0, 31])[0])
