"""The regression workflow of benchmarks/README.md, end to end on tiny data.

A baseline is saved, then a copy of it with every time halved is written;
comparing a new run against the halved copy with
``--benchmark-compare-fail=median:25%`` must fail (the new run looks twice as
slow), and comparing against the untouched baseline with a generous threshold
must pass. Nothing in the library is patched: only the saved JSON is edited.
No assertion is made on how fast anything runs.
"""

import glob
import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = os.path.join(ROOT, "benchmarks")
REPORT = os.path.join(BENCHMARKS, "report.py")

#: Two cases of a few tens of milliseconds each at the smoke size.
CASES = [
    "benchmarks/test_bench_core.py::test_als_epoch[smoke-cholesky-32]",
    "benchmarks/test_bench_core.py::test_als_epoch[smoke-cholesky-64]",
]

#: Time statistics of a saved benchmark (``ops`` is their inverse).
TIME_STATS = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "ld15iqr",
              "hd15iqr", "total")

pytestmark = pytest.mark.skipif(not os.path.isdir(BENCHMARKS),
                                reason="needs the source checkout's benchmarks/ folder")


def benchmark_module(name):
    """A module of the benchmarks/ folder (imported as its scripts import each other)."""
    if BENCHMARKS not in sys.path:
        sys.path.insert(0, BENCHMARKS)
    return importlib.import_module(name)


def run_suite(storage, *options):
    pytest.importorskip("pytest_benchmark")
    # a run of its own: not a pytest-xdist worker, which pytest-benchmark would see
    # in the inherited environment and answer by disabling the benchmarks
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PYTEST_XDIST")}
    env.update(FASTWMF_BENCH_SIZE="smoke", FASTWMF_BENCH_THREADS="1", FASTWMF_BENCH_ROUNDS="5")
    command = [sys.executable, "-m", "pytest", *CASES, "--benchmark-only", "-q",
               "-p", "no:cacheprovider", f"--benchmark-storage=file://{storage}", *options]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def scaled_copy(path, factor, name):
    """Write ``path`` with every time statistic times ``factor`` as run ``name``."""
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    for bench in document["benchmarks"]:
        stats = bench["stats"]
        for key in TIME_STATS:
            if stats.get(key) is not None:
                stats[key] *= factor
        if stats.get("ops"):
            stats["ops"] /= factor
        if stats.get("data"):
            stats["data"] = [value * factor for value in stats["data"]]
    target = os.path.join(os.path.dirname(path), name + ".json")
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    return document


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``(storage, path)`` of a baseline saved by a tiny run of the suite."""
    storage = tmp_path_factory.mktemp("benchmarks")
    # a warm-up run first: in a fresh checkout the first run also fills the
    # JIT and page caches, which made the saved baseline slower than later runs
    warm = run_suite(storage)
    assert warm.returncode == 0, warm.stdout + warm.stderr
    result = run_suite(storage, "--benchmark-save=base")
    assert result.returncode == 0, result.stdout + result.stderr
    (baseline,) = glob.glob(str(storage / "*" / "0001_base.json"))
    return storage, baseline


def test_compare_fails_against_a_baseline_with_halved_times(saved):
    storage, baseline = saved
    with open(baseline, encoding="utf-8") as handle:
        original = json.load(handle)
    assert len(original["benchmarks"]) == len(CASES)
    for bench in original["benchmarks"]:
        assert bench["extra_info"]["case"] == "als_epoch"
        assert bench["extra_info"]["threads"] == 1
        assert bench["stats"]["rounds"] == 5

    halved = scaled_copy(baseline, 0.5, "0002_halved")
    for before, after in zip(original["benchmarks"], halved["benchmarks"]):
        assert after["stats"]["median"] == pytest.approx(before["stats"]["median"] / 2)
        assert after["stats"]["min"] == pytest.approx(before["stats"]["min"] / 2)

    # min is the statistic least disturbed by other load on a shared machine
    failed = run_suite(storage, "--benchmark-compare=0002",
                       "--benchmark-compare-fail=min:25%")
    assert failed.returncode != 0, failed.stdout + failed.stderr
    assert "Performance has regressed" in failed.stdout + failed.stderr

    # the untouched baseline with a generous threshold passes (the same code
    # cannot be ten times slower than itself short of a badly overloaded host)
    passed = run_suite(storage, "--benchmark-compare=0001",
                       "--benchmark-compare-fail=median:900%")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Performance has regressed" not in passed.stdout + passed.stderr


def test_report_reads_the_saved_json(saved, tmp_path):
    """``python benchmarks/report.py --report --json`` turns saved results into tables."""
    _, baseline = saved
    out = tmp_path / "report"
    report = subprocess.run(
        [sys.executable, REPORT, "--report", "--json", baseline,
         "--quality", "none", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert report.returncode == 0, report.stdout + report.stderr
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "| WALS cholesky d=32 | smoke | 2,000 x 500 |" in text
    assert "| WALS cholesky d=64 | smoke | 2,000 x 500 |" in text
    assert "seconds ~ nnz^p" in text
    import importlib.util
    if importlib.util.find_spec("matplotlib") is None:
        assert "matplotlib is not installed" in report.stdout
    else:
        assert (out / "scaling.png").stat().st_size > 0


def test_report_rejects_json_without_fastwmf_results(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"benchmarks": [{"name": "x", "stats": {"median": 1.0}}]}))
    report = subprocess.run(
        [sys.executable, REPORT, "--json", str(path), "--quality", "none"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert report.returncode == 2
    assert "no fastwmf benchmark records" in report.stderr


def test_power_law_matrix_lands_near_the_nominal_nnz():
    fit_exponent = benchmark_module("report").fit_exponent
    power_law_matrix = benchmark_module("harness").power_law_matrix

    X = power_law_matrix(3_000, 800, 40_000, seed=3)
    assert X.shape == (3_000, 800)
    assert abs(X.nnz - 40_000) <= 400
    nnz = [1e5, 1e6, 1e7]
    assert fit_exponent(nnz, [2e-3 * n ** 1.1 for n in nnz]) == pytest.approx(1.1)
    assert np.isnan(fit_exponent([1e5, 1e5], [1.0, 2.0]))


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", ""])
def test_bench_seed_rejects_a_bad_value(monkeypatch, value):
    bench_seed = benchmark_module("harness").bench_seed

    monkeypatch.setenv("FASTWMF_BENCH_SEED", value)
    with pytest.raises(ValueError, match="FASTWMF_BENCH_SEED"):
        bench_seed()
    monkeypatch.delenv("FASTWMF_BENCH_SEED")
    assert bench_seed() == 0
    assert bench_seed("7") == 7


def test_report_rejects_a_bad_seed(tmp_path):
    env = dict(os.environ, FASTWMF_BENCH_SEED="x")
    report = subprocess.run(
        [sys.executable, REPORT, "--json", str(tmp_path / "none.json"),
         "--quality", "none"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert report.returncode == 2
    assert "FASTWMF_BENCH_SEED" in report.stderr
