"""The iteration driver that every iterative model's ``fit`` runs through.

A model supplies one iteration (an ALS sweep, an SGD epoch) as an
:class:`Iteration`; :func:`run_iterations` owns everything around it: the
thread limits, the progress bar, the loss history and its finite check,
validation with a best-state snapshot and patience, the callback that may
stop the fit, and a last step (``finish``) inside the same thread limits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._threading import thread_limits
from ._wmf import progress_bar, read_only

if TYPE_CHECKING:
    from typing import Any, Callable, Protocol

    from .._typing import FloatArray

    class Iteration(Protocol):
        """What a model supplies to :func:`run_iterations`."""

        def step(self, iteration: int) -> float | None:
            """Run iteration ``iteration`` (1-based); return the objective after
            it, or None when it is not computed. Raise ``FloatingPointError``
            on non-finite factors."""

        def callback_factors(self) -> tuple[FloatArray, FloatArray]:
            """``(U, V)`` as the caller sees them (basis and row order)."""

        def validation_score(self) -> float:
            """The validation metric now."""

        def snapshot(self) -> Any:
            """A copy of the state :meth:`restore` can return to."""

        def restore(self, snapshot: Any) -> None: ...

        def finish(self) -> None:
            """Bring the state into the caller's form after the last iteration."""

logger = logging.getLogger(__name__)


@dataclass
class FitLog:
    """What :func:`run_iterations` records of a fit."""

    n_iter: int = 0
    loss_history: list[float] = field(default_factory=list)
    validation_history: list[float] = field(default_factory=list)
    #: The iteration restored after a stop for patience (None without one).
    best_iteration: int | None = None


def run_iterations(fit: Iteration, *, iterations: int, num_threads: int, label: str,
                   show_progress: bool, callback: Callable[..., object] | None, remedy: str,
                   unit: str = "iteration", validate: bool = False,
                   patience: int | None = None, maximize: bool = False,
                   checkpoint: Callable[[int, list[float]], None] | None = None) -> FitLog:
    """Run ``fit.step`` for ``iterations`` iterations at most; return the :class:`FitLog`.

    Parameters
    ----------
    fit : Iteration
        The model's iteration and state.
    iterations : int
    num_threads : int
        Numba threads for the whole loop (:func:`fastwmf._threading.thread_limits`).
    label : str
        The progress bar's title.
    show_progress : bool
    callback : callable or None
        ``callback(iteration, loss, U, V)`` after each iteration with read-only
        factors from ``fit.callback_factors()`` (None where it gives None); a
        true return value stops the fit.
    remedy : str
        Ends the message of the ``FloatingPointError`` raised on a non-finite
        objective (what the user can change).
    unit : str, default "iteration"
        What one step is called in messages ("epoch" for SGD).
    validate : bool, default False
        Call ``fit.validation_score()`` after each step and keep a snapshot of
        the best state (lowest score, or highest with ``maximize``).
    patience : int, optional
        With ``validate``, stop after this many steps without a better score;
        after the last step the best state is restored.
    maximize : bool, default False
        A higher validation score is better.
    checkpoint : callable, optional
        ``checkpoint(iteration, loss_history)`` after each step whose
        objective is finite, before the callback (to save the state).

    Notes
    -----
    ``fit.finish()`` runs after the loop (also after a stop), inside the same
    thread limits; an exception, a ``KeyboardInterrupt`` included, leaves the
    loop without it, so a model only takes its fitted attributes from a
    completed run.
    """
    log = FitLog()
    best = None
    progress = progress_bar(iterations, show_progress, label)
    try:
        with thread_limits(num_threads):
            for iteration in range(1, iterations + 1):
                loss = fit.step(iteration)
                log.n_iter = iteration
                if loss is not None:
                    log.loss_history.append(loss)
                    if not np.isfinite(loss):
                        raise FloatingPointError(
                            f"the objective became {loss} at {unit} {iteration}; {remedy}")
                score = None
                if validate:
                    score = fit.validation_score()
                    log.validation_history.append(score)
                    if best is None or (score > best[0] if maximize else score < best[0]):
                        best = (score, iteration, fit.snapshot())
                logger.debug("%s %d loss %s validation %s", unit, iteration, loss, score)
                if progress is not None:
                    progress.update(1)
                    if loss is not None:
                        progress.set_postfix(loss=f"{loss:.6g}")
                if checkpoint is not None:
                    checkpoint(iteration, log.loss_history)
                if callback is not None:
                    U, V = fit.callback_factors()
                    if callback(iteration, loss, None if U is None else read_only(U),
                                None if V is None else read_only(V)):
                        break
                if (patience is not None and best is not None
                        and iteration - best[1] >= patience):
                    break
            if patience is not None and best is not None:
                log.best_iteration = best[1]
                fit.restore(best[2])
            fit.finish()
    finally:
        if progress is not None:
            progress.close()
    return log
