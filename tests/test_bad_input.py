"""Bad input: every invalid argument raises TypeError/ValueError naming it.

Each row of the tables below is one bad input. A failing call must raise the
documented exception type with a message that names the offending argument,
and a failed call on a fitted model must leave the model exactly as it was.
"""

import re

import numba
import numpy as np
import pytest
import scipy.sparse as sp

import fastwmf
from fastwmf import DenseSVD, NotFittedError, TruncatedSVD, WALS

N_USERS, N_ITEMS = 30, 20
MAX_THREADS = int(numba.config.NUMBA_NUM_THREADS)
NAN, INF = float("nan"), float("inf")


def names(argument):
    """A ``match`` pattern: the message contains ``argument`` as a whole word."""
    return rf"(?<![\w.]){re.escape(argument)}(?!\w)"


def make_X(fmt="csr"):
    return sp.random(N_USERS, N_ITEMS, density=0.3, random_state=0, format=fmt)


def small_wals(**params):
    params = {"factors": 3, "iterations": 2, "random_state": 0, **params}
    return WALS(**params)


@pytest.fixture
def X():
    return make_X()


@pytest.fixture(scope="module")
def fitted():
    """A fitted WALS shared by read-only tests (30 users x 20 items, d=3)."""
    return small_wals().fit(make_X())


def snapshot(model):
    """Bytes, dtype and shape of every fitted array plus the fitted scalars."""
    state = {name: (getattr(model, name).dtype, getattr(model, name).shape,
                    getattr(model, name).tobytes())
             for name in model._fitted_arrays}
    for name in model._fitted_values:
        state[name] = getattr(model, name)
    return state


# ------------------------------------------------------ constructor parameters

BAD_WALS_PARAMS = [
    # (parameter, value, exception)
    ("factors", 0, ValueError),
    ("factors", -2, ValueError),
    ("factors", 2.5, TypeError),
    ("factors", True, TypeError),
    ("factors", "3", TypeError),
    ("factors", min(N_USERS, N_ITEMS) + 1, ValueError),
    ("w0", -0.1, ValueError),
    ("w0", NAN, ValueError),
    ("w0", INF, ValueError),
    ("w0", "0.1", TypeError),
    ("w0", "automatic", TypeError),
    ("regularization", -1e-3, ValueError),
    ("regularization", NAN, ValueError),
    ("nu", -0.5, ValueError),
    ("nu", INF, ValueError),
    ("iterations", 0, ValueError),
    ("iterations", 2.0, TypeError),
    ("solver", "lu", ValueError),
    ("solver", None, ValueError),
    ("cg_steps", 0, ValueError),
    ("cg_steps", 1.5, TypeError),
    ("confidence", "exp", ValueError),
    ("confidence", "Linear", ValueError),
    ("confidence", 1, ValueError),
    ("alpha", -1.0, ValueError),
    ("alpha", NAN, ValueError),
    ("eps", 0.0, ValueError),
    ("eps", -1.0, ValueError),
    ("dtype", "int32", ValueError),
    ("dtype", "float16", ValueError),
    ("dtype", np.complex128, ValueError),
    ("dtype", "not-a-dtype", TypeError),
    ("num_threads", -1, ValueError),
    ("num_threads", MAX_THREADS + 1, ValueError),
    ("num_threads", 1.5, TypeError),
    ("random_state", -1, ValueError),
    ("random_state", "seed", TypeError),
    ("random_state", 1.5, TypeError),
    ("random_state", True, TypeError),
    ("random_state", np.random.RandomState(0), TypeError),
    ("callback", 42, TypeError),
    ("callback", "print", TypeError),
    ("show_progress", 1, TypeError),
    ("show_progress", "yes", TypeError),
    ("show_progress", None, TypeError),
    ("calculate_loss", "no", TypeError),
]


def _param_id(param, value):
    if isinstance(value, float) and not np.isfinite(value):
        text = str(value)
    elif isinstance(value, np.random.RandomState):
        text = "RandomState"
    elif isinstance(value, type):
        text = value.__name__
    else:
        text = repr(value)
    return f"{param}={text}"


@pytest.mark.parametrize(
    "param, value, exc",
    [pytest.param(p, v, e, id=_param_id(p, v)) for p, v, e in BAD_WALS_PARAMS])
def test_wals_param_rejected_at_fit(X, param, value, exc):
    model = small_wals(**{param: value})  # the constructor stores, fit checks
    with pytest.raises(exc, match=names(param)):
        model.fit(X)
    assert not model.is_fitted


