"""WALS on a ``dask.distributed`` cluster (optional: ``pip install "fastwmf[dask]"``).

:class:`DaskWALS` fits the single-machine :class:`fastwmf.WALS` objective
with the same kernels, run by Dask workers on row blocks of the data; see
the README section "Beyond one machine" for the data layout, what moves per iteration and
how to run it on Kubernetes or Slurm.
"""

try:
    import distributed as _distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without dask
    raise ImportError(
        "fastwmf.distributed needs dask.distributed; install it with "
        "pip install \"fastwmf[dask]\"") from exc

from ._checkpoint import load_checkpoint
from ._estimator import EXCHANGES, DaskWALS

__all__ = ["DaskWALS", "load_checkpoint", "EXCHANGES"]
