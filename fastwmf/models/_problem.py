"""A validated WMF problem in the layout the kernels want (CSR and CSC)."""

from dataclasses import dataclass

import numpy as np

from .._config import GRAMIAN_MIN_ROWS
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
            gram_chunks=uniform_chunks(m, min_rows=GRAMIAN_MIN_ROWS),
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
            gram_chunks=uniform_chunks(n, min_rows=GRAMIAN_MIN_ROWS),
        )
        return cls(shape=(m, n), users=users, items=items, w0=w0, dtype=np.dtype(dtype))

    def gramian(self, factors, side):
        """``F^T diag(w) F`` for the factor matrix of ``side``'s rows."""
        return weighted_gramian(factors, side.row_weights, side.gram_chunks)

    def solve(self, side, other_side, other, out, solver, cg_steps, basis=None,
              gramian=None, track_observed=False):
        """Run one half-step: update ``out`` (rows of ``side``) given ``other``.

        With a :class:`~._basis.SharedBasis` the CG solver first rotates
        ``other`` and ``out`` into the eigenbasis of ``other``'s Gramian and
        leaves them there (``basis`` records it); without one, or with the
        exact solver, the factors end in the basis they came in.

        Parameters
        ----------
        gramian : ndarray of float64, optional
            ``other``'s Gramian in its current basis, when already known.
        track_observed : bool, default False
            Also sum the observed part of the objective at the new rows.

        Returns
        -------
        HalfStepSums
            Of the solved rows (:class:`fastwmf.kernels.als.HalfStepSums`).
        """
        G = self.gramian(other, other_side) if gramian is None else gramian
        if basis is not None and solver == "cg":
            eigenvalues = basis.diagonalise(G, other, out)
            return half_step_cg_eigenbasis(
                side.indptr, side.indices, side.targets, side.confidence, other, eigenvalues,
                self.w0, side.row_weights, other_side.row_weights, side.row_reg, side.chunks,
                cg_steps, out, track_observed=track_observed)
        args = (side.indptr, side.indices, side.targets, side.confidence, other, G,
                self.w0, side.row_weights, other_side.row_weights, side.row_reg,
                side.chunks)
        if solver == "cholesky":  # other is ours alone
            return half_step_cholesky(*args, out, overwrite_other=True,
                                      track_observed=track_observed)
        return half_step_cg(*args, cg_steps, out, overwrite_other=True,
                            track_observed=track_observed)

    def iterate(self, U, V, solver, cg_steps, basis, with_loss, item_gramian=None):
        """One ALS iteration: the user half-step, then the item half-step.

        The objective comes out of the half-steps at almost no cost: the item
        half-step sums the observed part as it stores each item row, both sum
        their rows' penalties, and the unobserved part is
        ``w0 <U^T diag(p) U, V^T diag(q) V>_F`` from the Gramian of ``U`` the
        item half-step needs anyway and that of the new ``V``, which the next
        iteration's user half-step reuses.

        Parameters
        ----------
        U, V : ndarray
            Factor matrices, updated in place.
        solver, cg_steps, basis
            As in :meth:`solve`.
        with_loss : bool
            Compute the objective after the iteration.
        item_gramian : ndarray of float64, optional
            Gramian of ``V`` in its current basis, as returned by the previous
            call (``None`` when unknown or after the factors were changed).

        Returns
        -------
        loss : float or None
            The objective after the iteration (``None`` without ``with_loss``).
        item_gramian : ndarray or None
            Gramian of the new ``V`` for the next call, when it was computed.

        Raises
        ------
        FloatingPointError
            When a half-step produced non-finite factors.
        """
        users, items = self.users, self.items
        first = self.solve(users, items, V, U, solver, cg_steps, basis, gramian=item_gramian)
        user_gramian = self.gramian(U, users)
        second = self.solve(items, users, U, V, solver, cg_steps, basis,
                            gramian=user_gramian, track_observed=with_loss)
        if not (np.isfinite(first.squares) and np.isfinite(second.squares)):
            raise FloatingPointError(
                "the factors became non-finite during a half-step; increase "
                "regularization or use dtype='float64'")
        if not with_loss:
            return None, None
        if basis is not None and solver == "cg":  # U was rotated with V since its Gramian
            step = basis.last_step
            user_gramian = step.T @ user_gramian @ step
        item_gramian = self.gramian(V, items)
        unobserved = 0.0
        if self.w0 != 0.0:
            unobserved = self.w0 * float(np.sum(user_gramian * item_gramian))
        loss = second.observed + unobserved + first.penalty + second.penalty
        return float(loss), item_gramian

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
