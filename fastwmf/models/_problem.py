"""A validated WMF problem in the layout the kernels want (CSR and CSC)."""

from dataclasses import dataclass

import numpy as np

from .._threading import row_chunks, uniform_chunks
from ..kernels.als import half_step_cg, half_step_cg_eigenbasis, half_step_cholesky
from ..kernels.gramian import weighted_gramian
from ..kernels.layout import transpose_entries
from ..kernels.loss import observed_loss, weighted_squared_norm


@dataclass
class Side:
    """One orientation of the data: rows to solve and their stored entries."""

    indptr: np.ndarray       # int64
    indices: np.ndarray      # int32
    targets: np.ndarray      # a_ij, model dtype
    confidence: np.ndarray   # c_ij, model dtype
    row_weights: np.ndarray  # unobserved weight per row (p or q), float64
    row_reg: np.ndarray      # lam_i per row, float64
    chunks: np.ndarray       # int64 chunk bounds balanced by work
    gram_chunks: np.ndarray  # int64 chunk bounds for this side's Gramian

    @property
    def n_rows(self):
        return len(self.indptr) - 1


def frequency_scaled_regularization(regularization, nu, counts, w0, row_weights,
                                    other_weight_total):
    """``lam * (n_i + w0 * p_i * sum(q))**nu`` for each row (Rendle et al. 2022).

    ``nu = 0`` is plain L2; ``nu = 1`` scales with each row's total weight,
    like ALS-WR. The total unobserved weight of a row, ``w0 * p_i * sum(q)``,
    reduces to the ``w0 * n`` of the paper when all weights are 1.
    """
    base = counts.astype(np.float64) + w0 * row_weights * other_weight_total
    return regularization * np.power(base, nu)


@dataclass
class Problem:
    """Both orientations of the data and the scalars of the objective."""

    shape: tuple
    users: Side
    items: Side
    w0: float
    dtype: np.dtype

    @classmethod
    def build(cls, data, targets, confidence, user_weights, item_weights, w0,
              regularization, nu, dtype, row_cost):
        """Lay out validated data for the kernels.

        Parameters
        ----------
        data : Interactions
        targets, confidence : ndarray, aligned with ``data``
            Used as they are when already of ``dtype`` (pass them so to save
            a copy), else converted.
        user_weights, item_weights : ndarray of float64
        w0, regularization, nu : float
        dtype : numpy.dtype
        row_cost : float
            Fixed work per row for chunk balancing, in stored-entry units.
        """
        m, n = data.shape
        targets = np.asarray(targets, dtype=dtype)      # no copy when already dtype
        confidence = np.asarray(confidence, dtype=dtype)
        item_indices = np.empty(data.nnz, dtype=np.int32)
        item_targets = np.empty(data.nnz, dtype=dtype)
        item_confidence = np.empty(data.nnz, dtype=dtype)
        item_indptr = transpose_entries(data.indptr, data.indices, targets, confidence, n,
                                        item_indices, item_targets, item_confidence)
        user_counts = np.diff(data.indptr)
        item_counts = np.diff(item_indptr)
        users = Side(
            indptr=data.indptr,
            indices=data.indices,
            targets=targets,
            confidence=confidence,
            row_weights=user_weights,
            row_reg=frequency_scaled_regularization(
                regularization, nu, user_counts, w0, user_weights, item_weights.sum()),
            chunks=row_chunks(data.indptr, row_cost),
            gram_chunks=uniform_chunks(m),
        )
        items = Side(
            indptr=item_indptr,
            indices=item_indices,
            targets=item_targets,
            confidence=item_confidence,
            row_weights=item_weights,
            row_reg=frequency_scaled_regularization(
                regularization, nu, item_counts, w0, item_weights, user_weights.sum()),
            chunks=row_chunks(item_indptr, row_cost),
            gram_chunks=uniform_chunks(n),
        )
        return cls(shape=(m, n), users=users, items=items, w0=w0, dtype=np.dtype(dtype))

    def gramian(self, factors, side):
        """``F^T diag(w) F`` for the factor matrix of ``side``'s rows."""
        return weighted_gramian(factors, side.row_weights, side.gram_chunks)

    def solve(self, side, other_side, other, out, solver, cg_steps, basis=None):
        """Run one half-step: update ``out`` (rows of ``side``) given ``other``.

        With a :class:`~._basis.SharedBasis` the CG solver first rotates
        ``other`` and ``out`` into the eigenbasis of ``other``'s Gramian and
        leaves them there (``basis`` records it); without one, or with the
        exact solver, the factors end in the basis they came in.
        """
        G = self.gramian(other, other_side)
        if basis is not None and solver == "cg":
            eigenvalues = basis.diagonalise(G, other, out)
            half_step_cg_eigenbasis(side.indptr, side.indices, side.targets, side.confidence,
                                    other, eigenvalues, self.w0, side.row_weights,
                                    other_side.row_weights, side.row_reg, side.chunks,
                                    cg_steps, out)
            return
        args = (side.indptr, side.indices, side.targets, side.confidence, other, G,
                self.w0, side.row_weights, other_side.row_weights, side.row_reg,
                side.chunks)
        if solver == "cholesky":
            half_step_cholesky(*args, out, overwrite_other=True)  # ours alone
        else:
            half_step_cg(*args, cg_steps, out, overwrite_other=True)

    def loss(self, U, V):
        """The full objective, in ``O(nnz d + (m + n) d^2)``."""
        u, v = self.users, self.items
        data_part = observed_loss(u.indptr, u.indices, u.targets, u.confidence, U, V,
                                  self.w0, u.row_weights, v.row_weights, u.chunks)
        unobserved = 0.0
        if self.w0 != 0.0:
            unobserved = self.w0 * float(np.sum(self.gramian(U, u) * self.gramian(V, v)))
        penalty = (weighted_squared_norm(U, u.row_reg, u.chunks)
                   + weighted_squared_norm(V, v.row_reg, v.chunks))
        return float(data_part + unobserved + penalty)
