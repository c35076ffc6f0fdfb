"""Shared data and settings for the pytest-benchmark suite.

Environment:

- ``FASTWMF_BENCH_SIZE``: ``smoke`` (CI runs every case once on tiny data,
  ``--benchmark-disable``), ``mini`` (~250k nonzeros), ``small`` (default,
  ~1M), ``medium`` (~5M) or ``large`` (200,000 x 50,000, ~10M); see
  :data:`harness.SIZES`. The size is part of every benchmark's name, so
  a compare only matches runs of the same size.
- ``FASTWMF_BENCH_SEED``: generator seed of the synthetic matrix (default
  0). Every seed gives a matrix of the same shape and distribution, so
  benchmark names do not carry it (a compare against a baseline of another
  seed checks the figures on a fresh matrix); it is in the header and in
  every result's ``extra_info`` (None for ml-100k).
- ``FASTWMF_BENCH_THREADS``: Numba threads while timing (default all);
  BLAS gets one thread beside the Numba kernels and this many in the SVD
  baselines.
- ``FASTWMF_BENCH_ROUNDS``: timed rounds per case (default 3); the JIT is
  warmed by one untimed call first.
- ``FASTWMF_ML100K``: the ml-100k.zip archive (default
  ``../shared/datasets/ml-100k.zip``); its cases skip when it is absent.
"""

import statistics
import time

import numba
import pytest

import harness

#: Results of this session (filled when timing is enabled), for the summary.
RESULTS = []

#: ``extra_info`` keys printed side by side in the peers summary.
NOTE_KEYS = ("loss", "holdout_rmse")


def pytest_configure(config):
    try:
        harness.bench_size()
        harness.bench_seed()
        harness.bench_threads()
        harness.bench_rounds()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config):
    size = harness.bench_size()
    threads = harness.bench_threads()
    ml100k = harness.ml100k_path()
    return [
        f"fastwmf benchmarks: size={size} {harness.SIZES[size]}, seed={harness.bench_seed()}, "
        f"rounds={harness.bench_rounds()}",
        f"fastwmf threads: numba={threads} of {numba.config.NUMBA_NUM_THREADS} "
        f"(layer {numba.config.THREADING_LAYER}); BLAS 1 beside Numba kernels, "
        f"{threads} in SVD baselines",
        f"fastwmf ml-100k: {ml100k or 'absent (its cases skip)'}",
    ]


@pytest.fixture(scope="session")
def threads():
    """The fixed Numba thread count of this run."""
    return harness.bench_threads()


@pytest.fixture(scope="session")
def rounds():
    return harness.bench_rounds()


#: ml-100k with every rating set to 1, as an implicit-feedback user would pass it.
ML100K_BINARY = "ml-100k-binary"

_MATRICES = {}


def _matrix(name):
    if name not in _MATRICES:
        if name in ("ml-100k", ML100K_BINARY):
            if harness.ml100k_path() is None:
                pytest.skip("ml-100k.zip not found (../shared/datasets or FASTWMF_ML100K)")
            _MATRICES[name] = harness.load_ml100k(binarize=name == ML100K_BINARY)
        else:
            _MATRICES[name] = harness.bench_matrix(name)
    return _MATRICES[name]


def _selected_size():
    """The size for the parameter ids (a bad value is reported by pytest_configure)."""
    try:
        return harness.bench_size()
    except ValueError:
        return "invalid-size"


@pytest.fixture(scope="session", params=[_selected_size(), "ml-100k"])
def dataset(request):
    """``(name, X)``: the synthetic matrix of the selected size, then ml-100k."""
    return request.param, _matrix(request.param)


@pytest.fixture(scope="session", params=[_selected_size(), ML100K_BINARY])
def feedback(request):
    """``(name, X)``: the synthetic counts of the selected size, then ml-100k binarised."""
    return request.param, _matrix(request.param)


@pytest.fixture(scope="session")
def ml100k_binary():
    """``(name, X)``: ml-100k binarised (skips when the archive is absent)."""
    return ML100K_BINARY, _matrix(ML100K_BINARY)


@pytest.fixture(scope="session")
def synthetic():
    """``(name, X)``: only the synthetic matrix of the selected size."""
    name = harness.bench_size()
    return name, _matrix(name)


