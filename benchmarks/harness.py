"""Benchmark data, settings and timed cases.

One definition of each timed case serves the pytest-benchmark suite of this
folder (saved baselines, regression compare), the scripts beside it and the
report of ``report.py``. The cases time single epochs, so they reach into the
estimators' private state (the kernel-ready problem, the SGD state); that is
why this harness lives here and not in the package.

Measuring rules (see the design notes): the JIT is warmed before timing; the
Numba thread count is fixed (``FASTWMF_BENCH_THREADS``, default all) and
printed; BLAS runs one thread beside the Numba kernels and ``threads``
threads in the SVD baselines; quote medians, and compare runs made side by
side on one machine, never lone absolute times.
"""

import contextlib
import math
import os
import statistics
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from fastwmf import SGD, WALS, DenseSVD, TruncatedSVD
from fastwmf._threading import thread_limits
from fastwmf._validation import check_int, check_interactions, check_num_threads
from fastwmf.datasets import load_movielens, make_implicit_interactions
from fastwmf.models._basis import SharedBasis
from fastwmf.models._wmf import targets_and_confidence, unobserved_weights
from fastwmf.models.sgd import _State

try:  # optional, as in fastwmf._threading
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - exercised only without threadpoolctl
    threadpool_limits = None

#: Synthetic power-law data (:func:`fastwmf.datasets.make_implicit_interactions`):
#: users, items and the target number of stored entries. ``smoke`` is for CI
#: (every case once), ``mini`` for a quick scaling estimate, ``small``,
#: ``medium`` and ``large`` are the sizes of the regression suite.
SIZES = {
    "smoke": dict(n_users=2_000, n_items=500, nnz=20_000),
    "mini": dict(n_users=10_000, n_items=2_500, nnz=250_000),
    "small": dict(n_users=40_000, n_items=10_000, nnz=1_000_000),
    "medium": dict(n_users=100_000, n_items=25_000, nnz=5_000_000),
    "large": dict(n_users=200_000, n_items=50_000, nnz=10_000_000),
}

#: The serving benchmark's catalogue: top-10 for every user of a 50k x 10k matrix.
SERVING = dict(n_users=50_000, n_items=10_000, nnz=1_000_000)

#: Dense SVD runs on the block of most active users x most popular items
#: (its cost grows with ``m n min(m, n)`` of the block, not with nnz).
DENSE_BLOCKS = {
    "smoke": (1_000, 250),
    "mini": (1_000, 500),
    "small": (2_000, 1_000),
    "medium": (2_500, 1_250),
    "large": (3_000, 1_500),
}

#: The implicit-feedback objective of Hu, Koren and Volinsky (w0 = 1,
#: c = 1 + alpha r, plain L2): the one the peers benchmark shares with implicit.
ALS_PARAMS = dict(w0=1.0, regularization=0.1, nu=0.0, confidence="linear", alpha=1.0,
                  cg_steps=3)

#: Explicit, unbiased SGD with LIBMF's per-entry L2 (nu = 1) and per-row AdaGrad
#: (a learning rate at which LIBMF does not diverge on the count matrices), from
#: factors of LIBMF's initial size: U[0, 1) sqrt(1/d) on targets divided by their
#: standard deviation s has rms sqrt(s / 3d) on the targets' scale, and s = 1.57
#: on the benchmark counts, i.e. init_scale = sqrt(s / 3) = 0.72.
SGD_PARAMS = dict(w0=0.0, biased=False, learning_rate=0.05, regularization=0.05, nu=1.0,
                  schedule="adagrad", init_scale=0.7)

#: Models of the quality-against-time table (settings near the best that the
#: ml-100k quality study found on validation data, binarised ml-100k).
QUALITY_WALS = dict(w0=0.3, regularization=0.015, nu=1.0, iterations=15)
QUALITY_SGD = dict(w0=0.3, learning_rate=0.02, regularization=0.015, nu=1.0, epochs=30)
QUALITY_SVD_FACTORS = (8, 16, 32, 64)

