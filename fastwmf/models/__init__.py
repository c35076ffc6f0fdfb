"""Estimator classes over a shared factor-model interface."""

from .base import FactorModel
from .bayes import BayesianMF
from .popularity import Popularity
from .sgd import SGD
from .svd import DenseSVD, TruncatedSVD
from .wals import WALS

__all__ = ["FactorModel", "WALS", "SGD", "BayesianMF", "DenseSVD", "TruncatedSVD", "Popularity"]
