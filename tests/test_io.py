"""Model files: exact round trips, clean failures, atomic saves, no unpickling."""

import json
import os
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import fastwmf
import fastwmf.io
from fastwmf import (BayesianMF, DenseSVD, ModelFileError, NotFittedError, TruncatedSVD, WALS,
                     load_model, save_model)
from fastwmf.io import FORMAT_VERSION


def make_X():
    return sp.random(30, 20, density=0.3, random_state=0, format="csr")


MODELS = [
    pytest.param(lambda: WALS(factors=3, iterations=3, dtype="float32", random_state=0),
                 id="wals-float32"),
    pytest.param(lambda: WALS(factors=3, iterations=3, dtype="float64", random_state=0,
                              w0=0.5, nu=1.0, solver="cg", cg_steps=2),
                 id="wals-float64-cg"),
    pytest.param(lambda: WALS(factors=2, iterations=2, confidence="log", alpha=2.0, eps=0.5,
                              calculate_loss=False, random_state=3),
                 id="wals-log-no-loss"),
    pytest.param(lambda: BayesianMF(factors=3, samples=4, burn_in=2, random_state=0),
                 id="bayesian-mf"),
    pytest.param(lambda: DenseSVD(factors=3), id="dense-svd"),
    pytest.param(lambda: TruncatedSVD(factors=3, random_state=0), id="truncated-svd"),
]


@pytest.fixture(scope="module")
def X():
    return make_X()


@pytest.fixture(scope="module")
def wals(X):
    return WALS(factors=3, iterations=2, random_state=0).fit(X)


@pytest.fixture
def saved(wals, tmp_path):
    path = tmp_path / "model.fwmf"
    wals.save(path)
    return path


def leftovers(directory):
    return sorted(name for name in os.listdir(directory)
                  if name.startswith(".fastwmf-") or name.endswith(".tmp"))


def assert_same_model(a, b):
    assert type(a) is type(b)
    assert a.get_params() == b.get_params()
    for name in a._fitted_arrays:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name
    for name in a._fitted_values:
        assert getattr(a, name) == getattr(b, name), name


# ---------------------------------------------------------------- round trip

@pytest.mark.parametrize("make", MODELS)
def test_round_trip_is_exact(make, X, tmp_path):
    model = make().fit(X)
    path = tmp_path / "model.fwmf"
    model.save(path)
    loaded = load_model(path)
    assert_same_model(model, loaded)
    if isinstance(model, WALS):
        assert loaded.loss_history_ == model.loss_history_
        assert loaded.n_iter_ == model.n_iter_
        assert loaded.user_factors_.dtype == np.dtype(model.dtype)
    assert leftovers(tmp_path) == []
    assert os.listdir(tmp_path) == ["model.fwmf"]  # no ".npz" appended


@pytest.mark.parametrize("make", MODELS)
def test_loaded_model_recommends_identically(make, X, tmp_path):
    model = make().fit(X)
    save_model(model, str(tmp_path / "m"))
    loaded = type(model).load(tmp_path / "m")
    users = np.arange(X.shape[0])
    for a, b in zip(model.recommend(users, k=5, exclude=X), loaded.recommend(users, k=5,
                                                                             exclude=X)):
        assert np.array_equal(a, b)
    for a, b in zip(model.similar_items([0, 3], k=4), loaded.similar_items([0, 3], k=4)):
        assert np.array_equal(a, b)
    assert np.array_equal(model.predict(users, 1), loaded.predict(users, 1))
    assert np.array_equal(model.fold_in(X[:4]), loaded.fold_in(X[:4]))
    for a, b in zip(model.recommend_new(X[:4], k=3), loaded.recommend_new(X[:4], k=3)):
        assert np.array_equal(a, b)


def test_loaded_wals_can_be_refitted(saved, X, wals):
    loaded = load_model(saved)
    refit = loaded.fit(X)
    assert refit.user_factors_.tobytes() == wals.user_factors_.tobytes()


def test_callback_is_not_saved(X, tmp_path):
    model = WALS(factors=2, iterations=2, random_state=0, callback=lambda *a: None).fit(X)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.callback is None
    params = model.get_params()
    params["callback"] = None
    assert loaded.get_params() == params


def test_load_through_the_wrong_class_raises_type_error(X, tmp_path):
    DenseSVD(factors=2).fit(X).save(tmp_path / "svd")
    with pytest.raises(TypeError, match="DenseSVD"):
        WALS.load(tmp_path / "svd")
    assert isinstance(DenseSVD.load(tmp_path / "svd"), DenseSVD)


