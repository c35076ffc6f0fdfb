"""Time for the block solver to reach CG's training objective (issue 24).

Usage::

    python benchmarks/block_solver.py [D ...] [--size serving|large] [--block B]

CG (the default solver) runs 15 iterations on the matrix; the block solver
then runs until its objective is within 1e-3 (relative) of CG's final one,
at most 30 iterations (it stops there). Both compute the objective each iteration (the same
cost on both sides); seconds come from the fit's callback, JIT warmed
first. Prints CG's time, the block solver's time to the target, their
ratio, and the seconds per iteration of each. 2 threads unless
``FASTWMF_BENCH_THREADS`` says otherwise.

The callback costs time of its own: it is handed the factors in the
caller's basis, so both solvers rotate them back after every iteration.
Where the block solver reached the target, both fits are then run again
without a callback (CG for 15 iterations, the block solver for as many as
it needed) and that ratio is printed too: the time a user's plain fit
takes.
"""

import argparse
import time

import fastwmf
import harness


def timed_fit(X, threads, stop_below=None, **params):
    """``[(seconds, objective)]`` per iteration of one fit; it stops once the
    objective is at most ``stop_below`` (when given)."""
    marks = []

    def callback(iteration, loss, U, V):
        marks.append((time.perf_counter(), loss))
        return stop_below is not None and loss <= stop_below

    started = time.perf_counter()
    fastwmf.WALS(random_state=0, num_threads=threads, callback=callback, **params).fit(X)
    return [(t - started, loss) for t, loss in marks]


def plain_seconds(X, threads, **params):
    """Seconds of one fit without a callback."""
    started = time.perf_counter()
    fastwmf.WALS(random_state=0, num_threads=threads, **params).fit(X)
    return time.perf_counter() - started


def parse_args():
    """``factors`` (widths), ``size`` and ``block`` from the command line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("factors", type=int, nargs="*", default=[256])
    parser.add_argument("--size", choices=("serving", "large"), default="serving")
    parser.add_argument("--block", type=int, default=64)
    return parser.parse_args()


def bench_input(size):
    """The matrix of ``--size``: ``harness.SERVING`` or the large generator case."""
    return harness.serving_matrix() if size == "serving" else harness.bench_matrix("large")


def main():
    args = parse_args()
    threads = harness.bench_threads()
    X = bench_input(args.size)
    for d in args.factors:
        warm = X[:2000]
        fastwmf.WALS(factors=d, iterations=1, num_threads=threads).fit(warm)
        fastwmf.WALS(factors=d, iterations=1, solver="block", block_size=args.block,
                     num_threads=threads).fit(warm)
        cg = timed_fit(X, threads, factors=d, iterations=15)
        target = cg[-1][1] * (1 + 1e-3)
        block = timed_fit(X, threads, stop_below=target, factors=d, iterations=30,
                          solver="block", block_size=args.block)
        reached = next(((i + 1, t) for i, (t, loss) in enumerate(block) if loss <= target),
                       None)
        cg_s = cg[-1][0]
        per_cg = cg_s / len(cg)
        per_block = block[-1][0] / len(block)
        if reached is None:
            print(f"d={d} b={args.block} {X.shape} nnz {X.nnz:,}: CG 15 it {cg_s:.2f} s "
                  f"(loss {cg[-1][1]:.6g}); block did not reach it in 30 iterations "
                  f"(best {min(l for _, l in block):.6g}); s/it CG {per_cg:.3f} "
                  f"block {per_block:.3f}")
        else:
            it, t = reached
            print(f"d={d} b={args.block} {X.shape} nnz {X.nnz:,}: CG 15 it {cg_s:.2f} s; "
                  f"block reached it at iteration {it} in {t:.2f} s: ratio {t / cg_s:.2f}; "
                  f"s/it CG {per_cg:.3f} block {per_block:.3f}")
            plain_cg = plain_seconds(X, threads, factors=d, iterations=15)
            plain_block = plain_seconds(X, threads, factors=d, iterations=it, solver="block",
                                        block_size=args.block)
            print(f"  without a callback: CG 15 it {plain_cg:.2f} s, block {it} it "
                  f"{plain_block:.2f} s: ratio {plain_block / plain_cg:.2f}", flush=True)


if __name__ == "__main__":
    main()
