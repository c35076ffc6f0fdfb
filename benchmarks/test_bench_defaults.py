"""Whole fits of fastwmf and implicit: each at its own defaults, and like for like on small data.

Optional: implicit (``pip install -e '.[peers]'``); the cases skip cleanly
when it is absent, and the ml-100k ones when the archive is. Both libraries
get the matrix a new user would pass: user x item CSR float32 (the power-law
counts, or ml-100k with every rating set to 1), the same thread count (BLAS
one thread) and ``random_state=0``; each round fits a new estimator, setup
included. pytest-benchmark times fastwmf; implicit's fit is timed right
before each fastwmf round (see ``measure`` in ``conftest.py``). The summary
prints the medians of whole fits and their ratio, and the seconds per
iteration of each (fit seconds over the library's own iteration count:
fastwmf's ``n_iter_``, implicit's ``iterations``) with their ratio, the
per-epoch figure to compare across libraries whose defaults run different
iteration counts.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import harness

#: implicit's settings for the small-data fit (its CG solver takes 3 steps).
SMALL_IMPLICIT = dict(iterations=15, use_cg=True, calculate_training_loss=False,
                      regularization=harness.ALS_PARAMS["regularization"], alpha=1.0)

#: fastwmf's settings for the same objective: ``w0 = 1``, confidence 1 and
#: target 1 on each stored entry of the binarised matrix, plain L2.
SMALL_WALS = dict(iterations=15, solver="cg", cg_steps=harness.ALS_PARAMS["cg_steps"],
                  calculate_loss=False, w0=1.0, confidence=None, nu=0.0,
                  regularization=harness.ALS_PARAMS["regularization"])

#: implicit's attributes that describe a fit (its estimators have no ``get_params``).
IMPLICIT_SETTINGS = ("regularization", "alpha", "dtype", "use_native", "use_cg", "cg_steps",
                     "iterations", "calculate_training_loss")


def _implicit_als():
    pytest.importorskip("implicit",
                        reason="implicit is not installed (pip install 'fastwmf[peers]')")
    return pytest.importorskip("implicit.als")


def user_input(X):
    """``X`` as a new user passes it to either library: user x item CSR float32."""
    return sp.csr_matrix(X, dtype=np.float32)


def implicit_fit_case(X, factors, threads, name, **params):
    """A whole implicit ALS fit of a new CPU estimator per run, setup included.

    The estimator gets ``factors``, ``num_threads``, ``random_state=0``,
    ``use_gpu=False`` (a CPU comparison; implicit's default picks its GPU model
    when built with CUDA) and ``params``; every other setting is implicit's
    default. Warmed by a one-iteration fit.
    """
    als = _implicit_als()
    settings = dict(params, factors=factors, num_threads=threads, random_state=0,
                    use_gpu=False)
    with harness.blas_limits(1):  # implicit warns when BLAS may use several threads
        model = als.AlternatingLeastSquares(**settings)
    described = {key: getattr(model, key) for key in IMPLICIT_SETTINGS}
    described["dtype"] = np.dtype(described["dtype"]).name
    state = {"params": described, "n_iter": lambda: state["model"].iterations}

    def run():
        state["model"] = als.AlternatingLeastSquares(**settings)
        state["model"].fit(X, show_progress=False)

    def warm():
        als.AlternatingLeastSquares(**dict(settings, iterations=1)).fit(X, show_progress=False)

    return harness.Case(name, "cg" if model.use_cg else "cholesky", factors, run, X.shape, X.nnz,
                      warm=warm, state=state)


def _version():
    return pytest.importorskip("implicit").__version__


@pytest.mark.parametrize("factors", [64, 128])
def test_defaults_fit(measure, feedback, threads, factors):
    """``fastwmf.WALS(factors=d).fit(X)`` against ``AlternatingLeastSquares(factors=d).fit(X)``.

    Everything but ``factors``, the threads and the seed is each library's
    default at run time (implicit 0.7: CG with 3 steps, 15 iterations,
    ``regularization=0.01``, ``alpha=1``, no training loss); the settings
    used are saved as ``params``/``peer_params`` and printed under the
    summary. The objectives differ, so only the times compare.
    """
    _implicit_als()
    name, X = feedback
    X = user_input(X)
    peer = implicit_fit_case(X, factors, threads, "defaults_fit")
    measure(harness.wals_fit_case(X, factors, threads, name="defaults_fit"), name,
            group=f"{name}: defaults_fit vs implicit", peer=f"implicit {_version()}",
            beside=peer)


@pytest.mark.parametrize("factors", [64, 128])
def test_small_data_fit(measure, ml100k_binary, threads, factors):
    """15 CG iterations on ml-100k binarised, both libraries, one objective.

    The mapping of ``test_bench_peers.py`` (implicit's values are the
    confidences ``C``; fastwmf's ``w0 = 1``, ``nu = 0``) on the binarised
    matrix: implicit gets ``C = 1`` on each stored entry (``alpha=1``),
    fastwmf ``confidence=None`` (target 1, confidence 1), and both get
    ``regularization`` and ``cg_steps`` of :data:`harness.ALS_PARAMS`,
    15 iterations, 3 CG steps and no training loss (see :data:`SMALL_WALS`
    and :data:`SMALL_IMPLICIT`). The objective of each library's factors
    (:meth:`fastwmf.WALS.loss`) is saved beside the times as ``loss`` and
    ``peer_loss``; the starts differ, so the losses are close, not equal.
    """
    _implicit_als()
    name, X = ml100k_binary
    X = user_input(X)
    peer = implicit_fit_case(X, factors, threads, "small_data_fit", **SMALL_IMPLICIT)
    case = harness.wals_fit_case(X, factors, threads, name="small_data_fit", **SMALL_WALS)
    info = measure(case, name, group=f"{name}: small_data_fit vs implicit",
                   peer=f"implicit {_version()}", beside=peer)
    model, theirs = case.state["model"], peer.state["model"]
    info["loss"] = model.loss(X)
    model.user_factors_, model.item_factors_ = theirs.user_factors, theirs.item_factors
    info["peer_loss"] = model.loss(X)
    assert np.isfinite(info["loss"]) and np.isfinite(info["peer_loss"])
