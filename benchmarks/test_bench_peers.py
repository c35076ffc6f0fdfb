"""fastwmf against implicit (ALS) and LIBMF (SGD), side by side in one run.

Optional: install the peers extra (``pip install -e '.[peers]'``); each peer's
cases skip cleanly when its package is absent. Both sides get exactly the
same matrix, thread count (BLAS one thread), factors, regularization and
iterations. pytest-benchmark times fastwmf (so saved baselines and compares
work as in the core suite); the peer's call is timed right before each
fastwmf round, interleaved, so that both see the same load on a shared
machine. The summary at the end of the run prints both medians and the
ratios (fastwmf / peer; below 1 means fastwmf is faster).

The objective shared with implicit (>= 0.5): implicit reads the matrix
values as the confidences ``C`` of Hu, Koren and Volinsky (preference 1 on
each stored entry, weight 1 and preference 0 on every other entry, plain L2
``lam (|X|^2 + |Y|^2)``). fastwmf's WALS with ``w0 = 1``,
``confidence="linear"`` (``c = 1 + alpha r``), ``nu = 0`` fits the same
objective when implicit is given ``C = 1 + alpha r`` and ``alpha = 1``.
``test_same_loss_as_implicit`` checks the mapping (implicit's own
normalised loss times its normaliser equals :meth:`fastwmf.WALS.loss`) and
that both libraries reach the same loss after the same iterations from the
same starting factors.

LIBMF (the ``libmf`` PyPI binding, built from source by pip without
``-march=native``) fits ``sum (r - p.q)^2`` with per-entry L2 (``nu = 1``
here) by stratified parallel SGD with per-row AdaGrad; it has no per-epoch
entry point, so whole fits are timed (setup included) and held-out RMSE
(10% of the entries) is printed beside the times. LIBMF rescales the ratings
by their standard deviation internally, so equal parameters are not an
identical objective: compare the RMSE column, not the loss.
"""

import contextlib
import io
import os
import time

import numpy as np
import pytest
import scipy.sparse as sp

import fastwmf
import harness
from fastwmf._threading import thread_limits
from fastwmf.metrics import rmse
from fastwmf.model_selection import split_entries

#: Iterations of the same-loss check, from identical starting factors.
LOSS_ITERATIONS = 5
#: Epochs of the whole-fit SGD comparison (the issue's LIBMF anchor).
SGD_EPOCHS = 20


def _implicit():
    return pytest.importorskip("implicit",
                               reason="implicit is not installed (pip install 'fastwmf[peers]')")


def _implicit_als():
    _implicit()
    return pytest.importorskip("implicit.cpu.als")


#: How the table names LIBMF: the binding loads the library ``LIBMF_OBJ`` names, if set.
LIBMF_LABEL = ("libmf ({})".format(os.path.basename(os.environ["LIBMF_OBJ"]))
               if os.environ.get("LIBMF_OBJ") else "libmf (PyPI)")


def _libmf():
    pytest.importorskip("libmf", reason="libmf is not installed (pip install 'fastwmf[peers]')")
    with contextlib.redirect_stdout(io.StringIO()):  # the binding prints its .so path
        from libmf import mf
    return mf


def confidences(X, alpha=harness.ALS_PARAMS["alpha"]):
    """implicit's input: ``C = 1 + alpha r`` on the stored entries (CSR float32)."""
    C = sp.csr_matrix(X, dtype=np.float32, copy=True)
    C.data = (1.0 + alpha * C.data).astype(np.float32)
    return C


def implicit_model(factors, solver, threads, iterations=1):
    als = _implicit_als()
    with thread_limits(threads):  # implicit warns when BLAS may use several threads
        model = als.AlternatingLeastSquares(
            factors=factors, regularization=harness.ALS_PARAMS["regularization"], alpha=1.0,
            dtype=np.float32, use_cg=solver == "cg", iterations=iterations,
            num_threads=threads, random_state=0)
    model.cg_steps = harness.ALS_PARAMS["cg_steps"]
    return model