#: Rounds per timed case unless ``FASTWMF_BENCH_ROUNDS`` says otherwise.
DEFAULT_ROUNDS = 3

#: Generator seed of the synthetic matrices unless ``FASTWMF_BENCH_SEED`` says otherwise.
DEFAULT_SEED = 0

_HERE = os.path.dirname(os.path.abspath(__file__))


# ------------------------------------------------------------------ settings

def bench_size(size=None):
    """The size name: ``size``, else ``$FASTWMF_BENCH_SIZE``, else ``"small"``."""
    if size is None:
        size = os.environ.get("FASTWMF_BENCH_SIZE", "small")
    if size not in SIZES:
        raise ValueError(f"size (FASTWMF_BENCH_SIZE, --sizes) must be one of {list(SIZES)}, "
                         f"got {size!r}")
    return size


def bench_threads(threads=None):
    """Numba threads for timing: ``threads``, else ``$FASTWMF_BENCH_THREADS``, else all."""
    if threads is None:
        threads = os.environ.get("FASTWMF_BENCH_THREADS", "0")
    try:
        threads = int(threads)
    except (TypeError, ValueError):
        raise ValueError(f"threads (FASTWMF_BENCH_THREADS, --threads) must be an integer, "
                         f"got {threads!r}") from None
    return check_num_threads(threads, "threads")


def bench_rounds(rounds=None):
    """Timed rounds per case: ``rounds``, else ``$FASTWMF_BENCH_ROUNDS``, else 3."""
    if rounds is None:
        rounds = os.environ.get("FASTWMF_BENCH_ROUNDS", str(DEFAULT_ROUNDS))
    try:
        rounds = int(rounds)
    except (TypeError, ValueError):
        raise ValueError(f"rounds (FASTWMF_BENCH_ROUNDS, --rounds) must be an integer, "
                         f"got {rounds!r}") from None
    return check_int(rounds, "rounds", low=1)


def bench_seed(seed=None):
    """Generator seed of the synthetic matrices: ``seed``, else ``$FASTWMF_BENCH_SEED``, else 0.

    Raises
    ------
    ValueError
        When the seed is not a non-negative integer; the message names
        ``FASTWMF_BENCH_SEED`` and ``--seed``.
    """
    if seed is None:
        seed = os.environ.get("FASTWMF_BENCH_SEED", str(DEFAULT_SEED))
    try:
        value = int(seed)
    except (TypeError, ValueError):
        value = None
    if value is None or value < 0 or (isinstance(seed, float) and seed != value):
        raise ValueError(f"seed (FASTWMF_BENCH_SEED, --seed) must be a non-negative integer, "
                         f"got {seed!r}")
    return value


def ml100k_path():
    """The MovieLens 100K archive: ``$FASTWMF_ML100K``, else ``../shared/datasets``.

    The shared folder is looked up beside the source checkout and beside the
    working directory. Returns None when no archive is found.
    """
    env = os.environ.get("FASTWMF_ML100K")
    if env:
        return env if os.path.isfile(env) else None
    for root in (os.path.join(_HERE, "..", ".."), os.path.join(os.getcwd(), "..")):
        path = os.path.normpath(os.path.join(root, "shared", "datasets", "ml-100k.zip"))
        if os.path.isfile(path):
            return path
    return None


# ---------------------------------------------------------------------- data

def power_law_matrix(n_users, n_items, nnz, seed=0, tolerance=0.01, max_draws=5):
    """Power-law interaction counts with about ``nnz`` stored entries.

    :func:`fastwmf.datasets.make_implicit_interactions` merges repeated
    (user, item) draws, so it stores fewer entries than it draws (about 80%
    at these densities). This draws again with a corrected event count until
    the stored entries are within ``tolerance`` of ``nnz`` (one or two
    draws in practice; deterministic for a fixed seed).
    """
    draws = int(math.ceil(nnz * 1.25))
    X = None
    for _ in range(max_draws):
        X = make_implicit_interactions(n_users=n_users, n_items=n_items, nnz=draws, seed=seed)
        if abs(X.nnz - nnz) <= tolerance * nnz:
            break
        draws = max(1, int(round(draws * nnz / max(X.nnz, 1))))
    return X


