"""Small dense linear algebra used inside per-row kernels."""

import numpy as np
from numba import njit

from .._config import SERIAL

#: A pivot below this fraction of the largest diagonal entry is treated as 0.
PIVOT_TOLERANCE = 1e-12


@njit(**SERIAL)
def cholesky_solve_inplace(A, b):
    """Solve ``A x = b`` for a symmetric positive semi-definite ``A``.

    Only the lower triangle of ``A`` is read. ``A`` is overwritten by its
    Cholesky factor and ``b`` by the solution. A direction whose pivot vanishes
    (possible only without regularization) gets a zero component, so a
    singular system still yields a finite solution of the remaining equations.
    """
    d = A.shape[0]
    scale = 0.0
    for k in range(d):
        scale = max(scale, A[k, k])
    tol = PIVOT_TOLERANCE * scale
    for k in range(d):
        s = A[k, k]
        for t in range(k):
            s -= A[k, t] * A[k, t]
        if s <= tol or not np.isfinite(s):
            A[k, k] = 0.0
            for j in range(k + 1, d):
                A[j, k] = 0.0
            continue
        pivot = np.sqrt(s)
        A[k, k] = pivot
        inv = 1.0 / pivot
        for j in range(k + 1, d):
            s = A[j, k]
            for t in range(k):
                s -= A[j, t] * A[k, t]
            A[j, k] = s * inv
    for k in range(d):  # forward: L y = b
        if A[k, k] == 0.0:
            b[k] = 0.0
            continue
        s = b[k]
        for t in range(k):
            s -= A[k, t] * b[t]
        b[k] = s / A[k, k]
    for k in range(d - 1, -1, -1):  # backward: L^T x = y
        if A[k, k] == 0.0:
            b[k] = 0.0
            continue
        s = b[k]
        for t in range(k + 1, d):
            s -= A[t, k] * b[t]
        b[k] = s / A[k, k]
