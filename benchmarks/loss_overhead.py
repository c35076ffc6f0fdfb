"""What the training loss adds to a default fit (issue 20, item 1).

Usage::

    python benchmarks/loss_overhead.py [SOLVER] [SIZE] [ROUNDS]

Fits ``WALS(factors=64, iterations=5, solver=SOLVER)`` on
``harness.bench_matrix(SIZE)`` (default ``cg``, ``large``, 5 rounds)
with ``calculate_loss=True`` and ``False`` alternately, after one warm-up fit
of each, and prints the medians and their ratio (target: at most 1.05).
``$FASTWMF_BENCH_SEED`` picks the generator seed.
"""

import sys
import time

import numpy as np
import scipy.sparse as sp

import fastwmf
import fastwmf._threading
import harness


def main(argv):
    solver = argv[0] if argv else "cg"
    size = argv[1] if len(argv) > 1 else "large"
    rounds = int(argv[2]) if len(argv) > 2 else 5
    X = sp.csr_matrix(harness.bench_matrix(size), dtype=np.float32)
    threads = harness.bench_threads(None) or fastwmf._threading.max_threads()

    def fit(loss, iterations=5):
        started = time.perf_counter()
        fastwmf.WALS(factors=64, iterations=iterations, solver=solver, random_state=0,
                     num_threads=threads, calculate_loss=loss).fit(X)
        return time.perf_counter() - started

    fit(True, 1), fit(False, 1)
    times = {True: [], False: []}
    for _ in range(rounds):
        for loss in (True, False):
            times[loss].append(fit(loss))
    on, off = np.median(times[True]), np.median(times[False])
    ratios = np.array(times[True]) / np.array(times[False])
    print(f"{solver} {size} d=64, {threads} threads, {rounds} rounds: loss on {on:.3f} s, "
          f"off {off:.3f} s, ratio of medians {on / off:.3f}, median of round ratios "
          f"{np.median(ratios):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
