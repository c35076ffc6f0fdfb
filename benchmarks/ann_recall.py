"""Approximate against exact top-k on a synthetic 1M-item catalogue (issue 23).

Usage::

    python benchmarks/ann_recall.py [N_ITEMS] [QUERIES]

Item factors (d = 64, float32) come from a mixture of 1,000 Gaussian
clusters with popularity-skewed cluster sizes and log-normal norms, as the
factors of a fitted model have structure; users are drawn from the same
clusters. Prints the index build time, the queries per second of the exact
and the approximate ``recommend`` (k = 10, no seen filter, 2 threads by
default: ``FASTWMF_BENCH_THREADS``), their ratio, and recall@10 of the
approximate answer against the exact one. Needs faiss (``pip install
'fastwmf[ann]'``).
"""

import sys
import time

import numpy as np

import fastwmf
import harness


def catalogue(n_items, n_users, d=64, clusters=1000, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, d))
    share = 1.0 / np.arange(1, clusters + 1) ** 0.8
    share /= share.sum()

    def draw(n):
        which = rng.choice(clusters, n, p=share)
        rows = 0.8 * centers[which] + 0.6 * rng.standard_normal((n, d))
        rows *= rng.lognormal(0.0, 0.3, size=(n, 1)) / np.sqrt(d)
        return rows.astype(np.float32)

    return draw(n_users), draw(n_items)


def main(n_items=1_000_000, queries=2_000):
    threads = harness.bench_threads()
    U, V = catalogue(n_items, queries)
    model = fastwmf.DenseSVD(factors=64, num_threads=threads)
    model.user_factors_, model.item_factors_ = U, V
    users = np.arange(queries)
    model.recommend(users[:8], k=10, exclude_seen=False)  # warm the JIT
    started = time.perf_counter()
    exact, _ = model.recommend(users, k=10, exclude_seen=False)
    exact_s = time.perf_counter() - started
    started = time.perf_counter()
    model.build_index(recall=0.95)
    build_s = time.perf_counter() - started
    index = model.index_["recommend"]
    model.recommend(users[:8], k=10, exclude_seen=False)  # first search
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        approx, _ = model.recommend(users, k=10, exclude_seen=False)
        timings.append(time.perf_counter() - started)
    approx_s = float(np.median(timings))
    found = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx.tolist(),
                                                                 exact.tolist())])
    print(f"{n_items:,} items x d=64, {queries:,} queries, {threads} threads: "
          f"build {build_s:.1f} s (nlist {index.nlist}, nprobe {index.nprobe}, "
          f"calibrated recall {index.recall:.3f}); exact {queries / exact_s:,.0f} q/s, "
          f"approximate {queries / approx_s:,.0f} q/s ({exact_s / approx_s:.1f}x); "
          f"recall@10 {found:.3f}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
