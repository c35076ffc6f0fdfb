"""Model selection: train/test splits, a cross-validation scorer and the w0 search.

Splits
------
Every split takes a feedback matrix (any ``scipy.sparse`` format or a
``(rows, cols, values)`` tuple; duplicates are summed as in ``fit``) and
returns ``(train, test)`` CSR matrices of float64 with the input's shape whose
stored entries partition the input's. All randomness comes from ``seed`` (an
int or a ``numpy.random.Generator``), so a split is reproducible; every split
is vectorised and costs ``O(nnz log nnz)`` at most.

- :func:`split_entries` — each entry to test with probability ``test_fraction``.
- :func:`split_per_user` — a random ``round(test_fraction * n_u)`` (or
  ``test_count``) of each user's ``n_u`` entries to test.
- :func:`leave_k_out` — ``k`` random entries of each user to test.
- :func:`split_temporal` — the latest entries of each user (or overall) to test.
- :func:`kfold_entries` — ``n_folds`` (train, test) pairs whose tests
  partition the entries.

Search
------
:func:`search` explores WALS's hyper-parameters (w0, regularization, nu, the
unobserved-weight exponents, factors, iterations by early stopping) on a
time budget, coarse to fine, and refits the best; :func:`tune_w0` fits :class:`~fastwmf.WALS` over a grid of ``w0`` (and
optionally ``regularization`` and ``factors``) on a validation split and
returns a :class:`TuningResult`; :func:`fold_in_scorer` lets scikit-learn's
``GridSearchCV`` score models on held-out users.
"""

from ._splits import (
    DEFAULT_TEST_FRACTION, fold_in_scorer, kfold_entries, leave_k_out,
    split_entries, split_per_user, split_temporal)
from ._search import DEFAULT_SPACE, SearchResult, parse_budget, search
from ._tuning import DEFAULT_W0, TuningResult, plot_tuning, tune_w0

__all__ = [
    "split_entries", "split_per_user", "leave_k_out", "split_temporal", "kfold_entries",
    "fold_in_scorer", "tune_w0", "TuningResult", "plot_tuning", "DEFAULT_W0",
    "DEFAULT_TEST_FRACTION", "search", "SearchResult", "DEFAULT_SPACE", "parse_budget",
]
