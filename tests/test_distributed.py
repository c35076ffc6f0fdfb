"""DaskWALS on a LocalCluster of two single-threaded worker processes.

Skipped where dask.distributed is not installed (``pip install -e ".[dask]"``);
the DataFrame tests also need ``dask[dataframe]``.
"""

import logging
import os
import signal

import numpy as np
import pytest
import scipy.sparse as sp

distributed = pytest.importorskip("distributed")

import fastwmf  # noqa: E402
from fastwmf.distributed import DaskWALS, load_checkpoint  # noqa: E402
from fastwmf.distributed import _tasks  # noqa: E402

from .conftest import random_interactions  # noqa: E402

TOL = dict(rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.CRITICAL)
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture
def two_workers(client):
    """The module's client with both workers up (a kill test may have restarted one)."""
    client.wait_for_workers(2, timeout=60)
    return client


def _have(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _problem(seed=0):
    X = random_interactions(60, 45, 0.2, seed=seed, empty_rows=(5,), empty_cols=(3,))
    rng = np.random.default_rng(seed + 1)
    return X, rng.uniform(0.5, 2.0, X.shape[0]), rng.uniform(0.5, 2.0, X.shape[1])


def _params(**extra):
    params = dict(factors=4, w0=0.3, regularization=0.1, nu=0.5, iterations=4,
                  dtype="float64", random_state=3)
    params.update(extra)
    return params


def _assert_same_fit(model, reference):
    np.testing.assert_allclose(model.user_factors_, reference.user_factors_, **TOL)
    np.testing.assert_allclose(model.item_factors_, reference.item_factors_, **TOL)
    np.testing.assert_allclose(model.loss_history_, reference.loss_history_, rtol=1e-6)
    assert model.n_iter_ == reference.n_iter_
    np.testing.assert_array_equal(model.item_weights_, reference.item_weights_)
    assert model.fit_params_ == reference.fit_params_


# ------------------------------------------------------------------ numerics

@pytest.mark.parametrize("exchange", ["full", "routed"])
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_matches_wals_float64(two_workers, solver, exchange):
    X, p, q = _problem()
    weights = np.random.default_rng(5).uniform(0.5, 3.0, X.nnz)
    reference = fastwmf.WALS(**_params(solver=solver)).fit(
        X, weights=weights, user_weights=p, item_weights=q)
    # three blocks per side on two workers: uneven placement is part of the test
    model = DaskWALS(**_params(solver=solver), exchange=exchange, n_blocks=3).fit(
        X, weights=weights, user_weights=p, item_weights=q)
    _assert_same_fit(model, reference)
    assert model.n_blocks_ == (3, 3)
    assert model.nnz_ == X.nnz


def test_matches_wals_float32_and_confidence(two_workers):
    X, _, _ = _problem(seed=2)
    params = _params(dtype="float32", confidence="log", alpha=2.0, nu=0.0)
    reference = fastwmf.WALS(**params).fit(X)
    model = DaskWALS(**params).fit(X)
    assert model.user_factors_.dtype == np.float32
    np.testing.assert_allclose(model.user_factors_, reference.user_factors_, atol=1e-5)
    np.testing.assert_allclose(model.loss_history_, reference.loss_history_, rtol=1e-5)


def _frame(seed):
    """Shuffled entries with label ids, some repeated (summed), and per-entry weights."""
    pd = pytest.importorskip("pandas")
    X, _, _ = _problem(seed=seed)
    coo = X.tocoo()
    rng = np.random.default_rng(seed)
    rows = np.concatenate([coo.row, coo.row[:20]])
    cols = np.concatenate([coo.col, coo.col[:20]])
    values = np.concatenate([coo.data, np.full(20, 0.25)])
    order = rng.permutation(len(rows))
    return pd.DataFrame({"uid": np.char.add("u", (rows[order] * 7).astype(str)),
                         "item": cols[order] * 3 + 100,   # integer labels with gaps
                         "clicks": values[order],
                         "w": rng.uniform(0.5, 2.0, len(rows))})


def test_dask_dataframe_and_parquet_match_wals_on_pandas(two_workers, tmp_path):
    dd = pytest.importorskip("dask.dataframe")
    frame = _frame(seed=4)
    columns = {"user": "uid", "value": "clicks", "weight": "w"}
    rng = np.random.default_rng(1)
    p = rng.uniform(0.5, 2.0, frame["uid"].nunique())
    q = rng.uniform(0.5, 2.0, frame["item"].nunique())
    reference = fastwmf.WALS(**_params(iterations=3)).fit(
        frame, columns=columns, user_weights=p, item_weights=q)
    inputs = [("full", dd.from_pandas(frame.astype({"item": "Int64"}), npartitions=3))]
    if _have("pyarrow"):
        dd.from_pandas(frame, npartitions=4).to_parquet(tmp_path / "interactions")
        inputs.append(("routed", dd.read_parquet(tmp_path / "interactions")))
    for exchange, data in inputs:
        model = DaskWALS(**_params(iterations=3), exchange=exchange).fit(
            data, columns=columns, user_weights=p, item_weights=q)
        _assert_same_fit(model, reference)
        np.testing.assert_array_equal(model.user_ids_, reference.user_ids_)
        np.testing.assert_array_equal(model.item_ids_, reference.item_ids_)
        ids, _ = model.recommend(["u7", "u14"], k=3)
        np.testing.assert_array_equal(ids, reference.recommend(["u7", "u14"], k=3)[0])


def test_pandas_frame_is_read_as_wals_reads_it(two_workers):
    frame = _frame(seed=5)
    reference = fastwmf.WALS(**_params(iterations=2)).fit(frame, columns={"user": "uid"})
    model = DaskWALS(**_params(iterations=2)).fit(frame, columns={"user": "uid"})
    _assert_same_fit(model, reference)
    np.testing.assert_array_equal(model.user_ids_, reference.user_ids_)


def test_dask_dataframe_of_positions_with_shape(two_workers):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, _, _ = _problem(seed=6)
    coo = X.tocoo()
    frame = pd.DataFrame({"user": coo.row.astype(np.int32), "item": coo.col,
                          "value": coo.data})
    shape = (X.shape[0] + 2, X.shape[1] + 1)  # trailing users and items without entries
    reference = fastwmf.WALS(**_params(iterations=3, confidence="linear")).fit(
        sp.coo_matrix((coo.data, (coo.row, coo.col)), shape=shape))
    model = DaskWALS(**_params(iterations=3, confidence="linear")).fit(
        dd.from_pandas(frame, npartitions=2), columns={"value": "value"}, shape=shape)
    _assert_same_fit(model, reference)
    assert model.user_ids_ is None and model.nnz_ == X.nnz


# ------------------------------------------------------- fitted-model interface

def test_fitted_interface_to_local_and_save(two_workers, tmp_path):
    X, _, _ = _problem(seed=7)
    model = DaskWALS(**_params()).fit(X)
    local = model.to_local()
    assert type(local) is fastwmf.WALS
    assert local.get_params() == fastwmf.WALS(**_params()).get_params()
    reference = fastwmf.WALS(**_params()).fit(X)
    ids, _ = local.recommend([0, 1], k=5, exclude=X[[0, 1]])
    np.testing.assert_array_equal(ids, reference.recommend([0, 1], k=5, exclude=X[[0, 1]])[0])
    np.testing.assert_allclose(local.fold_in(X[:3]), reference.fold_in(X[:3]), **TOL)
    np.testing.assert_allclose(model.predict([0, 2], [1, 3]), reference.predict([0, 2], [1, 3]),
                               **TOL)
    np.testing.assert_allclose(model.loss(X), reference.loss_history_[-1], rtol=1e-6)
    model.save(tmp_path / "model.npz")
    loaded = fastwmf.load_model(tmp_path / "model.npz")
    assert type(loaded) is fastwmf.WALS
    np.testing.assert_array_equal(loaded.item_factors_, model.item_factors_)


def test_callback_progress_and_warm_start(two_workers):
    X, _, _ = _problem(seed=8)
    seen = []

    def callback(iteration, loss, U, V):
        seen.append((iteration, loss, U.shape, V.shape, U.flags.writeable))
        return iteration == 3

    model = DaskWALS(**_params(iterations=6), callback=callback, show_progress=True).fit(X)
    assert model.n_iter_ == 3 and len(model.loss_history_) == 3
    assert [s[0] for s in seen] == [1, 2, 3]
    assert seen[0][2:] == ((60, 4), (45, 4), False)
    reference = fastwmf.WALS(**_params(iterations=3)).fit(X)
    _assert_same_fit(model, reference)
    # warm start continues from the current factors exactly as WALS does
    model.set_params(callback=lambda it, loss, U, V: seen.append((U, V)), callback_factors=False,
                     warm_start=True, iterations=2)
    model.fit(X)
    assert seen[-1] == (None, None)
    reference.set_params(warm_start=True, iterations=2).fit(X)
    _assert_same_fit(model, reference)


def test_checkpoints_and_resume(two_workers, tmp_path):
    X, _, _ = _problem(seed=9)
    path = tmp_path / "checkpoints"
    model = DaskWALS(**_params(iterations=5, solver="cg"), checkpoint_path=path,
                     checkpoint_every=2).fit(X)
    assert sorted(os.listdir(path)) == ["iteration-000004"]  # older ones removed
    saved = load_checkpoint(path)
    assert saved["iteration"] == 4
    np.testing.assert_allclose(saved["loss_history"], model.loss_history_[:4])
    reference = fastwmf.WALS(**_params(iterations=4, solver="cg")).fit(X)
    np.testing.assert_array_equal(saved["user_factors"].shape, (60, 4))
    np.testing.assert_allclose(saved["item_factors"], reference.item_factors_, **TOL)
    # resume: the checkpointed factors plus one more iteration equal the full fit
    resumed = DaskWALS(**_params(iterations=1, solver="cg"), warm_start=True)
    resumed.user_factors_ = saved["user_factors"]
    resumed.item_factors_ = saved["item_factors"]
    resumed.fit(X)
    np.testing.assert_allclose(resumed.user_factors_, model.user_factors_, **TOL)
    np.testing.assert_allclose(resumed.loss_history_, model.loss_history_[-1:], rtol=1e-6)


# ------------------------------------------------------------- data movement

def _sent_bytes(dask_worker):
    """Socket bytes this worker has sent so far, by receiver address, and the keys sent.

    Counts the ``compressed`` field of the worker's outgoing transfer log: the
    bytes its comm wrote for each ``get_data`` reply (payload plus framing).
    """
    log = getattr(dask_worker, "transfer_outgoing_log", None)
    if log is None:  # distributed < 2022.11
        log = dask_worker.outgoing_transfer_log
    sent = {}
    keys = []
    for entry in log:
        sent[entry["who"]] = sent.get(entry["who"], 0) + entry["compressed"]
        keys.extend(str(key) for key in entry["keys"])
    return sent, keys


def _bytes_per_iteration(client, X, **params):
    """Median per-iteration bytes sent worker-to-worker and to anyone else."""
    snapshots = []

    def callback(iteration, loss, U, V):
        snapshots.append(client.run(_sent_bytes))

    DaskWALS(callback=callback, callback_factors=False, **params).fit(X)
    peers, others = [], []
    for before, after in zip(snapshots[:-1], snapshots[1:]):  # iterations 2..
        workers = set(after)
        delta = {}
        for worker, (log, keys) in after.items():
            for who, n in log.items():
                delta[who] = delta.get(who, 0) + n - before.get(worker, ({}, []))[0].get(who, 0)
            moved = keys[len(before.get(worker, ({}, []))[1]):]
            # the data blocks never move once built
            assert not [key for key in moved if "-users-" in key or "-items-" in key], moved
        peers.append(sum(n for who, n in delta.items() if who in workers))
        others.append(sum(n for who, n in delta.items() if who not in workers))
    return np.median(peers), np.median(others)


@pytest.mark.parametrize("exchange", ["full", "routed"])
def test_bytes_per_iteration_near_ideal_all_gather(two_workers, exchange):
    X = random_interactions(2000, 1500, 0.01, seed=11)
    d = 8
    ideal = (2 - 1) * (2000 + 1500) * d * 8  # each worker receives the other's half of U and V
    peers, others = _bytes_per_iteration(two_workers, X, factors=d, iterations=4,
                                         dtype="float64", random_state=0, exchange=exchange)
    assert ideal * 0.9 < peers <= 1.5 * ideal
    assert peers + others <= 1.5 * ideal
    assert others < 0.05 * ideal  # only Gramians and loss scalars reach the client


def test_routed_exchange_sends_only_needed_rows(two_workers):
    # block diagonal: each user block touches only its own item block
    A = random_interactions(400, 300, 0.05, seed=12)
    X = sp.block_diag([A, A]).tocsr()
    params = dict(factors=8, iterations=3, dtype="float64", random_state=0, n_blocks=2)
    full, _ = _bytes_per_iteration(two_workers, X, exchange="full", **params)
    routed, _ = _bytes_per_iteration(two_workers, X, exchange="routed", **params)
    assert full > (800 + 600) * 8 * 8 * 0.9
    assert routed < 0.05 * full
    np.testing.assert_allclose(
        DaskWALS(exchange="routed", **params).fit(X).item_factors_,
        fastwmf.WALS(**{k: v for k, v in params.items() if k != "n_blocks"}).fit(X)
        .item_factors_, **TOL)


# ------------------------------------------------------------ worker hygiene

def _kernel_signatures():
    from numba.core import types

    from fastwmf.kernels import loss, specialise
    out = []
    half_steps = [k for kind, _, k in specialise.compiled_kernels() if kind in ("cg", "exact")]
    for kernel in (*half_steps, loss._observed_loss_chunk,
                   loss._weighted_squared_norm_chunk):
        for signature in kernel.signatures:
            out.append([(t.mutable, t.layout) for t in signature if isinstance(t, types.Array)])
    return out


def test_workers_use_one_thread_and_writeable_kernel_arguments(two_workers):
    X, _, _ = _problem(seed=13)
    DaskWALS(**_params(iterations=2)).fit(X)
    DaskWALS(**_params(iterations=2, solver="cg"), exchange="routed").fit(X)
    assert two_workers.submit(_tasks._kernel_threads, 0, pure=False).result() == 1
    for signatures in two_workers.run(_kernel_signatures).values():
        assert signatures
        for arrays in signatures:
            assert all(mutable and layout == "C" for mutable, layout in arrays), arrays


def test_parameters_cover_wals():
    # every WALS parameter, with WALS's default (DaskWALS composes, not inherits)
    wals = fastwmf.WALS().get_params()
    dask = DaskWALS().get_params()
    assert {name: dask[name] for name in wals if name in dask} == wals
    assert not isinstance(DaskWALS(), fastwmf.WALS)


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("params, exc, match", [
    (dict(exchange="broadcast"), ValueError, "exchange must be one of"),
    (dict(n_blocks=0), ValueError, "n_blocks must be >= 1"),
    (dict(factors=0), ValueError, "factors must be >= 1"),
    (dict(factors=50), ValueError, "factors must be <="),
    (dict(num_threads=-1), ValueError, "num_threads must be >= 0"),
    (dict(checkpoint_every=0), ValueError, "checkpoint_every must be >= 1"),
    (dict(checkpoint_path=3), TypeError, "checkpoint_path must be a path"),
    (dict(callback_factors="yes"), TypeError, "callback_factors must be True or False"),
    (dict(client="tcp://nowhere"), TypeError, "client must be a distributed.Client"),
])
def test_bad_parameters(two_workers, params, exc, match):
    X, _, _ = _problem()
    with pytest.raises(exc, match=match):
        DaskWALS(**params).fit(X)


def test_bad_matrix_input(two_workers):
    X, _, _ = _problem()
    with pytest.raises(TypeError, match="wrap a dense array"):
        DaskWALS(factors=2).fit(X.toarray())
    with pytest.raises(TypeError, match="X must be a scipy.sparse matrix"):
        DaskWALS(factors=2).fit([[1, 2]])
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="X values must be finite"):
        DaskWALS(factors=2).fit(bad)
    with pytest.raises(ValueError, match="shape is only used when X is a dask DataFrame"):
        DaskWALS(factors=2).fit(X, shape=(60, 45))
    with pytest.raises(ValueError, match="columns is only used when X is a DataFrame"):
        DaskWALS(factors=2).fit(X, columns={"user": "u"})
    with pytest.raises(ValueError, match="weights must be non-negative"):
        DaskWALS(factors=2).fit(X, weights=-np.ones(X.nnz))
    with pytest.raises(ValueError, match="item_weights must have length 45"):
        DaskWALS(factors=2).fit(X, item_weights=np.ones(3))


