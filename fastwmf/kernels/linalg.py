"""Small dense linear algebra used inside per-row kernels."""

import numpy as np
from numba import njit

from .._config import SERIAL

#: A pivot below this fraction of the largest diagonal entry is treated as 0.
PIVOT_TOLERANCE = 1e-12


@njit(**SERIAL)
def cholesky_solve_upper(A, b, d):
    """Solve ``A x = b`` for a symmetric positive semi-definite ``A`` in place.

    Only the upper triangle of the leading ``d x d`` block is read; it is
    overwritten by the Cholesky factor ``U`` (``A = U^T U``) and ``b`` by the
    solution. ``U`` is formed eight rows at a time: each trailing row then
    takes one rank-8 update over contiguous memory, which vectorises, instead
    of a dot product per entry. A direction whose pivot falls below
    :data:`PIVOT_TOLERANCE` times the largest diagonal entry (possible only
    without regularization) gets a zero component, so a singular system still
    yields a finite solution of the remaining equations. LLVM inlines this into
    the kernels compiled per width, where a constant ``d`` unrolls it.
    """
    scale = 0.0
    for k in range(d):
        scale = max(scale, A[k, k])
    tol = PIVOT_TOLERANCE * scale
    for k0 in range(0, d, 8):
        k1 = min(k0 + 8, d)
        for k in range(k0, k1):  # factor the panel's rows among themselves
            s = A[k, k]
            if s <= tol or not np.isfinite(s):
                for t in range(k, d):
                    A[k, t] = 0.0
                continue
            pivot = np.sqrt(s)
            inv = 1.0 / pivot
            # loops from the panel's first column (aligned, fixed start); what they
            # change left of the diagonal is never read
            for t in range(k0, d):
                A[k, t] *= inv
            A[k, k] = pivot
            for j in range(k + 1, k1):
                ukj = A[k, j]
                for t in range(k0, d):
                    A[j, t] -= ukj * A[k, t]
        # trailing rows: one rank-8 update each, over whole rows from column k1
        # (entries left of the diagonal get updated too and are never read)
        if k1 - k0 == 8:
            for j in range(k1, d):
                u0 = A[k0, j]
                u1 = A[k0 + 1, j]
                u2 = A[k0 + 2, j]
                u3 = A[k0 + 3, j]
                u4 = A[k0 + 4, j]
                u5 = A[k0 + 5, j]
                u6 = A[k0 + 6, j]
                u7 = A[k0 + 7, j]
                for t in range(k1, d):
                    A[j, t] -= (u0 * A[k0, t] + u1 * A[k0 + 1, t]
                                + u2 * A[k0 + 2, t] + u3 * A[k0 + 3, t]
                                + u4 * A[k0 + 4, t] + u5 * A[k0 + 5, t]
                                + u6 * A[k0 + 6, t] + u7 * A[k0 + 7, t])
        else:
            for k in range(k0, k1):
                for j in range(k1, d):
                    ukj = A[k, j]
                    for t in range(j, d):
                        A[j, t] -= ukj * A[k, t]
    for k in range(d):  # forward: U^T y = b
        if A[k, k] == 0.0:
            b[k] = 0.0
            continue
        b[k] /= A[k, k]
        yk = b[k]
        for t in range(k + 1, d):
            b[t] -= yk * A[k, t]
    for k in range(d - 1, -1, -1):  # backward: U x = y
        if A[k, k] == 0.0:
            b[k] = 0.0
            continue
        s = b[k]
        for t in range(k + 1, d):
            s -= A[k, t] * b[t]
        b[k] = s / A[k, k]


@njit(**SERIAL)
def solve_upper(U, b, d):
    """Solve ``U x = b`` in place for the upper triangular factor that
    :func:`cholesky_solve_upper` leaves in ``A`` (a zero pivot gives a zero
    component).

    :func:`cholesky_solve_upper` keeps its own copy of this loop: calling this
    function from it made the exact half-step slower (benchmarks/README.md).
    """
    for k in range(d - 1, -1, -1):
        if U[k, k] == 0.0:
            b[k] = 0.0
            continue
        s = b[k]
        for t in range(k + 1, d):
            s -= U[k, t] * b[t]
        b[k] = s / U[k, k]


@njit(**SERIAL)
def cholesky_solve_spd(K, b, size):
    """Solve ``K x = b`` in place for a symmetric positive definite ``K``
    with a unit lower bound (``K >= I``, so no pivot can vanish).

    Reads the upper triangle of the leading ``size x size`` block and
    overwrites it with the factor ``U`` (``K = U^T U``); ``b`` becomes the
    solution. A right-looking factorisation: each step scales one row and
    subtracts its outer product from the trailing rows over contiguous memory.
    Indices are unsigned, so Numba emits no negative-index wraparound and
    LLVM vectorises the loops although ``size`` is known only at run time
    (faster than the same code with signed indices: benchmarks/README.md,
    "Kernel constants").
    """
    n = np.uint64(size)
    one = np.uint64(1)
    for k in range(n):
        pivot = np.sqrt(K[k, k])
        inv = 1.0 / pivot
        K[k, k] = pivot
        for t in range(k + one, n):
            K[k, t] *= inv
        for j in range(k + one, n):
            ukj = K[k, j]
            for t in range(j, n):
                K[j, t] -= ukj * K[k, t]
    for k in range(n):
        b[k] /= K[k, k]
        yk = b[k]
        for t in range(k + one, n):
            b[t] -= yk * K[k, t]
    for step in range(n):
        k = n - one - step
        s = b[k]
        for t in range(k + one, n):
            s -= K[k, t] * b[t]
        b[k] = s / K[k, k]


@njit(**SERIAL)
def identity_plus_gram(T, n, d, K, zero):
    """The upper triangle of ``K = I + T T^T`` for the leading ``n x d`` block of ``T``.

    Each row of ``T`` is taken against four at a time, so one load of it
    feeds four multiply-adds; the products are summed in the type of
    ``zero`` and stored in ``K``'s.
    """
    for p in range(n):
        q = p
        while q + 4 <= n:
            k0 = zero
            k1 = zero
            k2 = zero
            k3 = zero
            for t in range(d):
                tp = T[p, t]
                k0 += T[q, t] * tp
                k1 += T[q + 1, t] * tp
                k2 += T[q + 2, t] * tp
                k3 += T[q + 3, t] * tp
            K[p, q] = k0
            K[p, q + 1] = k1
            K[p, q + 2] = k2
            K[p, q + 3] = k3
            q += 4
        while q < n:
            k0 = zero
            for t in range(d):
                k0 += T[q, t] * T[p, t]
            K[p, q] = k0
            q += 1
        K[p, p] += 1.0
