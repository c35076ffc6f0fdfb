"""The ``fastwmf`` console script."""

import argparse
import logging
import sys
import time

from . import SGD, DenseSVD, TruncatedSVD, WALS
from ._threading import max_threads
from ._validation import check_int, check_num_threads
from .datasets import SAMPLE_PARAMS, make_planted_ratings, sample_ratings
from .evaluation import recall_at_k, rmse, split_entries


def _demo_models(factors, threads):
    common = dict(factors=factors, iterations=15, random_state=0, num_threads=threads)
    return [
        ("WALS explicit (w0=0)", WALS(w0=0.0, regularization=5.0, **common)),
        ("WALS (w0=0.005)", WALS(w0=0.005, regularization=5.0, **common)),
        ("WALS cg (w0=0.005)", WALS(w0=0.005, regularization=5.0, solver="cg", **common)),
        ("SGD biased (w0=0)", SGD(factors=factors, epochs=30, random_state=0,
                                  num_threads=threads)),
        ("DenseSVD", DenseSVD(factors=factors, num_threads=threads)),
        ("TruncatedSVD", TruncatedSVD(factors=factors, random_state=0, num_threads=threads)),
    ]


def run_demo(quick=False, factors=8, threads=0, out=sys.stdout):
    """Fit WALS and the SVD baselines on the embedded sample; print a table.

    Parameters
    ----------
    quick : bool
        Use a smaller generated sample (a few seconds once compiled).
    factors : int
    threads : int
        Numba threads (0: all).
    out : file
        Where the table goes.

    Returns
    -------
    list of dict
        One row per model: name, fit seconds, held-out RMSE and recall@10.
    """
    factors = check_int(factors, "factors", low=1)
    check_num_threads(threads, "threads")
    if quick:
        X = make_planted_ratings(600, 300, rank=SAMPLE_PARAMS["rank"], density=0.1,
                                 noise=SAMPLE_PARAMS["noise"], seed=SAMPLE_PARAMS["seed"])
    else:
        X = sample_ratings()
    train, test = split_entries(X, test_fraction=0.2, seed=0)
    print(f"data: {X.shape[0]} users x {X.shape[1]} items, {X.nnz} ratings "
          f"(generated, planted rank {SAMPLE_PARAMS['rank']}); 20% held out; "
          f"factors={factors}; threads={threads or max_threads()}", file=out)
    print("(the first fit of a session includes Numba compilation; cached afterwards)", file=out)
    rows = []
    header = f"{'model':<24} {'fit s':>8} {'test RMSE':>10} {'recall@10':>10}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for name, model in _demo_models(factors, threads):
        started = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - started
        row = {"model": name, "fit_seconds": seconds, "rmse": rmse(model, test),
               "recall@10": recall_at_k(model, train, test, k=10)}
        rows.append(row)
        print(f"{name:<24} {seconds:>8.2f} {row['rmse']:>10.4f} {row['recall@10']:>10.4f}",
              file=out)
    return rows


def build_parser():
    """The argument parser of the ``fastwmf`` command."""
    parser = argparse.ArgumentParser(
        prog="fastwmf", description="Weighted matrix factorization for recommender systems.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="fit WALS and the SVD baselines on the embedded sample and print a table",
        description="Fit WALS and the SVD baselines on a generated sample (no download) and "
                    "print fit time, held-out RMSE and recall@10 for each.")
    demo.add_argument("--quick", action="store_true", help="use a smaller sample")
    demo.add_argument("--factors", type=int, default=8, help="latent dimension (default 8)")
    demo.add_argument("--threads", type=int, default=0,
                      help="Numba threads, 0 for all (default 0)")
    return parser


def main(argv=None):
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        if args.command == "demo":
            run_demo(quick=args.quick, factors=args.factors, threads=args.threads)
    except (ValueError, TypeError) as exc:
        print(f"fastwmf: error: {exc}", file=sys.stderr)
        return 2
    return 0