def implicit_epoch_case(X, factors, solver, threads):
    """One implicit ALS epoch, exactly the body of its ``fit`` loop."""
    model = implicit_model(factors, solver, threads)
    C = confidences(X)
    Ct = C.T.tocsr()
    U, V = harness.initial_factors(X.shape, factors)
    solve = model.solver
    lam = model.regularization

    def run():
        solve(C, U, V, lam, num_threads=threads)
        solve(Ct, V, U, lam, num_threads=threads)

    return harness.Case("als_epoch", solver, factors, run, X.shape, C.nnz, warm=run)


@pytest.mark.parametrize("factors", [64, 128])
@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_peer_als_epoch(measure, dataset, threads, solver, factors):
    """One ALS epoch of fastwmf (timed) with implicit's epoch interleaved round by round."""
    version = _implicit().__version__
    name, X = dataset
    peer = implicit_epoch_case(X, factors, solver, threads)
    measure(harness.als_epoch_case(X, factors, solver, threads), name,
            group=f"{name}: als_epoch vs implicit", peer=f"implicit {version}", beside=peer)


def implicit_recommend_case(model, X, threads, k=10):
    """implicit's batch ``recommend`` for every user on ``model``'s factors, liked items
    filtered (its default)."""
    peer = implicit_model(model.user_factors_.shape[1], "cg", threads)
    peer.user_factors = np.ascontiguousarray(model.user_factors_, dtype=np.float32)
    peer.item_factors = np.ascontiguousarray(model.item_factors_, dtype=np.float32)
    user_items = sp.csr_matrix(X, dtype=np.float32)
    users = np.arange(X.shape[0])

    def run():
        return peer.recommend(users, user_items, N=k)

    def warm():
        peer.recommend(users[:10], user_items[:10], N=k)

    return harness.Case("recommend_all", f"k={k}", model.user_factors_.shape[1], run, X.shape,
                        X.nnz, warm=warm)


def test_peer_recommend_all(measure, threads):
    """Top-10 of every user, seen items left out, on the same factors as implicit's
    ``recommend(userids, user_items, N=10)``; the answers must agree."""
    version = _implicit().__version__
    X = harness.serving_matrix()
    name = "serving" if harness.bench_size() != "smoke" else "smoke"
    model = fastwmf.WALS(factors=64, iterations=3, random_state=0, num_threads=threads,
                         calculate_loss=False).fit(X)
    case = harness.recommend_case(X, threads=threads, model=model)
    peer = implicit_recommend_case(model, X, threads)
    with thread_limits(threads):
        ours, _ = model.recommend(np.arange(X.shape[0]), k=10)
        theirs, _ = peer.run()
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ours.tolist(),
                                                                   theirs.tolist())])
    assert overlap >= 0.95, overlap
    info = measure(case, name, group=f"{name}: recommend_all vs implicit",
                   peer=f"implicit {version}", beside=peer)
    info["top10_overlap"] = round(float(overlap), 4)


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_same_loss_as_implicit(measure, synthetic, threads, solver):
    """Same objective, same start, same iterations: the same loss (timed: fastwmf's run)."""
    implicit = _implicit()
    from implicit.cpu import _als

    name, X = synthetic
    factors = 64
    case = harness.als_epoch_case(X, factors, solver, threads)
    model = case.state["model"]
    U0, V0 = harness.initial_factors(X.shape, factors, seed=1)
    U, V, basis = case.state["U"], case.state["V"], case.state["basis"]
    problem = case.state["problem"]
    start_U, start_V = U0.copy(), V0.copy()
    problem.to_layout(start_U, start_V)  # the problem's row order (by activity when renumbered)

    def iterations():
        U[:], V[:] = start_U, start_V
        basis.forget()
        for _ in range(LOSS_ITERATIONS):
            case.run()

    fit = harness.Case("als_fit", solver, factors, iterations, case.shape, case.nnz,
                     warm=iterations)
    info = measure(fit, name, rounds=1, iterations=LOSS_ITERATIONS)
    basis.restore(U, V)
    problem.to_original(U, V)
    model.user_factors_, model.item_factors_ = U, V  # this run's factors, for WALS.loss
    ours = model.loss(X)

    peer = implicit_model(factors, solver, threads, iterations=LOSS_ITERATIONS)
    peer.user_factors, peer.item_factors = U0.copy(), V0.copy()
    C = confidences(X)
    with thread_limits(threads):
        started = time.perf_counter()
        peer.fit(C, show_progress=False)
        peer_seconds = time.perf_counter() - started
        normalised = _als.calculate_loss(C, peer.user_factors, peer.item_factors,
                                         peer.regularization, num_threads=threads)
    model.user_factors_, model.item_factors_ = peer.user_factors, peer.item_factors
    theirs = model.loss(X)
    normaliser = float(C.data.sum(dtype=np.float64)) + X.shape[0] * X.shape[1] - C.nnz
    info.update(loss=ours, implicit_loss=theirs, implicit_version=implicit.__version__,
                implicit_fit_seconds=peer_seconds)
    print(f"\n{name} {solver} d={factors}, {LOSS_ITERATIONS} iterations from the same start: "
          f"fastwmf loss {ours:.6g}, implicit loss {theirs:.6g} (WALS.loss), implicit's own "
          f"{normalised * normaliser:.6g}; implicit fit {peer_seconds:.3f} s")
    # one objective: implicit's own loss is fastwmf's objective over its normaliser
    assert normalised * normaliser == pytest.approx(theirs, rel=2e-3)
    # the same iterations reach the same loss
    assert ours == pytest.approx(theirs, rel=2e-3)