def test_set_params_rejects_unknown_name():
    with pytest.raises(ValueError, match=names("factor")):
        WALS().set_params(factor=3)


# ------------------------------------------------------------------------- X

def _corrupt(fmt, attribute, index, value):
    def build():
        matrix = make_X(fmt)
        getattr(matrix, attribute)[index] = value
        return matrix
    return build


def _tuple(rows, cols, values):
    return lambda: (np.asarray(rows), np.asarray(cols), np.asarray(values))


BAD_X = [
    # (id, factory, exception)
    ("dense-ndarray", lambda: make_X().toarray(), TypeError),
    ("dense-matrix", lambda: make_X().todense(), TypeError),
    ("list", lambda: make_X().toarray().tolist(), TypeError),
    ("none", lambda: None, TypeError),
    ("sparse-3d", lambda: sp.coo_array(np.ones((2, 3, 4))), ValueError),
    ("tuple-of-2", lambda: (np.array([0, 1]), np.array([0, 1])), TypeError),
    ("tuple-of-4", lambda: (np.array([0]), np.array([0]), np.array([1.0]), np.array([1.0])),
     TypeError),
    ("tuple-2d-rows", _tuple([[0, 1]], [0, 1], [1.0, 1.0]), ValueError),
    ("tuple-2d-values", _tuple([0, 1], [0, 1], [[1.0, 1.0]]), ValueError),
    ("tuple-negative-row", _tuple([0, -1, 2], [0, 1, 2], [1.0, 1.0, 1.0]), ValueError),
    ("tuple-negative-col", _tuple([0, 1, 2], [0, -1, 2], [1.0, 1.0, 1.0]), ValueError),
    ("tuple-float-rows", _tuple([0.0, 1.0], [0, 1], [1.0, 1.0]), TypeError),
    ("tuple-float-cols", _tuple([0, 1], [0.0, 1.0], [1.0, 1.0]), TypeError),
    ("tuple-lengths-rows", _tuple([0, 1, 2], [0, 1], [1.0, 1.0]), ValueError),
    ("tuple-lengths-values", _tuple([0, 1], [0, 1], [1.0, 1.0, 1.0]), ValueError),
    ("tuple-row-2**31", _tuple(np.array([0, 2 ** 31], dtype=np.int64), [0, 1], [1.0, 1.0]),
     ValueError),
    ("tuple-col-2**31", _tuple([0, 1], np.array([0, 2 ** 31], dtype=np.int64), [1.0, 1.0]),
     ValueError),
    ("tuple-row-2**40", _tuple(np.array([0, 2 ** 40], dtype=np.int64), [0, 1], [1.0, 1.0]),
     ValueError),
    ("coo-col-2**31", lambda: sp.coo_matrix(
        ([1.0, 1.0], (np.array([0, 1]), np.array([0, 2 ** 31], dtype=np.int64))),
        shape=(2, 2 ** 31 + 1)), ValueError),
    ("coo-rows-2**31", lambda: sp.coo_matrix(
        ([1.0], (np.array([0]), np.array([0]))), shape=(2 ** 31, 1)), ValueError),
    ("nan-value", _corrupt("csr", "data", 0, NAN), ValueError),
    ("inf-value", _corrupt("csr", "data", 0, INF), ValueError),
    ("minus-inf-value", _corrupt("coo", "data", 3, -INF), ValueError),
    ("tuple-nan-value", _tuple([0, 1], [0, 1], [1.0, NAN]), ValueError),
    ("duplicates-overflow", _tuple([0, 0], [0, 0], [1e308, 1e308]), ValueError),
    ("zero-rows", lambda: sp.csr_matrix((0, N_ITEMS)), ValueError),
    ("zero-cols", lambda: sp.csr_matrix((N_USERS, 0)), ValueError),
    ("empty-tuple", _tuple(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)),
     ValueError),
    ("no-stored-entries", lambda: sp.csr_matrix((N_USERS, N_ITEMS)), ValueError),
    ("csr-index-corrupted", _corrupt("csr", "indices", 0, 10 ** 6), ValueError),
    ("csr-index-negative", _corrupt("csr", "indices", 0, -5), ValueError),
    ("csr-indptr-corrupted", _corrupt("csr", "indptr", -1, 10 ** 6), ValueError),
    ("csr-indptr-decreasing", _corrupt("csr", "indptr", 5, 0), ValueError),
    ("csc-index-corrupted", _corrupt("csc", "indices", 0, 10 ** 6), ValueError),
    ("coo-row-corrupted", _corrupt("coo", "row", 0, 10 ** 6), ValueError),
    ("coo-col-negative", _corrupt("coo", "col", 0, -1), ValueError),
    pytest.param("lil-col-corrupted", lambda: _lil_corrupted(), ValueError),
    pytest.param("coo-row-array-shortened", lambda: _coo_short_rows(), ValueError),
    ("complex-sparse", lambda: make_X().astype(np.complex128), TypeError),
    ("complex-tuple", _tuple([0, 1], [0, 1], [1 + 1j, 2.0]), TypeError),
    ("string-values", _tuple([0, 1], [0, 1], ["a", "b"]), TypeError),
]


