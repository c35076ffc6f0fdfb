"""Pieces shared by the WMF estimators (WALS, SGD): parameters, weights, fold-in."""

import numpy as np

from .._threading import row_chunks, thread_limits, uniform_chunks
from .._frames import frame_to_triples, is_frame, labels_to_index
from .._validation import (
    check_bool, check_callable, check_choice, check_dtype, check_finite_vector,
    check_fits_dtype, check_float, check_int, check_interactions, check_num_threads,
    check_random_state)
from ..kernels.als import half_step_cholesky
from ..kernels.halfstep import HalfStepRows
from ..kernels.gramian import weighted_gramian
from ..weights import CONFIDENCE_TRANSFORMS, confidence_from_counts
from ._problem import frequency_scaled_regularization


#: ``w0="auto"``: an average user's unobserved entries weigh this many times
#: its observed ones, i.e. ``w0 = UNOBSERVED_MASS * nnz / (n_users n_items)``
#: (benchmarks/README.md, "Defaults").
UNOBSERVED_MASS = 5.0


def check_w0(w0, allow_auto=False):
    """``w0`` as a float >= 0, or ``"auto"`` where the estimator resolves it."""
    if allow_auto and isinstance(w0, str):
        if w0 != "auto":
            raise TypeError(f"w0 must be a number >= 0 or 'auto', got {w0!r}")
        return w0
    return check_float(w0, "w0", low=0.0)


def resolve_w0(w0, nnz, shape):
    """The number ``w0="auto"`` stands for on data with ``nnz`` entries of ``shape``."""
    if w0 != "auto":
        return w0
    cells = max(shape[0] * shape[1], 1)
    return UNOBSERVED_MASS * nnz / cells


def check_common_params(model, allow_auto_w0=False):
    """Validate the parameters every WMF estimator has; return them resolved
    (``w0="auto"`` stays a string where ``allow_auto_w0``: see :func:`resolve_w0`)."""
    params = {
        "factors": check_int(model.factors, "factors", low=1),
        "w0": check_w0(model.w0, allow_auto_w0),
        "regularization": check_float(model.regularization, "regularization", low=0.0),
        "nu": check_float(model.nu, "nu", low=0.0),
        "alpha": check_float(model.alpha, "alpha", low=0.0),
        "eps": check_float(model.eps, "eps", low=0.0, low_inclusive=False),
        "dtype": check_dtype(model.dtype),
        "num_threads": check_num_threads(model.num_threads),
        "show_progress": check_bool(model.show_progress, "show_progress"),
        "callback": check_callable(model.callback, "callback"),
        "calculate_loss": check_bool(model.calculate_loss, "calculate_loss"),
        "keep_interactions": check_bool(model.keep_interactions, "keep_interactions"),
    }
    if model.confidence is not None:
        check_choice(model.confidence, "confidence", CONFIDENCE_TRANSFORMS)
    params["confidence"] = model.confidence
    params["rng"] = check_random_state(model.random_state)
    return params


def check_factors_fit(factors, shape):
    """``factors`` must not exceed ``min(n_users, n_items)``."""
    if factors > min(shape):
        raise ValueError(f"factors must be <= min(n_users, n_items) = {min(shape)}, "
                         f"got {factors}")


def starting_factors(rng, n_users, n_items, factors, dtype):
    """WALS's starting ``(U, V)``: ``U = 0`` and ``V`` of ``0.1 / sqrt(factors)
    * N(0, 1)`` from ``rng`` (:func:`random_factors`).

    The first half-step solves ``U`` from ``V``, so ``U`` only starts it (CG's
    first iterate, unused by the exact solver); zeros are free to make.
    """
    U = np.zeros((n_users, factors), dtype=dtype)
    return U, random_factors(rng, n_items, factors, 0.1 / np.sqrt(factors), dtype)


def random_factors(rng, rows, factors, scale, dtype, block=65_536):
    """``scale * N(0, 1)`` factors of ``dtype``, drawn in row blocks.

    The draws come in the order of one ``rng.standard_normal((rows, factors))``
    call, so results equal that call's, without its float64 temporaries.
    """
    out = np.empty((rows, factors), dtype=dtype)
    for start in range(0, rows, block):
        stop = min(start + block, rows)
        out[start:stop] = rng.standard_normal((stop - start, factors)) * scale
    return out


def _check_product_fits(targets, confidence, name):
    """``check_fits_dtype(confidence * targets, name, float64)``, forming the
    product only when the magnitudes' bound says that it could overflow."""
    if targets.size == 0:
        return
    bound = (max(float(targets.max()), -float(targets.min()))
             * max(float(confidence.max()), -float(confidence.min())))
    if bound <= np.finfo(np.float64).max:
        return
    check_fits_dtype(confidence * targets, name, np.float64)


