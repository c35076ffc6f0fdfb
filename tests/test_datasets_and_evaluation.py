import json
import pathlib

import numpy as np
import pytest

import fastwmf
from fastwmf.datasets import make_planted_ratings, matrix_checksum, sample_ratings
from fastwmf.evaluation import recall_at_k, rmse, split_entries

MANIFEST = pathlib.Path(__file__).resolve().parents[1] / "datasets" / "manifest.json"


def test_sample_matches_manifest():
    entry = json.loads(MANIFEST.read_text())["datasets"]["sample"]
    X = sample_ratings()
    assert list(X.shape) == entry["shape"]
    assert X.nnz == entry["nnz"]
    assert matrix_checksum(X) == entry["checksum"]
    assert entry["params"] == fastwmf.datasets.SAMPLE_PARAMS


def test_planted_ratings_are_deterministic_and_in_range():
    a = make_planted_ratings(50, 40, rank=3, density=0.2, seed=5)
    b = make_planted_ratings(50, 40, rank=3, density=0.2, seed=5)
    assert matrix_checksum(a) == matrix_checksum(b)
    assert a.data.min() >= 1.0 and a.data.max() <= 5.0
    assert matrix_checksum(make_planted_ratings(50, 40, rank=3, density=0.2, seed=6)) != \
        matrix_checksum(a)


def test_split_entries_partitions_the_matrix():
    X = make_planted_ratings(60, 30, density=0.3, seed=1)
    train, test = split_entries(X, test_fraction=0.25, seed=3)
    assert (train + test - X).count_nonzero() == 0
    assert train.multiply(test).nnz == 0
    assert 0.15 < test.nnz / X.nnz < 0.35


def test_rmse_and_recall_match_numpy():
    X = make_planted_ratings(40, 30, density=0.3, seed=2)
    train, test = split_entries(X, 0.2, seed=0)
    model = fastwmf.WALS(factors=3, w0=0.01, iterations=3, random_state=0).fit(train)
    dense = model.user_factors_.astype(float) @ model.item_factors_.astype(float).T
    coo = test.tocoo()
    expected_rmse = np.sqrt(np.mean((dense[coo.row, coo.col] - coo.data) ** 2))
    assert rmse(model, test) == pytest.approx(expected_rmse, rel=1e-5)
    recalls = []
    for user in range(X.shape[0]):
        relevant = set(test[user].indices)
        if not relevant:
            continue
        scores = np.where(train[user].toarray().ravel() != 0, -np.inf, dense[user])
        top = np.argsort(-scores, kind="stable")[:5]
        recalls.append(len(relevant & set(top)) / min(5, len(relevant)))
    assert recall_at_k(model, train, test, k=5) == pytest.approx(np.mean(recalls), abs=1e-9)


def test_demo_runs_and_reports_every_model(capsys):
    from fastwmf.cli import main
    assert main(["demo", "--quick", "--factors", "4"]) == 0
    out = capsys.readouterr().out
    for name in ("WALS explicit", "SGD", "BayesianMF", "DenseSVD", "TruncatedSVD"):
        assert name in out


def test_demo_rating_models_beat_the_mean_rating():
    """The rating models of the demo fit the sample: held-out RMSE well below
    that of predicting the mean rating (a default change once left the demo's
    WALS rows predicting about zero)."""
    import io

    from fastwmf.cli import run_demo
    from fastwmf.datasets import SAMPLE_PARAMS, make_planted_ratings
    from fastwmf.model_selection import split_entries
    X = make_planted_ratings(600, 300, rank=SAMPLE_PARAMS["rank"], density=0.1,
                             noise=SAMPLE_PARAMS["noise"], seed=SAMPLE_PARAMS["seed"])
    train, test = split_entries(X, test_fraction=0.2, seed=0)
    mean_rmse = float(np.sqrt(np.mean((test.data - train.data.mean()) ** 2)))
    rows = run_demo(quick=True, out=io.StringIO())
    for row in rows:
        if row["model"].startswith(("WALS", "SGD", "BayesianMF")):
            assert row["rmse"] < 0.9 * mean_rmse, row


def test_cli_reports_bad_arguments_in_one_line(capsys):
    from fastwmf.cli import main
    assert main(["demo", "--quick", "--factors", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "factors" in err[0]
