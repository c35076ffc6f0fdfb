"""fastwmf: weighted matrix factorization for recommender systems, in Numba.

Public names only; nothing is compiled at import time (kernels compile on
first use and are cached on disk).
"""

from . import _cache

_cache.install()  # before any kernel module is imported: it picks the cache folder

from . import datasets, evaluation, weights  # noqa: E402
from .io import ModelFileError, load_model, save_model  # noqa: E402
from .models import SGD, BayesianMF, DenseSVD, FactorModel, Popularity, TruncatedSVD, WALS  # noqa: E402
from .models.base import NotFittedError  # noqa: E402
from .weights import activity_weights, popularity_weights  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "datasets", "evaluation", "weights",
    "WALS", "SGD", "BayesianMF", "DenseSVD", "TruncatedSVD", "Popularity", "FactorModel",
    "load_model", "save_model", "ModelFileError", "NotFittedError",
    "popularity_weights", "activity_weights", "__version__",
]
