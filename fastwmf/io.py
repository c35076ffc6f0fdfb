"""Saving and loading fitted models in a versioned format that never unpickles.

A model file is a NumPy ``.npz`` archive: one uncompressed array per fitted
matrix plus ``__header__``, UTF-8 JSON holding the format name and version,
the class, its constructor parameters and fitted scalars. Loading uses
``allow_pickle=False`` throughout.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from typing import TYPE_CHECKING

import numpy as np

from ._config import SUPPORTED_DTYPES
from ._threading import max_threads
from .weights import CONFIDENCE_TRANSFORMS

if TYPE_CHECKING:
    from typing import Any, BinaryIO, TypeVar

    from ._typing import SavedModel

    ModelClass = TypeVar("ModelClass", bound=type)

FORMAT_NAME = "fastwmf-model"
FORMAT_VERSION = 2
_HEADER = "__header__"

#: Optional arrays of original user and item labels (index -> label).
LABEL_ARRAYS = ("user_ids_", "item_ids_")

#: Optional CSR pattern of the training interactions (format version 2 on).
SEEN_ARRAYS = ("seen_indptr_", "seen_indices_")

#: Arrays a model file may hold beside its class's fitted arrays.
OPTIONAL_ARRAYS = LABEL_ARRAYS + SEEN_ARRAYS


class ModelFileError(ValueError):
    """A model file is missing pieces, corrupted, or from a newer version."""


#: Model classes by the name a file stores (see :func:`register_model`).
_MODEL_CLASSES: dict[str, type] = {}


def register_model(cls: ModelClass) -> ModelClass:
    """Let :func:`save_model` write and :func:`load_model` read models of ``cls``.

    A class decorator: the model modules register themselves, so this module
    imports none of them. The file names the class by ``cls.__name__``; a
    subclass is not registered with its base.
    """
    name = cls.__name__
    if _MODEL_CLASSES.get(name, cls) is not cls:
        raise ValueError(f"a model class named {name!r} is registered already")
    _MODEL_CLASSES[name] = cls
    return cls


def _model_classes():
    return dict(_MODEL_CLASSES)


def _json_params(model):
    params = {}
    for name, value in model.get_params().items():
        if callable(value) and not isinstance(value, type):
            value = None  # callbacks are not data; they are not saved
        elif isinstance(value, np.random.Generator):
            value = None
        elif isinstance(value, np.dtype) or isinstance(value, type):
            value = np.dtype(value).name
        elif isinstance(value, np.generic):
            value = value.item()
        params[name] = value
    return params


def _is_binary_writer(target):
    return hasattr(target, "write") and not isinstance(target, io.TextIOBase)


def _check_open(target):
    """A closed file object gets an error naming ``path``."""
    if getattr(target, "closed", False) is True:
        raise ValueError("path: the file object is closed; pass an open binary file")


def _stream_label(stream):
    return f"<{type(stream).__name__} stream>"


def save_model(model: SavedModel, path: str | os.PathLike[str] | BinaryIO) -> None:
    """Write a fitted model to a path, atomically, or to a binary file object.

    A path is written beside itself under a temporary name and renamed into
    place, so an interrupted save leaves any previous file intact. A file
    object (an open ``"wb"`` file, ``io.BytesIO``, an object store's upload
    stream) receives the archive at its current position and is left open.

    Parameters
    ----------
    model : FactorModel
        A fitted model of a registered class (:func:`register_model`).
    path : str, os.PathLike or binary file object
        Destination; ``.npz`` is not appended.
    """
    if isinstance(path, io.TextIOBase):
        raise TypeError("path: a text stream cannot hold a model; open the file in binary "
                        "mode ('wb') or use io.BytesIO")
    if not (isinstance(path, (str, os.PathLike)) or _is_binary_writer(path)):
        raise TypeError(f"path must be a path or a binary file object, "
                        f"got {type(path).__name__}")
    _check_open(path)
    model._check_fitted()
    if type(model).__name__ not in _model_classes():
        raise TypeError(f"model must be a fastwmf model, got {type(model).__name__}")
    header: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "class": type(model).__name__,
        "params": _json_params(model),
        "values": {name: getattr(model, name) for name in model._fitted_values},
        "arrays": list(model._fitted_arrays) + [
            name for name in OPTIONAL_ARRAYS if getattr(model, name, None) is not None],
    }
    arrays = {name: getattr(model, name) for name in header["arrays"]}
    for name in LABEL_ARRAYS:
        if name in arrays and np.asarray(arrays[name]).dtype.kind not in "iuU":
            raise TypeError(f"model.{name} must hold integer or string labels to be saved, "
                            f"got dtype {np.asarray(arrays[name]).dtype}")
    arrays[_HEADER] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    if _is_binary_writer(path):
        np.savez(path, **arrays)
        return
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastwmf-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_model(path: str | os.PathLike[str] | BinaryIO) -> SavedModel:
    """Read a model written by :func:`save_model`.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        A file object is read from its current position; one that cannot
        seek (a network stream) is read whole into memory first. For bytes,
        pass ``io.BytesIO(data)``.

    Returns
    -------
    FactorModel

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        The file is not a fastwmf model, is truncated or corrupted, or was
        written by a newer format version.
    """
    if isinstance(path, (bytes, bytearray, memoryview)):
        raise TypeError("path: pass the bytes of a model as io.BytesIO(data)")
    if isinstance(path, io.TextIOBase):
        raise TypeError("path: a text stream cannot hold a model; open the file in binary "
                        "mode ('rb')")
    if hasattr(path, "read"):
        _check_open(path)
        source = path
        if not (hasattr(path, "seekable") and path.seekable()):
            source = io.BytesIO(path.read())
        path = _stream_label(path)
    elif isinstance(path, (str, os.PathLike)):
        path = source = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"path: no model file at {path!r}")
    else:
        raise TypeError(f"path must be a path or a binary file object, "
                        f"got {type(path).__name__}")
    try:
        archive = np.load(source, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path!r} is not a readable model file: {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ModelFileError(f"{path!r} is not a fastwmf model file (not an .npz archive)")
    try:
        with archive:
            if _HEADER not in archive.files:
                raise ModelFileError(f"{path!r} is not a fastwmf model file (no header)")
            header = json.loads(archive[_HEADER].tobytes().decode("utf-8"))
            cls = _check_header(header, path)
            missing = [name for name in header["arrays"] if name not in archive.files]
            if missing:
                raise ModelFileError(f"{path!r} lacks the arrays {missing}")
            arrays = {name: archive[name] for name in header["arrays"]}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path!r} is truncated or corrupted: {exc}") from exc
    params = dict(header["params"])
    if isinstance(params.get("num_threads"), int) and params["num_threads"] > max_threads():
        params["num_threads"] = 0  # saved on a bigger machine: use all threads here
    model = cls(**params)
    for name, value in header["values"].items():
        setattr(model, name, value)
    for name, value in arrays.items():
        setattr(model, name, value)
    _check_fitted_state(model, path)
    return model


def _check_header(header, path):
    """Check the header's structure; return the model class it names."""
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path!r} is not a fastwmf model file")
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{path!r} has format version {version!r}; this fastwmf reads "
                             f"versions up to {FORMAT_VERSION}: upgrade fastwmf")
    cls = _model_classes().get(header.get("class"))
    if cls is None:
        raise ModelFileError(f"{path!r} holds an unknown model class {header.get('class')!r}")
    params, values, arrays = header.get("params"), header.get("values"), header.get("arrays")
    if not isinstance(params, dict) or not set(params) <= set(cls._param_names()):
        raise ModelFileError(f"{path!r} has parameters that {cls.__name__} does not take")
    if not isinstance(values, dict) or not set(values) <= set(cls._fitted_values):
        raise ModelFileError(f"{path!r} has fitted values that {cls.__name__} does not have")
    if not isinstance(arrays, list) or set(arrays) - set(OPTIONAL_ARRAYS) != set(cls._fitted_arrays):
        raise ModelFileError(f"{path!r} must hold the arrays {list(cls._fitted_arrays)}, "
                             f"lists {arrays!r}")
    return cls


