"""Kernels compiled per factor count agree with the generic kernel and with numpy."""

from typing import NamedTuple

import numpy as np
import pytest
import scipy.sparse as sp

from fastwmf._threading import row_chunks
from fastwmf.kernels import als
from fastwmf.kernels import specialise
from fastwmf.kernels.halfstep import HalfStepRows, chunk_records
from fastwmf.kernels.specialise import exact_width, kernel_width

from .naive import conjugate_gradient


class RowProblem(NamedTuple):
    """A half-step's inputs: the rows, the fixed factors, their Gramian, w0, q."""

    rows: HalfStepRows
    other: np.ndarray
    G: np.ndarray
    w0: float
    q: np.ndarray

    def fixed(self):
        """The arguments between ``rows`` and the solver's own (other, G, w0, q)."""
        return self.other, self.G, self.w0, self.q

    @property
    def n_rows(self):
        return len(self.rows.indptr) - 1


def _row_problem(d, dtype, seed=0, m=60, n=40):
    rng = np.random.default_rng(seed)
    X = sp.random(m, n, density=0.15, random_state=seed, format="csr")
    X.data[:] = rng.random(X.nnz) + 0.1
    X = X.tolil()
    X[0, :] = rng.random(n) + 0.1          # one row longer than a small gather limit
    X[1, :] = 0.0                           # and an empty one
    X = X.tocsr()
    X.eliminate_zeros()
    X.sort_indices()
    indptr = X.indptr.astype(np.int64)
    other = rng.standard_normal((n, d)).astype(dtype)
    col_weights = rng.random(n) + 0.5
    G = (other.astype(np.float64) * col_weights[:, None]).T @ other.astype(np.float64)
    targets, conf = X.data.astype(dtype), (1.0 + 2.0 * X.data).astype(dtype)
    row_weights = rng.random(m) + 0.5
    rows = HalfStepRows(indptr, X.indices.astype(np.int32), targets, conf, row_weights,
                            np.full(m, 0.3), row_chunks(indptr, 4.0, min_work=0))
    start = rng.standard_normal((m, d)).astype(dtype)
    return RowProblem(rows, other, G, 0.7, col_weights), start


def _dense_normal_equations(problem):
    """Each row's dense ``(A, b)``, by numpy."""
    rows, (other, G, w0, q) = problem.rows, problem.fixed()
    Y = other.astype(np.float64)
    for i in range(problem.n_rows):
        sl = slice(rows.indptr[i], rows.indptr[i + 1])
        j = rows.indices[sl]
        c, a = rows.confidence[sl].astype(np.float64), rows.targets[sl].astype(np.float64)
        wi = w0 * rows.row_weights[i]
        A = wi * G + rows.row_reg[i] * np.eye(Y.shape[1]) + (Y[j].T * (c - wi * q[j])) @ Y[j]
        yield A, Y[j].T @ (c * a)


def _dense_cg(problem, start, steps):
    """Plain numpy CG on each row's dense normal equations."""
    out = start.astype(np.float64).copy()
    for i, (A, b) in enumerate(_dense_normal_equations(problem)):
        out[i] = conjugate_gradient(A, b, out[i], steps)
    return out


def _reference_sums(problem, solved):
    """``(observed part, penalty, sum of squares)`` of the solved rows, by numpy."""
    rows, (other, _, w0, q) = problem.rows, problem.fixed()
    X = solved.astype(np.float64)
    Y = other.astype(np.float64)
    owner = np.repeat(np.arange(problem.n_rows), np.diff(rows.indptr))
    pred = np.einsum("ed,ed->e", X[owner], Y[rows.indices])
    err = rows.targets.astype(np.float64) - pred
    observed = np.sum(rows.confidence * err ** 2
                      - w0 * rows.row_weights[owner] * q[rows.indices] * pred ** 2)
    norms = np.sum(X ** 2, axis=1)
    return np.array([observed, np.sum(rows.row_reg * norms), np.sum(norms)])


