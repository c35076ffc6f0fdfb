"""Seconds per epoch of the block solver against irspack's IALSPP (issue 24).

Usage::

    python benchmarks/block_vs_irspack.py [D ...] [--size serving|large] [--block B]

Both run the subspace solver with the same factors, block size and threads
(2 unless ``FASTWMF_BENCH_THREADS`` says otherwise), without computing the
objective. An epoch is the difference between a fit of ``1 + E`` epochs and
one of 1 epoch, divided by ``E`` (set-up and the first call's compilation
drop out); medians of three. Needs ``irspack`` (the ``peers`` extra); without
it the script says so and exits.
"""

import statistics
import time

import fastwmf
import harness
from block_solver import bench_input, parse_args

EPOCHS = 3


def seconds(fit):
    started = time.perf_counter()
    fit()
    return time.perf_counter() - started


def epoch_seconds(make_fit):
    samples = []
    for _ in range(3):
        samples.append((seconds(make_fit(1 + EPOCHS)) - seconds(make_fit(1))) / EPOCHS)
    return statistics.median(samples)


def main():
    args = parse_args()
    try:
        from irspack import IALSRecommender
    except ImportError:
        print("irspack is not installed (pip install 'fastwmf[peers]'); nothing to compare")
        return
    threads = harness.bench_threads()
    X = bench_input(args.size).tocsr().astype("float32")
    for d in args.factors:
        def ours(epochs):
            return lambda: fastwmf.WALS(
                factors=d, iterations=epochs, solver="block", block_size=args.block,
                calculate_loss=False, random_state=0, num_threads=threads).fit(X)

        def theirs(epochs):
            return lambda: IALSRecommender(
                X, n_components=d, solver_type="IALSPP", ialspp_subspace_dimension=args.block,
                train_epochs=epochs, n_threads=threads).learn()

        ours(1)()  # compile
        a, b = epoch_seconds(ours), epoch_seconds(theirs)
        print(f"d={d} b={args.block} {X.shape} nnz {X.nnz:,}, {threads} threads: s/epoch "
              f"fastwmf block {a:.3f}, irspack IALSPP {b:.3f}: ratio {a / b:.2f}", flush=True)


if __name__ == "__main__":
    main()
