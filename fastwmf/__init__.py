"""fastwmf: weighted matrix factorization for recommender systems, in Numba.

Public names only; nothing is compiled at import time (kernels compile on
first use and are cached on disk).
"""

from . import datasets, evaluation, weights
from .io import ModelFileError, load_model, save_model
from .models import SGD, DenseSVD, FactorModel, Popularity, TruncatedSVD, WALS
from .models.base import NotFittedError
from .weights import activity_weights, popularity_weights

__version__ = "0.1.0"

__all__ = [
    "datasets", "evaluation", "weights",
    "WALS", "SGD", "DenseSVD", "TruncatedSVD", "Popularity", "FactorModel",
    "load_model", "save_model", "ModelFileError", "NotFittedError",
    "popularity_weights", "activity_weights", "__version__",
]