def _coo_short_rows():
    matrix = make_X("coo")
    matrix.row = matrix.row[:-1]
    return matrix


def _lil_corrupted():
    matrix = make_X("lil")
    matrix.rows[0] = [10 ** 6]
    matrix.data[0] = [1.0]
    return matrix


def _x_params(rows):
    params = []
    for row in rows:
        marks = ()
        if hasattr(row, "marks"):  # pytest.param(id, factory, exc, marks=...)
            row, marks = row.values, row.marks
        ident, factory, exc = row
        params.append(pytest.param(factory, exc, id=ident, marks=marks))
    return params


@pytest.mark.parametrize("factory, exc", _x_params(BAD_X))
def test_fit_rejects_bad_X(factory, exc):
    with pytest.raises(exc, match=names("X")):
        small_wals().fit(factory())


@pytest.mark.parametrize("factory, exc", _x_params(BAD_X))
def test_svd_fit_rejects_bad_X(factory, exc):
    with pytest.raises(exc, match=names("X")):
        DenseSVD(factors=2).fit(factory())


def test_negative_values_rejected_with_linear_confidence(X):
    X.data[0] = -1.0
    with pytest.raises(ValueError, match=names("X")):
        small_wals(confidence="linear").fit(X)


def test_negative_values_accepted_without_confidence(X):
    X.data[0] = -1.0
    model = small_wals().fit(X)
    assert np.all(np.isfinite(model.user_factors_))


# ------------------------------------------------------------------- weights

def _weights_like(values):
    def build():
        w = make_X()
        data = np.asarray(values(w.data))
        return sp.csr_matrix((data, w.indices.copy(), w.indptr.copy()), shape=w.shape)
    return build


def _weights_vector(change):
    def build():
        w = np.ones(make_X().nnz)
        change(w)
        return w
    return build


def _set(index, value):
    def change(w):
        w[index] = value
    return change


def _weights_other_structure():
    w = make_X().copy()
    w.indices = w.indices.copy()
    row = next(r for r in range(N_USERS) if 0 < w.indptr[r + 1] - w.indptr[r] < N_ITEMS)
    start, stop = w.indptr[row], w.indptr[row + 1]
    free = sorted(set(range(N_ITEMS)) - set(w.indices[start:stop]))
    w.indices[start] = free[0]  # same nnz, one entry moved to an unobserved cell
    w.sort_indices()
    return w


BAD_WEIGHTS = [
    # (id, factory, exception, extra WALS params)
    ("vector-negative", _weights_vector(_set(0, -1.0)), ValueError, {}),
    ("vector-nan", _weights_vector(_set(3, NAN)), ValueError, {}),
    ("vector-inf", _weights_vector(_set(3, INF)), ValueError, {}),
    ("vector-too-short", lambda: np.ones(make_X().nnz - 1), ValueError, {}),
    ("vector-too-long", lambda: np.ones(make_X().nnz + 1), ValueError, {}),
    ("vector-2d", lambda: np.ones((1, make_X().nnz)), ValueError, {}),
    ("vector-complex", lambda: np.ones(make_X().nnz, dtype=complex), TypeError, {}),
    ("vector-strings", lambda: np.array(["1"] * make_X().nnz), TypeError, {}),
    ("sparse-negative", _weights_like(lambda d: -d), ValueError, {}),
    ("sparse-nan", _weights_like(lambda d: np.where(np.arange(len(d)) == 0, NAN, d)),
     ValueError, {}),
    ("sparse-other-shape", lambda: sp.random(N_USERS, N_ITEMS + 1, density=0.3,
                                             random_state=0, format="csr"), ValueError, {}),
    ("sparse-other-structure", _weights_other_structure, ValueError, {}),
    ("sparse-fewer-entries", lambda: sp.random(N_USERS, N_ITEMS, density=0.1,
                                               random_state=1, format="csr"), ValueError, {}),
    ("sparse-complex", _weights_like(lambda d: d.astype(complex)), TypeError, {}),
    ("with-linear-confidence", lambda: np.ones(make_X().nnz), ValueError,
     {"confidence": "linear"}),
    ("with-log-confidence", _weights_like(lambda d: d), ValueError, {"confidence": "log"}),
]


