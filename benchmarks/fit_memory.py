"""Peak memory of one fit against issue 5's budget.

Usage::

    python benchmarks/fit_memory.py {wals-cg|wals-cholesky|wals-block|sgd|implicit-cg} \
        [SIZE] [FACTORS]

SIZE is a ``harness.SIZES`` name (default ``large``), FACTORS the width
(default 64; ``wals-block`` uses blocks of 64 columns). The JIT is warmed on
a slice first; the process's high-water mark (Linux ``VmHWM``) is reset just
before the fit, so the growth printed is what the fit itself allocated. The
budget is 1.5 x the input matrix in both orientations (float32 values, int32
indices) plus the factors.
"""

import sys
import time

import numpy as np
import scipy.sparse as sp

import fastwmf
import harness

MODELS = {
    "wals-cg": lambda it, d: fastwmf.WALS(factors=d, solver="cg", iterations=it, random_state=0),
    "wals-cholesky": lambda it, d: fastwmf.WALS(factors=d, solver="cholesky", iterations=it,
                                                random_state=0),
    "wals-block": lambda it, d: fastwmf.WALS(factors=d, solver="block", block_size=min(64, d),
                                             iterations=it, random_state=0),
    "sgd": lambda it, d: fastwmf.SGD(factors=d, epochs=it, random_state=0, w0=0.0,
                                     biased=False, calculate_loss=False),
    "implicit-cg": lambda it, d: _ImplicitFit(iterations=it, factors=d),
}


class _ImplicitFit:
    """implicit's CPU ALS at its defaults but ``factors`` (the peer of ``wals-cg``)."""

    def __init__(self, iterations, factors):
        try:
            from implicit.cpu.als import AlternatingLeastSquares
        except ImportError:
            sys.exit("implicit is not installed (pip install 'fastwmf[peers]'): skipped")
        self.model = AlternatingLeastSquares(factors=factors, iterations=iterations,
                                             random_state=0)

    def fit(self, X):
        self.model.fit(X, show_progress=False)
        self.user_factors_ = self.model.user_factors
        self.item_factors_ = self.model.item_factors
        return self


def _status_mb(key):
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{key} not in /proc/self/status (Linux only)")


def main(argv):
    kind = argv[0] if argv else "wals-cg"
    size = argv[1] if len(argv) > 1 else "large"
    factors = int(argv[2]) if len(argv) > 2 else 64
    X = sp.csr_matrix(harness.bench_matrix(size), dtype=np.float32)
    X.indices = X.indices.astype(np.int32)
    make = MODELS[kind]
    make(1, factors).fit(X[:2000])
    before = _status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")  # reset the high-water mark
    started = time.perf_counter()
    model = make(2, factors).fit(X)
    seconds = time.perf_counter() - started
    growth = _status_mb("VmHWM") - before
    csr = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
    csc = (X.data.nbytes + X.indices.nbytes + (X.shape[1] + 1) * 8) / 2**20
    factor_mb = (model.user_factors_.nbytes + model.item_factors_.nbytes) / 2**20
    budget = 1.5 * (csr + csc) + factor_mb
    print(f"{kind} {size} d={factors} ({X.nnz} entries, fit {seconds:.1f} s): peak growth "
          f"{growth:.0f} MB; budget 1.5 x {csr + csc:.0f} MB + {factor_mb:.0f} MB factors = "
          f"{budget:.0f} MB; ratio {growth / budget:.2f}; process peak "
          f"{_status_mb('VmHWM'):.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
