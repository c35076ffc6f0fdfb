"""Splits and metrics under their earlier module name.

They live in :mod:`fastwmf.model_selection` (splits, :func:`fold_in_scorer`)
and :mod:`fastwmf.metrics` (:func:`evaluate`, :func:`rmse`, ...); this module
re-exports them so that code written against ``fastwmf.evaluation`` keeps
working.
"""

from .metrics import (
    LOWER_IS_BETTER, METRICS, RANKING_METRICS, evaluate, mae, parse_metric, recall_at_k, rmse)
from .model_selection import (
    fold_in_scorer, kfold_entries, leave_k_out, split_entries, split_per_user, split_temporal)

__all__ = [
    "split_entries", "split_per_user", "leave_k_out", "split_temporal", "kfold_entries",
    "rmse", "mae", "recall_at_k", "evaluate", "RANKING_METRICS", "METRICS",
    "parse_metric", "fold_in_scorer", "LOWER_IS_BETTER",
]
