"""Benchmark data, timed cases and the timing report.

One definition of each timed case serves both the pytest-benchmark suite in
``benchmarks/`` (saved baselines, regression compare) and the report::

    python -m fastwmf.bench --report [--out DIR] [--sizes mini,small] [--seed N] [--json FILE ...]

which prints a markdown table of seconds per epoch (or per call) with the
fitted scaling exponent ``p`` in ``seconds ~ nnz**p``, a quality-against-time
table (held-out NDCG@10 against fit seconds), and with ``--report`` writes
``report.md``, ``scaling.png`` and ``quality.png`` (the PNGs need the
``plot`` extra: ``pip install 'fastwmf[plot]'``).

Measuring rules (see the design notes): the JIT is warmed before timing; the
Numba thread count is fixed (``--threads`` or ``FASTWMF_BENCH_THREADS``,
default all) and printed; BLAS runs one thread beside the Numba kernels and
``threads`` threads in the SVD baselines; quote medians, and compare runs
made side by side on one machine, never lone absolute times.
"""

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

from ._threading import thread_limits
from ._validation import check_int, check_interactions, check_num_threads
from .datasets import load_movielens, make_implicit_interactions
from .models import SGD, DenseSVD, TruncatedSVD, WALS
from .models._basis import SharedBasis
from .models._wmf import targets_and_confidence, unobserved_weights
from .models.sgd import _State

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

    As in a fit, CG leaves ``state["U"]`` and ``state["V"]`` in the basis that
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
        problem.solve(problem.users, problem.items, V, U, solver, cg_steps, basis)
        problem.solve(problem.items, problem.users, U, V, solver, cg_steps, basis)

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


def recommend_case(X, factors=64, threads=None, k=10):
    """Top-``k`` for every user, training items excluded."""
    threads = bench_threads(threads)
    X = sp.csr_matrix(X)
    model = WALS(factors=factors, iterations=1, solver="cg", calculate_loss=False,
                 random_state=0, num_threads=threads, **ALS_PARAMS).fit(X)
    users = np.arange(X.shape[0])

    def run():
        model.recommend(users, k=k, exclude=X)

    def warm():
        model.recommend(users[:10], k=k, exclude=X[:10])

    return Case("recommend_all", f"k={k}", factors, run, X.shape, X.nnz, warm=warm)


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


def read_benchmark_json(paths):
    """Records from pytest-benchmark JSON files (``--benchmark-save``/``--benchmark-json``).

    Only benchmarks of this suite (with ``extra_info["case"]``) are kept.
    """
    records = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            try:
                document = json.load(handle)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: not a pytest-benchmark JSON file ({exc})") from None
        if not isinstance(document, dict) or not isinstance(document.get("benchmarks"), list):
            raise ValueError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
        for bench in document["benchmarks"]:
            info = bench.get("extra_info") or {}
            stats = bench.get("stats") or {}
            if "case" not in info or "median" not in stats:
                continue
            ours = {key: value for key, value in info.items() if key != "peer"}
            records.append(dict(ours, median=stats["median"], min=stats["min"],
                                max=stats["max"], mean=stats["mean"], rounds=stats["rounds"]))
            if "peer_median" in info:  # a peer library timed round by round beside it
                records.append(dict(info, median=info["peer_median"], min=info["peer_min"],
                                    max=info["peer_max"], mean=float("nan"),
                                    rounds=info["peer_rounds"]))
    if not records:
        raise ValueError("no fastwmf benchmark records in the JSON files given")
    return records


# ------------------------------------------------------------------- scaling

def series_label(record):
    """The plot/table series a record belongs to."""
    names = {"als_epoch": "WALS", "sgd_epoch": "SGD", "loss": "loss",
             "recommend_all": "recommend all", "truncated_svd": "TruncatedSVD",
             "dense_svd": "DenseSVD"}
    name = names.get(record["case"], record["case"])
    if record["case"] in ("als_epoch", "sgd_epoch", "als_fit", "sgd_fit"):
        name += f" {record['variant']}"
    if record.get("peer"):
        name = f"{record['peer']}: {name}"
    return f"{name} d={record['factors']}"