@pytest.mark.parametrize("factory, exc, params",
                         [pytest.param(f, e, p, id=i) for i, f, e, p in BAD_WEIGHTS])
def test_fit_rejects_bad_weights(X, factory, exc, params):
    with pytest.raises(exc, match=names("weights")):
        small_wals(**params).fit(X, weights=factory())


BAD_SIDE_WEIGHTS = [
    # (id, argument, factory, exception)
    ("user-too-short", "user_weights", lambda: np.ones(N_USERS - 1), ValueError),
    ("user-too-long", "user_weights", lambda: np.ones(N_USERS + 1), ValueError),
    ("user-negative", "user_weights", lambda: -np.ones(N_USERS), ValueError),
    ("user-nan", "user_weights", lambda: np.full(N_USERS, NAN), ValueError),
    ("user-2d", "user_weights", lambda: np.ones((N_USERS, 1)), ValueError),
    ("user-strings", "user_weights", lambda: ["a"] * N_USERS, TypeError),
    ("item-too-short", "item_weights", lambda: np.ones(N_ITEMS - 1), ValueError),
    ("item-negative", "item_weights",
     lambda: np.r_[np.ones(N_ITEMS - 1), -1.0], ValueError),
    ("item-nan", "item_weights", lambda: np.r_[np.ones(N_ITEMS - 1), NAN], ValueError),
    ("item-inf", "item_weights", lambda: np.r_[np.ones(N_ITEMS - 1), INF], ValueError),
    ("item-complex", "item_weights", lambda: np.ones(N_ITEMS, dtype=complex), TypeError),
]


@pytest.mark.parametrize("argument, factory, exc",
                         [pytest.param(a, f, e, id=i) for i, a, f, e in BAD_SIDE_WEIGHTS])
def test_fit_rejects_bad_side_weights(X, argument, factory, exc):
    with pytest.raises(exc, match=names(argument)):
        small_wals().fit(X, **{argument: factory()})


# Values that are finite in float64 but overflow the model's float32: the fit
# must not run the kernels on inf (and must never keep non-finite factors).
OVERFLOW_CASES = [
    pytest.param("X", {"calculate_loss": False}, id="X-1e39-float32-no-loss"),
    pytest.param("X", {"calculate_loss": True}, id="X-1e39-float32-with-loss"),
    pytest.param("weights", {"calculate_loss": False}, id="weights-1e39-float32-no-loss"),
]


@pytest.mark.parametrize("argument, params", OVERFLOW_CASES)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_values_overflowing_float32_rejected(X, argument, params):
    kwargs = {}
    if argument == "X":
        X.data[0] = 1e39
    else:
        weights = np.ones(X.nnz)
        weights[0] = 1e39
        kwargs["weights"] = weights
    model = small_wals(dtype="float32", **params)
    try:
        model.fit(X, **kwargs)
    except ValueError as exc:
        assert re.search(names(argument), str(exc)), str(exc)
        return
    pytest.fail(f"fit accepted a {argument} value that overflows float32 "
                f"(finite factors: {np.all(np.isfinite(model.user_factors_))})")


# --------------------------------------------------------- fitted-model calls

def _sparse(n_rows, n_cols, seed=0):
    return sp.random(n_rows, n_cols, density=0.3, random_state=seed, format="csr")


