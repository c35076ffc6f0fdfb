"""WALS against dense numpy references on small random problems."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastwmf

from . import naive
from .conftest import planted_low_rank, random_interactions


def _setup(X, w0, regularization, nu, user_weights=None, item_weights=None, weights=None,
           factors=4, seed=1, **params):
    """A float64 problem plus the dense references of the same objective."""
    model = fastwmf.WALS(factors=factors, w0=w0, regularization=regularization, nu=nu,
                         dtype="float64", **params)
    _, problem = model._prepare(X, weights, user_weights, item_weights)
    m, n = problem.shape
    p = problem.users.row_weights
    q = problem.items.row_weights
    coo = sp.coo_matrix(X)
    conf = np.ones(coo.nnz) if weights is None else np.asarray(weights, dtype=float)
    if params.get("confidence"):
        targets, conf = fastwmf.weights.confidence_from_counts(
            coo.data, params["confidence"], params.get("alpha", 1.0), params.get("eps", 1.0))
    else:
        targets = coo.data
    W = naive.dense_weights((m, n), coo.row, coo.col, conf, w0, p, q)
    A = naive.dense_targets((m, n), coo.row, coo.col, targets)
    counts_u = np.bincount(coo.row, minlength=m)
    counts_v = np.bincount(coo.col, minlength=n)
    reg_u = naive.row_regularization(regularization, nu, counts_u, w0, p, q.sum())
    reg_v = naive.row_regularization(regularization, nu, counts_v, w0, q, p.sum())
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((m, factors))
    V = rng.standard_normal((n, factors))
    return problem, W, A, reg_u, reg_v, U, V


CASES = {
    "plain": dict(w0=0.3, regularization=0.1, nu=0.0),
    "explicit-w0=0": dict(w0=0.0, regularization=0.5, nu=0.0),
    "nu=1": dict(w0=0.2, regularization=0.05, nu=1.0),
    "nu=0.5-item-weights": dict(w0=0.5, regularization=0.1, nu=0.5, item_weights="random"),
    "user-and-item-weights": dict(w0=1.0, regularization=0.1, nu=0.0, item_weights="random",
                                  user_weights="random"),
    "entry-weights": dict(w0=0.4, regularization=0.1, nu=0.0, weights="random"),
    "confidence-linear": dict(w0=1.0, regularization=0.1, nu=0.0, confidence="linear", alpha=2.0),
    "confidence-log": dict(w0=1.0, regularization=0.1, nu=0.0, confidence="log", alpha=3.0,
                           eps=0.5),
}


def _case(name, X):
    case = dict(CASES[name])
    rng = np.random.default_rng(7)
    for key, size in (("item_weights", X.shape[1]), ("user_weights", X.shape[0]),
                      ("weights", X.nnz)):
        if case.get(key) == "random":
            case[key] = rng.uniform(0.1, 3.0, size=size)
    return case


@pytest.mark.parametrize("name", list(CASES))
def test_half_steps_match_dense_normal_equations(small_matrix, name):
    X = sp.coo_matrix(small_matrix)  # weights below are aligned with COO order
    problem, W, A, reg_u, reg_v, U, V = _setup(X, **_case(name, X))
    U_kernel = np.zeros_like(U)
    problem.solve(problem.users, problem.items, V, U_kernel, "cholesky", 0)
    np.testing.assert_allclose(U_kernel, naive.solve_rows(W, A, V, reg_u), rtol=1e-6, atol=1e-9)
    V_kernel = np.zeros_like(V)
    problem.solve(problem.items, problem.users, U, V_kernel, "cholesky", 0)
    np.testing.assert_allclose(V_kernel, naive.solve_rows(W.T, A.T, U, reg_v), rtol=1e-6,
                               atol=1e-9)


@pytest.mark.parametrize("name", list(CASES))
def test_gramian_trick_loss_matches_dense_objective(small_matrix, name):
    X = sp.coo_matrix(small_matrix)
    problem, W, A, reg_u, reg_v, U, V = _setup(X, **_case(name, X))
    expected = naive.objective(W, A, U, V, reg_u, reg_v)
    assert problem.loss(U, V) == pytest.approx(expected, rel=1e-10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=st.integers(1, 12), n=st.integers(1, 12), density=st.floats(0.05, 1.0),
       w0=st.sampled_from([0.0, 0.01, 1.0, 5.0]), reg=st.sampled_from([1e-3, 0.1, 10.0]),
       nu=st.sampled_from([0.0, 0.5, 1.0]), scale=st.sampled_from([1e-3, 1.0, 1e3]),
       seed=st.integers(0, 10_000))
def test_half_step_matches_reference_on_random_problems(m, n, density, w0, reg, nu, scale, seed):
    X = random_interactions(m, n, density, seed, value_scale=scale)
    if X.nnz == 0:
        return
    factors = min(m, n, 3)
    problem, W, A, reg_u, _, U, V = _setup(X, w0, reg, nu, factors=factors, seed=seed)
    out = np.zeros_like(U)
    problem.solve(problem.users, problem.items, V, out, "cholesky", 0)
    expected = naive.solve_rows(W, A, V, reg_u)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-9 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("name", ["plain", "nu=1", "user-and-item-weights", "confidence-linear"])
def test_exact_solver_never_increases_objective(small_matrix, name):
    case = _case(name, sp.coo_matrix(small_matrix))
    weights = case.pop("weights", None)
    user_weights = case.pop("user_weights", None)
    item_weights = case.pop("item_weights", None)
    model = fastwmf.WALS(factors=5, iterations=25, dtype="float64", random_state=0, **case)
    model.fit(small_matrix, weights=weights, user_weights=user_weights, item_weights=item_weights)
    history = np.array(model.loss_history_)
    assert len(history) == 25
    assert np.all(np.diff(history) <= 1e-10 * history[:-1])


def test_cg_approaches_exact_solution(small_matrix):
    problem, W, A, reg_u, _, U, V = _setup(small_matrix, w0=0.5, regularization=0.1, nu=0.0,
                                           factors=6)
    exact = naive.solve_rows(W, A, V, reg_u)
    errors = []
    for steps in (1, 2, 3, 6):
        out = np.zeros_like(U)
        problem.solve(problem.users, problem.items, V, out, "cg", steps)
        errors.append(np.linalg.norm(out - exact))
    assert all(later < earlier for earlier, later in zip(errors, errors[1:]))
    assert errors[-1] <= 1e-6 * np.linalg.norm(exact)  # d steps of CG are exact


def test_cg_fit_approaches_cholesky_objective(small_matrix):
    kwargs = dict(factors=4, w0=0.3, regularization=0.1, dtype="float64", random_state=3,
                  iterations=30)
    exact = fastwmf.WALS(solver="cholesky", **kwargs).fit(small_matrix).loss_history_[-1]
    inexact = fastwmf.WALS(solver="cg", cg_steps=4, **kwargs).fit(small_matrix).loss_history_[-1]
    assert inexact == pytest.approx(exact, rel=1e-3)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_unit_weights_reach_truncated_svd_error(solver):
    # A noisy rank-3 matrix fully stored: w0 = 1, c = 1, lam = 0 is |A - UV^T|_F^2.
    dense = planted_low_rank(40, 30, 3, seed=5, noise=0.05)
    X = sp.csr_matrix(dense)
    model = fastwmf.WALS(factors=3, w0=1.0, regularization=0.0, iterations=100, solver=solver,
                         cg_steps=3, dtype="float64", random_state=0).fit(X)
    target = naive.truncated_svd_error(dense, 3)
    assert model.loss_history_[-1] == pytest.approx(target, rel=1e-3)
    assert model.loss_history_[-1] >= target * (1 - 1e-9)


def test_sparse_unit_weights_reach_truncated_svd_error():
    # Unobserved entries count as zeros with weight w0 = 1: the SVD of the zero-filled matrix.
    X = random_interactions(35, 28, 0.3, seed=11)
    model = fastwmf.WALS(factors=2, w0=1.0, regularization=0.0, iterations=300,
                         dtype="float64", random_state=0).fit(X)
    target = naive.truncated_svd_error(X.toarray(), 2)
    assert model.loss_history_[-1] == pytest.approx(target, rel=1e-3)


@pytest.mark.parametrize("w0,regularization", [(0.0, 0.0), (0.0, 0.1), (0.5, 0.0), (0.5, 0.1)])
def test_empty_rows_and_columns_get_finite_factors(w0, regularization):
    X = random_interactions(20, 15, 0.3, seed=2, empty_rows=(0, 5), empty_cols=(3,))
    model = fastwmf.WALS(factors=3, w0=w0, regularization=regularization, iterations=5,
                         random_state=0).fit(X)
    assert np.all(np.isfinite(model.user_factors_))
    assert np.all(np.isfinite(model.item_factors_))
    assert np.all(np.isfinite(model.loss_history_))


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_float32_and_float64_fits_agree(small_matrix, solver):
    kwargs = dict(factors=4, w0=0.3, regularization=0.5, iterations=8, solver=solver,
                  random_state=4)
    single = fastwmf.WALS(dtype="float32", **kwargs).fit(small_matrix)
    double = fastwmf.WALS(dtype="float64", **kwargs).fit(small_matrix)
    assert single.user_factors_.dtype == np.float32
    assert double.user_factors_.dtype == np.float64
    np.testing.assert_allclose(single.loss_history_, double.loss_history_, rtol=1e-4)
    pred32 = single.user_factors_.astype(float) @ single.item_factors_.T
    pred64 = double.user_factors_ @ double.item_factors_.T
    np.testing.assert_allclose(pred32, pred64, atol=1e-3 * np.abs(pred64).max())


def test_fit_is_bit_identical_for_any_thread_count():
    import numba
    X = random_interactions(2000, 800, 0.02, seed=4)
    _, problem = fastwmf.WALS(factors=4)._prepare(X)
    assert len(problem.users.chunks) > 4 and len(problem.users.gram_chunks) > 4
    results = []
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        for solver in ("cholesky", "cg"):
            model = fastwmf.WALS(factors=4, iterations=4, solver=solver, random_state=9,
                                 num_threads=threads).fit(X)
            results.append((solver, model.user_factors_, model.item_factors_,
                            model.loss_history_))
    for solver in ("cholesky", "cg"):
        runs = [r for r in results if r[0] == solver]
        for other in runs[1:]:
            assert np.array_equal(runs[0][1], other[1])
            assert np.array_equal(runs[0][2], other[2])
            assert runs[0][3] == other[3]


def test_thread_count_and_schedule_are_restored(small_matrix):
    import numba
    before = numba.get_num_threads(), numba.get_parallel_chunksize()
    fastwmf.WALS(factors=2, iterations=1, num_threads=1).fit(small_matrix)
    fastwmf.SGD(factors=2, epochs=1, num_threads=1).fit(small_matrix)
    assert (numba.get_num_threads(), numba.get_parallel_chunksize()) == before


def test_dynamic_schedule_hands_out_one_iteration_at_a_time():
    import numba
    from fastwmf._threading import dynamic_schedule
    before = numba.get_parallel_chunksize()
    with dynamic_schedule():
        assert numba.get_parallel_chunksize() == 1
    assert numba.get_parallel_chunksize() == before


def test_linear_confidence_equals_explicit_weights(small_matrix):
    kwargs = dict(factors=3, w0=1.0, regularization=0.1, iterations=3, dtype="float64",
                  random_state=0)
    transformed = fastwmf.WALS(confidence="linear", alpha=2.5, **kwargs).fit(small_matrix)
    binary = small_matrix.copy()
    binary.data = np.ones_like(binary.data)
    explicit = fastwmf.WALS(**kwargs).fit(binary, weights=1.0 + 2.5 * small_matrix.data)
    np.testing.assert_allclose(transformed.user_factors_, explicit.user_factors_, rtol=1e-10)


def test_fold_in_equals_a_user_half_step(small_matrix):
    model = fastwmf.WALS(factors=4, w0=0.3, regularization=0.1, nu=0.5, iterations=3,
                         dtype="float64", random_state=0)
    item_weights = np.linspace(0.5, 2.0, small_matrix.shape[1])
    model.fit(small_matrix, item_weights=item_weights)
    folded = model.fold_in(small_matrix[:10])
    problem, W, A, reg_u, _, _, _ = _setup(small_matrix, w0=0.3, regularization=0.1, nu=0.5,
                                           item_weights=item_weights)
    # new users carry p = 1; n_i and sum(q) enter the regularization as in fit
    expected = naive.solve_rows(W[:10], A[:10], model.item_factors_, reg_u[:10])
    np.testing.assert_allclose(folded, expected, rtol=1e-6, atol=1e-10)


def test_duplicates_are_summed_and_formats_agree(small_matrix):
    coo = sp.coo_matrix(small_matrix)
    half = coo.data / 2
    duplicated = (np.concatenate([coo.row, coo.row]), np.concatenate([coo.col, coo.col]),
                  np.concatenate([half, half]))
    kwargs = dict(factors=3, iterations=2, dtype="float64", random_state=0)
    reference = fastwmf.WALS(**kwargs).fit(small_matrix)
    for X in (duplicated, coo, small_matrix.tocsc(), sp.csr_array(small_matrix),
              small_matrix.todok(), small_matrix.tolil()):
        other = fastwmf.WALS(**kwargs).fit(X)
        np.testing.assert_allclose(other.user_factors_, reference.user_factors_, rtol=1e-12)


def test_integer_values_are_accepted(small_matrix):
    X = small_matrix.copy()
    X.data = np.round(X.data).astype(np.int32)
    model = fastwmf.WALS(factors=2, iterations=2, random_state=0).fit(X)
    assert np.all(np.isfinite(model.user_factors_))


def test_popularity_weights_have_mean_one_and_follow_counts(small_matrix):
    q = fastwmf.popularity_weights(small_matrix, exponent=0.5)
    counts = np.bincount(small_matrix.indices, minlength=small_matrix.shape[1])
    assert q.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(q, np.sqrt(counts) / np.sqrt(counts).mean())
    np.testing.assert_array_equal(fastwmf.popularity_weights(small_matrix, 0.0), 1.0)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_reported_loss_is_the_dense_objective_of_each_iteration(small_matrix, name, solver):
    # The fit sums the objective inside its half-steps; each iteration's value
    # must be the objective of the factors the callback sees at that iteration.
    case = _case(name, sp.coo_matrix(small_matrix))
    extra = {key: case.pop(key) for key in ("weights", "user_weights", "item_weights")
             if key in case}
    params = {key: case.pop(key) for key in ("confidence", "alpha", "eps") if key in case}
    _, W, A, reg_u, reg_v, _, _ = _setup(small_matrix, **case, **extra, **params)
    dense = []

    def callback(iteration, loss, U, V):
        dense.append(naive.objective(W, A, U, V, reg_u, reg_v))

    model = fastwmf.WALS(factors=4, iterations=4, solver=solver, dtype="float64",
                         random_state=2, callback=callback, **case, **params)
    model.fit(small_matrix, **extra)
    np.testing.assert_allclose(model.loss_history_, dense, rtol=1e-10)
    silent = fastwmf.WALS(factors=4, iterations=4, solver=solver, dtype="float64",
                          random_state=2, calculate_loss=False, **case, **params)
    silent.fit(small_matrix, **extra)
    # without a callback the factors stay in the eigenbasis between iterations,
    # and summing the loss must not change them
    quiet = fastwmf.WALS(factors=4, iterations=4, solver=solver, dtype="float64",
                         random_state=2, **case, **params).fit(small_matrix, **extra)
    assert np.array_equal(silent.user_factors_, quiet.user_factors_)
    assert np.array_equal(silent.item_factors_, quiet.item_factors_)
    assert silent.loss_history_ == []
    np.testing.assert_allclose(quiet.loss_history_, model.loss_history_, rtol=1e-9)


def test_callback_sees_each_iteration_and_can_stop(small_matrix):
    seen = []

    def callback(iteration, loss, U, V):
        seen.append((iteration, loss))
        return iteration == 3

    model = fastwmf.WALS(factors=2, iterations=10, callback=callback, random_state=0)
    model.fit(small_matrix)
    assert [s[0] for s in seen] == [1, 2, 3]
    assert model.n_iter_ == 3
    assert [s[1] for s in seen] == model.loss_history_


def test_callback_arrays_are_read_only(small_matrix):
    def callback(iteration, loss, U, V):
        with pytest.raises(ValueError):
            U[0, 0] = 1.0
        with pytest.raises(ValueError):
            V[0, 0] = 1.0

    fastwmf.WALS(factors=2, iterations=2, callback=callback, random_state=0).fit(small_matrix)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cg_stays_stable_on_singular_rows_without_regularization(dtype):
    # Most rows hold fewer entries than factors: their systems are singular.
    X = sp.random(200, 150, density=0.03, random_state=3, format="csr")
    X.data = np.ceil(X.data * 5)
    model = fastwmf.WALS(factors=8, w0=0.0, regularization=0.0, iterations=10, solver="cg",
                         dtype=dtype, random_state=0).fit(X)
    history = np.array(model.loss_history_)
    assert np.all(np.isfinite(history))
    assert history[-1] < 1e-3 * history[0]
    assert np.abs(model.item_factors_).max() < 10.0


def test_cg_converges_on_tiny_value_scales(small_matrix):
    scaled = small_matrix * 1e-10
    kwargs = dict(factors=3, w0=0.3, regularization=1e-11, iterations=20, dtype="float64",
                  random_state=0)
    exact = fastwmf.WALS(solver="cholesky", **kwargs).fit(scaled).loss_history_[-1]
    inexact = fastwmf.WALS(solver="cg", cg_steps=3, **kwargs).fit(scaled).loss_history_[-1]
    assert inexact == pytest.approx(exact, rel=1e-2)


def test_fold_in_uses_the_fitted_objective(small_matrix):
    model = fastwmf.WALS(factors=3, w0=0.3, regularization=0.1, iterations=3,
                         random_state=0).fit(small_matrix)
    before = model.fold_in(small_matrix[:4])
    model.set_params(w0=5.0, regularization=10.0, solver="bogus")
    np.testing.assert_array_equal(model.fold_in(small_matrix[:4]), before)
    assert model.fit_params_["w0"] == 0.3


@pytest.mark.parametrize("start", [1e-300, 1e-310, 0.0])
def test_cg_warm_start_near_zero_stays_finite(small_matrix, start):
    # Row 3 is empty: its solution is 0 and warm starts decay into subnormals.
    problem, W, A, reg_u, _, U, V = _setup(small_matrix, w0=0.3, regularization=0.1, nu=0.0)
    out = np.full_like(U, start)
    problem.solve(problem.users, problem.items, V, out, "cg", 4)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[3], 0.0, atol=1e-200)


@pytest.mark.parametrize("renumber", [False, True])
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_warm_start_continues_from_current_factors(small_matrix, solver, renumber,
                                                   monkeypatch):
    from fastwmf.models import _problem
    # renumbered: factor rows kept by activity during the fit, as on large data
    monkeypatch.setattr(_problem, "RENUMBER_MIN_ENTRIES", 0 if renumber else 10**12)
    kwargs = dict(factors=3, w0=0.3, regularization=0.1, dtype="float64", random_state=0,
                  solver=solver)
    straight = fastwmf.WALS(iterations=6, **kwargs).fit(small_matrix)
    warm = fastwmf.WALS(iterations=3, warm_start=True, **kwargs).fit(small_matrix)
    warm.fit(small_matrix)  # three more iterations from where it stopped
    # CG's straight fit stays in the eigenbasis across the break: equal to rounding
    scale = np.abs(straight.user_factors_).max()
    np.testing.assert_allclose(warm.user_factors_, straight.user_factors_, rtol=1e-10,
                               atol=1e-12 * scale)
    assert warm.loss_history_ == pytest.approx(straight.loss_history_[3:], rel=1e-12)
    cold = fastwmf.WALS(iterations=3, **kwargs).fit(small_matrix).fit(small_matrix)
    np.testing.assert_array_equal(cold.user_factors_,
                                  fastwmf.WALS(iterations=3, **kwargs).fit(small_matrix).user_factors_)


def test_activity_weights_have_mean_one_and_follow_counts(small_matrix):
    p = fastwmf.activity_weights(small_matrix, exponent=0.5)
    counts = np.maximum(np.diff(small_matrix.indptr), 1)
    assert p.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(p, np.sqrt(counts) / np.sqrt(counts).mean())


def test_auto_w0_follows_the_datas_density(small_matrix):
    from fastwmf.models._wmf import UNOBSERVED_MASS
    model = fastwmf.WALS(factors=3, iterations=2, random_state=0).fit(small_matrix)
    m, n = small_matrix.shape
    expected = UNOBSERVED_MASS * small_matrix.nnz / (m * n)
    assert model.get_params()["w0"] == "auto"
    assert model.fit_params_["w0"] == pytest.approx(expected)
    explicit = fastwmf.WALS(factors=3, iterations=2, random_state=0, w0=expected).fit(
        small_matrix)
    np.testing.assert_allclose(model.user_factors_, explicit.user_factors_, rtol=1e-6)
    assert model.loss(small_matrix) == pytest.approx(explicit.loss(small_matrix), rel=1e-6)
