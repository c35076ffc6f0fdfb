"""The timing report: markdown tables and PNG plots of the benchmark cases.

::

    python benchmarks/report.py --report [--out DIR] [--sizes mini,small] [--seed N] [--json FILE ...]

prints a markdown table of seconds per epoch (or per call) with the fitted
scaling exponent ``p`` in ``seconds ~ nnz**p``, a quality-against-time table
(held-out NDCG@10 against fit seconds), and with ``--report`` writes
``report.md``, ``scaling.png`` and ``quality.png`` (the PNGs need the ``plot``
extra: ``pip install 'fastwmf[plot]'``). The timings are those of
:mod:`harness` (the cases of the pytest-benchmark suite), run here or read
from pytest-benchmark JSON files.
"""

import argparse
import json
import math
import os
import sys
import time
from types import SimpleNamespace

import numpy as np

from fastwmf import SGD, WALS, DenseSVD, TruncatedSVD
from fastwmf.metrics import evaluate
from fastwmf.model_selection import split_per_user
from harness import (DEFAULT_ROUNDS, DEFAULT_SEED, QUALITY_SGD, QUALITY_SVD_FACTORS,
                     QUALITY_WALS, SIZES, bench_matrix, bench_rounds, bench_seed, bench_size,
                     bench_threads, blas_limits, load_ml100k, ml100k_path, run_timings)


def check_factors(value):
    """``--factors`` as a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"factors must be a positive integer, got {value!r}")
    return value


# ------------------------------------------------------------------- records

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
    """Arguments of the report ."""
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
    factors = check_factors(args.factors)
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
        source = f"python benchmarks/report.py, sizes {', '.join(sizes)}, seed {seed}"
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
    """``python benchmarks/report.py``; returns the exit status."""
    parser = add_report_args(argparse.ArgumentParser(
        prog="python benchmarks/report.py",
        description="Time the fastwmf kernels on synthetic power-law data (or read "
                    "pytest-benchmark JSON), print markdown tables of seconds per epoch with "
                    "the scaling exponent and of quality against time; --report also "
                    "writes them with PNG plots."))
    args = parser.parse_args(argv)
    try:
        cmd_bench(args)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"report.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