@pytest.mark.parametrize("d", [5, 13, 264])
def test_cg_kernel_variants_match_numpy(d):
    problem, start = _row_problem(d, np.float64, seed=d)
    expected = _dense_cg(problem, start, 3)
    width = kernel_width(d)
    # a gather limit of 5 streams long rows in blocks of one 4-row group and one row
    variants = {"public": None, "streamed": (width, 5)}
    if d == 13:
        variants["generic"] = (0, als.GATHER_ROWS)
    for name, key in variants.items():
        out = start.copy()
        if key is None:
            sums = als.half_step_cg(problem.rows, *problem.fixed(), 3, out, track_observed=True)
        else:
            values, _, rotation = als.gramian_eigenbasis(problem.G, 0)
            rotated_out = out @ rotation
            sums = als.half_step_cg_eigenbasis(
                problem.rows, problem.other @ rotation, values, problem.w0, problem.q, 3,
                rotated_out, gather_limit=key[1], width=key[0], track_observed=True)
            out = rotated_out @ rotation.T
        np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9, err_msg=name)
        # the sums tracked through the CG steps are those of the rows stored
        np.testing.assert_allclose(sums, _reference_sums(problem, out), rtol=1e-9,
                                   err_msg=name)
    untracked = als.half_step_cg(problem.rows, *problem.fixed(), 3, start.copy())
    assert untracked.observed == 0.0 and untracked.penalty > 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [7, 64])
def test_cg_gather_limit_changes_no_result(d, dtype):
    """Rows kept gathered whole, or gathered again in each step in blocks of
    any multiple of four entries, give the same factors and sums to the last bit."""
    problem, start = _row_problem(d, dtype, seed=11)
    values, _, rotation = als.gramian_eigenbasis(problem.G, 0)
    rotation = rotation.astype(dtype)
    other = problem.other @ rotation
    results = {}
    for limit, stream in ((4, 4), (8, 4), (12, 8), (36, 12), (als.GATHER_ROWS, 4), (None, 8),
                          (None, als.GATHER_ROWS)):
        out = start @ rotation
        sums = als.half_step_cg_eigenbasis(problem.rows, other, values, problem.w0, problem.q,
                                           3, out, gather_limit=limit, stream_rows=stream,
                                           track_observed=True)
        results[limit, stream] = (out, sums)
    reference, reference_sums = results[None, als.GATHER_ROWS]
    for limit, (out, sums) in results.items():
        np.testing.assert_array_equal(out, reference, err_msg=str(limit))
        assert tuple(sums) == tuple(reference_sums), limit


@pytest.mark.parametrize("width", [8, 24, 64, 128, 1024, 4096])
@pytest.mark.parametrize("itemsize", [4, 8])
def test_cg_gather_limit_is_a_byte_budget(width, itemsize):
    limit = als.cg_gather_limit(width, itemsize)
    assert limit % als.GATHER_ROWS == 0 and limit >= als.GATHER_ROWS
    if limit > als.GATHER_ROWS:
        assert limit * width * itemsize <= als.CG_RESIDENT_BYTES
        assert (limit + als.GATHER_ROWS) * width * itemsize > als.CG_RESIDENT_BYTES


@pytest.mark.parametrize("d", [7, 64])
def test_cg_kernel_float32_tracks_float64(d):
    problem64, start = _row_problem(d, np.float64, seed=3)
    problem32, _ = _row_problem(d, np.float32, seed=3)
    a = start.copy()
    b = start.astype(np.float32)
    als.half_step_cg(problem64.rows, *problem64.fixed(), 3, a)
    als.half_step_cg(problem32.rows, *problem32.fixed(), 3, b)
    assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()


def test_kernel_width_rounds_up_and_falls_back():
    assert [kernel_width(d) for d in (1, 8, 9, 64, 100, 256)] == [8, 8, 16, 64, 104, 256]
    assert kernel_width(257) == 0
    assert [exact_width(d) for d in (8, 9, 64, 100, 264)] == [8, 0, 64, 0, 0]


