"""First fit in a fresh process against the steady state (issue 5).

Usage::

    python benchmarks/first_fit.py {wals-cg|wals-cholesky|sgd}
    NUMBA_CACHE_DIR=$(mktemp -d) python benchmarks/first_fit.py wals-cg   # cold cache

Prints the import time, the first and second fit of the same model on
20,000 x 5,000 generated interactions (300,000 draws, d = 32) and their
difference: the compile or cache-load overhead.
"""

import sys
import time

started = time.perf_counter()
import fastwmf  # noqa: E402
from fastwmf.datasets import make_implicit_interactions  # noqa: E402

IMPORTED = time.perf_counter() - started

MODELS = {
    "wals-cg": lambda: fastwmf.WALS(factors=32, solver="cg", iterations=5, random_state=0),
    "wals-cholesky": lambda: fastwmf.WALS(factors=32, solver="cholesky", iterations=5,
                                          random_state=0),
    "sgd": lambda: fastwmf.SGD(factors=32, epochs=5, random_state=0, calculate_loss=False),
}


def main(argv):
    kind = argv[0] if argv else "wals-cg"
    X = make_implicit_interactions(20_000, 5_000, 300_000, seed=0)
    times = []
    for _ in range(2):
        begin = time.perf_counter()
        MODELS[kind]().fit(X)
        times.append(time.perf_counter() - begin)
    print(f"{kind}: import {IMPORTED:.2f} s, first fit {times[0]:.2f} s, second fit "
          f"{times[1]:.2f} s, overhead {times[0] - times[1]:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
