"""ALS epochs, loss, batch recommendation and the SVD baselines."""

import numpy as np
import pytest

import fastwmf
from fastwmf._threading import thread_limits
from fastwmf._validation import check_num_threads


def _problem(X, factors, solver):
    model = fastwmf.WALS(factors=factors, w0=0.1, regularization=0.1, solver=solver,
                         cg_steps=3, confidence="linear", alpha=2.0, random_state=0)
    _, problem = model._prepare(X)
    rng = np.random.default_rng(0)
    U = (0.1 * rng.standard_normal((X.shape[0], factors))).astype(np.float32)
    V = (0.1 * rng.standard_normal((X.shape[1], factors))).astype(np.float32)
    return problem, U, V


@pytest.mark.parametrize("factors", [32, 64, 128])
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_als_epoch(benchmark, implicit_matrix, solver, factors):
    problem, U, V = _problem(implicit_matrix, factors, solver)

    def epoch():
        problem.solve(problem.users, problem.items, V, U, solver, 3)
        problem.solve(problem.items, problem.users, U, V, solver, 3)

    benchmark.extra_info.update(nnz=implicit_matrix.nnz, threads=check_num_threads(0))
    with thread_limits(check_num_threads(0)):
        epoch()  # compile and warm caches outside the timing
        benchmark.pedantic(epoch, rounds=3, iterations=1)


@pytest.mark.parametrize("factors", [64])
def test_loss(benchmark, implicit_matrix, factors):
    problem, U, V = _problem(implicit_matrix, factors, "cg")
    with thread_limits(check_num_threads(0)):
        problem.loss(U, V)
        benchmark.pedantic(problem.loss, args=(U, V), rounds=3, iterations=1)


def test_recommend_all_users(benchmark, implicit_matrix):
    model = fastwmf.WALS(factors=64, iterations=1, random_state=0).fit(implicit_matrix)
    users = np.arange(model.n_users)
    model.recommend(users[:10], k=10, exclude=implicit_matrix[:10])
    benchmark.pedantic(model.recommend, args=(users,),
                       kwargs={"k": 10, "exclude": implicit_matrix}, rounds=3, iterations=1)


def test_truncated_svd(benchmark, implicit_matrix):
    model = fastwmf.TruncatedSVD(factors=64, random_state=0)
    benchmark.pedantic(model.fit, args=(implicit_matrix,), rounds=1, iterations=1)


def test_dense_svd(benchmark, small_dense_matrix):
    model = fastwmf.DenseSVD(factors=64)
    benchmark.pedantic(model.fit, args=(small_dense_matrix,), rounds=3, iterations=1)