def test_specialised_factories_build_once_per_key_and_record_it():
    calls = []

    @specialise.specialised("test-kind", widths=exact_width)
    def factory(width, float_type, option):
        calls.append((width, float_type, option))
        return object()

    first = factory(16, np.float32, 3)
    # equal keys in other spellings (numpy integers, a dtype) share the build
    assert factory(np.int64(16), np.dtype(np.float32), np.int32(3)) is first
    assert factory.for_factors(16, np.float32, 3) is first
    assert factory.for_factors(12, np.float32, 3) is factory(0, np.float32, 3)  # not padded
    assert calls == [(16, np.float32, 3), (0, np.float32, 3)]
    built = [(key, kernel) for kind, key, kernel in specialise.compiled_kernels("test-kind")]
    assert built == [((16, np.float32, 3), first), ((0, np.float32, 3), factory(0, np.float32, 3))]
    assert als._cg_kernel.for_factors(12, np.float64) is als._cg_kernel(16, np.float64)


@pytest.mark.parametrize("key, error", [((12, np.float32), ValueError),
                                        ((264, np.float32), ValueError),
                                        ((-8, np.float32), ValueError),
                                        ((8, np.int32), TypeError),
                                        ((8, np.float32, 0.5), TypeError)])
def test_specialised_factories_refuse_keys_numba_cannot_cache_on(key, error):
    @specialise.specialised(f"test-refused-{key}")
    def factory(width, float_type, *options):
        raise AssertionError("never built")

    with pytest.raises(error):
        factory(*key)


def _dense_exact(problem):
    """Each row's dense normal equations solved by numpy."""
    return np.array([np.linalg.solve(A, b) for A, b in _dense_normal_equations(problem)])


def _exact_variant(problem, width, gather_limit, woodbury_limit, out):
    """Run the exact kernel of one width with the given gather and Woodbury limits."""
    values, basis, rotation = als.gramian_eigenbasis(problem.G, width)
    rotated = problem.other @ rotation.astype(problem.other.dtype)
    kernel = als._exact_kernel(width, problem.other.dtype.type)
    entries, weights = chunk_records(problem.rows, problem.w0, problem.q)
    chunks = len(problem.rows.chunk_bounds) - 1
    sums = np.zeros((chunks, 3))
    for c in range(chunks):
        kernel(c, entries, rotated, values, basis, weights,
               (gather_limit, woodbury_limit, True), sums, out)
    return sums.sum(axis=0)


#: Run time limits of the exact-solver tests (every choice shares one build per
#: width and dtype): the direct route only, streaming rows in blocks of 5, and
#: the Woodbury route for every row it is allowed on.
DIRECT_STREAMED = (5, 0)
WOODBURY_EVERYWHERE = (als.GATHER_ROWS, 10_000)


@pytest.mark.parametrize("w0", [0.7, 0.2])
@pytest.mark.parametrize("d", [5, 264])
def test_exact_kernel_variants_match_numpy(d, w0):
    # w0 = 0.7 gives some rows a negative weight c - w0 p q (those take the
    # direct route whatever their length); with w0 = 0.2 every weight is positive.
    # d = 5 builds the width-8 kernel, d = 264 the generic one (both sum the
    # direct route in Gram tiles).
    problem, _ = _row_problem(d, np.float64, seed=d)
    problem = problem._replace(w0=w0)
    expected = _dense_exact(problem)
    width = kernel_width(d)
    variants = {"public": None, "direct, streamed": DIRECT_STREAMED,
                "Woodbury where allowed": WOODBURY_EVERYWHERE}
    for name, key in variants.items():
        out = np.zeros_like(expected)
        if key is None:
            sums = als.half_step_cholesky(problem.rows, *problem.fixed(), out,
                                          track_observed=True)
        else:
            sums = _exact_variant(problem, width, *key, out)
        np.testing.assert_allclose(out, expected, rtol=1e-8, atol=1e-10, err_msg=name)
        np.testing.assert_allclose(sums, _reference_sums(problem, out), rtol=1e-8,
                                   err_msg=name)


