"""Drop-in use in data pipelines: DataFrames and labels, scikit-learn, threads."""

import multiprocessing
import threading

import numpy as np
import pytest
import scipy.sparse as sp

import fastwmf
from fastwmf.datasets import make_implicit_interactions
from fastwmf.model_selection import fold_in_scorer

pd = pytest.importorskip("pandas")

ESTIMATORS = [
    lambda: fastwmf.WALS(factors=3, iterations=3, random_state=0),
    lambda: fastwmf.SGD(factors=3, epochs=3, random_state=0, num_threads=1),
    lambda: fastwmf.BayesianMF(factors=3, samples=4, burn_in=2, random_state=0),
    lambda: fastwmf.DenseSVD(factors=3),
    lambda: fastwmf.TruncatedSVD(factors=3, random_state=0),
    lambda: fastwmf.Popularity(),
]
IDS = ["WALS", "SGD", "BayesianMF", "DenseSVD", "TruncatedSVD", "Popularity"]


@pytest.fixture(scope="module")
def frame():
    X = make_implicit_interactions(60, 25, 700, seed=3).tocoo()
    return pd.DataFrame({"uid": [f"user-{r:03d}" for r in X.row],
                         "movie": X.col * 10 + 7, "plays": X.data,
                         "w": np.linspace(0.5, 2.0, X.nnz)})


COLUMNS = {"user": "uid", "item": "movie", "value": "plays"}


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_fit_on_a_dataframe_speaks_labels(frame, make):
    model = make().fit(frame, columns=COLUMNS)
    assert model.user_ids_[0] == "user-000" and model.item_ids_[1] == 17
    items, scores = model.recommend("user-005", k=4)
    assert set(items.tolist()) <= set(frame["movie"])
    by_index = make().fit(_matrix(frame, model))
    idx_items, idx_scores = by_index.recommend(list(model.user_ids_).index("user-005"), k=4)
    np.testing.assert_array_equal(items, model.item_ids_[idx_items])
    np.testing.assert_allclose(scores, idx_scores, rtol=1e-5)
    assert model.predict("user-005", items[0]) == pytest.approx(scores[0], rel=1e-5)
    similar, _ = model.similar_items(int(items[0]), k=3)
    assert int(items[0]) not in similar.tolist()
    with pytest.raises(KeyError, match="users"):
        model.recommend("nobody", k=3)
    with pytest.raises(KeyError, match="items"):
        model.similar_items(99999)


def _matrix(frame, model):
    rows = np.searchsorted(model.user_ids_, frame["uid"].to_numpy())
    cols = np.searchsorted(model.item_ids_, frame["movie"].to_numpy())
    return sp.csr_matrix((frame["plays"].to_numpy(float), (rows, cols)),
                         shape=(len(model.user_ids_), len(model.item_ids_)))


def test_weight_column_and_cold_start_fold_in(frame):
    columns = dict(COLUMNS, weight="w")
    model = fastwmf.WALS(factors=3, iterations=3, random_state=0, dtype="float64")
    model.fit(frame, columns=columns)
    first, second = sorted(frame["uid"].unique())[:2]
    new = frame[frame["uid"].isin([first, second])].assign(
        uid=lambda f: f["uid"].str.replace("user", "new"))
    folded = model.fold_in(new, columns=columns)
    assert folded.shape == (2, 3)
    items, _ = model.recommend_new(new, k=3, columns=columns)
    seen = set(new[new["uid"] == first.replace("user", "new")]["movie"])
    assert not seen & set(items[0].tolist())
    np.testing.assert_allclose(model.transform(new, columns=columns), folded)
    unknown_item = new.assign(movie=123456)
    with pytest.raises(KeyError, match="items"):
        model.fold_in(unknown_item, columns=columns)


def test_labels_survive_save_and_load(frame, tmp_path):
    model = fastwmf.WALS(factors=3, iterations=2, random_state=0).fit(frame, columns=COLUMNS)
    model.save(tmp_path / "m.npz")
    loaded = fastwmf.load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.recommend("user-007", k=5)[0],
                                  model.recommend("user-007", k=5)[0])


