"""NDCG@10 of the block solver against CG on MovieLens 100K (issue 24).

Protocol of ``quality_ml100k_ndcg.py``: every rating is an interaction, a
per-user random 20% holdout is the test split, training items are left out
of the ranking. Both solvers fit ``WALS`` at its defaults but ``factors``
(default 256) and the solver, for each of three test splits and
initialisations; prints each NDCG@10, the mean difference and its largest
magnitude.

Run: python benchmarks/block_quality_ml100k.py [path/to/ml-100k.zip] [FACTORS] [BLOCK]
"""

import os
import sys

import numpy as np

import fastwmf
from fastwmf.datasets import load_movielens
from fastwmf.metrics import evaluate
from fastwmf.model_selection import split_per_user

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ZIP = os.path.join(HERE, "..", "..", "shared", "datasets", "ml-100k.zip")
SEEDS = (0, 1, 2)


def ndcg(model, train, test):
    return evaluate(model, train, test, k=10, metrics=["ndcg"])["ndcg@10"]


def main(path=DEFAULT_ZIP, factors=256, block=64):
    if not os.path.exists(path):
        sys.exit(f"MovieLens 100K not found at {path}: skipped")
    X = load_movielens("ml-100k", path=path).matrix.copy()
    X.data[:] = 1.0
    gaps = []
    for seed in SEEDS:
        train, test = split_per_user(X, test_fraction=0.2, seed=seed)
        common = dict(factors=factors, random_state=seed)
        cg = ndcg(fastwmf.WALS(solver="cg", **common).fit(train), train, test)
        blk = ndcg(fastwmf.WALS(solver="block", block_size=block, **common).fit(train),
                   train, test)
        gaps.append(blk - cg)
        print(f"split {seed}: NDCG@10 CG {cg:.4f}, block (b={block}) {blk:.4f}, "
              f"difference {blk - cg:+.4f}", flush=True)
    print(f"d={factors}: mean difference {np.mean(gaps):+.4f}, "
          f"largest |difference| {np.max(np.abs(gaps)):.4f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0] if args else DEFAULT_ZIP, *(int(a) for a in args[1:3]))