def test_exact_generic_kernel_without_whole_gram_tiles_sums_with_blas():
    # d = 262 is not a whole number of float64 registers: the direct route's
    # rank-n update falls back to one BLAS product (the d = 264 build above)
    problem, _ = _row_problem(262, np.float64, seed=2)
    expected = _dense_exact(problem)
    out = np.zeros_like(expected)
    _exact_variant(problem, kernel_width(262), *DIRECT_STREAMED, out)
    np.testing.assert_allclose(out, expected, rtol=1e-8, atol=1e-10)


def test_exact_kernel_routes_agree_on_singular_gramians():
    # 6 columns and d = 8 make G singular; with lam = 0 the direct route's pivot
    # safeguard handles the null space, and Woodbury must stand aside (D has zeros)
    problem, _ = _row_problem(8, np.float64, seed=5, n=6)
    unregularised = problem._replace(
        rows=problem.rows._replace(row_reg=np.zeros(problem.n_rows)))
    for variant in (problem, unregularised):
        a = np.zeros((problem.n_rows, 8))
        b = np.zeros_like(a)
        _exact_variant(variant, 8, *DIRECT_STREAMED, a)
        _exact_variant(variant, 8, *WOODBURY_EVERYWHERE, b)
        assert np.isfinite(a).all()
        np.testing.assert_allclose(b, a, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("d", [7, 64])
def test_exact_kernel_float32_tracks_float64(d):
    problem64, _ = _row_problem(d, np.float64, seed=4)
    problem32, _ = _row_problem(d, np.float32, seed=4)
    a = np.zeros((problem64.n_rows, d))
    b = np.zeros((problem64.n_rows, d), np.float32)
    als.half_step_cholesky(problem64.rows, *problem64.fixed(), a)
    als.half_step_cholesky(problem32.rows, *problem32.fixed(), b)
    assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()


def test_exact_half_step_in_place_rotation_restores_other():
    problem, _ = _row_problem(13, np.float32, seed=6)
    other = problem.other.copy()
    a = np.zeros((problem.n_rows, 13), np.float32)
    b = np.zeros_like(a)
    als.half_step_cholesky(problem.rows, *problem.fixed(), a)
    als.half_step_cholesky(problem.rows, *problem.fixed(), b, overwrite_other=True)
    np.testing.assert_allclose(problem.other, other, rtol=0, atol=1e-6 * np.abs(other).max())
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * np.abs(a).max())


def test_woodbury_route_is_bounded_by_the_factor_count():
    assert als.woodbury_rows(64) == 40 and als.woodbury_rows(128) == 80
    assert all(als.woodbury_rows(d) < d for d in range(1, 300))


@pytest.mark.parametrize("d", [1, 3, 8, 9, 17, 40])
def test_blocked_cholesky_solves_and_zeroes_null_directions(d):
    from numba import njit

    from fastwmf.kernels.linalg import cholesky_solve_upper

    @njit
    def solve(A, b):
        cholesky_solve_upper(A, b, A.shape[0])

    rng = np.random.default_rng(d)
    B = rng.standard_normal((d, d))
    A = B @ B.T + 0.5 * np.eye(d)
    b = rng.standard_normal(d)
    x = b.copy()
    solve(np.triu(A), x)  # only the upper triangle is read
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-9, atol=1e-12)
    if d > 1:  # a singular system: the null direction gets a zero component
        C = B[:, : d - 1] @ B[:, : d - 1].T
        C[:, -1] = 0.0
        C[-1, :] = 0.0
        y = b.copy()
        solve(C.copy(), y)
        assert np.isfinite(y).all() and y[-1] == 0.0
        np.testing.assert_allclose(C[:-1, :-1] @ y[:-1], b[:-1], rtol=1e-6, atol=1e-6)
