"""Confidence transforms and unobserved-weight schemes for WMF."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._validation import check_float, check_interactions

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ._typing import InteractionsLike

#: Names accepted by ``WALS(confidence=...)``.
CONFIDENCE_TRANSFORMS = ("linear", "log")


def confidence_from_counts(values: NDArray[np.float64], transform: str, alpha: float,
                           eps: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return ``(targets, confidence)`` for implicit feedback.

    Parameters
    ----------
    values : ndarray of float64
        Non-negative interaction strengths ``r_ij`` (counts, play time...).
    transform : {"linear", "log"}
        ``"linear"``: ``c = 1 + alpha * r`` (Hu, Koren and Volinsky 2008);
        ``"log"``: ``c = 1 + alpha * log(1 + r / eps)``.
    alpha, eps : float
        Scale of the confidence and, for ``"log"``, the count scale.

    Returns
    -------
    targets : ndarray of float64
        The preference ``1`` where ``r > 0`` and ``0`` where a zero is stored.
    confidence : ndarray of float64
    """
    if transform == "linear":
        confidence = 1.0 + alpha * values
    else:
        confidence = 1.0 + alpha * np.log1p(values / eps)
    targets = (values > 0).astype(np.float64)
    return targets, confidence


def popularity_weights(X: InteractionsLike, exponent: float = 0.5) -> NDArray[np.float64]:
    """Per-item unobserved weights proportional to popularity (eALS style).

    He et al. (2016) weight a missing entry of item ``j`` by ``f_j**exponent``
    where ``f_j`` is the item's share of interactions, so that popular items the
    user skipped count as stronger negatives. The result is scaled to mean 1,
    so ``w0`` keeps its meaning as the average unobserved weight.

    Parameters
    ----------
    X : sparse matrix or (rows, cols, values) tuple
        The training interactions (users x items).
    exponent : float, default 0.5
        ``0`` gives uniform weights; ``1`` is proportional to popularity.

    Returns
    -------
    ndarray of float64, shape (n_items,)
        Pass as ``item_weights`` to :meth:`fastwmf.WALS.fit`.
    """
    exponent = check_float(exponent, "exponent", low=0.0)
    data = check_interactions(X, "X")
    counts = np.bincount(data.indices, minlength=data.shape[1]).astype(np.float64)
    if exponent == 0.0:
        return np.ones_like(counts)
    powered = np.power(counts, exponent)
    return powered * (len(powered) / powered.sum())



def activity_weights(X: InteractionsLike, exponent: float = 0.5) -> NDArray[np.float64]:
    """Per-user unobserved weights that grow with each user's activity.

    User ``i`` gets ``max(n_i, 1)**exponent`` scaled to mean 1, where ``n_i``
    is the number of stored entries: the items a heavy user skipped are
    stronger evidence of disinterest than a light user's. Pass the result as
    ``user_weights`` to :meth:`fastwmf.WALS.fit`.

    Parameters
    ----------
    X : sparse matrix or (rows, cols, values) tuple
        The training interactions (users x items).
    exponent : float, default 0.5
        ``0`` gives uniform weights.

    Returns
    -------
    ndarray of float64, shape (n_users,)
    """
    exponent = check_float(exponent, "exponent", low=0.0)
    data = check_interactions(X, "X")
    counts = np.maximum(np.diff(data.indptr), 1).astype(np.float64)
    powered = np.power(counts, exponent)
    return powered * (len(powered) / powered.sum())