def _check_fitted_state(model, path):
    """Reject arrays and values that could mislead or crash the kernels."""
    U, V = model.user_factors_, model.item_factors_
    if (U.ndim != 2 or V.ndim != 2 or U.shape[1] != V.shape[1] or U.dtype != V.dtype
            or U.dtype not in SUPPORTED_DTYPES or U.shape[1] < 1):
        raise ModelFileError(f"{path!r} holds inconsistent factor matrices "
                             f"{U.shape} {U.dtype} and {V.shape} {V.dtype}")
    if not (np.all(np.isfinite(U)) and np.all(np.isfinite(V))):
        raise ModelFileError(f"{path!r} holds non-finite factors")
    model.user_factors_ = np.ascontiguousarray(U)
    model.item_factors_ = np.ascontiguousarray(V)
    vectors = {"item_weights_": V.shape[0], "singular_values_": U.shape[1]}
    for name, length in vectors.items():
        if name not in model._fitted_arrays:
            continue
        value = getattr(model, name)
        if (value.ndim != 1 or value.shape[0] != length or value.dtype.kind != "f"
                or not np.all(np.isfinite(value)) or np.any(value < 0)):
            raise ModelFileError(f"{path!r} holds an invalid {name} (need {length} finite "
                                 f"non-negative floats)")
        setattr(model, name, np.ascontiguousarray(value, dtype=np.float64))
    for name, length in (("user_ids_", U.shape[0]), ("item_ids_", V.shape[0])):
        value = getattr(model, name, None)
        if value is not None and (value.ndim != 1 or value.shape[0] != length
                                  or value.dtype.kind not in "iuU"):
            raise ModelFileError(f"{path!r} holds invalid {name} (need {length} integer or "
                                 f"string labels)")
    _check_seen(model, U.shape[0], V.shape[0], path)
    problem = model._check_loaded()
    if problem:
        raise ModelFileError(f"{path!r} {problem}")
    if "fit_params_" in model._fitted_values:
        _check_fit_params(getattr(model, "fit_params_", None), model, path)