VALUE = {"columns": {"value": "value"}}
POSITIONS = {"columns": {"value": "value"}, "shape": (60, 45)}


@pytest.mark.parametrize("change, kwargs, exc, match", [
    (lambda f: f.drop(columns="value"), VALUE, ValueError,
     "the value column 'value' is not in the frame"),
    (lambda f: f.assign(user=f["user"] + 0.5), POSITIONS, TypeError,
     "must hold integer positions with shape="),
    (lambda f: f.assign(value="x"), VALUE, TypeError, "must hold real numbers"),
    (lambda f: f.assign(item=f["item"] - 10), POSITIONS, ValueError,
     "'item' must be non-negative, found -10"),
    (lambda f: f, dict(VALUE, shape=(10, 45)), ValueError, r"'user' must be < shape\[0\] = 10"),
    (lambda f: f.assign(value=np.where(f.index == 3, np.inf, f["value"])), VALUE, ValueError,
     "'value' must be finite"),
    (lambda f: f.assign(weight=-1.0), {"columns": {"weight": "weight"}}, ValueError,
     "'weight' must be non-negative"),
    (lambda f: f.assign(weight=1.0), {"columns": {"weight": "weight"}, "confidence": "linear"},
     ValueError, "cannot be combined with confidence"),
    (lambda f: f.assign(value=-f["value"]), dict(VALUE, confidence="log"), ValueError,
     "must be non-negative with confidence"),
    (lambda f: f.iloc[:0], {}, ValueError, "X has no stored entries"),
    (lambda f: f.astype({"user": "Int64"}).assign(user=lambda g: g["user"].mask(g.index == 2)),
     {}, ValueError, "the user column holds missing labels"),
    (lambda f: f.astype({"value": "Float64"}).assign(
        value=lambda g: g["value"].mask(g.index == 2)), VALUE, ValueError,
     "'value' must be finite"),
    (lambda f: f, dict(weights=np.ones(5)), ValueError, "as columns="),
    (lambda f: f, dict(columns={"rating": "value"}), ValueError, "unknown roles"),
])
def test_bad_dask_dataframe_input(two_workers, change, kwargs, exc, match):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, _, _ = _problem()
    coo = X.tocoo()
    frame = change(pd.DataFrame({"user": coo.row, "item": coo.col, "value": coo.data}))
    kwargs = dict(kwargs)
    params = {k: kwargs.pop(k) for k in ("confidence",) if k in kwargs}
    with pytest.raises(exc, match=match):
        DaskWALS(factors=2, **params).fit(dd.from_pandas(frame, npartitions=2), **kwargs)


