"""The iteration driver shared by the iterative models, on a scripted iteration."""

import numpy as np
import pytest

from fastwmf.models._fitloop import run_iterations


class Scripted:
    """Losses and validation scores from lists; records what the driver asks."""

    def __init__(self, losses, scores=None):
        self.losses, self.scores = list(losses), list(scores or [])
        self.state = 0
        self.calls = []
        self.U, self.V = np.zeros((2, 1)), np.zeros((3, 1))

    def step(self, iteration):
        self.calls.append(("step", iteration))
        self.state = iteration
        return self.losses[iteration - 1]

    def callback_factors(self):
        self.calls.append(("factors", self.state))
        return self.U, self.V

    def validation_score(self):
        return self.scores[self.state - 1]

    def snapshot(self):
        return self.state

    def restore(self, snapshot):
        self.calls.append(("restore", snapshot))
        self.state = snapshot

    def finish(self):
        self.calls.append(("finish", self.state))


def _run(fit, **kwargs):
    settings = dict(iterations=len(fit.losses), num_threads=1, label="test",
                    show_progress=False, callback=None, remedy="do something")
    settings.update(kwargs)
    return run_iterations(fit, **settings)


def test_runs_every_iteration_and_records_the_losses():
    fit = Scripted([3.0, 2.0, None, 1.0])
    log = _run(fit)
    assert log.n_iter == 4 and log.loss_history == [3.0, 2.0, 1.0]
    assert log.best_iteration is None and log.validation_history == []
    assert fit.calls[-1] == ("finish", 4)


def test_callback_sees_read_only_factors_and_can_stop():
    fit = Scripted([3.0, 2.0, 1.0, 0.5])
    seen = []

    def callback(iteration, loss, U, V):
        seen.append((iteration, loss))
        with pytest.raises(ValueError):
            U[0, 0] = 1.0
        return iteration == 2

    log = _run(fit, callback=callback)
    assert seen == [(1, 3.0), (2, 2.0)] and log.n_iter == 2
    assert fit.calls[-1] == ("finish", 2)


def test_patience_stops_and_restores_the_best_state():
    fit = Scripted([5.0, 4.0, 3.0, 2.0, 1.0, 0.5], scores=[0.9, 0.7, 0.8, 0.75, 0.6, 0.5])
    log = _run(fit, validate=True, patience=2)
    assert log.n_iter == 4 and log.best_iteration == 2
    assert log.validation_history == [0.9, 0.7, 0.8, 0.75]
    assert ("restore", 2) in fit.calls and fit.calls[-1] == ("finish", 2)


def test_validation_without_patience_keeps_the_last_state():
    fit = Scripted([2.0, 1.0, 0.5], scores=[0.5, 0.6, 0.7])
    log = _run(fit, validate=True)
    assert log.n_iter == 3 and log.best_iteration is None
    assert not any(call[0] == "restore" for call in fit.calls)


def test_a_non_finite_objective_raises_with_the_remedy_and_skips_finish():
    fit = Scripted([1.0, float("nan"), 0.5])
    with pytest.raises(FloatingPointError, match="objective became nan at epoch 2; do something"):
        _run(fit, unit="epoch")
    assert not any(call[0] == "finish" for call in fit.calls)


def test_checkpoint_runs_after_each_finite_step_before_the_callback():
    fit = Scripted([3.0, 2.0, 1.0])
    order = []

    def checkpoint(iteration, history):
        order.append(("checkpoint", iteration, list(history)))

    def callback(iteration, loss, U, V):
        order.append(("callback", iteration))
        return iteration == 2

    fit.callback_factors = lambda: (None, fit.V)  # a model may show no user factors
    _run(fit, checkpoint=checkpoint, callback=callback)
    assert order == [("checkpoint", 1, [3.0]), ("callback", 1),
                     ("checkpoint", 2, [3.0, 2.0]), ("callback", 2)]