def bench_matrix(size, seed=None):
    """The synthetic matrix of a named size (CSR, float64 counts).

    ``seed`` is the generator seed (default :func:`bench_seed`: 0 unless
    ``$FASTWMF_BENCH_SEED`` is set); every seed gives a matrix of the same
    shape and distribution, with stored entries within 1% of the nominal nnz.
    """
    return power_law_matrix(**SIZES[bench_size(size)], seed=bench_seed(seed))


def dense_block(X, shape):
    """The ``shape`` block of ``X``'s most active rows and most popular columns."""
    X = sp.csr_matrix(X)
    m, n = min(shape[0], X.shape[0]), min(shape[1], X.shape[1])
    rows = np.sort(np.argsort(-np.diff(X.indptr), kind="stable")[:m])
    cols = np.sort(np.argsort(-np.bincount(X.indices, minlength=X.shape[1]),
                              kind="stable")[:n])
    return X[rows][:, cols].tocsr()


def load_ml100k(path=None, binarize=False):
    """MovieLens 100K ratings (943 x 1682) from ``path`` or :func:`ml100k_path`."""
    path = path or ml100k_path()
    if path is None:
        raise FileNotFoundError("no ml-100k.zip found: set FASTWMF_ML100K or place it in "
                                "../shared/datasets")
    X = load_movielens("ml-100k", path=path, download=False).matrix.copy()
    if binarize:
        X.data[:] = 1.0
    return X


# --------------------------------------------------------------------- cases

@dataclass
class Case:
    """One prepared benchmark: ``run()`` is the timed region.

    ``warm()`` runs before timing (JIT compile, caches); None for cases
    without compiled code. ``blas_threads`` is the BLAS pool size while
    timing (1 beside Numba kernels, the thread count for the SVD baselines).
    ``state`` holds what the case works on (factors, problem), for checks.
    """

    name: str
    variant: str
    factors: int
    run: object
    shape: tuple
    nnz: int
    blas_threads: int = 1
    warm: object = None
    state: dict = field(default_factory=dict)

    def info(self, data, threads):
        """The description saved as pytest-benchmark ``extra_info``."""
        return {"case": self.name, "variant": self.variant, "factors": self.factors,
                "data": data, "n_users": int(self.shape[0]), "n_items": int(self.shape[1]),
                "nnz": int(self.nnz), "threads": int(threads),
                "blas_threads": int(self.blas_threads)}


def blas_limits(threads):
    """A context limiting BLAS pools to ``threads`` (a no-op without threadpoolctl)."""
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


@contextlib.contextmanager
def case_limits(case, threads):
    """Numba threads fixed to ``threads``; BLAS to ``case.blas_threads``."""
    with thread_limits(threads), blas_limits(case.blas_threads):
        yield


def initial_factors(shape, factors, dtype=np.float32, seed=0):
    """Random factors of the scale WALS starts from."""
    rng = np.random.default_rng(seed)
    scale = 0.1 / np.sqrt(factors)
    U = (rng.standard_normal((shape[0], factors)) * scale).astype(dtype)
    V = (rng.standard_normal((shape[1], factors)) * scale).astype(dtype)
    return U, V


def als_problem(X, factors, solver, threads, **params):
    """``(model, problem)``: a WALS estimator and its kernel-ready problem."""
    settings = dict(ALS_PARAMS, **params)
    model = WALS(factors=factors, solver=solver, random_state=0, num_threads=threads,
                 **settings)
    _, problem = model._prepare(X)
    return model, problem