# ------------------------------------------------------------ broken files

def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)
    assert fastwmf.ModelFileError is ModelFileError


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.02, 0.0], ids=["half", "90pc", "2pc", "empty"])
def test_truncated_file_raises_model_file_error(saved, keep):
    blob = saved.read_bytes()
    saved.write_bytes(blob[:int(len(blob) * keep)])
    with pytest.raises(ModelFileError):
        load_model(saved)


def test_random_bytes_raise_model_file_error(tmp_path):
    path = tmp_path / "noise"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ModelFileError):
        load_model(path)


def test_text_file_raises_model_file_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a model\n")
    with pytest.raises(ModelFileError):
        load_model(path)


def test_flipped_factor_byte_raises_model_file_error(saved, wals):
    blob = bytearray(saved.read_bytes())
    start = bytes(blob).find(wals.user_factors_.tobytes())
    assert start > 0
    blob[start + 5] ^= 0xFF
    saved.write_bytes(bytes(blob))
    with pytest.raises(ModelFileError):
        load_model(saved)


def test_npz_without_header_raises_model_file_error(wals, tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, user_factors_=wals.user_factors_, item_factors_=wals.item_factors_)
    with pytest.raises(ModelFileError, match="header"):
        load_model(path)


def test_npy_file_raises_model_file_error(wals, tmp_path):
    path = tmp_path / "factors.npy"
    np.save(path, wals.user_factors_)
    with pytest.raises(ModelFileError):
        load_model(path)


def rewrite(src, dst, change_header=None, change_arrays=None, allow_pickle=False):
    """Copy a model file, editing its header JSON and/or its arrays."""
    with np.load(src, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays.pop("__header__").tobytes().decode("utf-8"))
    if change_header is not None:
        header = change_header(header)
    if change_arrays is not None:
        change_arrays(arrays)
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with open(dst, "wb") as handle:
        np.savez(handle, allow_pickle=allow_pickle, **arrays)


def _edit(**changes):
    def change(header):
        for key, value in changes.items():
            if value is _DROP:
                del header[key]
            else:
                header[key] = value(header) if callable(value) else value
        return header
    return change


_DROP = object()


def _params_plus(**extra):
    return lambda header: {**header["params"], **extra}


BROKEN_HEADERS = [
    pytest.param(_edit(version=FORMAT_VERSION + 1), id="newer-version"),
    pytest.param(_edit(version=FORMAT_VERSION + 100), id="much-newer-version"),
    pytest.param(_edit(version=str(FORMAT_VERSION)), id="version-string"),
    pytest.param(_edit(version=_DROP), id="no-version"),
    pytest.param(_edit(format="something-else"), id="wrong-format-name"),
    pytest.param(_edit(format=_DROP), id="no-format-name"),
    pytest.param(_edit(**{"class": "LogisticMF"}), id="unknown-class"),
    pytest.param(_edit(**{"class": "FactorModel"}), id="abstract-class"),
    pytest.param(_edit(params=_DROP), id="no-params"),
    pytest.param(_edit(values=_DROP), id="no-values"),
    pytest.param(_edit(arrays=_DROP), id="no-arrays-list"),
    pytest.param(_edit(arrays=lambda h: h["arrays"] + ["bogus_"]), id="listed-array-missing"),
    pytest.param(lambda header: [header], id="header-is-a-list"),
    pytest.param(
        _edit(params=_params_plus(learning_rate=0.1)), id="unknown-param"),
    pytest.param(
        _edit(params=["factors", 3]), id="params-not-a-dict"),
    pytest.param(
        _edit(values=[1, 2]), id="values-not-a-dict"),
    pytest.param(
        _edit(arrays=["item_factors_"]), id="arrays-lacks-user-factors"),
]


@pytest.mark.parametrize("change_header", BROKEN_HEADERS)
def test_broken_header_raises_model_file_error(saved, tmp_path, change_header):
    broken = tmp_path / "broken.fwmf"
    rewrite(saved, broken, change_header=change_header)
    with pytest.raises(ModelFileError):
        load_model(broken)


def test_newer_version_message_says_upgrade(saved, tmp_path):
    broken = tmp_path / "newer.fwmf"
    rewrite(saved, broken, change_header=_edit(version=FORMAT_VERSION + 1))
    with pytest.raises(ModelFileError, match="version"):
        load_model(broken)


