"""Seconds of the block solver's two half-steps alone (issue 24).

Usage::

    python benchmarks/block_half_steps.py [D] [B]

Fits ``WALS(solver="block")`` for two iterations on ``harness.SERVING``
(50k x 10k, 1M entries), keeping the inputs of its first user and item
half-steps (factors in the Gramian's eigenbasis), then times
:func:`fastwmf.kernels.block.half_step_block` on copies of them: medians of
three, 2 threads unless ``FASTWMF_BENCH_THREADS`` says otherwise. Defaults:
d = 256, b = 64.
"""

import statistics
import sys
import time

import numpy as np

import fastwmf
import fastwmf.models._problem as problem
import harness
from fastwmf.kernels.block import half_step_block

OUT = 6  # position of ``out`` among half_step_block's arguments


def captured_half_steps(X, d, b, threads):
    """The arguments of the fit's first two half-step calls (users, items)."""
    calls = []

    def keep(*args, **kwargs):
        if len(calls) < 2:
            calls.append(([a.copy() if isinstance(a, np.ndarray) else a for a in args],
                          dict(kwargs)))
        return half_step_block(*args, **kwargs)

    original = problem.half_step_block
    problem.half_step_block = keep
    try:
        fastwmf.WALS(factors=d, iterations=2, solver="block", block_size=b,
                     num_threads=threads, random_state=0).fit(X)
    finally:
        problem.half_step_block = original
    return calls


def median_seconds(args, kwargs, rounds=3):
    samples = []
    for _ in range(rounds):
        fresh = list(args)
        fresh[OUT] = args[OUT].copy()
        started = time.perf_counter()
        half_step_block(*fresh, **kwargs)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main(d=256, b=64):
    threads = harness.bench_threads()
    X = harness.serving_matrix()
    (users, user_kw), (items, item_kw) = captured_half_steps(X, d, b, threads)
    print(f"d={d} b={b} {X.shape} nnz {X.nnz:,}, {threads} threads: user half-step "
          f"{median_seconds(users, user_kw):.3f} s, item half-step "
          f"{median_seconds(items, item_kw):.3f} s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