BAD_CALLS = [
    # (id, call, exception, argument named)
    ("predict-user-too-large", lambda m: m.predict(N_USERS, 0), ValueError, "users"),
    ("predict-user-negative", lambda m: m.predict(-1, 0), ValueError, "users"),
    ("predict-users-array-out-of-range", lambda m: m.predict([0, N_USERS], [0, 1]),
     ValueError, "users"),
    ("predict-item-too-large", lambda m: m.predict(0, N_ITEMS), ValueError, "items"),
    ("predict-item-negative", lambda m: m.predict([0, 1], [0, -1]), ValueError, "items"),
    ("predict-float-users", lambda m: m.predict([0.0, 1.0], [0, 1]), TypeError, "users"),
    ("predict-2d-items", lambda m: m.predict([0, 1], [[0, 1]]), ValueError, "items"),
    ("predict-length-mismatch", lambda m: m.predict([0, 1, 2], [0, 1]), ValueError, "users"),
    ("predict-length-mismatch-1-vs-2", lambda m: m.predict([0], [0, 1]), ValueError, "items"),
    ("recommend-k-zero", lambda m: m.recommend(0, k=0), ValueError, "k"),
    ("recommend-k-negative", lambda m: m.recommend(0, k=-3), ValueError, "k"),
    ("recommend-k-too-large", lambda m: m.recommend(0, k=N_ITEMS + 1), ValueError, "k"),
    ("recommend-k-float", lambda m: m.recommend(0, k=2.0), TypeError, "k"),
    ("recommend-user-too-large", lambda m: m.recommend(N_USERS, k=3), ValueError, "users"),
    ("recommend-user-negative", lambda m: m.recommend([0, -1], k=3), ValueError, "users"),
    ("recommend-exclude-too-many-rows",
     lambda m: m.recommend([0, 1], k=3, exclude=_sparse(3, N_ITEMS)), ValueError, "exclude"),
    ("recommend-exclude-too-few-rows",
     lambda m: m.recommend([0, 1, 2], k=3, exclude=_sparse(2, N_ITEMS)), ValueError, "exclude"),
    ("recommend-exclude-scalar-user-two-rows",
     lambda m: m.recommend(0, k=3, exclude=_sparse(2, N_ITEMS)), ValueError, "exclude"),
    ("recommend-exclude-too-few-cols",
     lambda m: m.recommend([0, 1], k=3, exclude=_sparse(2, N_ITEMS - 1)), ValueError, "exclude"),
    ("recommend-exclude-too-many-cols",
     lambda m: m.recommend([0, 1], k=3, exclude=_sparse(2, N_ITEMS + 1)), ValueError, "exclude"),
    ("recommend-exclude-dense",
     lambda m: m.recommend([0, 1], k=3, exclude=np.zeros((2, N_ITEMS))), TypeError, "exclude"),
    ("recommend-filter-items-too-large",
     lambda m: m.recommend(0, k=3, filter_items=[N_ITEMS]), ValueError, "filter_items"),
    ("recommend-filter-items-negative",
     lambda m: m.recommend(0, k=3, filter_items=[0, -1]), ValueError, "filter_items"),
    ("recommend-filter-items-float",
     lambda m: m.recommend(0, k=3, filter_items=[1.5]), TypeError, "filter_items"),
    ("similar-items-too-large", lambda m: m.similar_items(N_ITEMS, k=3), ValueError, "items"),
    ("similar-items-negative", lambda m: m.similar_items([-1], k=3), ValueError, "items"),
    ("similar-items-k-n_items", lambda m: m.similar_items(0, k=N_ITEMS), ValueError, "k"),
    ("similar-items-k-zero", lambda m: m.similar_items(0, k=0), ValueError, "k"),
    ("fold-in-too-few-cols", lambda m: m.fold_in(_sparse(2, N_ITEMS - 1)), ValueError, "X"),
    ("fold-in-too-many-cols", lambda m: m.fold_in(_sparse(2, N_ITEMS + 1)), ValueError, "X"),
    ("fold-in-tuple-col-out-of-range",
     lambda m: m.fold_in((np.array([0]), np.array([N_ITEMS]), np.array([1.0]))),
     ValueError, "X"),
    ("fold-in-dense", lambda m: m.fold_in(np.ones((2, N_ITEMS))), TypeError, "X"),
    ("fold-in-nan", lambda m: m.fold_in((np.array([0]), np.array([1]), np.array([NAN]))),
     ValueError, "X"),
    ("fold-in-weights-wrong-length",
     lambda m: m.fold_in(_sparse(2, N_ITEMS), weights=np.ones(1)), ValueError, "weights"),
    ("recommend-new-too-few-cols",
     lambda m: m.recommend_new(_sparse(2, N_ITEMS - 1), k=3), ValueError, "X"),
    ("recommend-new-too-many-cols",
     lambda m: m.recommend_new(_sparse(2, N_ITEMS + 1), k=3), ValueError, "X"),
    ("recommend-new-k-too-large",
     lambda m: m.recommend_new(_sparse(2, N_ITEMS), k=N_ITEMS + 1), ValueError, "k"),
    ("recommend-new-filter-items",
     lambda m: m.recommend_new(_sparse(2, N_ITEMS), k=3, filter_items=[N_ITEMS]),
     ValueError, "filter_items"),
    ("loss-wrong-shape", lambda m: m.loss(_sparse(N_USERS + 1, N_ITEMS)), ValueError, "X"),
    pytest.param(
        "loss-shape-smaller-than-factors", lambda m: m.loss(_sparse(2, 2, seed=3)),
        ValueError, "X"),
    pytest.param(
        "recommend-new-exclude-seen-not-bool",
        lambda m: m.recommend_new(_sparse(2, N_ITEMS), k=3, exclude_seen="no"),
        TypeError, "exclude_seen"),
]