def test_header_not_json_raises_model_file_error(saved, tmp_path):
    with np.load(saved, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for i, garbage in enumerate([b"{not json", b"\xff\xfe\x00", b""]):
        arrays["__header__"] = np.frombuffer(garbage, dtype=np.uint8)
        path = tmp_path / f"garbage{i}"
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)
        with pytest.raises(ModelFileError):
            load_model(path)


def _set_array(name, value):
    def change(arrays):
        arrays[name] = value(arrays[name]) if callable(value) else value
    return change


BROKEN_ARRAYS = [
    pytest.param(_set_array("user_factors_", lambda a: a[:, :2]), id="factor-dims-differ"),
    pytest.param(_set_array("user_factors_", lambda a: a.ravel()), id="user-factors-1d"),
    pytest.param(_set_array("item_factors_", lambda a: a.astype(np.float64)),
                 id="dtypes-differ"),
    pytest.param(_set_array("user_factors_", lambda a: np.full_like(a, np.nan)),
                 id="nan-factors"),
    pytest.param(_set_array("item_factors_", lambda a: np.full_like(a, np.inf)),
                 id="inf-factors"),
    pytest.param(_set_array("user_factors_", lambda a: a.astype(np.int32)),
                 id="integer-factors"),
]


@pytest.mark.parametrize("change_arrays", BROKEN_ARRAYS)
def test_broken_arrays_raise_model_file_error(saved, tmp_path, change_arrays):
    broken = tmp_path / "broken.fwmf"
    rewrite(saved, broken, change_arrays=change_arrays)
    with pytest.raises(ModelFileError):
        load_model(broken)


def test_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "does-not-exist.fwmf")
    with pytest.raises(FileNotFoundError):
        WALS.load(str(tmp_path / "nope"))


# ------------------------------------------------------------------- saving

@pytest.mark.parametrize("model", [WALS(), DenseSVD(), TruncatedSVD()],
                         ids=["WALS", "DenseSVD", "TruncatedSVD"])
def test_saving_unfitted_model_raises_not_fitted(model, tmp_path):
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "m")
    with pytest.raises(NotFittedError):
        save_model(model, tmp_path / "m")
    assert os.listdir(tmp_path) == []


def test_saving_a_non_model_raises_type_error(tmp_path):
    class Impostor(WALS):
        pass

    impostor = Impostor(factors=2, iterations=2, random_state=0).fit(make_X())
    with pytest.raises(TypeError, match="model"):
        save_model(impostor, tmp_path / "m")
    assert os.listdir(tmp_path) == []


def test_save_over_existing_file_replaces_it(X, tmp_path):
    path = tmp_path / "model.fwmf"
    first = WALS(factors=2, iterations=2, random_state=0).fit(X)
    second = DenseSVD(factors=3).fit(X)
    first.save(path)
    second.save(path)
    assert_same_model(second, load_model(path))
    assert os.listdir(tmp_path) == ["model.fwmf"]


def _failing_savez(error, write_first=b"PK\x03\x04partial"):
    def savez(handle, *args, **kwargs):
        handle.write(write_first)  # a partial archive before the failure
        raise error
    return savez


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"),
                                   KeyboardInterrupt(), RuntimeError("boom")],
                         ids=["OSError", "KeyboardInterrupt", "RuntimeError"])
def test_failed_save_keeps_old_file_and_leaves_no_temp(X, saved, tmp_path, monkeypatch,
                                                         error):
    before = saved.read_bytes()
    other = DenseSVD(factors=2).fit(X)
    monkeypatch.setattr(fastwmf.io.np, "savez", _failing_savez(error))
    with pytest.raises(type(error)):
        other.save(saved)
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert leftovers(tmp_path) == []
    assert os.listdir(tmp_path) == ["model.fwmf"]
    assert isinstance(load_model(saved), WALS)


def test_failed_rename_leaves_no_temp(X, saved, tmp_path, monkeypatch):
    before = saved.read_bytes()

    def replace(src, dst):
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(fastwmf.io.os, "replace", replace)
    with pytest.raises(PermissionError):
        DenseSVD(factors=2).fit(X).save(saved)
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_failed_first_save_creates_nothing(wals, tmp_path, monkeypatch):
    monkeypatch.setattr(fastwmf.io.np, "savez", _failing_savez(OSError(5, "I/O error")))
    with pytest.raises(OSError):
        wals.save(tmp_path / "model.fwmf")
    assert os.listdir(tmp_path) == []


