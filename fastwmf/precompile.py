"""Compile the kernels ahead of time, for CI images, containers and notebooks.

``python -m fastwmf compile`` (or :func:`compile_kernels`) runs every code path
of a fit and of serving once on tiny generated data, so that Numba compiles
the kernels those paths use for the given factor counts and dtypes and writes
them to the package's disk cache (see :mod:`fastwmf._cache`). A later process
of the same user on the same machine, in any environment with the same
fastwmf sources, then loads them instead of compiling.

Kernels are specialised per factor count rounded up to a multiple of 8 (up
to 256; larger counts share one generic build), so compile the counts you
will fit.
"""

from __future__ import annotations

import time

import numpy as np

from ._validation import check_choice, check_int
from .datasets import make_implicit_interactions
from .metrics import evaluate
from .model_selection import split_per_user
from .kernels.als import half_step_cg_eigenbasis
from .kernels.halfstep import row_spans
from .kernels.layout import gather_rows_in_place
from .kernels.longrows import plan_long_rows
from .models import SGD, BayesianMF, WALS

#: What ``python -m fastwmf compile`` builds without options.
DEFAULT_FACTORS = (32, 64, 128)
DEFAULT_DTYPES = ("float32",)

#: Paths :func:`compile_kernels` can run.
PARTS = ("wals", "sgd", "bayes", "serving")


def _sample(factors, seed=0):
    """Binary interactions with enough users and items for ``factors``."""
    users, items = max(300, 3 * factors), max(120, 2 * factors)
    X = make_implicit_interactions(users, items, 20 * users, seed=seed)
    X.data[:] = 1.0
    return X


def _wals_paths(X, factors, dtype, threads):
    # Numba builds a kernel per kind of input array: all-ones targets or
    # confidences are shared stride-0 views, other values arrays
    counts = X.copy()
    counts.data[:] = 1.0 + np.arange(counts.nnz) % 3
    weights = 0.5 + np.arange(X.nnz) % 2
    for solver in ("cg", "cholesky"):
        for data, extra in ((counts, {}), (counts, {"weights": weights})):
            fitted = WALS(factors=factors, iterations=2, solver=solver, dtype=dtype,
                          random_state=0, num_threads=threads).fit(data, **extra)
            fitted.loss(data, **extra)
        model = WALS(factors=factors, iterations=2, solver=solver, dtype=dtype,
                     random_state=0, num_threads=threads).fit(X)
    for data, extra in ((counts, {}), (counts, {"weights": weights}), (X, {})):
        _lockstep_path(data, extra, factors, dtype, threads)
    model.loss(X)
    model.fold_in(X[:5])
    WALS(factors=factors, iterations=1, confidence="linear", dtype=dtype, random_state=0,
         num_threads=threads).fit(X, user_weights=np.ones(X.shape[0]))
    # the reordering of factor rows that fits of 10^6 entries or more use
    gather_rows_in_place(np.zeros((2, factors), dtype=dtype), np.arange(2)[::-1].copy())
    return model


def _lockstep_path(data, extra, factors, dtype, threads):
    # the CG half-step that solves long item rows in lockstep runs only where
    # the user factors outgrow the caches: run it on a plan forced on the
    # sample, laid out as fits of 10^6 entries or more are (rows by activity)
    model = WALS(factors=factors, dtype=dtype, num_threads=threads)
    problem = model._problem(data, extra.get("weights"), None, None, model._checked_params(),
                             renumber=True)
    rows = problem.items.half_step_rows()
    starts, ends = row_spans(rows.indptr)
    n_users, n_items = data.shape
    plan = plan_long_rows(starts, ends, rows.indices, rows.chunk_bounds, n_users, factors,
                          np.dtype(dtype).itemsize, tile_rows=64, min_entries=1,
                          min_other_bytes=0)
    if plan is not None:
        half_step_cg_eigenbasis(rows, np.zeros((n_users, factors), dtype), np.ones(factors),
                                problem.w0, problem.users.row_weights, 1,
                                np.zeros((n_items, factors), dtype), long_rows=plan,
                                track_observed=True)


def _sgd_paths(X, factors, dtype, threads):
    SGD(factors=factors, epochs=2, dtype=dtype, random_state=0, num_threads=threads).fit(X)
    SGD(factors=factors, epochs=2, w0=0.1, dtype=dtype, random_state=0,
        num_threads=threads).fit(X)


def _bayes_paths(X, factors, dtype, threads):
    train, val = split_per_user(X, test_fraction=0.2, seed=0)
    model = BayesianMF(factors=factors, samples=2, burn_in=1, dtype=dtype, random_state=0,
                       num_threads=threads).fit(train, validation=val)
    model.fold_in(X[:5])


def _serving_paths(model, X):
    model.recommend(np.arange(5), k=10, exclude=X[:5])
    model.similar_items(np.arange(3), k=5)
    train, test = split_per_user(X, test_fraction=0.2, seed=0)
    evaluate(model, train, test, k=10)


def compile_kernels(factors=DEFAULT_FACTORS, dtypes=DEFAULT_DTYPES, parts=PARTS, threads=0,
                    report=None):
    """Compile (or load from the disk cache) every kernel the given settings use.

    Parameters
    ----------
    factors : sequence of int
        Factor counts to build for.
    dtypes : sequence of {"float32", "float64"}
    parts : sequence of {"wals", "sgd", "bayes", "serving"}
        ``"wals"``: both solvers, the loss, fold-in, weighted problems;
        ``"sgd"``: explicit and ``w0 > 0`` epochs; ``"bayes"``: BayesianMF's
        sweeps, validation and fold-in (one build for every factor count);
        ``"serving"``: top-k,
        similar items and the evaluation metrics (needs ``"wals"``).
    threads : int
        Numba threads (0: all).
    report : callable, optional
        Called as ``report(factors, dtype, part, seconds)`` after each step.

    Returns
    -------
    list of tuple
        ``(factors, dtype, part, seconds)`` per step.
    """
    factors = [check_int(f, "factors", low=1) for f in factors]
    dtypes = [check_choice(str(np.dtype(d)), "dtypes", ("float32", "float64")) for d in dtypes]
    chosen = {check_choice(p, "parts", PARTS) for p in parts}
    parts = [p for p in PARTS if p in chosen]
    if "serving" in parts and "wals" not in parts:
        raise ValueError("parts: 'serving' needs 'wals' (it serves a fitted WALS model)")
    steps = []
    for f in factors:
        X = _sample(f)
        for dtype in dtypes:
            model = None
            for part in parts:
                started = time.perf_counter()
                if part == "wals":
                    model = _wals_paths(X, f, dtype, threads)
                elif part == "sgd":
                    _sgd_paths(X, f, dtype, threads)
                elif part == "bayes":
                    _bayes_paths(X, f, dtype, threads)
                else:
                    _serving_paths(model, X)
                seconds = time.perf_counter() - started
                steps.append((f, dtype, part, seconds))
                if report is not None:
                    report(f, dtype, part, seconds)
    return steps
