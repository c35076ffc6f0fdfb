"""DaskWALS checkpoints: the factors and loss history of one iteration, written
atomically as a directory of ``.npy`` files and a JSON header."""

import json
import os
import shutil
import tempfile

import numpy as np


CHECKPOINT_FORMAT = "fastwmf-dask-checkpoint"


def write_checkpoint(path, iteration, user_factors, item_factors, loss_history):
    """Save factors as ``path/iteration-NNNNNN/{user,item}_factors.npy`` + ``meta.json``.

    The directory is written under a temporary name and renamed into place,
    so a crash never leaves a half-written checkpoint; older checkpoints in
    ``path`` are removed afterwards.
    """
    os.makedirs(path, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-iteration-", dir=path)
    try:
        for name, array in (("user_factors", user_factors), ("item_factors", item_factors)):
            with open(os.path.join(tmp, f"{name}.npy"), "wb") as handle:
                np.save(handle, array)
                handle.flush()
                os.fsync(handle.fileno())
        meta = {"format": CHECKPOINT_FORMAT, "version": 1, "iteration": int(iteration),
                "loss_history": [float(x) for x in loss_history],
                "shape": [int(user_factors.shape[0]), int(item_factors.shape[0])],
                "factors": int(user_factors.shape[1]), "dtype": user_factors.dtype.name}
        with open(os.path.join(tmp, "meta.json"), "w") as handle:
            json.dump(meta, handle)
        final = os.path.join(path, f"iteration-{int(iteration):06d}")
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for entry in os.listdir(path):
        if entry.startswith("iteration-") and entry != os.path.basename(final):
            shutil.rmtree(os.path.join(path, entry), ignore_errors=True)
    return final


def load_checkpoint(path):
    """The latest checkpoint written by a fit with ``checkpoint_path=path``.

    Returns
    -------
    dict
        ``user_factors``, ``item_factors``, ``iteration`` and ``loss_history``.
        To resume, assign the factors to a model's ``user_factors_`` and
        ``item_factors_`` and fit with ``warm_start=True`` and the remaining
        ``iterations``.
    """
    path = os.fspath(path)
    entries = sorted(e for e in os.listdir(path) if e.startswith("iteration-")) if \
        os.path.isdir(path) else []
    if not entries:
        raise FileNotFoundError(f"path: no checkpoint in {path!r}")
    latest = os.path.join(path, entries[-1])
    with open(os.path.join(latest, "meta.json")) as handle:
        meta = json.load(handle)
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{latest!r} is not a fastwmf checkpoint")
    return {"user_factors": np.load(os.path.join(latest, "user_factors.npy")),
            "item_factors": np.load(os.path.join(latest, "item_factors.npy")),
            "iteration": meta["iteration"], "loss_history": meta["loss_history"]}