def fit_exponent(nnz, seconds):
    """``p`` of the least-squares fit ``log seconds = p log nnz + c`` (NaN below two sizes)."""
    x = np.log(np.asarray(nnz, dtype=np.float64))
    y = np.log(np.asarray(seconds, dtype=np.float64))
    if len(np.unique(x)) < 2:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


def scaling_series(records):
    """``{label: (nnz array, median seconds array, p)}``, synthetic data only."""
    grouped = {}
    for record in records:
        if record.get("data") not in SIZES:
            continue
        grouped.setdefault(series_label(record), []).append(record)
    series = {}
    for label, rows in grouped.items():
        rows = sorted(rows, key=lambda r: r["nnz"])
        nnz = np.array([r["nnz"] for r in rows], dtype=np.float64)
        seconds = np.array([r["median"] for r in rows])
        series[label] = (nnz, seconds, fit_exponent(nnz, seconds))
    return series


def timing_table(records):
    """Markdown table of the timing records (medians, with min and max)."""
    lines = ["| case | data | users x items | nnz | threads | median s | min s | max s "
             "| rounds | s per 1M nnz |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    order = {name: i for i, name in enumerate(list(SIZES) + ["ml-100k"])}
    for r in sorted(records, key=lambda r: (series_label(r), order.get(r["data"], 99),
                                            r["nnz"])):
        lines.append(
            f"| {series_label(r)} | {r['data']} | {r['n_users']:,} x {r['n_items']:,} "
            f"| {r['nnz']:,} | {r['threads']} | {r['median']:.4f} | {r['min']:.4f} "
            f"| {r['max']:.4f} | {r['rounds']} | {r['median'] / r['nnz'] * 1e6:.4f} |")
    return "\n".join(lines)


def exponent_table(series):
    """Markdown table of the fitted exponents ``p`` in ``seconds ~ nnz**p``."""
    lines = ["| series | nnz range | p (seconds ~ nnz^p) |", "|---|---|---|"]
    for label, (nnz, _, p) in sorted(series.items()):
        text = "n/a (one size)" if math.isnan(p) else f"{p:.2f}"
        lines.append(f"| {label} | {int(nnz.min()):,} .. {int(nnz.max()):,} | {text} |")
    return "\n".join(lines)


# ------------------------------------------------------------------- quality

def _snapshot_callback(points, clock):
    """A fit callback that copies the factors and the time, excluding its own cost."""
    def callback(iteration, loss, U, V):
        arrived = time.perf_counter()
        points.append((arrived - clock["start"] - clock["overhead"], U.copy(), V.copy()))
        clock["overhead"] += time.perf_counter() - arrived
    return callback


def quality_curves(train, test, factors=64, threads=None, k=10):
    """Held-out NDCG@k against fit seconds for WALS, SGD and the SVD baselines.

    Iterative models report every iteration (setup included in the first);
    the time spent saving the factors for scoring is excluded. The JIT is
    warmed by a one-iteration fit first. Returns a list of
    ``{"model", "setting", "seconds", "ndcg"}`` with one point per row.
    """
    from .metrics import evaluate

    threads = bench_threads(threads)
    factors = min(factors, min(train.shape) - 1)

    def ndcg(U, V):
        fitted = SimpleNamespace(user_factors_=U, item_factors_=V, num_threads=threads)
        return evaluate(fitted, train, test, k=k, metrics=["ndcg"])[f"ndcg@{k}"]

    rows = []
    iterative = [
        ("WALS cholesky", WALS, dict(QUALITY_WALS, solver="cholesky"), "iterations"),
        ("WALS cg", WALS, dict(QUALITY_WALS, solver="cg"), "iterations"),
        ("SGD wmf", SGD, dict(QUALITY_SGD), "epochs"),
    ]
    for name, cls, params, steps in iterative:
        common = dict(factors=factors, random_state=0, num_threads=threads,
                      calculate_loss=False)
        cls(**{**common, **params, steps: 1}).fit(train)  # warm the JIT
        points, clock = [], {"overhead": 0.0}
        model = cls(callback=_snapshot_callback(points, clock), **common, **params)
        clock["start"] = time.perf_counter()
        model.fit(train)
        setting = ", ".join(f"{key}={value}" for key, value in params.items())
        for step, (seconds, U, V) in enumerate(points, start=1):
            rows.append({"model": name, "setting": f"{setting}; {steps[:-1]} {step}",
                         "step": step, "seconds": seconds, "ndcg": ndcg(U, V)})
    svds = [("TruncatedSVD", TruncatedSVD, {"random_state": 0})]
    if train.shape[0] * train.shape[1] <= 4_000_000:
        svds.append(("DenseSVD", DenseSVD, {}))
    for name, cls, extra in svds:
        for f in QUALITY_SVD_FACTORS:
            if f >= min(train.shape):
                continue
            model = cls(factors=f, num_threads=threads, **extra)
            with blas_limits(threads):
                model.fit(train)
            rows.append({"model": name, "setting": f"factors={f}", "step": f,
                         "seconds": model.fit_time_,
                         "ndcg": ndcg(model.user_factors_, model.item_factors_)})
    return rows


def quality_data(source="auto", seed=0, matrix_seed=None):
    """``(name, train, test)``: a per-user 20% holdout of binarised data.

    ``source``: ``"auto"`` (ml-100k when found, else the ``mini`` synthetic
    matrix), ``"ml-100k"``, a path to ``ml-100k.zip``, or a size name.
    ``seed`` seeds the holdout, ``matrix_seed`` the synthetic matrix (default
    :func:`bench_seed`).
    """
    from .model_selection import split_per_user

    if source == "auto":
        source = "ml-100k" if ml100k_path() else "mini"
    if source in SIZES:
        X = bench_matrix(source, matrix_seed)
        X.data[:] = 1.0
        name = source
    elif source == "ml-100k":
        X, name = load_ml100k(binarize=True), "ml-100k"
    else:
        X, name = load_ml100k(source, binarize=True), "ml-100k"
    train, test = split_per_user(X, test_fraction=0.2, seed=seed)
    return name, train, test


def quality_table(rows):
    """Markdown: each model's final (or per-setting) NDCG and fit seconds."""
    lines = ["| model | setting | fit s | NDCG@10 |", "|---|---|---|---|"]
    last = {}
    for row in rows:
        key = row["model"] if row["model"].startswith(("WALS", "SGD")) else \
            (row["model"], row["setting"])
        last[key] = row
    for row in last.values():
        lines.append(f"| {row['model']} | {row['setting']} | {row['seconds']:.3f} "
                     f"| {row['ndcg']:.4f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------- plots

def _pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_scaling(series, path, title=""):
    """Log-log seconds against nnz per series, with ``p`` in the legend."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for label, (nnz, seconds, p) in sorted(series.items()):
        legend = label if math.isnan(p) else f"{label} (p = {p:.2f})"
        ax.loglog(nnz, seconds, marker="o", label=legend)
    ax.set_xlabel("stored entries (nnz; m n for DenseSVD)")
    ax.set_ylabel("seconds per epoch (per call for loss, per fit for SVD)")
    ax.set_title(title or "fastwmf: cost against nonzeros, seconds ~ nnz^p")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_quality(rows, path, title=""):
    """Held-out NDCG@10 against cumulative fit seconds."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 5))
    colors = plt.get_cmap("tab10").colors
    for index, name in enumerate(dict.fromkeys(row["model"] for row in rows)):
        points = [row for row in rows if row["model"] == name]
        seconds = [row["seconds"] for row in points]
        ndcg = [row["ndcg"] for row in points]
        color = colors[index % len(colors)]
        if name.startswith(("WALS", "SGD")):
            ax.plot(seconds, ndcg, marker=".", color=color, label=name)
        else:
            ax.scatter(seconds, ndcg, marker="s", color=color, label=f"{name} (factors "
                       f"{', '.join(str(row['step']) for row in points)})")
    ax.set_xscale("log")
    ax.set_xlabel("fit seconds (cumulative; log scale)")
    ax.set_ylabel("held-out NDCG@10")
    ax.set_title(title or "fastwmf: quality against time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# ---------------------------------------------------------------- command

def add_report_args(parser):
    """Arguments of the report (shared with the ``fastwmf bench`` command)."""
    parser.add_argument("--report", action="store_true",
                        help="also write report.md, scaling.png and quality.png to --out")
    parser.add_argument("--out", default=os.path.join(".benchmarks", "report"),
                        help="folder for the report files (default ./.benchmarks/report)")
    parser.add_argument("--sizes", default="mini,small",
                        help=f"comma-separated synthetic sizes among {', '.join(SIZES)} "
                             f"(default mini,small)")
    parser.add_argument("--seed", type=int, default=None,
                        help=f"generator seed of the synthetic matrices "
                             f"(default $FASTWMF_BENCH_SEED or {DEFAULT_SEED})")
    parser.add_argument("--factors", type=int, default=64, help="latent dimension (default 64)")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"timed rounds per case, median reported "
                             f"(default $FASTWMF_BENCH_ROUNDS or {DEFAULT_ROUNDS})")
    parser.add_argument("--threads", type=int, default=None,
                        help="Numba threads (default $FASTWMF_BENCH_THREADS or all)")
    parser.add_argument("--json", nargs="+", default=None, metavar="FILE",
                        help="read timings from pytest-benchmark JSON files instead of "
                             "running them")
    parser.add_argument("--quality", default="auto",
                        help="data of the quality table: auto (ml-100k if found, else mini), "
                             "ml-100k, a path to ml-100k.zip, a size name, or none")
    return parser


def cmd_bench(args, out=None):
    """Run (or read) the timings and the quality table; print and write the report."""
    out = out or sys.stdout

    def say(text=""):
        print(text, file=out, flush=True)

    threads = bench_threads(args.threads)
    rounds = bench_rounds(args.rounds)
    factors = check_int(args.factors, "factors", low=1)
    sizes = [bench_size(s.strip()) for s in args.sizes.split(",") if s.strip()]
    seed = bench_seed(args.seed)
    if args.report:
        os.makedirs(args.out, exist_ok=True)
    say(f"fastwmf timing report: numba threads {threads}, rounds {rounds}, "
        f"factors {factors}")
    if args.json:
        records = read_benchmark_json(args.json)
        source = "pytest-benchmark JSON: " + ", ".join(args.json)
    else:
        say(f"timing sizes {', '.join(sizes)}, matrix seed {seed} (JIT warmed, medians) ...")
        records = run_timings(sizes, factors, threads, rounds, log=say, seed=seed)
        source = f"python -m fastwmf.bench, sizes {', '.join(sizes)}, seed {seed}"
    series = scaling_series(records)
    sections = [f"## Seconds per epoch ({source})", "", timing_table(records), "",
                "## Scaling: seconds ~ nnz^p", "", exponent_table(series), ""]
    if args.quality != "none":
        quality_name, train, test = quality_data(args.quality, matrix_seed=seed)
        say(f"quality against time on {quality_name} ({train.nnz:,} training entries) ...")
        rows = quality_curves(train, test, factors, threads)
        sections += [f"## Quality against time ({quality_name} binarised, per-user 20% "
                     f"holdout, threads {threads})", "", quality_table(rows), ""]
    else:
        rows, quality_name = [], None
    text = "\n".join(sections)
    say()
    say(text)
    if args.report:
        with open(os.path.join(args.out, "report.md"), "w", encoding="utf-8") as handle:
            handle.write(f"# fastwmf timing report\n\n{text}")
        wrote = plot_scaling(series, os.path.join(args.out, "scaling.png"),
                             title=f"fastwmf: seconds ~ nnz^p ({threads} threads, medians)")
        if rows and wrote:
            plot_quality(rows, os.path.join(args.out, "quality.png"),
                         title=f"fastwmf: held-out NDCG@10 against fit time ({quality_name}, "
                               f"{threads} threads)")
        if wrote:
            say(f"wrote {args.out}/report.md, scaling.png"
                f"{', quality.png' if rows else ''}")
        else:
            say(f"wrote {args.out}/report.md; no PNG plots: matplotlib is not installed "
                f"(pip install 'fastwmf[plot]')")
    return records, rows


def main(argv=None):
    """``python -m fastwmf.bench``; returns the exit status."""
    parser = add_report_args(argparse.ArgumentParser(
        prog="python -m fastwmf.bench",
        description="Time the fastwmf kernels on synthetic power-law data (or read "
                    "pytest-benchmark JSON), print markdown tables of seconds per epoch with "
                    "the scaling exponent and of quality against time; --report also "
                    "writes them with PNG plots."))
    args = parser.parse_args(argv)
    try:
        cmd_bench(args)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"fastwmf.bench: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
