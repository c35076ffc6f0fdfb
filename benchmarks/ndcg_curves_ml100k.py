"""Validation and test NDCG@10 per iteration on MovieLens 100K (issue 22).

Usage::

    python benchmarks/ndcg_curves_ml100k.py [path/to/ml-100k.zip]

The protocol of quality_ml100k_ndcg.py (binarised, per-user 20% test split,
a per-user 20% validation split of the rest), on two outer splits: outer
seed 0 with inner seed 1 (the benchmark's) and outer seed 1 with inner seed
2. For each setting it prints the validation curve (fitted on the training
part less validation) and the test curve (fitted on the training part),
one value per iteration: where they peak, and how far apart the splits
are, bounds what validation-only selection can reach.
"""

import os
import sys

import fastwmf
from fastwmf.datasets import load_movielens
from fastwmf.model_selection import split_per_user

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ZIP = os.path.join(HERE, "..", "..", "shared", "datasets", "ml-100k.zip")

ITERATIONS = 30

#: The two settings of the sixteenth session's exploration: the 60 s
#: search's best on split 0 and a neighbour that peaks early.
SETTINGS = [
    dict(factors=256, w0=0.199, regularization=0.0247, user_exponent=0.61, item_exponent=0.08),
    dict(factors=128, w0=0.3, regularization=0.018, user_exponent=0.7, item_exponent=0.1),
]


def curve(fit_on, score_on, setting):
    setting = dict(setting)
    users = fastwmf.activity_weights(fit_on, setting.pop("user_exponent"))
    items = fastwmf.popularity_weights(fit_on, setting.pop("item_exponent"))
    model = fastwmf.WALS(nu=1.0, iterations=ITERATIONS, random_state=0, calculate_loss=False,
                         **setting)
    model.fit(fit_on, validation=score_on, user_weights=users, item_weights=items)
    return model.validation_history_


def main(path=DEFAULT_ZIP):
    X = load_movielens("ml-100k", path=path).matrix.copy()
    X.data[:] = 1.0
    for outer, inner in ((0, 1), (1, 2)):
        train, test = split_per_user(X, test_fraction=0.2, seed=outer)
        fit_part, val = split_per_user(train, test_fraction=0.2, seed=inner)
        for setting in SETTINGS:
            print(f"split {outer}/{inner} {setting}")
            for name, scores in (("val", curve(fit_part, val, setting)),
                                 ("test", curve(train, test, setting))):
                best = max(range(ITERATIONS), key=scores.__getitem__)
                print(f"  {name:4s} best {scores[best]:.4f} at {best + 1:2d}, "
                      f"at 8 {scores[7]:.4f}, at 15 {scores[14]:.4f}, at 30 {scores[29]:.4f}",
                      flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
