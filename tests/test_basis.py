"""Factors kept in the Gramian's eigenbasis during a CG fit: rotations and bookkeeping."""

import numpy as np
import pytest
import scipy.sparse as sp

import fastwmf
from fastwmf.kernels.rotate import rotate_rows_parallel
from fastwmf.models._basis import SharedBasis
from fastwmf.models._wmf import starting_factors

from .naive import conjugate_gradient


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows,block", [(0, 4), (1, 4), (9, 4), (64, 256), (1000, 256)])
def test_rotate_rows_parallel_matches_numpy(rows, block, dtype):
    rng = np.random.default_rng(rows)
    X = rng.standard_normal((rows, 12)).astype(dtype)
    R = rng.standard_normal((12, 12)).astype(dtype)
    want = X.astype(np.float64) @ R.astype(np.float64)
    got = rotate_rows_parallel(X, R, block_rows=block)
    assert got is X
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(X, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shared_basis_diagonalises_and_restores(dtype):
    rng = np.random.default_rng(0)
    U = rng.standard_normal((50, 8)).astype(dtype)
    V = rng.standard_normal((30, 8)).astype(dtype)
    U0, V0 = U.copy(), V.copy()
    basis = SharedBasis()
    assert not basis.rotated
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for _ in range(5):  # the rotations accumulate, alternating sides as a fit does
        for fixed, solved in ((V, U), (U, V)):
            G = fixed.T.astype(np.float64) @ fixed
            values = basis.diagonalise(G, fixed, solved)
            rotated = fixed.T.astype(np.float64) @ fixed
            np.testing.assert_allclose(rotated, np.diag(values), atol=tol * np.abs(G).max())
    assert basis.rotated
    np.testing.assert_allclose(U @ V.T, U0 @ V0.T, rtol=tol, atol=tol * 10)
    basis.restore(U, V)
    assert not basis.rotated
    np.testing.assert_allclose(U, U0, rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(V, V0, rtol=tol * 10, atol=tol * 10)
    basis.restore(U, V)  # nothing to undo
    np.testing.assert_allclose(U, U0, rtol=tol * 10, atol=tol * 10)


def _matrix():
    X = sp.random(120, 80, density=0.08, random_state=3, format="csr")
    X.data[:] = np.random.default_rng(3).integers(1, 5, X.nnz)
    return X


def _numpy_cg_half_step(side, other_side, other, out, w0, steps):
    """Plain numpy CG on each row's dense normal equations (float64)."""
    Y = other.astype(np.float64)
    G = (Y * other_side.row_weights[:, None]).T @ Y
    for i in range(side.n_rows):
        sl = slice(side.indptr[i], side.indptr[i + 1])
        j, c, a = side.indices[sl], side.confidence[sl], side.targets[sl]
        wi = w0 * side.row_weights[i]
        A = (wi * G + side.row_reg[i] * np.eye(Y.shape[1])
             + (Y[j].T * (c - wi * other_side.row_weights[j])) @ Y[j])
        x = conjugate_gradient(A, Y[j].T @ (c * a), out[i].astype(np.float64), steps)
        out[i] = x


def test_cg_fit_matches_numpy_cg_in_the_original_basis():
    """The fit (factors kept in the eigenbasis between half-steps) returns what
    plain CG on the dense normal equations gives from the same start."""
    X = _matrix()
    model = fastwmf.WALS(factors=8, solver="cg", iterations=4, random_state=0, dtype="float64",
                         w0=0.3, regularization=0.05, nu=1.0)
    model.fit(X)
    params, problem = model._prepare(X)  # a fresh generator: the fit's own start
    U, V = starting_factors(params["rng"], 120, 80, 8, np.float64)
    for _ in range(4):
        _numpy_cg_half_step(problem.users, problem.items, V, U, problem.w0, model.cg_steps)
        _numpy_cg_half_step(problem.items, problem.users, U, V, problem.w0, model.cg_steps)
    np.testing.assert_allclose(model.user_factors_, U, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.item_factors_, V, rtol=1e-8, atol=1e-10)


def test_non_finite_gramian_raises_floating_point_error():
    U = np.ones((3, 2))
    with pytest.raises(FloatingPointError, match="non-finite"):
        SharedBasis().diagonalise(np.array([[np.nan, 0.0], [0.0, 1.0]]), U, U.copy())


def test_callback_that_stops_leaves_the_factors_in_the_original_basis():
    X = _matrix()
    stopped = fastwmf.WALS(factors=8, solver="cg", iterations=6, random_state=0,
                           dtype="float64", callback=lambda it, *_: it == 2).fit(X)
    plain = fastwmf.WALS(factors=8, solver="cg", iterations=2, random_state=0,
                         dtype="float64").fit(X)
    assert stopped.n_iter_ == 2
    np.testing.assert_allclose(stopped.user_factors_, plain.user_factors_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(stopped.item_factors_, plain.item_factors_, rtol=1e-8, atol=1e-10)


def test_interrupted_warm_start_refit_leaves_the_model_unchanged():
    X = _matrix()
    model = fastwmf.WALS(factors=8, solver="cg", iterations=3, random_state=0,
                         dtype="float64", warm_start=True).fit(X)
    before = model.user_factors_.copy(), model.item_factors_.copy()

    def interrupt(iteration, *_):
        if iteration == 2:
            raise KeyboardInterrupt

    model.set_params(callback=interrupt)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    np.testing.assert_array_equal(model.user_factors_, before[0])
    np.testing.assert_array_equal(model.item_factors_, before[1])


def test_callback_sees_the_factors_in_the_original_basis():
    X = _matrix()
    seen = []

    def callback(iteration, loss, U, V):
        seen.append((U.copy(), V.copy()))

    model = fastwmf.WALS(factors=8, solver="cg", iterations=4, random_state=0,
                         dtype="float64", callback=callback).fit(X)
    plain = fastwmf.WALS(factors=8, solver="cg", iterations=4, random_state=0,
                         dtype="float64").fit(X)
    assert len(seen) == 4
    np.testing.assert_allclose(seen[-1][0], model.user_factors_, rtol=0, atol=0)
    np.testing.assert_allclose(seen[-1][1], model.item_factors_, rtol=0, atol=0)
    np.testing.assert_allclose(model.user_factors_, plain.user_factors_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.item_factors_, plain.item_factors_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("solver", ["cg", "cholesky", "block"])
def test_users_without_entries_keep_zero_factors(solver):
    """U starts at 0, and 0 is the exact minimiser for a user without entries."""
    X = sp.csr_matrix(_matrix())
    X = sp.vstack([X[:3], sp.csr_matrix((2, X.shape[1])), X[3:]]).tocsr()
    model = fastwmf.WALS(factors=8, solver=solver, block_size=4, iterations=3,
                         random_state=0).fit(X)
    assert np.all(model.user_factors_[3:5] == 0)
    assert np.all(np.any(model.user_factors_[:3] != 0, axis=1))
