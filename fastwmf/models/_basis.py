"""The orthonormal basis a WALS fit keeps both factor matrices in."""

import numpy as np

from ..kernels.als import gramian_eigenbasis
from ..kernels.rotate import rotate_rows_parallel


class SharedBasis:
    """Tracks the rotation applied to both factor matrices during a fit.

    Rotating ``U`` and ``V`` by the same orthogonal ``R`` changes neither
    ``U V^T`` nor any term of the objective, and CG's iterates do not depend on
    the orthonormal basis they are computed in. A CG half-step therefore first
    rotates both matrices into the eigenbasis of the fixed side's Gramian,
    where the Gramian is diagonal (:meth:`diagonalise`): ``O((m + n) d^2)``
    once per half-step instead of a ``d x d`` product in every CG step of every
    row. The block solver rotates only the fixed side this way: it stores
    every solved row in the new basis and needs the old one only as the
    warm start of the rows it sweeps, which it rotates as it reads them.
    Nothing is rotated back until the fit needs the factors in the basis
    it started from (:meth:`restore`).
    """

    def __init__(self):
        self.rotation = None  # float64 (d, d): stored = original @ rotation
        self.last_step = None  # float64 (d, d): the rotation diagonalise applied last

    @property
    def rotated(self):
        """Whether the factors are stored in another basis than the original."""
        return self.rotation is not None

    def diagonalise(self, gramian, fixed, solved=None):
        """Rotate both factor matrices into the eigenbasis of ``gramian``.

        Parameters
        ----------
        gramian : ndarray of float64, shape (d, d)
            ``F^T diag(w) F`` of ``fixed`` in its current basis.
        fixed, solved : ndarray, shape (rows, d)
            The two factor matrices (same dtype), rotated in place. Without
            ``solved`` only ``fixed`` is rotated, and the caller must store
            every row of the solved matrix in the new basis itself: a
            half-step that overwrites all its rows rotates only the warm
            starts it reads (by :attr:`last_step`).

        Returns
        -------
        ndarray of float64, shape (d,)
            The Gramian's eigenvalues (clipped at 0): its diagonal in the new basis.
        """
        if not np.isfinite(gramian).all():  # eigh would raise LinAlgError or return NaN
            raise FloatingPointError(
                "the factors became non-finite during a half-step; increase "
                "regularization or use dtype='float64'")
        eigenvalues, _, vectors = gramian_eigenbasis(gramian, 0)
        step = np.ascontiguousarray(vectors, dtype=fixed.dtype)
        rotate_rows_parallel(fixed, step)
        if solved is not None:
            rotate_rows_parallel(solved, step)
        applied = step.astype(np.float64)  # what was applied, rounding included
        self.rotation = applied if self.rotation is None else self.rotation @ applied
        self.last_step = applied
        return eigenvalues

    def restore(self, U, V):
        """Rotate ``U`` and ``V`` back into the original basis, in place.

        The inverse of the accumulated rotation is applied (not its
        transpose), so that rounding in the rotations applied in the factors'
        dtype does not accumulate into a scaling of the factors.
        """
        if self.rotation is None:
            return
        back = np.ascontiguousarray(np.linalg.inv(self.rotation), dtype=U.dtype)
        rotate_rows_parallel(U, back)
        rotate_rows_parallel(V, back)
        self.rotation = None

    def forget(self):
        """Mark the factors as stored in the original basis (after replacing them)."""
        self.rotation = None