def als_epoch_case(X, factors=64, solver="cg", threads=None, **params):
    """One WALS epoch (user half-step, then item half-step); setup untimed.

    ``solver`` is ``"cg"``, ``"cholesky"`` or ``"block"`` (with ``params``'
    ``block_size``, WALS's default otherwise). As in a fit, CG and the block
    solver leave ``state["U"]`` and ``state["V"]`` in the basis that
    ``state["basis"]`` records: call its ``restore`` before reading them as
    factors, and its ``forget`` after overwriting them with factors in the
    original basis. As in a fit, their rows are in ``state["problem"]``'s
    order (by activity from 10^6 entries on): its ``to_layout`` and
    ``to_original`` move factors in and out of that order.
    """
    threads = bench_threads(threads)
    model, problem = als_problem(X, factors, solver, threads, **params)
    U, V = initial_factors(problem.shape, factors)
    cg_steps = model.cg_steps
    basis = SharedBasis()  # as in a fit: the factors stay in the solver's basis

    def run():
        problem.solve(problem.users, problem.items, V, U, solver, cg_steps, basis,
                      block_size=model.block_size)
        problem.solve(problem.items, problem.users, U, V, solver, cg_steps, basis,
                      block_size=model.block_size)

    return Case("als_epoch", solver, factors, run, problem.shape, problem.users.indices.size,
                warm=run, state={"problem": problem, "U": U, "V": V, "model": model,
                                 "basis": basis})


def wals_fit_case(X, factors=64, threads=None, name="wals_fit", **params):
    """A whole :meth:`fastwmf.WALS.fit` of a new estimator per run, setup included.

    The estimator gets ``factors``, ``random_state=0``, ``num_threads`` and
    ``params``; every other parameter is WALS's default at run time. Warmed
    by a one-iteration fit of the same estimator on the same ``X``. The
    variant is the estimator's solver; ``state["params"]`` holds its
    parameters (bar the factors, threads and seed), ``state["n_iter"]()`` the
    iterations of the last run and ``state["model"]`` its fitted estimator.
    """
    threads = bench_threads(threads)
    settings = dict(params, factors=factors, random_state=0, num_threads=threads)
    skip = ("factors", "random_state", "num_threads", "show_progress", "callback", "warm_start")
    described = {key: value for key, value in WALS(**settings).get_params().items()
                 if key not in skip}
    state = {"params": described, "n_iter": lambda: state["model"].n_iter_}

    def run():
        state["model"] = WALS(**settings).fit(X)

    def warm():
        WALS(**dict(settings, iterations=1)).fit(X)

    return Case(name, str(described["solver"]), factors, run, X.shape, X.nnz, warm=warm,
                state=state)


def sgd_state(X, factors, threads, **params):
    """``(params, state)`` of an SGD fit, built as :meth:`fastwmf.SGD.fit` does."""
    settings = dict(SGD_PARAMS, **params)
    model = SGD(factors=factors, random_state=0, num_threads=threads, **settings)
    checked = model._checked_params()
    data = check_interactions(X, "X")
    targets, confidence = targets_and_confidence(data, checked, checked["dtype"])
    p, q = unobserved_weights(None, None, data.shape)
    return checked, _State.build(data, [targets, confidence], p, q, checked)


def sgd_epoch_case(X, factors=64, threads=None, **params):
    """One Hogwild SGD epoch over the stored entries (per-epoch shuffles included); setup untimed."""
    threads = bench_threads(threads)
    checked, state = sgd_state(X, factors, threads, **params)
    epoch = [0]

    def run():
        epoch[0] += 1
        state.epoch(epoch[0], checked)

    variant = "explicit" if checked["w0"] == 0.0 else "wmf"
    return Case("sgd_epoch", variant, factors, run, state.shape, len(state.rows), warm=run,
                state={"state": state, "params": checked})


