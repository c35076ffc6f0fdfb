"""w0 search on a validation split."""

import numpy as np
import pytest

from fastwmf import WALS
from fastwmf.datasets import make_implicit_interactions
from fastwmf.metrics import evaluate
from fastwmf.model_selection import TuningResult, plot_tuning, split_per_user, tune_w0


@pytest.fixture(scope="module")
def split():
    X = make_implicit_interactions(150, 60, 3000, seed=0)
    X.data[:] = 1.0
    return split_per_user(X, test_fraction=0.2, seed=0)


def test_table_covers_the_grid_and_best_is_the_argmax(split):
    train, val = split
    result = tune_w0(train, val, w0_values=[0.3, 0.01, 0.1], regularization_values=[0.1, 1.0],
                     metric="ndcg@5", params={"factors": 3, "iterations": 3, "random_state": 0})
    assert len(result.table) == 6
    assert [row["w0"] for row in result.table[:3]] == [0.01, 0.1, 0.3]  # ascending per group
    best = max(result.table, key=lambda row: row["score"])
    assert result.best_score == best["score"]
    assert result.best_params == {"regularization": best["regularization"], "w0": best["w0"]}
    assert "| regularization | w0 | ndcg@5 |" in result.to_markdown()


def test_cold_scores_match_a_direct_fit(split):
    train, val = split
    params = {"factors": 3, "iterations": 3, "random_state": 0}
    result = tune_w0(train, val, w0_values=[0.05], metric="recall@10", params=params,
                     warm_start=False)
    model = WALS(w0=0.05, **params).fit(train)
    assert result.best_score == pytest.approx(evaluate(model, train, val, k=10)["recall@10"])


def test_rating_metrics_are_minimised(split):
    train, val = split
    result = tune_w0(train, val, w0_values=[0.0, 1.0], metric="rmse",
                     params={"factors": 2, "iterations": 2, "random_state": 0})
    assert result.best_score == min(row["score"] for row in result.table)


@pytest.mark.parametrize("kwargs,error,needle", [
    ({"metric": "ndcg"}, ValueError, "metric"),
    ({"metric": "bogus@10"}, ValueError, "metric"),
    ({"metric": "auc@5"}, ValueError, "metric"),
    ({"metric": 3}, TypeError, "metric"),
    ({"w0_values": []}, ValueError, "w0_values"),
    ({"w0_values": [-1.0]}, ValueError, "w0_values"),
    ({"factors_values": [0]}, ValueError, "factors_values"),
    ({"params": {"w0": 1.0}}, ValueError, "params"),
    ({"params": {"iterations": 0}}, ValueError, "iterations"),
])
def test_bad_arguments_name_themselves(split, kwargs, error, needle):
    train, val = split
    with pytest.raises(error, match=needle):
        tune_w0(train, val, **kwargs)


def test_validation_shape_must_match(split):
    train, val = split
    with pytest.raises(ValueError, match="validation"):
        tune_w0(train, val[:, :10])


def test_plot_writes_an_image(split, tmp_path):
    pytest.importorskip("matplotlib")
    train, val = split
    result = tune_w0(train, val, w0_values=[0.01, 0.1], params={"factors": 2, "iterations": 1})
    plot_tuning(result, tmp_path / "w0.png")
    assert (tmp_path / "w0.png").stat().st_size > 0


def test_plot_rejects_empty_results(tmp_path):
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="result"):
        plot_tuning(TuningResult(), tmp_path / "x.png")
    assert np.isnan(TuningResult().best_score)