def test_no_client_is_a_clear_error():
    X, _, _ = _problem()
    # a Client is running in this module; outside one, get_client() fails
    from unittest import mock
    with mock.patch("distributed.get_client", side_effect=ValueError("No clients found")):
        with pytest.raises(ValueError, match="no dask.distributed Client is running"):
            DaskWALS(factors=2).fit(X)


# ---------------------------------------------------------------- resilience

def _kill_worker_at(client, when):
    """A callback that SIGKILLs one worker process when iteration ``when`` ends."""
    pids = client.run(os.getpid)
    victim = sorted(pids.items())[0][1]
    killed = []

    def callback(iteration, loss, U, V):
        if iteration == when:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    return callback, killed


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("solver, checkpoint_every", [("cholesky", None), ("cg", 2)])
def test_worker_killed_mid_fit_is_recovered(two_workers, solver, checkpoint_every):
    client = two_workers
    X, p, q = _problem(seed=10)
    params = _params(solver=solver, iterations=4)
    reference = fastwmf.WALS(**params).fit(X, user_weights=p, item_weights=q)
    callback, killed = _kill_worker_at(client, 3)
    with distributed.get_task_stream(client) as stream:
        model = DaskWALS(**params, callback=callback, callback_factors=False,
                         checkpoint_every=checkpoint_every).fit(X, user_weights=p,
                                                                item_weights=q)
    assert killed
    _assert_same_fit(model, reference)
    keys = [t["key"] for t in stream.data if isinstance(t["key"], tuple)]
    blocks = [key for key in keys if "-users-" in key[0] or "-items-" in key[0]]
    assert len(blocks) > len(set(blocks))  # the dead worker's data blocks were rebuilt
    solves = [key for key in keys if "-solve-" in key[0]]
    if checkpoint_every:
        # the graph restarts at each checkpoint: nothing before iteration 2 reruns
        early = [key for key in solves if key[1] <= 2]
        assert len(early) == len(set(early))
    client.wait_for_workers(2, timeout=60)


# ------------------------------------------------------------ shared contract

from .estimator_contract import EstimatorContract  # noqa: E402


class TestDaskWALSContract(EstimatorContract):
    """DaskWALS keeps the contract of every estimator (saved as a WALS)."""

    saved_class = fastwmf.WALS

    @pytest.fixture(autouse=True)
    def _cluster(self, two_workers):
        self.client = two_workers

    def make(self, **params):
        return DaskWALS(**dict(dict(factors=3, iterations=3, random_state=0,
                                    client=self.client), **params))
