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

    :func:`cholesky_solve_upper` keeps its own copy of this loop, chosen by
    measurement over calling this function (benchmarks/README.md).
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
    (signed indices compared in benchmarks/README.md, "Kernel constants").
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

    Formed in ``4 x 4`` blocks of ``K``: each pass over ``d`` columns reads
    eight rows of ``T`` for sixteen dot products (one row against four reads
    five for four), which matters where ``T`` is held in the second-level
    cache (long rows). The products are summed in the type of ``zero`` and stored
    in ``K``'s; rows past the last full block of four are taken one by one.
    """
    full = n - n % 4
    for p in range(0, full, 4):
        for q in range(p, full, 4):
            _gram_block_4x4(T, p, q, d, K, zero)
        for r in range(p, p + 4):
            for q in range(full, n):
                K[r, q] = _row_dot(T, r, q, d, zero)
    for p in range(full, n):
        for q in range(p, n):
            K[p, q] = _row_dot(T, p, q, d, zero)
    for p in range(n):
        K[p, p] += 1.0


@njit(**SERIAL)
def _row_dot(T, p, q, d, zero):
    """``T[p, :d] . T[q, :d]`` summed in the type of ``zero``."""
    s = zero
    for t in range(d):
        s += T[p, t] * T[q, t]
    return s


@njit(**SERIAL)
def _gram_block_4x4(T, p, q, d, K, zero):
    """``K[p:p+4, q:q+4] = T[p:p+4, :d] T[q:q+4, :d]^T`` (all sixteen entries;
    on the diagonal, ``p = q``, the lower ones are written too and ignored)."""
    a00 = a01 = a02 = a03 = zero
    a10 = a11 = a12 = a13 = zero
    a20 = a21 = a22 = a23 = zero
    a30 = a31 = a32 = a33 = zero
    for t in range(d):
        p0 = T[p, t]
        p1 = T[p + 1, t]
        p2 = T[p + 2, t]
        p3 = T[p + 3, t]
        q0 = T[q, t]
        q1 = T[q + 1, t]
        q2 = T[q + 2, t]
        q3 = T[q + 3, t]
        a00 += p0 * q0
        a01 += p0 * q1
        a02 += p0 * q2
        a03 += p0 * q3
        a10 += p1 * q0
        a11 += p1 * q1
        a12 += p1 * q2
        a13 += p1 * q3
        a20 += p2 * q0
        a21 += p2 * q1
        a22 += p2 * q2
        a23 += p2 * q3
        a30 += p3 * q0
        a31 += p3 * q1
        a32 += p3 * q2
        a33 += p3 * q3
    K[p, q] = a00
    K[p, q + 1] = a01
    K[p, q + 2] = a02
    K[p, q + 3] = a03
    K[p + 1, q] = a10
    K[p + 1, q + 1] = a11
    K[p + 1, q + 2] = a12
    K[p + 1, q + 3] = a13
    K[p + 2, q] = a20
    K[p + 2, q + 1] = a21
    K[p + 2, q + 2] = a22
    K[p + 2, q + 3] = a23
    K[p + 3, q] = a30
    K[p + 3, q + 1] = a31
    K[p + 3, q + 2] = a32
    K[p + 3, q + 3] = a33