def test_save_into_missing_directory_raises(wals, tmp_path):
    with pytest.raises(FileNotFoundError):
        wals.save(tmp_path / "no-such-dir" / "model.fwmf")
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------- never unpickle

class _Payload:
    """Unpickling this object creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _object_array(marker):
    array = np.empty(2, dtype=object)
    array[0] = _Payload(marker)
    array[1] = "x"
    return array


def test_load_never_asks_numpy_to_unpickle(saved, monkeypatch):
    calls = []
    real_load = np.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(fastwmf.io.np, "load", spy)
    load_model(saved)
    assert calls, "load_model did not call np.load"
    assert all(call.get("allow_pickle") is False for call in calls)


@pytest.mark.parametrize("array_name", ["user_factors_", "item_weights_"])
def test_object_array_in_model_file_is_not_unpickled(saved, tmp_path, array_name):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.fwmf"
    rewrite(saved, evil, change_arrays=_set_array(array_name, _object_array(marker)),
            allow_pickle=True)
    assert not marker.exists()
    with pytest.raises(ModelFileError):
        load_model(evil)
    assert not marker.exists()


def test_object_array_as_header_is_not_unpickled(saved, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.fwmf"
    with np.load(saved, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["__header__"] = _object_array(marker)
    with open(evil, "wb") as handle:
        np.savez(handle, allow_pickle=True, **arrays)
    with pytest.raises(ModelFileError):
        load_model(evil)
    assert not marker.exists()


def test_pickle_file_is_not_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    with open(evil, "wb") as handle:
        pickle.dump(_Payload(marker), handle)
    with pytest.raises(ModelFileError):
        load_model(evil)
    assert not marker.exists()


def test_npy_object_array_is_not_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.npy"
    with open(evil, "wb") as handle:
        np.save(handle, _object_array(marker), allow_pickle=True)
    with pytest.raises(ModelFileError):
        load_model(evil)
    assert not marker.exists()


def _rewrite(path, target, **changes):
    """Copy model file ``path`` to ``target`` with some arrays or header parts replaced."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays["__header__"].tobytes().decode("utf-8"))
    for key, value in changes.items():
        if key in ("params", "values"):
            header[key].update(value)
        else:
            arrays[key] = value
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    np.savez(target, **arrays)
    return target


@pytest.mark.parametrize("change", [
    {"item_weights_": np.ones(10 ** 6)},
    {"item_weights_": np.ones(3)},
    {"item_weights_": np.full(20, np.nan)},
    {"item_weights_": -np.ones(20)},
    {"item_weights_": np.ones((20, 2))},
    {"user_factors_": np.ones((30, 3), dtype=np.float16)},
    {"values": {"fit_params_": {"w0": -1.0}}},
], ids=["weights-too-long", "weights-too-short", "weights-nan", "weights-negative",
        "weights-2d", "float16-factors", "negative-fitted-w0"])
def test_crafted_fitted_state_is_rejected(tmp_path, change):
    X = sp.random(30, 20, density=0.3, random_state=0, format="csr")
    model = fastwmf.WALS(factors=3, iterations=2, random_state=0).fit(X)
    model.save(tmp_path / "ok.npz")
    if "values" in change:
        change = {"values": {"fit_params_": dict(model.fit_params_, **change["values"]["fit_params_"])}}
    target = _rewrite(tmp_path / "ok.npz", tmp_path / "bad.npz", **change)
    with pytest.raises(ModelFileError):
        fastwmf.load_model(target)


@pytest.mark.parametrize("make", [
    lambda: fastwmf.SGD(factors=3, epochs=2, random_state=0, num_threads=1),
    lambda: BayesianMF(factors=3, samples=2, burn_in=1, random_state=0),
], ids=["sgd", "bayesian-mf"])
@pytest.mark.parametrize("values, needle", [
    ({"biased_": 1}, "bias settings"),
    ({"global_bias_": float("nan")}, "bias settings"),
    ({"global_bias_": True}, "bias settings"),
], ids=["biased-not-bool", "bias-nan", "bias-bool"])
def test_crafted_bias_settings_are_rejected(tmp_path, make, values, needle):
    X = sp.random(30, 20, density=0.3, random_state=0, format="csr")
    make().fit(X).save(tmp_path / "ok.npz")
    target = _rewrite(tmp_path / "ok.npz", tmp_path / "bad.npz", values=values)
    with pytest.raises(ModelFileError, match=needle):
        fastwmf.load_model(target)


