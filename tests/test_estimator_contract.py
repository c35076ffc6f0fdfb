"""Every local estimator keeps the shared contract of tests/estimator_contract.py
(DaskWALS keeps it in tests/test_distributed.py, beside its cluster)."""

import fastwmf

from .estimator_contract import EstimatorContract


class TestWALS(EstimatorContract):
    def make(self, **params):
        return fastwmf.WALS(**dict(dict(factors=3, iterations=3, random_state=0), **params))


class TestWALSExact(EstimatorContract):
    def make(self, **params):
        return fastwmf.WALS(**dict(dict(factors=3, iterations=3, solver="cholesky",
                                        random_state=0), **params))


class TestSGD(EstimatorContract):
    def make(self, **params):
        return fastwmf.SGD(**dict(dict(factors=3, epochs=3, random_state=0, num_threads=1),
                                  **params))


class TestBayesianMF(EstimatorContract):
    def make(self, **params):
        return fastwmf.BayesianMF(**dict(dict(factors=3, samples=4, burn_in=2, random_state=0),
                                         **params))


class TestDenseSVD(EstimatorContract):
    def make(self, **params):
        return fastwmf.DenseSVD(**dict(dict(factors=3), **params))


class TestTruncatedSVD(EstimatorContract):
    def make(self, **params):
        return fastwmf.TruncatedSVD(**dict(dict(factors=3, random_state=0), **params))


class TestPopularity(EstimatorContract):
    def make(self, **params):
        return fastwmf.Popularity(**params)
