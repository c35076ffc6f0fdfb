"""The ``fastwmf`` console script: fit, recommend, evaluate, tune, demo.

Every command exits 0 on success and 2 with one ``fastwmf: error: ...`` line
on bad input.
"""

import argparse
import logging
import os
import sys
import time

import numpy as np
import scipy.sparse as sp

from . import SGD, BayesianMF, DenseSVD, Popularity, TruncatedSVD, WALS
from ._threading import max_threads
from ._validation import check_int, check_num_threads
from .datasets import SAMPLE_PARAMS, load_interactions, make_planted_ratings, sample_ratings
from .io import ModelFileError, load_model
from .metrics import evaluate, recall_at_k, rmse
from .model_selection import split_entries, split_per_user

MODELS = ("wals", "sgd", "bayes", "svd", "truncated-svd", "popularity")


class CommandError(ValueError):
    """A command-line input that cannot be used (reported in one line)."""


# ----------------------------------------------------------------- data

def _column(value):
    return int(value) if value.isdigit() else value


def _add_table_args(parser):
    group = parser.add_argument_group("table columns (CSV/TSV/Parquet input)")
    group.add_argument("--user-col", type=_column, default=0,
                       help="user id column: name or 0-based position (default 0)")
    group.add_argument("--item-col", type=_column, default=1,
                       help="item id column: name or 0-based position (default 1)")
    group.add_argument("--value-col", type=_column, default=None,
                       help="value column (rating, count); omitted: 1 per row (implicit)")
    group.add_argument("--weight-col", type=_column, default=None,
                       help="per-entry confidence weight column (optional)")
    group.add_argument("--sep", default=None,
                       help="field separator; default from the extension (.csv ',' .tsv tab)")
    group.add_argument("--no-header", action="store_true",
                       help="the first line is data, not column names")
    group.add_argument("--binarize", action="store_true",
                       help="treat every stored entry as an interaction of value 1")


def read_table(path, args):
    """``(matrix, weights, user_ids, item_ids)`` from a table or MatrixMarket file."""
    if str(path).endswith((".mtx", ".mtx.gz")):
        import scipy.io
        if not os.path.isfile(path):
            raise FileNotFoundError(f"input: no file at {path!r}")
        matrix = sp.csr_matrix(scipy.io.mmread(path))
        weights, user_ids, item_ids = None, np.arange(matrix.shape[0]), np.arange(matrix.shape[1])
    else:
        data = load_interactions(path, args.user_col, args.item_col, value_col=args.value_col,
                                 weight_col=args.weight_col, sep=args.sep,
                                 header=not args.no_header)
        matrix, user_ids, item_ids = data.matrix, data.user_ids, data.item_ids
        weights = data.weights.data if data.weights is not None else None
    if args.binarize:
        matrix = matrix.copy()
        matrix.data = np.ones_like(matrix.data)
    return matrix, weights, user_ids, item_ids


def _reindex(matrix, row_ids, col_ids, model, what):
    """Map a table's rows/columns to the model's indices, dropping unknown labels."""
    rows = _positions(model.user_ids_, row_ids, model.n_users)
    cols = _positions(model.item_ids_, col_ids, model.n_items)
    coo = matrix.tocoo()
    keep = (rows[coo.row] >= 0) & (cols[coo.col] >= 0)
    dropped = int((~keep).sum())
    if dropped:
        print(f"fastwmf: {what}: left out {dropped} entries with users or items unknown "
              f"to the model", file=sys.stderr)
    return sp.csr_matrix((coo.data[keep], (rows[coo.row[keep]], cols[coo.col[keep]])),
                         shape=(model.n_users, model.n_items))


def _positions(model_ids, labels, n):
    """Model index of each label, -1 where the model does not know it."""
    if model_ids is None:
        model_ids = np.arange(n)
    lookup = {_plain(label): i for i, label in enumerate(model_ids)}
    return np.array([lookup.get(_plain(label), -1) for label in labels], dtype=np.int64)


def _plain(label):
    return label.item() if isinstance(label, np.generic) else label


# --------------------------------------------------------------- models