def test_a_biased_model_needs_its_bias_columns(tmp_path):
    X = sp.random(30, 20, density=0.3, random_state=0, format="csr")
    model = fastwmf.SGD(factors=3, epochs=2, random_state=0, num_threads=1).fit(X)
    model.save(tmp_path / "ok.npz")
    target = _rewrite(tmp_path / "ok.npz", tmp_path / "bad.npz",
                      user_factors_=model.user_factors_[:, :2].copy(),
                      item_factors_=model.item_factors_[:, :2].copy())
    with pytest.raises(ModelFileError, match="bias settings"):
        fastwmf.load_model(target)


def test_thread_count_from_a_bigger_machine_is_clamped(tmp_path):
    import numba
    X = sp.random(30, 20, density=0.3, random_state=0, format="csr")
    model = fastwmf.WALS(factors=3, iterations=2, random_state=0).fit(X)
    model.save(tmp_path / "ok.npz")
    target = _rewrite(tmp_path / "ok.npz", tmp_path / "big.npz",
                      params={"num_threads": numba.config.NUMBA_NUM_THREADS + 64})
    loaded = fastwmf.load_model(target)
    assert loaded.num_threads == 0
    np.testing.assert_array_equal(loaded.recommend(0, k=3)[0], model.recommend(0, k=3)[0])


def test_model_classes_register_themselves_once():
    from fastwmf import io
    assert sorted(io._model_classes()) == ["BayesianMF", "DenseSVD", "Popularity", "SGD",
                                           "TruncatedSVD", "WALS"]
    assert io.register_model(fastwmf.WALS) is fastwmf.WALS  # the same class again: no-op

    class WALS(fastwmf.WALS):  # another class under a registered name
        pass

    with pytest.raises(ValueError, match="named 'WALS' is registered already"):
        io.register_model(WALS)
    assert io._model_classes()["WALS"] is fastwmf.WALS


def test_save_and_load_through_binary_file_objects(tmp_path):
    import io
    X = sp.random(30, 20, density=0.3, format="csr", random_state=0)
    model = WALS(factors=3, iterations=2, random_state=0).fit(X)
    buffer = io.BytesIO()
    model.save(buffer)
    data = buffer.getvalue()
    for source in (io.BytesIO(data), _NoSeek(data)):
        loaded = fastwmf.load_model(source)
        np.testing.assert_array_equal(loaded.user_factors_, model.user_factors_)
        assert loaded.loss_history_ == model.loss_history_
    with open(tmp_path / "model.npz", "wb") as handle:
        fastwmf.io.save_model(model, handle)
    with open(tmp_path / "model.npz", "rb") as handle:
        assert isinstance(WALS.load(handle), WALS)
    assert fastwmf.load_model(tmp_path / "model.npz").n_iter_ == 2


class _NoSeek:
    """A read-only stream that cannot seek, like a network download."""

    def __init__(self, data):
        self._data = data

    def read(self, size=-1):
        data, self._data = self._data, b""
        return data

    def seekable(self):
        return False


def test_bad_streams_get_clear_errors():
    import io
    X = sp.random(30, 20, density=0.3, format="csr", random_state=0)
    model = WALS(factors=3, iterations=2, random_state=0).fit(X)
    buffer = io.BytesIO()
    model.save(buffer)
    data = buffer.getvalue()
    with pytest.raises(ModelFileError, match="stream"):
        fastwmf.load_model(io.BytesIO(data[: len(data) // 2]))  # truncated
    with pytest.raises(ModelFileError):
        fastwmf.load_model(io.BytesIO(b"not a model at all" * 10))  # foreign
    with pytest.raises(TypeError, match="io.BytesIO"):
        fastwmf.load_model(data)
    with pytest.raises(TypeError, match="binary"):
        model.save(io.StringIO())
    with pytest.raises(TypeError, match="binary"):
        fastwmf.load_model(io.StringIO("x"))
    with pytest.raises(TypeError, match="path must be"):
        model.save(42)
    closed = io.BytesIO(data)
    closed.close()
    with pytest.raises(ValueError, match="path: the file object is closed"):
        model.save(closed)
    with pytest.raises(ValueError, match="path: the file object is closed"):
        fastwmf.load_model(closed)
