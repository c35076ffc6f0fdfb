"""The task pool that runs the chunk kernels: thread limits, nesting, errors."""

import threading
import time

import numba
import numpy as np
import pytest

from fastwmf._threading import run_tasks, thread_limits, work_chunks


def _threads_used(n_tasks, limit):
    seen = set()
    lock = threading.Lock()

    def task(k):
        time.sleep(0.002)  # long enough for the helpers to take some
        with lock:
            seen.add(threading.get_ident())

    with thread_limits(limit):
        run_tasks(task, n_tasks)
    return seen


def test_every_task_runs_once_whatever_the_thread_count():
    for limit in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        counts = np.zeros(50, np.int64)

        def task(k):
            counts[k] += 1

        with thread_limits(limit):
            run_tasks(task, 50)
        assert (counts == 1).all()


def test_thread_count_follows_the_limit():
    assert _threads_used(20, 1) == {threading.get_ident()}
    assert len(_threads_used(40, numba.config.NUMBA_NUM_THREADS)) <= numba.config.NUMBA_NUM_THREADS


def test_nested_calls_run_serially_on_the_task_thread():
    inner = {}

    def task(k):
        seen = set()
        run_tasks(lambda j: seen.add(threading.get_ident()), 8)
        inner[k] = seen

    with thread_limits(numba.config.NUMBA_NUM_THREADS):
        run_tasks(task, 6)
    assert sorted(inner) == list(range(6))
    for seen in inner.values():
        assert len(seen) == 1


@pytest.mark.parametrize("failing", [0, 7])
def test_the_first_error_is_raised_after_every_task_stopped(failing):
    running = []
    done = []

    def task(k):
        running.append(k)
        if k == failing:
            raise ValueError(f"task {k}")
        time.sleep(0.001)
        done.append(k)

    with thread_limits(numba.config.NUMBA_NUM_THREADS):
        with pytest.raises(ValueError, match=f"task {failing}"):
            run_tasks(task, 200)
    settled = len(done)
    time.sleep(0.02)
    assert len(done) == settled  # nothing still runs after the call returned
    assert len(running) < 200  # handing out stopped early


def test_work_chunks_bound_the_work_and_the_count():
    bounds = work_chunks(1000, 10.0, min_work=100, max_chunks=64)
    assert bounds[0] == 0 and bounds[-1] == 1000 and len(bounds) - 1 == 64
    assert np.all(np.diff(bounds) > 0)
    assert list(work_chunks(5, 1.0, min_work=100)) == [0, 5]
    assert list(work_chunks(0, 1.0)) == [0]