def _w0_value(text):
    """``--w0``: ``auto`` or a number."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def _objective_args(args):
    """The objective options given on the command line (the rest: estimator defaults)."""
    return {name: getattr(args, name) for name in ("w0", "regularization", "nu")
            if getattr(args, name) is not None}


def _factors(args):
    """``--factors``, or its default for the chosen model."""
    if args.factors is not None:
        return args.factors
    return BayesianMF().factors if getattr(args, "model", "wals") == "bayes" else 64


def _build_model(args):
    common = dict(num_threads=args.threads)
    factors = _factors(args)
    if args.model == "wals":
        return WALS(factors=factors, iterations=args.iterations, solver=args.solver,
                    cg_steps=args.cg_steps, confidence=args.confidence, alpha=args.alpha,
                    dtype=args.dtype, random_state=args.seed, show_progress=not args.quiet,
                    **_objective_args(args), **common)
    if args.model == "sgd":
        return SGD(factors=factors, epochs=args.iterations, confidence=args.confidence,
                   alpha=args.alpha, dtype=args.dtype, random_state=args.seed,
                   show_progress=not args.quiet, **_objective_args(args), **common)
    if args.model == "bayes":
        return BayesianMF(factors=factors, samples=args.samples, burn_in=args.burn_in,
                          dtype=args.dtype, random_state=args.seed,
                          show_progress=not args.quiet, **common)
    if args.model == "svd":
        return DenseSVD(factors=factors, **common)
    if args.model == "truncated-svd":
        return TruncatedSVD(factors=factors, random_state=args.seed, **common)
    return Popularity(**common)


def _fit(model, matrix, weights):
    if weights is not None:
        if not isinstance(model, (WALS, SGD)):
            raise CommandError(f"--weight-col is not used by --model {type(model).__name__}")
        return model.fit(matrix, weights=weights)
    return model.fit(matrix)


# ------------------------------------------------------------- commands

def cmd_fit(args):
    matrix, weights, user_ids, item_ids = read_table(args.input, args)
    model = _build_model(args)
    started = time.perf_counter()
    _fit(model, matrix, weights)
    model.user_ids_, model.item_ids_ = user_ids, item_ids
    model.save(args.output)
    print(f"fitted {type(model).__name__} on {matrix.shape[0]} users x {matrix.shape[1]} items "
          f"({matrix.nnz} entries) in {time.perf_counter() - started:.2f} s; "
          f"saved to {args.output}")


def cmd_recommend(args):
    model = load_model(args.model_file)
    labels = [_parse_label(u, model.user_ids_) for u in args.users]
    users = _positions(model.user_ids_, labels, model.n_users)
    unknown = [label for label, index in zip(args.users, users) if index < 0]
    if unknown:
        raise CommandError(f"--users: unknown to the model: {', '.join(unknown[:5])}")
    exclude = None
    if args.exclude:
        matrix, _, row_ids, col_ids = read_table(args.exclude, args)
        exclude = _reindex(matrix, row_ids, col_ids, model, "--exclude")[users]
    # a saved model speaks its labels when it has them, indices otherwise
    # a model that remembers its training items leaves them out (unless --include-seen)
    exclude_seen = model.seen_indptr_ is not None and not args.include_seen
    ids, scores = model.recommend(labels if model.user_ids_ is not None else users,
                                  k=args.k, exclude=exclude, exclude_seen=exclude_seen)
    print("user\trank\titem\tscore")
    for row, user in enumerate(args.users):
        for rank, (item, score) in enumerate(zip(ids[row], scores[row]), start=1):
            if np.isfinite(score):
                print(f"{user}\t{rank}\t{_plain(item)}\t{score:.6g}")


def _parse_label(text, model_ids):
    if model_ids is not None and model_ids.dtype.kind in "iu":
        try:
            return int(text)
        except ValueError:
            return text
    return text


def cmd_evaluate(args):
    model = load_model(args.model_file)
    parts = []
    for path, what in ((args.train, "--train"), (args.test, "--test")):
        matrix, _, row_ids, col_ids = read_table(path, args)
        parts.append(_reindex(matrix, row_ids, col_ids, model, what))
    results = evaluate(model, parts[0], parts[1], k=args.k, metrics=args.metrics)
    for name, value in results.items():
        print(f"{name}\t{value:.6g}" if isinstance(value, float) else f"{name}\t{value}")


def cmd_tune(args):
    from .model_selection import plot_tuning, tune_w0
    matrix, _, user_ids, item_ids = read_table(args.input, args)
    if args.budget is not None:
        return _budget_search(args, matrix, user_ids, item_ids)
    train, validation = split_per_user(matrix, test_fraction=args.validation_fraction,
                                       seed=args.seed)
    params = dict(iterations=args.iterations, confidence=args.confidence,
                  alpha=args.alpha, random_state=args.seed, num_threads=args.threads,
                  dtype=args.dtype)
    params.update({k: v for k, v in _objective_args(args).items() if k != "w0"})
    if not args.factors_grid:
        params["factors"] = _factors(args)
    if args.regularization_grid:
        params.pop("regularization", None)
    result = tune_w0(train, validation, w0_values=args.w0_grid,
                     regularization_values=args.regularization_grid or None,
                     factors_values=args.factors_grid or None, metric=args.metric,
                     params=params, show_progress=not args.quiet)
    print(result.to_markdown())
    print(f"best: {result.best_params} {result.metric}={result.best_score:.4f}")
    if args.plot:
        plot_tuning(result, args.plot)
        print(f"plot written to {args.plot}")
    if args.output:
        model = WALS(**dict(params, **result.best_params)).fit(matrix)
        model.user_ids_, model.item_ids_ = user_ids, item_ids
        model.save(args.output)
        print(f"refitted the best setting on all of {args.input}; saved to {args.output}")


def _budget_search(args, matrix, user_ids, item_ids):
    """``tune --budget``: :func:`fastwmf.model_selection.search` instead of the w0 grid."""
    from .model_selection import parse_budget, search
    try:
        budget = parse_budget(args.budget)
    except ValueError as exc:
        raise CommandError(f"--budget: {exc}") from None
    params = dict(confidence=args.confidence, alpha=args.alpha, num_threads=args.threads,
                  dtype=args.dtype)
    result = search(matrix, budget=budget, metric=args.metric, params=params,
                    validation_fraction=args.validation_fraction, seed=args.seed,
                    refit=args.output is not None, show_progress=not args.quiet)
    print(result.to_markdown(top=15))
    print(f"best of {len(result.table)} trials in {result.seconds:.1f} s: "
          f"{result.best_params} {result.metric}={result.best_score:.4f}")
    if args.plot:
        result.plot(args.plot)
        print(f"plot written to {args.plot}")
    if args.output:
        result.model.user_ids_, result.model.item_ids_ = user_ids, item_ids
        result.model.save(args.output)
        print(f"refitted the best setting on all of {args.input}; saved to {args.output}")


def _demo_models(factors, threads):
    common = dict(factors=factors, iterations=15, random_state=0, num_threads=threads)
    return [
        ("WALS explicit (w0=0)", WALS(w0=0.0, regularization=0.1, **common)),
        ("WALS (w0=0.005)", WALS(w0=0.005, regularization=0.1, **common)),
        ("SGD biased (w0=0)", SGD(factors=factors, epochs=30, random_state=0,
                                  num_threads=threads)),
        ("BayesianMF (Gibbs)", BayesianMF(factors=factors, random_state=0,
                                          num_threads=threads)),
        ("DenseSVD", DenseSVD(factors=factors, num_threads=threads)),
        ("TruncatedSVD", TruncatedSVD(factors=factors, random_state=0, num_threads=threads)),
        ("Popularity", Popularity(num_threads=threads)),
    ]


def run_demo(quick=False, factors=8, threads=0, out=None):
    """Fit WALS, SGD, BayesianMF and the baselines on the embedded sample; print a table.

    Parameters
    ----------
    quick : bool
        Use a smaller generated sample (a few seconds once compiled).
    factors : int
    threads : int
        Numba threads (0: all).
    out : file, optional
        Where the table goes (default: standard output).

    Returns
    -------
    list of dict
        One row per model: name, fit seconds, held-out RMSE and recall@10.
    """
    factors = check_int(factors, "factors", low=1)
    check_num_threads(threads, "threads")
    out = sys.stdout if out is None else out
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
        # popularity scores are counts, not ratings: no RMSE
        error = float("nan") if isinstance(model, Popularity) else rmse(model, test)
        row = {"model": name, "fit_seconds": seconds, "rmse": error,
               "recall@10": recall_at_k(model, train, test, k=10)}
        rows.append(row)
        shown = "-" if np.isnan(error) else f"{error:.4f}"
        print(f"{name:<24} {seconds:>8.2f} {shown:>10} {row['recall@10']:>10.4f}", file=out)
    return rows


def cmd_demo(args):
    run_demo(quick=args.quick, factors=args.factors, threads=args.threads)


def cmd_compile(args):
    from ._cache import cache_dir
    from .precompile import compile_kernels

    def report(factors, dtype, part, seconds):
        print(f"factors={factors:<4} {dtype:<8} {part:<8} {seconds:7.2f} s", flush=True)

    started = time.perf_counter()
    compile_kernels(args.factors, args.dtypes, args.parts, args.threads, report=report)
    print(f"compiled in {time.perf_counter() - started:.1f} s; cache: "
          f"{os.environ.get('NUMBA_CACHE_DIR') or cache_dir()}")


# --------------------------------------------------------------- parser

def _add_model_args(parser, with_model=True):
    group = parser.add_argument_group("model")
    if with_model:
        group.add_argument("--model", choices=MODELS, default="wals",
                           help="estimator (default wals)")
    group.add_argument("--factors", type=int, default=None,
                       help="latent dimension (default 64; 16 for --model bayes)")
    group.add_argument("--w0", type=_w0_value, default=None,
                       help="weight of unobserved entries, a number or 'auto' (default: the "
                            "estimator's, 'auto' for WALS: 5 x the data's density)")
    group.add_argument("--regularization", type=float, default=None,
                       help="L2 strength (default: the estimator's, 0.02 for WALS)")
    group.add_argument("--nu", type=float, default=None,
                       help="frequency-scaling exponent of the regularization (default: the "
                            "estimator's, 1 for WALS)")
    group.add_argument("--iterations", type=int, default=15,
                       help="ALS iterations, or SGD epochs (default 15)")
    group.add_argument("--samples", type=int, default=100,
                       help="posterior draws averaged by --model bayes (default 100)")
    group.add_argument("--burn-in", type=int, default=20,
                       help="Gibbs sweeps discarded first by --model bayes (default 20)")
    group.add_argument("--solver", choices=("cg", "cholesky"), default="cg",
                       help="WALS row solver (default cg, as WALS)")
    group.add_argument("--cg-steps", type=int, default=3,
                       help="conjugate-gradient steps per row for --solver cg (default 3)")
    group.add_argument("--confidence", choices=("linear", "log"), default=None,
                       help="implicit-feedback confidence transform of the values (optional)")
    group.add_argument("--alpha", type=float, default=1.0,
                       help="confidence scale for --confidence (default 1)")
    group.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                       help="factor precision (default float32)")
    group.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    group.add_argument("--threads", type=int, default=0, help="Numba threads, 0 for all")


def build_parser():
    """The argument parser of the ``fastwmf`` command."""
    parser = argparse.ArgumentParser(
        prog="fastwmf",
        description="Weighted matrix factorization for recommender systems. Tables are CSV/TSV "
                    "(optionally compressed) or Parquet files with one (user, item[, value]) "
                    "row per interaction; .mtx files are read as MatrixMarket matrices.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = commands.add_parser("fit", help="fit a model to a table and save it",
                              description="Fit a model to an interaction table and save it "
                                          "(with the original user and item ids).")
    fit.add_argument("input", help="interaction table (.csv, .tsv, .parquet) or .mtx file")
    fit.add_argument("-o", "--output", required=True, help="where to write the model (.npz)")
    _add_table_args(fit)
    _add_model_args(fit)
    fit.set_defaults(handler=cmd_fit)

    rec = commands.add_parser("recommend", help="top-k items for given users",
                              description="Print the top-k items for each user as TSV "
                                          "(user, rank, item, score), original ids in and out.")
    rec.add_argument("model_file", help="a model saved by 'fastwmf fit'")
    rec.add_argument("--users", nargs="+", required=True, help="user ids as in the table")
    rec.add_argument("-k", type=int, default=10, help="items per user (default 10)")
    rec.add_argument("--exclude", default=None,
                     help="table of interactions to leave out (a model saved by this "
                          "version leaves its training interactions out already)")
    rec.add_argument("--include-seen", action="store_true",
                     help="let the model recommend items of its training interactions")
    _add_table_args(rec)
    rec.set_defaults(handler=cmd_recommend)

    ev = commands.add_parser("evaluate", help="ranking and rating metrics on a test table",
                             description="Evaluate a saved model: training items are excluded "
                                         "from each user's ranking; entries with ids unknown "
                                         "to the model are left out (and counted).")
    ev.add_argument("model_file", help="a model saved by 'fastwmf fit'")
    ev.add_argument("--train", required=True, help="training table (items to exclude)")
    ev.add_argument("--test", required=True, help="test table")
    ev.add_argument("-k", type=int, nargs="+", default=[10], help="cut-off(s) (default 10)")
    ev.add_argument("--metrics", nargs="+", default=None,
                    help="subset of: precision recall ndcg map hit_rate coverage auc rmse mae")
    _add_table_args(ev)
    ev.set_defaults(handler=cmd_evaluate)

    tune = commands.add_parser("tune", help="search w0 (and regularization, factors)",
                               description="Hold out a per-user validation split, search w0 "
                                           "(and optionally regularization and factors) for "
                                           "WALS, print the table and the best setting; "
                                           "with --budget, a timed search of the whole space.")
    tune.add_argument("input", help="interaction table (.csv, .tsv, .parquet) or .mtx file")
    tune.add_argument("--w0-grid", type=float, nargs="+",
                      default=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0],
                      help="w0 values to try (default 0.001 ... 1)")
    tune.add_argument("--regularization-grid", type=float, nargs="+", default=[],
                      help="regularization values to try (default: --regularization only)")
    tune.add_argument("--factors-grid", type=int, nargs="+", default=[],
                      help="factor counts to try (default: --factors only)")
    tune.add_argument("--metric", default="ndcg@10", help="validation metric (default ndcg@10)")
    tune.add_argument("--validation-fraction", type=float, default=0.2,
                      help="share of each user's entries held out (default 0.2)")
    tune.add_argument("--budget", default=None,
                      help="search w0, regularization, the weight exponents and factors for "
                           "this long instead of the grid (e.g. 60s, 5m)")
    tune.add_argument("--plot", default=None,
                      help="write a PNG of the metric against w0 (with --budget: the "
                           "w0 / regularization landscape)")
    tune.add_argument("-o", "--output", default=None,
                      help="refit the best setting on all data and save it here")
    _add_table_args(tune)
    _add_model_args(tune, with_model=False)
    tune.set_defaults(handler=cmd_tune)

    demo = commands.add_parser(
        "demo", help="fit every model on the embedded sample and print a table",
        description="Fit WALS, SGD and the baselines on a generated sample (no download) and "
                    "print fit time, held-out RMSE and recall@10 for each.")
    demo.add_argument("--quick", action="store_true", help="use a smaller sample")
    demo.add_argument("--factors", type=int, default=8, help="latent dimension (default 8)")
    demo.add_argument("--threads", type=int, default=0,
                      help="Numba threads, 0 for all (default 0)")
    demo.set_defaults(handler=cmd_demo)

    from .precompile import DEFAULT_DTYPES, DEFAULT_FACTORS, PARTS
    comp = commands.add_parser(
        "compile", help="compile the kernels ahead of time into the disk cache",
        description="Run every fit and serving path once on tiny data so that Numba compiles "
                    "its kernels for the given factor counts and dtypes and caches them "
                    "(for CI images and containers).")
    comp.add_argument("--factors", type=int, nargs="+", default=list(DEFAULT_FACTORS),
                      help="factor counts (default %(default)s)")
    comp.add_argument("--dtypes", nargs="+", choices=("float32", "float64"),
                      default=list(DEFAULT_DTYPES), help="factor dtypes (default float32)")
    comp.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                      help="code paths (default all)")
    comp.add_argument("--threads", type=int, default=0, help="Numba threads, 0 for all")
    comp.set_defaults(handler=cmd_compile)

    return parser


def main(argv=None):
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        args.handler(args)
    except (ValueError, TypeError, KeyError, FileNotFoundError, ImportError,
            ModelFileError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"fastwmf: error: {message}", file=sys.stderr)
        return 2
    return 0
