"""Seconds per SGD epoch, fastwmf against LIBMF, in interleaved rounds (issue 5).

Usage::

    LIBMF_OBJ=/path/to/libmf_simd.so python benchmarks/sgd_epoch_peers.py [ROUNDS] [SIZE]

ROUNDS defaults to 9, SIZE (a :data:`harness.SIZES` key) to ``large``;
2 threads, d = 64, :data:`harness.SGD_PARAMS`, the 90% training split of
the peers benchmark. Each round times 5 fastwmf epochs (with the default
warm-up, and without it) and takes their median; LIBMF has no call for one
epoch, so its epoch is ``(fit of 6 epochs - fit of 1 epoch) / 5`` in the same
round. Prints each round and then the ratio of the medians and the median of
the per-round ratios: on a shared machine the peers' speeds drift, and rounds
that alternate between them see the same drift. Needs the ``libmf`` binding
(``pip install 'fastwmf[peers]'``); ``LIBMF_OBJ`` selects a SIMD build.
"""

import contextlib
import io
import os
import statistics
import sys
import time

import harness
from fastwmf._threading import thread_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_bench_peers import _holdout, _triples, libmf_model  # noqa: E402

THREADS = 2
FACTORS = 64
EPOCHS_PER_ROUND = 5


def _median_epoch(case):
    times = []
    for _ in range(EPOCHS_PER_ROUND):
        started = time.perf_counter()
        case.run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _libmf_epoch(mf, data):
    fits = {}
    for epochs in (1, EPOCHS_PER_ROUND + 1):
        model = libmf_model(mf, FACTORS, THREADS, epochs)
        started = time.perf_counter()
        model.fit(data)
        fits[epochs] = time.perf_counter() - started
    return (fits[EPOCHS_PER_ROUND + 1] - fits[1]) / EPOCHS_PER_ROUND


def main(argv):
    rounds = int(argv[1]) if len(argv) > 1 else 9
    size = argv[2] if len(argv) > 2 else "large"
    with contextlib.redirect_stdout(io.StringIO()):  # the binding prints on import
        from libmf import mf
    train, _ = _holdout(harness.bench_matrix(size))
    data = _triples(train)
    ours, plain, theirs = [], [], []
    with thread_limits(THREADS):
        default = harness.sgd_epoch_case(train, FACTORS, THREADS)
        no_warmup = harness.sgd_epoch_case(train, FACTORS, THREADS, warmup_factors=0)
        default.run()
        no_warmup.run()
        for r in range(rounds):
            ours.append(_median_epoch(default))
            plain.append(_median_epoch(no_warmup))
            theirs.append(_libmf_epoch(mf, data))
            print(f"round {r}: fastwmf {ours[-1]:.3f} s (no warm-up {plain[-1]:.3f} s), "
                  f"LIBMF {theirs[-1]:.3f} s, ratio {ours[-1] / theirs[-1]:.2f}", flush=True)
    per_round = [a / b for a, b in zip(ours, theirs)]
    print(f"medians: fastwmf {statistics.median(ours):.3f} s, no warm-up "
          f"{statistics.median(plain):.3f} s, LIBMF {statistics.median(theirs):.3f} s")
    print(f"fastwmf / LIBMF: {statistics.median(ours) / statistics.median(theirs):.2f} "
          f"(ratio of medians), {statistics.median(per_round):.2f} "
          f"(median of per-round ratios, {min(per_round):.2f}-{max(per_round):.2f}); "
          f"no warm-up {statistics.median(plain) / statistics.median(theirs):.2f}")


if __name__ == "__main__":
    main(sys.argv)