def _check_seen(model, n_users, n_items, path):
    """The training pattern must be a CSR pair over the factors' rows: both
    arrays or neither, pointers from 0 rising to the entry count, item ids
    in range (the top-k kernel reads them without bounds checks)."""
    indptr, indices = (getattr(model, name, None) for name in SEEN_ARRAYS)
    if indptr is None and indices is None:
        return
    valid = (indptr is not None and indices is not None
             and indptr.ndim == 1 and indices.ndim == 1
             and indptr.dtype.kind in "iu" and indices.dtype.kind in "iu"
             and indptr.shape[0] == n_users + 1)
    if valid:
        valid = (int(indptr[0]) == 0 and int(indptr[-1]) == indices.shape[0]
                 and bool(np.all(np.diff(indptr) >= 0)))
    if valid and indices.size:
        valid = int(indices.min()) >= 0 and int(indices.max()) < n_items
    if not valid:
        raise ModelFileError(f"{path!r} holds an invalid training pattern (seen_indptr_, "
                             f"seen_indices_) for {n_users} users and {n_items} items")
    model.seen_indptr_ = np.ascontiguousarray(indptr, dtype=np.int64)
    model.seen_indices_ = np.ascontiguousarray(indices, dtype=np.int32)


def _check_fit_params(fitted, model, path):
    required = set(type(model)._fit_param_names)
    if not isinstance(fitted, dict) or set(fitted) != required:
        raise ModelFileError(f"{path!r} lacks the fitted objective parameters")
    for name in required - {"confidence"}:
        value = fitted[name]
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not np.isfinite(value) or value < 0 or (name == "eps" and value == 0)):
            raise ModelFileError(f"{path!r} has an invalid fitted {name}: {value!r}")
    if fitted["confidence"] not in (None,) + CONFIDENCE_TRANSFORMS:
        raise ModelFileError(f"{path!r} has an invalid fitted confidence")