def _holdout(X):
    train, test = split_entries(X, test_fraction=0.1, seed=0)
    return sp.csr_matrix(train), sp.csr_matrix(test)


def _triples(X):
    coo = sp.coo_matrix(X)
    return np.column_stack([coo.row, coo.col, coo.data]).astype(np.float32)


def libmf_model(mf, factors, threads, epochs):
    """A LIBMF model with :data:`harness.SGD_PARAMS`' rate and L2 terms (no L1:
    any L1 term turns LIBMF's warm-up off); ``mf`` is the binding's module."""
    p = harness.SGD_PARAMS
    return mf.MF(k=factors, nr_threads=threads, nr_iters=epochs, eta=p["learning_rate"],
                 lambda_p2=p["regularization"], lambda_q2=p["regularization"],
                 lambda_p1=0.0, lambda_q1=0.0, quiet=True)


@pytest.mark.parametrize("factors", [64])
def test_peer_sgd_fit(measure, synthetic, threads, factors):
    """Whole ``SGD_EPOCHS``-epoch fits, setup included, LIBMF interleaved; held-out RMSE."""
    mf = _libmf()
    name, X = synthetic
    train, test = _holdout(X)
    p = harness.SGD_PARAMS
    data, pairs = _triples(train), _triples(test)
    theirs = libmf_model(mf, factors, threads, SGD_EPOCHS)
    peer = harness.Case("sgd_fit", "explicit", factors, lambda: theirs.fit(data), X.shape,
                      train.nnz)
    ours = fastwmf.SGD(factors=factors, epochs=SGD_EPOCHS, num_threads=threads,
                       random_state=0, calculate_loss=False, **p)

    def warm():  # compile on a slice
        fastwmf.SGD(factors=factors, epochs=1, num_threads=threads, random_state=0,
                    calculate_loss=False, **p).fit(train[:1000])

    case = harness.Case("sgd_fit", "explicit", factors, lambda: ours.fit(train), X.shape,
                      train.nnz, warm=warm)
    info = measure(case, name, group=f"{name}: sgd_fit vs libmf", peer=LIBMF_LABEL,
                   beside=peer, epochs=SGD_EPOCHS)
    info["holdout_rmse"] = rmse(ours, test)
    if theirs.model is not None:
        info["peer_holdout_rmse"] = libmf_rmse(theirs, pairs)


def libmf_rmse(model, pairs):
    """Held-out RMSE of a LIBMF model from its factors.

    LIBMF leaves the factors of users and items without training entries NaN
    and predicts its global mean ``b`` for them; a diverged fit has NaN
    factors everywhere and so scores as the mean.
    """
    P, Q = model.p_factors(), model.q_factors()
    rows, cols = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    predicted = np.einsum("ij,ij->i", P[rows], Q[cols])
    predicted[~np.isfinite(predicted)] = model.model.b
    return float(np.sqrt(np.mean((predicted - pairs[:, 2]) ** 2)))
