"""model_selection.search: budget, space, what it reads, the refit."""

import numpy as np
import pytest

import fastwmf
from fastwmf.datasets import make_implicit_interactions
from fastwmf.metrics import evaluate
from fastwmf.model_selection import SearchResult, parse_budget, search, split_per_user


@pytest.fixture(scope="module")
def data():
    X = make_implicit_interactions(300, 120, 6_000, seed=0)
    X.data[:] = 1.0
    train, test = split_per_user(X, test_fraction=0.2, seed=0)
    return train, test


def test_a_search_finds_settings_and_refits(data):
    train, test = data
    result = search(train, budget=600.0, max_trials=4, seed=0)
    assert isinstance(result, SearchResult) and len(result.table) >= 2
    assert result.table[0]["phase"] == "start"
    scores = [row["score"] for row in result.table]
    assert result.best_score == max(scores)
    assert result.best_params["nu"] == 1.0 and result.best_params["iterations"] >= 1
    assert result.model.n_users == train.shape[0]
    assert 0.0 < evaluate(result.model, train, test, k=10, metrics=["ndcg"])["ndcg@10"] <= 1.0
    table = result.to_markdown(top=3)
    assert table.count("\n") == 4 and "ndcg@10" in table


def test_the_search_reads_only_its_training_matrix(data):
    train, test = data
    test = test.copy()
    first = search(train, budget=600.0, max_trials=6, seed=3, refit=False)
    test.data[:] = np.nan  # a poisoned test split: nothing may change
    test.indices[:] = 0
    again = search(train, budget=600.0, max_trials=6, seed=3, refit=False)
    assert len(first.table) == len(again.table) == 6
    for a, b in zip(first.table, again.table):
        assert {k: v for k, v in a.items() if k != "seconds"} == \
            {k: v for k, v in b.items() if k != "seconds"}
    # the first trial's score is the validation score of a per-user split of train
    fit_part, val = split_per_user(train, test_fraction=0.2, seed=3)
    row = first.table[0]
    point = {k: v for k, v in row.items()
             if k not in ("score", "iterations", "seconds", "phase", "user_exponent",
                          "item_exponent")}
    model = fastwmf.WALS(**point, iterations=row["iterations"], random_state=3).fit(
        fit_part, user_weights=fastwmf.activity_weights(fit_part, row["user_exponent"]))
    score = evaluate(model, fit_part, val, k=10, metrics=["ndcg"])["ndcg@10"]
    assert score == pytest.approx(row["score"], rel=1e-6)


def test_a_space_of_one_point_is_a_plain_fit(data):
    train, _ = data
    point = {"factors": 8, "w0": 0.2, "regularization": 0.05, "nu": 1.0}
    result = search(train, budget=30.0, space=point, seed=1)
    assert len(result.table) == 1
    plain = fastwmf.WALS(**point, iterations=max(result.best_params["iterations"], 15),
                         random_state=1).fit(train)
    np.testing.assert_array_equal(result.model.user_factors_, plain.user_factors_)
    np.testing.assert_array_equal(result.model.item_factors_, plain.item_factors_)


def test_an_explicit_validation_split_is_used(data):
    train, test = data
    fit_part, val = split_per_user(train, test_fraction=0.2, seed=5)
    result = search(fit_part, validation=val, budget=600.0, max_trials=3, refit=False,
                    space={"factors": 8, "w0": (0.01, 1.0)})
    assert all(set(row) >= {"w0", "factors"} for row in result.table)
    assert result.model is None


@pytest.mark.parametrize("text, seconds", [("90s", 90.0), ("5m", 300.0), ("1h", 3600.0),
                                           ("2.5", 2.5), (7, 7.0)])
def test_budgets_read_as_seconds(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(budget=0), ValueError, "budget"),
    (dict(budget="soon"), ValueError, "budget"),
    (dict(space={"colour": [1]}), ValueError, "colour"),
    (dict(space={"w0": (1.0, 0.1)}), ValueError, "low < high"),
    (dict(space={"w0": (0.0, 1.0)}), ValueError, "log scale"),
    (dict(space={"iterations": [5]}), ValueError, "set by the search"),
    (dict(params={"w0": 0.1}), ValueError, "params and space"),
    (dict(engine="grid"), ValueError, "engine"),
    (dict(metric="bogus@10"), ValueError, "metric"),
])
def test_bad_arguments_are_named(data, kwargs, exc, match):
    train, _ = data
    with pytest.raises(exc, match=match):
        search(train, **dict(dict(budget=1.0), **kwargs))


def test_optuna_engine(data):
    pytest.importorskip("optuna")
    train, _ = data
    result = search(train, budget=600.0, max_trials=3, engine="optuna", seed=0, refit=False)
    assert result.table and all(row["phase"] == "optuna" for row in result.table)


def test_landscape_plot(data, tmp_path):
    pytest.importorskip("matplotlib")
    train, _ = data
    result = search(train, budget=600.0, max_trials=3, refit=False)
    result.plot(tmp_path / "landscape.png")
    assert (tmp_path / "landscape.png").stat().st_size > 0