@pytest.fixture
def measure(benchmark, threads, rounds):
    """``measure(case, data, group=None, rounds=..., beside=None, **info)``: time a case.

    ``case`` is warmed by one untimed call (JIT, caches), then ``rounds`` calls
    of its run are timed by pytest-benchmark; Numba and BLAS threads are fixed
    throughout. Under ``--benchmark-disable`` each case just runs once.

    ``beside`` (a :class:`harness.Case` of another library, labelled by
    ``info["peer"]``) is interleaved:
    one peer call is timed right before each timed fastwmf call, so both see
    the same machine load, and the peer's median and the median of the
    per-round ratios (fastwmf / peer) are saved in ``extra_info``.

    Whole fits may put in ``state`` their settings (``"params"``, a dict)
    and ``"n_iter"`` (a callable giving the iterations of the last run);
    they are saved as ``params``/``iterations`` and, for ``beside``,
    ``peer_params``/``peer_iterations``. With both iteration counts the
    seconds per iteration (each library's own count) and their ratio are saved
    too, and the summary prints them.

    Returns the ``extra_info`` dict, where a test may add results (a loss,
    an RMSE) that the summary prints.
    """
    def run(case, data, group=None, rounds=rounds, beside=None, **info):
        info = dict(case.info(data, threads), **info)
        info.setdefault("seed", harness.bench_seed() if data in harness.SIZES else None)
        benchmark.extra_info.update(info)
        benchmark.group = group or f"{data}: {case.name}"
        peer_times = []

        def before_each_round():
            started = time.perf_counter()
            beside.run()
            peer_times.append(time.perf_counter() - started)

        with harness.case_limits(case, threads):
            if not benchmark.disabled:
                for warm in (case.warm, beside.warm if beside is not None else None):
                    if warm is not None:
                        warm()
            benchmark.pedantic(case.run, rounds=rounds, iterations=1, warmup_rounds=0,
                               setup=before_each_round if beside is not None else None)
        for prefix, ran in (("", case), ("peer_", beside)):
            if ran is not None and "params" in ran.state:
                benchmark.extra_info[prefix + "params"] = ", ".join(
                    f"{key}={value!r}" for key, value in ran.state["params"].items())
            if ran is not None and "n_iter" in ran.state:
                benchmark.extra_info[prefix + "iterations"] = int(ran.state["n_iter"]())
        if benchmark.stats is not None:  # extra_info by reference: tests may add notes
            if peer_times:
                ours = benchmark.stats.stats.data
                benchmark.extra_info.update(
                    peer_median=statistics.median(peer_times), peer_min=min(peer_times),
                    peer_max=max(peer_times), peer_rounds=len(peer_times),
                    ratio=statistics.median(ours) / statistics.median(peer_times),
                    ratio_of_rounds=statistics.median(
                        a / b for a, b in zip(ours, peer_times)))
                per_iteration(benchmark.extra_info, statistics.median(ours))
            RESULTS.append((benchmark.extra_info, benchmark.stats.stats.median))
        return benchmark.extra_info
    return run


def per_iteration(info, median):
    """Add seconds per iteration and their ratio to ``info`` of a whole fit beside a peer's.

    Each library's fit seconds are divided by its own iteration count
    (``iterations``, ``peer_iterations``); nothing is added without both.
    """
    if "iterations" in info and "peer_iterations" in info:
        ours = median / info["iterations"]
        theirs = info["peer_median"] / info["peer_iterations"]
        info.update(seconds_per_iteration=ours, peer_seconds_per_iteration=theirs,
                    ratio_per_iteration=ours / theirs)


def pytest_terminal_summary(terminalreporter):
    """Print fastwmf / peer median ratios (and the same-loss checks) of this run."""
    results = [dict(info, median=median) for info, median in RESULTS]
    peers = [r for r in results if "peer_median" in r]
    losses = [r for r in results if "implicit_loss" in r]
    if not peers and not losses:
        return
    write = terminalreporter.write_line
    write("")
    write("fastwmf vs peers, interleaved round by round (same matrix and threads; same "
          "hyperparameters but in defaults_fit, each library's defaults; ratio < 1: "
          "fastwmf faster)")
    write("| case | data | d | threads | rounds | fastwmf median s | peer | peer median s "
          "| ratio of medians | median of round ratios | notes |")
    write("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in peers:
        notes = "; ".join(f"{key} {r[key]:.5g} vs {r['peer_' + key]:.5g}" for key in NOTE_KEYS
                          if key in r and "peer_" + key in r)
        write(f"| {r['case']} {r['variant']} | {r['data']} | {r['factors']} | {r['threads']} "
              f"| {r['peer_rounds']} | {r['median']:.4f} | {r['peer']} "
              f"| {r['peer_median']:.4f} | {r['ratio']:.2f} | {r['ratio_of_rounds']:.2f} "
              f"| {notes} |")
    fits = [r for r in peers if "ratio_per_iteration" in r]
    if fits:
        write("")
        write("whole fits per iteration (median fit seconds over each library's own "
              "iterations; ratio < 1: fastwmf faster)")
        write("| case | data | d | fastwmf iterations | fastwmf s/iteration | peer "
              "| peer iterations | peer s/iteration | ratio per iteration | ratio of fits |")
        write("|---|---|---|---|---|---|---|---|---|---|")
        for r in fits:
            write(f"| {r['case']} {r['variant']} | {r['data']} | {r['factors']} "
                  f"| {r['iterations']} | {r['seconds_per_iteration']:.4f} | {r['peer']} "
                  f"| {r['peer_iterations']} | {r['peer_seconds_per_iteration']:.4f} "
                  f"| {r['ratio_per_iteration']:.2f} | {r['ratio']:.2f} |")
        settings = {(r["case"], r["params"], r["peer"], r.get("peer_params", "")): None
                    for r in fits if "params" in r}
        for case, ours, peer, theirs in settings:
            write(f"{case} settings (d as shown): fastwmf {ours}; {peer} {theirs}")
    for r in losses:
        write(f"same start, {r['iterations']} iterations, {r['variant']} d={r['factors']} on "
              f"{r['data']}: loss fastwmf {r['loss']:.7g}, implicit {r['implicit_loss']:.7g} "
              f"(relative difference {abs(r['loss'] / r['implicit_loss'] - 1):.1e}); "
              f"fit seconds fastwmf {r['median']:.3f}, implicit {r['implicit_fit_seconds']:.3f}")
