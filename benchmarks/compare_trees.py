"""Time benchmark cases of two source trees in one process, rounds interleaved.

    git worktree add /tmp/base HEAD~1          # the tree to compare against
    python benchmarks/compare_trees.py /tmp/base cg:64 cholesky:128 sgd:32 fit-cg:64
    python benchmarks/compare_trees.py /tmp/base cg:64 --data ml-100k --rounds 25

A regression check finer than ``tox -e bench-compare``: both trees' kernels
run in the same process, each round times one call of each (which goes first
alternates), so both see the same machine load; on a shared 2-core machine
two separate runs differ by 10-20%. The other tree's package is imported as
``fastwmf_base`` (the package imports itself only relatively) and its
``benchmarks/harness.py`` builds its cases. Numba's cache goes to a fresh
folder (``NUMBA_CACHE_DIR`` unless set): a cache written under the other
name would break that tree's own runs.

Cases are ``KIND:FACTORS``: ``cg``, ``cholesky``, ``block`` (one ALS epoch), ``sgd``,
``sgd-wmf`` (one SGD epoch, w0 = 0 / 0.1), ``loss``, ``recommend`` (top-10
for every user) and ``fit-cg``, ``fit-cholesky`` (a whole 15-iteration fit,
loss off). Prints per case the base and new medians, the ratio of medians
and the median of the per-round ratios (new / base; above 1 is slower).
"""

import argparse
import importlib
import os
import pathlib
import sys
import tempfile
import time

BENCHMARKS = pathlib.Path(__file__).resolve().parent


def import_base(tree, workdir):
    """The other tree's package and harness, as ``fastwmf_base`` and ``harness_base``."""
    tree = pathlib.Path(tree).resolve()
    if not (tree / "fastwmf" / "__init__.py").exists():
        sys.exit(f"{tree} has no fastwmf package")
    (workdir / "fastwmf_base").symlink_to(tree / "fastwmf", target_is_directory=True)
    source = (tree / "benchmarks" / "harness.py").read_text()
    (workdir / "harness_base.py").write_text(source.replace("from fastwmf", "from fastwmf_base"))
    sys.path.insert(0, str(workdir))
    return importlib.import_module("harness_base")


def build(harness, kind, factors, X, threads):
    """One :class:`harness.Case` of ``kind``."""
    if kind in ("cg", "cholesky", "block"):
        return harness.als_epoch_case(X, factors, kind, threads)
    if kind == "sgd":
        return harness.sgd_epoch_case(X, factors, threads)
    if kind == "sgd-wmf":
        return harness.sgd_epoch_case(X, factors, threads, w0=0.1)
    if kind == "loss":
        return harness.loss_case(X, factors, threads)
    if kind == "recommend":
        return harness.recommend_case(X, factors, threads)
    if kind in ("fit-cg", "fit-cholesky"):
        return harness.wals_fit_case(X, factors, threads, solver=kind[4:], iterations=15,
                                     calculate_loss=False)
    raise SystemExit(f"unknown case kind {kind!r}")


def compare(harness, base, new, threads, rounds):
    """``(base seconds, new seconds)`` per round, interleaved."""
    import numpy as np

    times = {id(base): [], id(new): []}
    with harness.case_limits(new, threads):
        for case in (base, new):
            if case.warm is not None:
                case.warm()
        for r in range(rounds):
            for case in ((base, new) if r % 2 else (new, base)):
                started = time.perf_counter()
                case.run()
                times[id(case)].append(time.perf_counter() - started)
    return np.array(times[id(base)]), np.array(times[id(new)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the tree to compare against (a checkout)")
    parser.add_argument("cases", nargs="+", help="KIND:FACTORS, e.g. cg:64")
    parser.add_argument("--data", default="small",
                        help="a synthetic size (smoke ... large) or ml-100k (binarised)")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="compare_trees_"))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(workdir / "numba_cache"))
    import numpy as np

    sys.path.insert(0, str(BENCHMARKS))
    new_harness = importlib.import_module("harness")
    base_harness = import_base(args.base, workdir)
    if args.data == "ml-100k":
        X = new_harness.load_ml100k(binarize=True)
    else:
        X = new_harness.bench_matrix(args.data)
    threads = new_harness.bench_threads(None)
    print(f"{args.data} {X.shape} nnz {X.nnz:,}, {threads} threads, {args.rounds} rounds")
    for spec in args.cases:
        kind, _, factors = spec.partition(":")
        factors = int(factors or 64)
        base = build(base_harness, kind, factors, X, threads)
        new = build(new_harness, kind, factors, X, threads)
        tb, tn = compare(new_harness, base, new, threads, args.rounds)
        print(f"{spec:>16}: base {np.median(tb) * 1e3:9.2f} ms  new {np.median(tn) * 1e3:9.2f} ms"
              f"  ratio {np.median(tn) / np.median(tb):.3f}  per-round {np.median(tn / tb):.3f}",
              flush=True)


if __name__ == "__main__":
    main()