def _call_params(rows):
    params = []
    for row in rows:
        marks = ()
        if hasattr(row, "marks"):  # a pytest.param(id, call, exc, argument, marks=...)
            row, marks = row.values, row.marks
        ident, call, exc, argument = row
        params.append(pytest.param(call, exc, argument, id=ident, marks=marks))
    return params


@pytest.mark.parametrize("call, exc, argument", _call_params(BAD_CALLS))
def test_fitted_call_rejects_bad_input(fitted, call, exc, argument):
    before = snapshot(fitted)
    with pytest.raises(exc, match=names(argument)):
        call(fitted)
    assert snapshot(fitted) == before


UNFITTED_CALLS = [
    ("predict", lambda m: m.predict(0, 0)),
    ("recommend", lambda m: m.recommend(0, k=3)),
    ("similar_items", lambda m: m.similar_items(0, k=3)),
    ("fold_in", lambda m: m.fold_in(_sparse(2, N_ITEMS))),
    ("recommend_new", lambda m: m.recommend_new(_sparse(2, N_ITEMS), k=3)),
    ("user_factors", lambda m: m.user_factors),
    ("item_factors", lambda m: m.item_factors),
    ("n_users", lambda m: m.n_users),
    ("n_items", lambda m: m.n_items),
]


@pytest.mark.parametrize("model_class", [WALS, DenseSVD, TruncatedSVD],
                         ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("call", [pytest.param(c, id=i) for i, c in UNFITTED_CALLS])
def test_unfitted_model_raises_not_fitted(model_class, call):
    with pytest.raises(NotFittedError, match=model_class.__name__):
        call(model_class())


def test_unfitted_wals_loss_raises_not_fitted(X):
    with pytest.raises(NotFittedError):
        WALS().loss(X)


def test_not_fitted_error_is_exported_and_a_runtime_error():
    assert fastwmf.NotFittedError is NotFittedError
    assert issubclass(NotFittedError, RuntimeError)


# ---------------------------------------------------------------------- SVD

BAD_SVD = [
    # (id, model, exception, argument named)
    ("dense-factors-zero", lambda: DenseSVD(factors=0), ValueError, "factors"),
    ("dense-factors-negative", lambda: DenseSVD(factors=-1), ValueError, "factors"),
    ("dense-factors-too-large", lambda: DenseSVD(factors=N_ITEMS + 1), ValueError, "factors"),
    ("dense-factors-float", lambda: DenseSVD(factors=2.5), TypeError, "factors"),
    ("truncated-factors-zero", lambda: TruncatedSVD(factors=0), ValueError, "factors"),
    ("truncated-factors-min-side", lambda: TruncatedSVD(factors=N_ITEMS), ValueError,
     "factors"),
    ("truncated-factors-too-large", lambda: TruncatedSVD(factors=N_USERS), ValueError,
     "factors"),
    ("truncated-factors-bool", lambda: TruncatedSVD(factors=True), TypeError, "factors"),
    ("truncated-tol-negative", lambda: TruncatedSVD(factors=2, tol=-1.0), ValueError, "tol"),
    ("truncated-tol-nan", lambda: TruncatedSVD(factors=2, tol=NAN), ValueError, "tol"),
    ("truncated-random-state-negative", lambda: TruncatedSVD(factors=2, random_state=-1),
     ValueError, "random_state"),
    ("truncated-random-state-string", lambda: TruncatedSVD(factors=2, random_state="0"),
     TypeError, "random_state"),
    pytest.param(
        "dense-num-threads-negative", lambda: DenseSVD(factors=2, num_threads=-1),
        ValueError, "num_threads"),
    pytest.param(
        "truncated-num-threads-too-large",
        lambda: TruncatedSVD(factors=2, num_threads=MAX_THREADS + 1),
        ValueError, "num_threads"),
]


@pytest.mark.parametrize("make, exc, argument", _call_params(BAD_SVD))
def test_svd_rejects_bad_params(X, make, exc, argument):
    model = make()
    with pytest.raises(exc, match=names(argument)):
        model.fit(X)
    assert not model.is_fitted


def test_truncated_svd_cannot_fit_1x1():
    with pytest.raises(ValueError, match=names("factors")):
        TruncatedSVD(factors=1).fit(sp.csr_matrix([[1.0]]))


def test_svd_fold_in_rejects_weights(X):
    model = DenseSVD(factors=2).fit(X)
    with pytest.raises(ValueError, match=names("weights")):
        model.fold_in(X[:2], weights=np.ones(X[:2].nnz))


# ------------------------------------------- failed calls leave the model as is

FAILING_REFITS = [
    # (id, how to make the fit fail: (model, X) -> None)
    ("bad-X-nan", lambda m, X: m.fit(_with_value(X, NAN))),
    ("bad-X-dense", lambda m, X: m.fit(X.toarray())),
    ("bad-X-corrupted-indices", lambda m, X: m.fit(_corrupted_indices(X))),
    ("bad-X-other-shape", lambda m, X: m.fit(_sparse(2, 2))),
    ("bad-weights", lambda m, X: m.fit(X, weights=-np.ones(X.nnz))),
    ("bad-item-weights", lambda m, X: m.fit(X, item_weights=np.ones(N_ITEMS + 1))),
    ("bad-param-factors", lambda m, X: m.set_params(factors=0).fit(X)),
    ("bad-param-dtype", lambda m, X: m.set_params(dtype="int32").fit(X)),
    ("bad-param-callback", lambda m, X: m.set_params(callback=3).fit(X)),
]


def _with_value(X, value):
    X = X.copy()
    X.data[0] = value
    return X


def _corrupted_indices(X):
    X = X.copy()
    X.indices[0] = 10 ** 6
    return X


@pytest.mark.parametrize("fail", [pytest.param(f, id=i) for i, f in FAILING_REFITS])
def test_failed_refit_leaves_wals_unchanged(X, fail):
    model = small_wals().fit(X)
    before = snapshot(model)
    with pytest.raises((TypeError, ValueError)):
        fail(model, X)
    assert snapshot(model) == before


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_refit_diverging_leaves_wals_unchanged(X):
    model = small_wals(dtype="float32").fit(X)
    before = snapshot(model)
    with pytest.raises((FloatingPointError, ValueError)):
        model.fit(_with_value(X, 1e39))  # overflows float32
    assert snapshot(model) == before


def _interrupt_at(iteration, error):
    def callback(it, loss, U, V):
        if it == iteration:
            raise error
    return callback


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError("stop")],
                         ids=["KeyboardInterrupt", "RuntimeError"])
