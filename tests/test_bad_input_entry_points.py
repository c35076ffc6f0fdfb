"""Bad input at every other public entry point: evaluation, datasets, weights,
tuning, persistence and the Popularity/SGD estimators. Each case must raise the
documented exception type with a message naming the argument, never crash.
(Estimator parameters and model calls: tests/test_bad_input.py; command line:
tests/test_cli.py.)"""

import numpy as np
import pytest
import scipy.sparse as sp

import fastwmf
from fastwmf import datasets, evaluation, tuning
from fastwmf.io import ModelFileError

X = sp.random(30, 20, density=0.3, random_state=0, format="csr")
TRAIN, TEST = evaluation.split_entries(X, 0.3, seed=0)
MODEL = fastwmf.WALS(factors=2, iterations=1, random_state=0).fit(TRAIN)


def _garbage_file(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"\x00not a model" * 10)
    return path


CASES = [
    # (id, call, exception, name expected in the message)
    ("evaluate-k-zero", lambda t: evaluation.evaluate(MODEL, TRAIN, TEST, k=0), ValueError, "k"),
    ("evaluate-k-float", lambda t: evaluation.evaluate(MODEL, TRAIN, TEST, k=2.5), TypeError, "k"),
    ("evaluate-unknown-metric",
     lambda t: evaluation.evaluate(MODEL, TRAIN, TEST, metrics=["bogus"]), ValueError, "metrics"),
    ("evaluate-test-columns", lambda t: evaluation.evaluate(MODEL, TRAIN, TEST[:, :5]),
     ValueError, "test"),
    ("evaluate-test-rows", lambda t: evaluation.evaluate(MODEL, TRAIN, TEST[:10]),
     ValueError, "test"),
    ("evaluate-train-nan", lambda t: evaluation.evaluate(
        MODEL, sp.csr_matrix(([np.nan], ([0], [0])), shape=X.shape), TEST), ValueError, "train"),
    ("evaluate-unfitted", lambda t: evaluation.evaluate(fastwmf.WALS(), TRAIN, TEST),
     fastwmf.NotFittedError, "fit"),
    ("evaluate-batch-size", lambda t: evaluation.evaluate(MODEL, TRAIN, TEST, batch_size=0),
     ValueError, "batch_size"),
    ("rmse-test-columns", lambda t: evaluation.rmse(MODEL, TEST[:, :3]), ValueError, "test"),
    ("split-fraction-above-one", lambda t: evaluation.split_per_user(X, test_fraction=1.5),
     ValueError, "test_fraction"),
    ("split-fraction-and-count",
     lambda t: evaluation.split_per_user(X, test_fraction=0.2, test_count=2),
     ValueError, "test_count"),
    ("split-negative-seed", lambda t: evaluation.split_entries(X, 0.2, seed=-1),
     ValueError, "seed"),
    ("leave-k-out-zero", lambda t: evaluation.leave_k_out(X, k=0), ValueError, "k"),
    ("temporal-wrong-length", lambda t: evaluation.split_temporal(X, np.arange(3)),
     ValueError, "timestamps"),
    ("kfold-one-fold", lambda t: evaluation.kfold_entries(X, n_folds=1), ValueError, "n_folds"),
    ("scorer-bad-metric", lambda t: evaluation.fold_in_scorer("ndcg"), ValueError, "metric"),
    ("scorer-bad-fraction", lambda t: evaluation.fold_in_scorer(hide_fraction=0.0),
     ValueError, "hide_fraction"),
    ("movielens-unknown-release", lambda t: datasets.load_movielens("ml-99k", download=False),
     ValueError, "ml-99k"),
    ("movielens-missing-path",
     lambda t: datasets.load_movielens("ml-100k", path=str(t / "absent.zip")),
     FileNotFoundError, "absent.zip"),
    ("table-missing-file", lambda t: datasets.load_interactions(t / "absent.csv", 0, 1),
     FileNotFoundError, "absent.csv"),
    ("planted-density-zero", lambda t: datasets.make_planted_ratings(density=0.0),
     ValueError, "density"),
    ("planted-users-zero", lambda t: datasets.make_planted_ratings(n_users=0),
     ValueError, "n_users"),
    ("implicit-nnz-zero", lambda t: datasets.make_implicit_interactions(nnz=0),
     ValueError, "nnz"),
    ("implicit-exponent-negative",
     lambda t: datasets.make_implicit_interactions(item_exponent=-1.0), ValueError,
     "item_exponent"),
    ("popularity-weights-exponent", lambda t: fastwmf.popularity_weights(X, exponent=-1.0),
     ValueError, "exponent"),
    ("activity-weights-exponent-type", lambda t: fastwmf.activity_weights(X, exponent="a"),
     TypeError, "exponent"),
    ("weights-on-dense-input", lambda t: fastwmf.popularity_weights(X.toarray()),
     TypeError, "X"),
    ("tune-validation-columns", lambda t: tuning.tune_w0(TRAIN, TEST[:, :4]),
     ValueError, "validation"),
    ("tune-negative-regularization",
     lambda t: tuning.tune_w0(TRAIN, TEST, regularization_values=[-1.0]),
     ValueError, "regularization_values"),
    ("load-missing-file", lambda t: fastwmf.load_model(t / "absent.npz"),
     FileNotFoundError, "path"),
    ("load-garbage-file", lambda t: fastwmf.load_model(_garbage_file(t)),
     ModelFileError, "garbage.npz"),
    ("popularity-dense-input", lambda t: fastwmf.Popularity().fit(X.toarray()), TypeError, "X"),
    ("popularity-k-beyond-catalogue",
     lambda t: fastwmf.Popularity().fit(X).recommend(0, k=21), ValueError, "k"),
    ("sgd-ids-above-int32", lambda t: fastwmf.SGD(factors=2, epochs=1).fit(
        (np.array([0, 2 ** 31 + 5]), np.array([0, 1]), np.array([1.0, 2.0]))),
     ValueError, "rows"),
    ("sgd-negative-weights", lambda t: fastwmf.SGD(factors=2, epochs=1).fit(
        X, weights=-np.ones(X.nnz)), ValueError, "weights"),
]


@pytest.mark.parametrize("call,error,name", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_named_error(tmp_path, call, error, name):
    with pytest.raises(error) as info:
        call(tmp_path)
    assert name in str(info.value), str(info.value)


def test_table_is_large_enough():
    assert len(CASES) >= 30
