"""Seconds per iteration: single-machine WALS vs DaskWALS on local workers.

A plain script (pytest does not collect it: no ``test_`` prefix)::

    pip install -e ".[dask]"
    python benchmarks/bench_distributed.py                # 5M draws, factors=64
    python benchmarks/bench_distributed.py --nnz 200000   # a quick look

Both estimators fit the same synthetic power-law matrix
(:func:`fastwmf.datasets.make_implicit_interactions`; ``nnz`` counts draws,
repeats merge into fewer stored entries) with the same parameters and seed,
in one process, alternating WALS and DaskWALS ``--repeats`` times so that
noise from a shared machine hits both. Iteration times come from callback
timestamps; the table gives the median (and min) over iterations 2.., since
iteration 1 also holds validation, layout or block building, and compilation
or cache loading, and is reported separately as "to end of it. 1". WALS uses
every core of this machine; DaskWALS runs a ``LocalCluster`` of
``--workers`` processes with ``--threads`` threads each, so on a machine with
``workers * threads`` cores both use the same cores. "MB moved/it" counts
the bytes the workers sent each other per iteration (the ``compressed``
field of each worker's ``transfer_outgoing_log``: bytes written to the
socket), and "ideal" the all-gather of both factor matrices,
``(W - 1) (m + n) d`` values.
"""

import argparse
import logging
import os
import statistics
import time

import numba
import numpy as np

import fastwmf
from fastwmf.datasets import make_implicit_interactions


def _worker_bytes(dask_worker):
    """Socket bytes this worker has sent, by receiver (runs on each worker)."""
    log = getattr(dask_worker, "transfer_outgoing_log", None)
    if log is None:  # distributed < 2022.11
        log = dask_worker.outgoing_transfer_log
    sent = {}
    for entry in log:
        sent[entry["who"]] = sent.get(entry["who"], 0) + entry["compressed"]
    return sent


def _peer_bytes(client):
    """Bytes each worker has sent to other workers so far (socket bytes)."""
    logs = client.run(_worker_bytes)
    workers = set(logs)
    return sum(n for log in logs.values() for who, n in log.items() if who in workers)


def _timed_fit(model, X, client=None):
    """Per-iteration seconds, seconds to the end of iteration 1, final loss, bytes/iteration."""
    stamps = []
    moved = []

    def callback(iteration, loss, U, V):
        stamps.append(time.perf_counter())
        if client is not None:
            moved.append(_peer_bytes(client))

    model.set_params(callback=callback)
    start = time.perf_counter()
    model.fit(X)
    steps = list(np.diff(stamps))  # iterations 2.. (iteration 1 includes setup, compilation)
    per_iteration_bytes = list(np.diff(moved)) if client is not None else []
    return steps, stamps[0] - start, model.loss_history_[-1], per_iteration_bytes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=25_000)
    parser.add_argument("--nnz", type=int, default=5_000_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2,
                        help="fits of each estimator, alternating WALS and DaskWALS")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="threads per worker")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--solvers", default="cholesky,cg")
    parser.add_argument("--exchange", default="full", choices=("full", "routed"))
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    from fastwmf.distributed import DaskWALS

    X = make_implicit_interactions(args.users, args.items, args.nnz, seed=0)
    m, n = X.shape
    print(f"matrix {m} x {n}, {X.nnz} stored entries; factors={args.factors}, "
          f"dtype={args.dtype}, {args.iterations} iterations x {args.repeats} repeats; "
          f"this machine: {os.cpu_count()} cores, numba threads "
          f"{numba.config.NUMBA_NUM_THREADS}; DaskWALS: {args.workers} workers x "
          f"{args.threads} threads, exchange={args.exchange}")
    common = dict(factors=args.factors, w0=0.1, regularization=0.1, confidence="linear",
                  alpha=2.0, iterations=args.iterations, dtype=args.dtype, random_state=0)
    ideal = (args.workers - 1) * (m + n) * args.factors * np.dtype(args.dtype).itemsize
    rows = []
    with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads,
                      processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        for solver in args.solvers.split(","):
            runs = {name: {"steps": [], "first": [], "moved": [], "loss": None}
                    for name in ("WALS", "DaskWALS")}
            for _ in range(args.repeats):
                for name in ("WALS", "DaskWALS"):
                    if name == "WALS":
                        model, c = fastwmf.WALS(solver=solver, **common), None
                    else:
                        model, c = DaskWALS(solver=solver, client=client, exchange=args.exchange,
                                            callback_factors=False, **common), client
                    steps, first, loss, moved = _timed_fit(model, X, c)
                    runs[name]["steps"] += steps
                    runs[name]["first"].append(first)
                    runs[name]["moved"] += moved
                    runs[name]["loss"] = loss
            rows.append((solver, runs["WALS"], runs["DaskWALS"]))
    print()
    print("| solver | WALS s/it median (min) | DaskWALS s/it median (min) | ratio of medians "
          "| to end of it. 1, WALS / DaskWALS (s) | MB moved/it (ideal) | final loss rel. diff |")
    print("|---|---|---|---|---|---|---|")
    for solver, local, dist in rows:
        lm, dm = statistics.median(local["steps"]), statistics.median(dist["steps"])
        print(f"| {solver} | {lm:.2f} ({min(local['steps']):.2f}) "
              f"| {dm:.2f} ({min(dist['steps']):.2f}) | {dm / lm:.2f} "
              f"| {statistics.median(local['first']):.1f} / "
              f"{statistics.median(dist['first']):.1f} "
              f"| {statistics.median(dist['moved']) / 1e6:.1f} ({ideal / 1e6:.1f}) "
              f"| {abs(dist['loss'] - local['loss']) / abs(local['loss']):.1e} |")


if __name__ == "__main__":
    main()
