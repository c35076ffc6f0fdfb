"""Property tests over random sparse input: duplicates, stored zeros, empty rows
and columns, value scales from 1e-6 to 1e6. Fits must finish with finite
factors, and the ALS half-step must match the dense reference."""

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastwmf

from . import naive


@st.composite
def messy_triples(draw):
    m = draw(st.integers(2, 9))
    n = draw(st.integers(2, 9))
    size = draw(st.integers(1, 3 * m * n))
    seed = draw(st.integers(0, 2 ** 16))
    scale = draw(st.sampled_from([1e-6, 1e-3, 1.0, 1e3, 1e6]))
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, m - 1, size=size)        # the last row stays empty
    cols = rng.integers(0, n - 1, size=size)        # and so does the last column
    values = rng.uniform(0.0, 5.0, size=size) * scale
    values[rng.random(size) < 0.2] = 0.0            # stored zeros are observed entries
    shape = (m, n)
    return sp.coo_matrix((values, (rows, cols)), shape=shape), scale


SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(data=messy_triples(), solver=st.sampled_from(["cholesky", "cg"]),
       w0=st.sampled_from([0.0, 0.1, 1.0]), dtype=st.sampled_from(["float32", "float64"]))
def test_wals_fits_stay_finite(data, solver, w0, dtype):
    X, scale = data
    model = fastwmf.WALS(factors=2, w0=w0, regularization=0.1, iterations=3, solver=solver,
                         dtype=dtype, random_state=0).fit(X)
    assert np.all(np.isfinite(model.user_factors_))
    assert np.all(np.isfinite(model.item_factors_))
    assert np.all(np.isfinite(model.loss_history_))


@SETTINGS
@given(data=messy_triples(), w0=st.sampled_from([0.0, 0.5]))
def test_sgd_fits_stay_finite(data, w0):
    X, scale = data
    model = fastwmf.SGD(factors=2, epochs=3, w0=w0, random_state=0, num_threads=1).fit(X)
    assert np.all(np.isfinite(model.user_factors_))
    assert np.all(np.isfinite(model.item_factors_))


@SETTINGS
@given(data=messy_triples(), w0=st.sampled_from([0.0, 0.3, 2.0]))
def test_half_step_matches_reference_on_messy_input(data, w0):
    X, scale = data
    model = fastwmf.WALS(factors=2, w0=w0, regularization=0.1, nu=0.0, dtype="float64")
    _, problem = model._prepare(X)
    csr = sp.csr_matrix(X)          # duplicates summed, stored zeros kept
    csr.sum_duplicates()
    coo = csr.tocoo()
    m, n = csr.shape
    W = naive.dense_weights((m, n), coo.row, coo.col, np.ones(coo.nnz), w0, np.ones(m),
                            np.ones(n))
    A = naive.dense_targets((m, n), coo.row, coo.col, coo.data)
    V = np.random.default_rng(1).standard_normal((n, 2)) * np.sqrt(scale)
    U = np.zeros((m, 2))
    problem.solve(problem.users, problem.items, V, U, "cholesky", 0)
    reg = naive.row_regularization(0.1, 0.0, np.diff(csr.indptr), w0, np.ones(m), n)
    expected = naive.solve_rows(W, A, V, reg)
    np.testing.assert_allclose(U, expected, rtol=1e-6,
                               atol=1e-9 * max(1.0, np.abs(expected).max()))


def test_canonical_csr_input_is_used_without_resorting_and_never_aliased_read_only():
    from fastwmf._validation import check_interactions
    X = sp.random(30, 20, density=0.3, format="csr", random_state=0)
    X.indices = X.indices.astype(np.int32)
    data = check_interactions(X)
    np.testing.assert_array_equal(data.indices, X.indices)
    np.testing.assert_array_equal(data.values, X.data)
    X.indices.setflags(write=False)  # e.g. memory-mapped input
    data = check_interactions(X)
    assert data.indices.flags.writeable and data.indices.flags.c_contiguous
    assert not np.shares_memory(data.indices, X.indices)
    np.testing.assert_array_equal(data.indices, X.indices)