def loss_case(X, factors=64, threads=None):
    """The full WALS objective, ``O(nnz d + (m + n) d^2)``."""
    threads = bench_threads(threads)
    _, problem = als_problem(X, factors, "cg", threads)
    U, V = initial_factors(problem.shape, factors)

    def run():
        problem.loss(U, V)

    return Case("loss", "wals", factors, run, problem.shape, problem.users.indices.size,
                warm=run)


def recommend_case(X, factors=64, threads=None, k=10, model=None):
    """Top-``k`` for every user, training items left out (as the model remembers them).

    ``model`` is a fitted model of ``X``; default a one-iteration WALS fit.
    """
    threads = bench_threads(threads)
    X = sp.csr_matrix(X)
    if model is None:
        model = WALS(factors=factors, iterations=1, solver="cg", calculate_loss=False,
                     random_state=0, num_threads=threads, **ALS_PARAMS).fit(X)
    users = np.arange(X.shape[0])

    def run():
        model.recommend(users, k=k)

    def warm():
        model.recommend(users[:10], k=k)

    return Case("recommend_all", f"k={k}", model.user_factors_.shape[1], run, X.shape, X.nnz,
                warm=warm, state={"model": model})


def serving_matrix(size=None, seed=None):
    """The matrix of the serving benchmark: :data:`SERVING` (the smoke matrix at
    the ``smoke`` size, so that CI stays quick)."""
    if bench_size(size) == "smoke":
        return bench_matrix("smoke", seed)
    return power_law_matrix(**SERVING, seed=bench_seed(seed))


def truncated_svd_case(X, factors=64, threads=None):
    """A whole sparse truncated SVD fit (ARPACK); BLAS gets ``threads``."""
    threads = bench_threads(threads)
    model = TruncatedSVD(factors=factors, random_state=0, num_threads=threads)

    def run():
        model.fit(X)

    return Case("truncated_svd", "svds", factors, run, X.shape, X.nnz, blas_threads=threads)


def dense_svd_case(X, factors=64, threads=None):
    """A whole dense SVD fit; ``nnz`` is ``m n``: the densified matrix stores every entry."""
    threads = bench_threads(threads)
    model = DenseSVD(factors=factors, num_threads=threads)

    def run():
        model.fit(X)

    return Case("dense_svd", "lapack", factors, run, X.shape, X.shape[0] * X.shape[1],
                blas_threads=threads)


# ------------------------------------------------------------------- timing

def time_case(case, threads, rounds=DEFAULT_ROUNDS):
    """Warm, then time ``rounds`` calls of ``case.run``; seconds as a stats dict."""
    times = []
    with case_limits(case, threads):
        if case.warm is not None:
            case.warm()
        for _ in range(rounds):
            started = time.perf_counter()
            case.run()
            times.append(time.perf_counter() - started)
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "mean": statistics.fmean(times), "rounds": rounds}


def run_timings(sizes=("mini", "small"), factors=64, threads=None, rounds=DEFAULT_ROUNDS,
                log=None, seed=None):
    """Time the report's cases at each size; a list of record dicts.

    ``seed`` is the generator seed of the matrices (default :func:`bench_seed`).
    """
    threads = bench_threads(threads)
    seed = bench_seed(seed)
    records = []
    for size in sizes:
        X = bench_matrix(size, seed)
        block = dense_block(X, DENSE_BLOCKS[size])
        builders = [
            lambda: als_epoch_case(X, factors, "cholesky", threads),
            lambda: als_epoch_case(X, factors, "cg", threads),
            lambda: sgd_epoch_case(X, factors, threads),
            lambda: loss_case(X, factors, threads),
            lambda: truncated_svd_case(X, factors, threads),
            lambda: dense_svd_case(block, min(factors, min(block.shape)), threads),
        ]
        for build in builders:
            case = build()
            stats = time_case(case, threads, rounds)
            record = dict(case.info(size, threads), seed=seed, **stats)
            records.append(record)
            if log is not None:
                log(f"  {size:>6} {case.name:<14} {case.variant:<9} d={case.factors:<4} "
                    f"median {stats['median']:.4f} s")
    return records