def targets_and_confidence(data, params, dtype, unit_view=False):
    """``(a, c)`` per stored entry from the values, weights and transform.

    Parameters
    ----------
    data : Interactions
    params : dict
        Checked parameters (``confidence``, ``alpha``, ``eps``).
    dtype : numpy.dtype
        The factor dtype; both arrays must be representable in it.
    unit_view : bool, default False
        Return unit confidences (no weights, no transform) as a read-only
        stride-0 view instead of an array of ones.
    """
    transform = params["confidence"]
    if transform is None:
        if data.weights is not None:
            confidence = data.weights
        elif unit_view:
            confidence = np.broadcast_to(np.ones(1), (data.nnz,))
        else:
            confidence = np.ones(data.nnz)
        targets = data.values
        confidence_name = "weights"
    else:
        if data.weights is not None:
            raise ValueError(f"weights cannot be combined with confidence={transform!r}; "
                             f"pass one or the other")
        if np.any(data.values < 0):
            raise ValueError(f"X values must be non-negative with confidence={transform!r}")
        targets, confidence = confidence_from_counts(
            data.values, transform, params["alpha"], params["eps"])
        confidence_name = "X"
    check_fits_dtype(targets, "X", dtype)
    check_fits_dtype(confidence, confidence_name, dtype)
    _check_product_fits(targets, confidence, f"X times {confidence_name}")
    return targets, confidence


def unobserved_weights(user_weights, item_weights, shape):
    """Per-user ``p`` and per-item ``q`` as validated float64 arrays (default 1)."""
    m, n = shape
    p = (np.ones(m) if user_weights is None else
         check_finite_vector(user_weights, "user_weights", m, nonnegative=True))
    q = (np.ones(n) if item_weights is None else
         check_finite_vector(item_weights, "item_weights", n, nonnegative=True))
    return p, q


def solve_new_rows(data, targets, confidence, item_factors, item_weights, w0,
                   regularization, nu, num_threads, row_weights=None):
    """Exact least-squares rows for new users with the item factors fixed.

    The user half-step of the WMF objective (user weights ``row_weights``,
    default ``p = 1``) on the rows of ``data``; used for fold-in and growth by
    every estimator of that objective (for items, with the roles swapped).

    Returns
    -------
    ndarray, shape (n_new, d), dtype of ``item_factors``
    """
    V = item_factors
    q = item_weights
    p = np.ones(data.shape[0]) if row_weights is None else row_weights
    row_reg = frequency_scaled_regularization(
        regularization, nu, data.row_counts(), w0, p, q.sum())
    out = np.zeros((data.shape[0], V.shape[1]), dtype=V.dtype)
    with thread_limits(num_threads):
        G = weighted_gramian(V, q, uniform_chunks(len(q)))
        rows = HalfStepRows(data.indptr, data.indices, targets.astype(V.dtype),
                            confidence.astype(V.dtype), p, row_reg,
                            row_chunks(data.indptr, V.shape[1] / 3.0))
        half_step_cholesky(rows, V, G, w0, q, out)
    return out


#: Parameters that define the fitted objective; fold-in and loss use these.
OBJECTIVE_PARAMS = ("w0", "regularization", "nu", "confidence", "alpha", "eps")


def objective_params(params, extra=()):
    """The JSON-serializable subset of checked ``params`` that fold-in needs."""
    return {name: params[name] for name in OBJECTIVE_PARAMS + tuple(extra)}


def check_finite_factors(U, V, step, what="iteration"):
    """Raise ``FloatingPointError`` if a fit produced NaN or inf factors."""
    if not (np.isfinite(U).all() and np.isfinite(V).all()):
        raise FloatingPointError(
            f"the factors became non-finite at {what} {step}; increase regularization, "
            f"lower the learning rate or use dtype='float64'")


def read_only(array):
    """A non-writeable view of ``array`` (for callbacks)."""
    view = array.view()
    view.flags.writeable = False
    return view


def progress_bar(total, enabled, desc):
    """A tqdm bar, or None when disabled."""
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="it")


def validation_input(validation, user_labels, item_labels, columns, shape):
    """The ``validation`` argument of ``fit`` as checked :class:`Interactions`.

    A DataFrame is read like ``X`` (``columns``) and its labels mapped to the
    numbering of the fit (``X`` must have been a DataFrame too); at most
    ``shape[0]`` rows, exactly ``shape[1]`` columns. None stays None.
    """
    if validation is None:
        return None
    if is_frame(validation):
        if user_labels is None:
            raise ValueError("validation: a DataFrame needs X as a DataFrame too")
        (rows, cols, values), _, users, items = frame_to_triples(validation, columns)
        validation = (labels_to_index(user_labels, users, "validation users")[rows],
                      labels_to_index(item_labels, items, "validation items")[cols],
                      values)
    val = check_interactions(validation, "validation", n_cols=shape[1])
    if val.shape[0] > shape[0]:
        raise ValueError(f"validation has {val.shape[0]} rows, more than X's {shape[0]} users")
    return val