@pytest.mark.parametrize("columns,error,needle", [
    ({"user": "missing"}, ValueError, "columns"),
    ({"person": "uid"}, ValueError, "columns"),
    ("uid", TypeError, "columns"),
])
def test_bad_columns_name_the_argument(frame, columns, error, needle):
    with pytest.raises(error, match=needle):
        fastwmf.WALS(factors=2, iterations=1).fit(frame, columns=columns)


def test_fit_transform_and_transform(frame):
    X = make_implicit_interactions(50, 20, 500, seed=1)
    model = fastwmf.WALS(factors=3, iterations=3, random_state=0)
    embeddings = model.fit_transform(X)
    assert embeddings is model.user_factors_
    np.testing.assert_allclose(model.transform(X[:4]), model.fold_in(X[:4]))


# ------------------------------------------------------------- scikit-learn

sklearn = pytest.importorskip("sklearn")

#: scikit-learn checks that apply to estimators of sparse users x items
#: matrices. Left out: the checks that feed dense arrays (rejected by design:
#: a dense matrix has no "unobserved" entries), the classifier/regressor and
#: sample-weight checks (no target), and check_estimator_sparse_array/_matrix,
#: which call predict(X): a recommender's predict(users, items) scores pairs.
SKLEARN_CHECKS = [
    "check_estimator_cloneable", "check_estimator_repr", "check_no_attributes_set_in_init",
    "check_get_params_invariance", "check_set_params", "check_parameters_default_constructible",
    "check_do_not_raise_errors_in_init_or_set_params", "check_valid_tag_types",
]


@pytest.mark.parametrize("check", SKLEARN_CHECKS)
@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_sklearn_estimator_checks(make, check):
    from sklearn.utils import estimator_checks
    estimator = make()
    getattr(estimator_checks, check)(type(estimator).__name__, estimator)


def test_pipeline_and_grid_search():
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import Pipeline
    X = make_implicit_interactions(300, 80, 6000, seed=0)
    X.data[:] = 1.0
    wals = fastwmf.WALS(factors=4, iterations=3, random_state=0)
    assert clone(wals).get_params() == wals.get_params()
    pipe = Pipeline([("wals", wals)]).fit(X)
    np.testing.assert_allclose(pipe.transform(X[:3]), pipe.named_steps["wals"].fold_in(X[:3]))
    search = GridSearchCV(fastwmf.WALS(factors=4, iterations=3, random_state=0),
                          {"w0": [0.01, 1.0]}, scoring=fold_in_scorer("ndcg@10"),
                          cv=KFold(3, shuffle=True, random_state=0)).fit(X)
    assert search.best_params_["w0"] in (0.01, 1.0)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.n_users == 300


# ------------------------------------------------------------------ threads

def _fit_factors(X, threads=1):
    return fastwmf.WALS(factors=4, iterations=3, random_state=0,
                        num_threads=threads).fit(X).user_factors_


def test_fits_from_several_python_threads_at_once():
    X = make_implicit_interactions(400, 100, 8000, seed=2)
    expected = _fit_factors(X)
    results = [None] * 4
    errors = []

    def work(slot):
        try:
            results[slot] = _fit_factors(X)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(slot,)) for slot in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors
    for result in results:
        np.testing.assert_array_equal(result, expected)


def _child_fit(queue):
    X = make_implicit_interactions(200, 60, 3000, seed=4)
    queue.put(_fit_factors(X, threads=0).sum())


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_fit_inside_a_worker_process(method):
    import numba
    X = make_implicit_interactions(200, 60, 3000, seed=4)
    expected = _fit_factors(X, threads=0).sum()  # the parent has used Numba's pool already
    if method == "fork" and numba.threading_layer() == "omp":
        pytest.skip("GNU OpenMP cannot fork; fastwmf installs tbb where wheels exist")
    context = multiprocessing.get_context(method)
    queue = context.Queue()
    process = context.Process(target=_child_fit, args=(queue,))
    process.start()
    value = queue.get(timeout=240)
    process.join(timeout=60)
    assert process.exitcode == 0
    assert value == pytest.approx(expected)