def test_interrupted_refit_keeps_previous_factors(X, error):
    model = small_wals(iterations=3).fit(X)
    before = snapshot(model)
    threads_before = numba.get_num_threads()
    model.set_params(callback=_interrupt_at(2, error), random_state=1)
    with pytest.raises(error if isinstance(error, type) else type(error)):
        model.fit(X)
    assert snapshot(model) == before
    assert numba.get_num_threads() == threads_before


def test_interrupted_first_fit_leaves_model_unfitted(X):
    model = small_wals(iterations=3, callback=_interrupt_at(2, KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    assert not model.is_fitted
    with pytest.raises(NotFittedError):
        model.predict(0, 0)


def test_failed_refit_leaves_svd_unchanged(X):
    model = DenseSVD(factors=2).fit(X)
    before = snapshot(model)
    with pytest.raises(ValueError, match=names("factors")):
        model.set_params(factors=N_ITEMS + 1).fit(X)
    with pytest.raises(ValueError, match=names("X")):
        model.set_params(factors=2).fit(_with_value(X, INF))
    assert snapshot(model) == before


def test_failed_calls_do_not_mutate_inputs(X):
    model = small_wals().fit(X)
    exclude = X[:2].copy()
    data, indices, indptr = exclude.data.copy(), exclude.indices.copy(), exclude.indptr.copy()
    with pytest.raises(ValueError):
        model.recommend([0, 1, 2], k=3, exclude=exclude)
    assert np.array_equal(exclude.data, data)
    assert np.array_equal(exclude.indices, indices)
    assert np.array_equal(exclude.indptr, indptr)


# -------------------------------------------------------------- edge cases

@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("w0, regularization", [(0.1, 0.1), (0.0, 0.0)],
                         ids=["default", "unregularized"])
def test_1x1_matrix_fits(solver, dtype, w0, regularization):
    X = sp.csr_matrix([[3.0]])
    model = WALS(factors=1, iterations=3, solver=solver, dtype=dtype, w0=w0,
                 regularization=regularization, random_state=0).fit(X)
    assert model.user_factors_.shape == (1, 1)
    assert model.item_factors_.shape == (1, 1)
    assert model.user_factors_.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(model.user_factors_))
    assert np.all(np.isfinite(model.item_factors_))
    assert all(np.isfinite(model.loss_history_))
    assert np.isfinite(model.predict(0, 0))
    ids, scores = model.recommend(0, k=1, exclude_seen=False)
    assert ids.tolist() == [0]
    ids, scores = model.recommend(0, k=1)  # its one item is seen
    assert ids.tolist() == [-1] and np.isneginf(scores[0])


def test_1x1_stored_zero_fits_unregularized():
    X = sp.csr_matrix((np.array([0.0]), (np.array([0]), np.array([0]))), shape=(1, 1))
    model = WALS(factors=1, iterations=3, w0=0.0, regularization=0.0,
                 random_state=0).fit(X)
    assert np.all(np.isfinite(model.user_factors_))
    assert np.all(np.isfinite(model.item_factors_))


def test_1x1_dense_svd():
    model = DenseSVD(factors=1).fit(sp.csr_matrix([[2.0]]))
    assert np.isclose(model.predict(0, 0), 2.0)


def test_1x1_similar_items_has_no_neighbour():
    model = WALS(factors=1, iterations=2, random_state=0).fit(sp.csr_matrix([[1.0]]))
    ids, scores = model.similar_items(0, k=1)
    assert ids.tolist() == [-1]
    assert scores.tolist() == [-np.inf]


def _with_stored_zero(X):
    """``X`` plus one stored zero at a cell that holds no entry."""
    coo = X.tocoo()
    occupied = set(zip(coo.row.tolist(), coo.col.tolist()))
    cell = next((i, j) for i in range(N_USERS) for j in range(N_ITEMS)
                if (i, j) not in occupied)
    rows = np.r_[coo.row, cell[0]]
    cols = np.r_[coo.col, cell[1]]
    values = np.r_[coo.data, 0.0]
    return sp.csr_matrix((values, (rows, cols)), shape=X.shape), cell


def test_stored_zeros_are_observed_entries_in_the_loss(X):
    """A stored 0 adds ``(0 - u.v)^2`` to the loss (w0=0 ignores unobserved cells)."""
    with_zero, (i, j) = _with_stored_zero(X)
    assert with_zero.nnz == X.nnz + 1
    model = small_wals(w0=0.0, nu=0.0, dtype="float64").fit(X)  # nu=0: plain L2
    extra = model.loss(with_zero) - model.loss(X)
    assert extra == pytest.approx(model.predict(i, j) ** 2, rel=1e-9, abs=1e-12)
    assert extra > 0


def test_stored_zeros_change_the_fit(X):
    with_zero, _ = _with_stored_zero(X)
    eliminated = with_zero.copy()
    eliminated.eliminate_zeros()
    a = small_wals(w0=0.0, dtype="float64").fit(with_zero)
    b = small_wals(w0=0.0, dtype="float64").fit(eliminated)
    assert not np.array_equal(a.user_factors_, b.user_factors_)


def test_stored_zeros_are_excluded_as_seen(fitted):
    row = sp.csr_matrix((np.zeros(N_ITEMS - 1), (np.zeros(N_ITEMS - 1, dtype=int),
                                                 np.arange(1, N_ITEMS))),
                        shape=(1, N_ITEMS))
    ids, _ = fitted.recommend_new(row, k=2)
    assert ids[0].tolist() == [0, -1]  # only item 0 was not stored


def test_stored_zero_with_linear_confidence_is_a_negative(X):
    with_zero, (i, j) = _with_stored_zero(X)
    model = small_wals(confidence="linear", w0=0.0, nu=0.0, dtype="float64").fit(with_zero)
    assert np.all(np.isfinite(model.user_factors_))
    # targets are 0 for the stored zero: the loss counts it as an observed cell
    eliminated = with_zero.copy()
    eliminated.eliminate_zeros()
    extra = model.loss(with_zero) - model.loss(eliminated)
    assert extra == pytest.approx(model.predict(i, j) ** 2, rel=1e-9, abs=1e-12)


def test_empty_fold_in_is_allowed(fitted):
    out = fitted.fold_in(sp.csr_matrix((0, N_ITEMS)))
    assert out.shape == (0, fitted.user_factors_.shape[1])
