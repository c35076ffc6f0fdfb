"""A validated WMF problem in the layout the kernels want (CSR and CSC)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._config import GRAMIAN_MIN_ROWS, RENUMBER_MIN_ENTRIES
from .._threading import row_chunks, uniform_chunks
from ..kernels.als import half_step_cg, half_step_cg_eigenbasis, half_step_cholesky
from ..kernels.block import half_step_block
from ..kernels.gramian import weighted_gramian
from ..kernels.halfstep import HalfStepRows, row_spans
from ..kernels.layout import gather_csr_rows, gather_rows_in_place, transpose_renumbered
from ..kernels.longrows import plan_long_rows
from ..kernels.loss import observed_loss, weighted_squared_norm
from ._basis import SharedBasis

#: Solvers that keep both factor matrices in the fixed side's eigenbasis.
ROTATING_SOLVERS = ("cg", "block")


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
    #: whether each row's indices are sorted (rows may then be solved in
    #: lockstep, :mod:`fastwmf.kernels.longrows`)
    sorted_indices: bool = False
    #: the lockstep plans made so far, by the fixed factors' shape and dtype
    long_row_plans: dict = field(default_factory=dict, repr=False)

    def half_step_rows(self):
        """These rows as a half-step solves them (:class:`~fastwmf.kernels.halfstep.HalfStepRows`)."""
        return HalfStepRows(self.indptr, self.indices, self.targets, self.confidence,
                            self.row_weights, self.row_reg, self.chunks)

    def long_rows(self, other):
        """The :class:`~fastwmf.kernels.longrows.LongRows` of a CG half-step of
        these rows against the fixed factors ``other``, or None (made once per
        shape and dtype of ``other``)."""
        if not self.sorted_indices:
            return None
        key = (other.shape, other.dtype.str)
        if key not in self.long_row_plans:
            starts, ends = row_spans(self.indptr)
            self.long_row_plans[key] = plan_long_rows(
                starts, ends, self.indices, self.chunks, other.shape[0], other.shape[1],
                other.itemsize)
        return self.long_row_plans[key]

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


def unit_as_view(values):
    """``values`` itself, or a read-only stride-0 view of one 1 when every value is 1.

    Unit targets (binary feedback) and unit confidences (no weights) are the
    common case; the view costs no memory per entry, and the half-step of
    the other side needs no transposed copy of it.
    """
    if values.size > 1 and values.strides[0] == 0:  # already one shared value
        return values
    if values.size and values[0] == 1 and values.min() == 1 and values.max() == 1:
        return np.broadcast_to(np.ones(1, dtype=values.dtype), values.shape)
    return values


def as_dtype(values, dtype):
    """``values`` of ``dtype`` (no copy when it already is); a stride-0 view stays one."""
    if values.ndim == 1 and values.size > 1 and values.strides[0] == 0:
        return np.broadcast_to(values[:1].astype(dtype), values.shape)
    return values.astype(dtype, copy=False)


def _entry_values_like(values):
    """An empty array of ``values``' length and dtype, or of length 0 when
    ``values`` is one shared value (a stride-0 view, not copied)."""
    return np.empty(0 if values.strides[0] == 0 else values.shape[0], dtype=values.dtype)


def by_activity(counts):
    """Rows most active first (ties in id order): ``order[k]`` is the old id of new row ``k``."""
    return np.argsort(-np.asarray(counts, dtype=np.int64), kind="stable")


def inverse_permutation(order):
    """``new[old]``: the position of each old id in ``order``."""
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.arange(len(order), dtype=np.int64)
    return inverse


@dataclass
class Problem:
    """Both orientations of the data and the scalars of the objective.

    A renumbered problem (see :meth:`build`) keeps its factor rows in the
    order of :attr:`user_order` and :attr:`item_order`: most active users and
    most popular items first, so that the rows a half-step gathers most often
    share cache lines and pages. :meth:`to_layout` and :meth:`to_original`
    move factor matrices between that order and the caller's, in place.
    """

    shape: tuple
    users: Side
    items: Side
    w0: float
    dtype: np.dtype
    #: item weights ``q`` in the caller's item order
    item_weights: np.ndarray | None = None
    #: caller's user (item) id of factor row k; None: not renumbered
    user_order: np.ndarray | None = None
    item_order: np.ndarray | None = None
    #: ``(indptr, indices)`` of the input in the caller's numbering, when the
    #: user side holds a renumbered copy
    input_pattern: tuple | None = None

    @property
    def renumbered(self):
        """Whether the factor rows are kept in another order than the caller's."""
        return self.user_order is not None

    @classmethod
    def build(cls, shape, indptr, indices, targets, confidence, user_weights, item_weights,
              w0, regularization, nu, dtype, row_cost, renumber=None):
        """Lay out validated data for the kernels.

        Parameters
        ----------
        shape : tuple of int
        indptr, indices : ndarray
            The canonical CSR structure of an :class:`~fastwmf._validation.Interactions`.
        targets, confidence : ndarray, aligned with ``indices``
            Used as they are when already of ``dtype`` (pass them so to save
            a copy), else converted; all-ones values are kept as one shared
            value (:func:`unit_as_view`).
        user_weights, item_weights : ndarray of float64
        w0, regularization, nu : float
        dtype : numpy.dtype
        row_cost : float
            Fixed work per row for chunk balancing, in stored-entry units.
        renumber : bool, optional
            Keep the factor rows by activity (see the class docstring). The
            user side is then a copy of the entries with its rows in that
            order and its columns renumbered (column indices, and the
            targets and confidences that are not one shared value), so that
            a half-step reads it front to back; the item side is transposed
            from it. Default: from
            :data:`fastwmf._config.RENUMBER_MIN_ENTRIES` stored entries on.
        """
        m, n = shape
        nnz = len(indices)
        if renumber is None:
            renumber = nnz >= RENUMBER_MIN_ENTRIES
        targets = unit_as_view(as_dtype(targets, dtype))  # no copy when of dtype
        confidence = unit_as_view(as_dtype(confidence, dtype))
        user_counts = np.diff(indptr)
        user_order = item_order = input_pattern = None
        user_indptr, user_indices = indptr, indices
        if renumber:
            user_order = by_activity(user_counts)
            item_order = by_activity(np.bincount(indices, minlength=n))
            user_counts = user_counts[user_order]
            user_weights_k = user_weights[user_order]
            item_weights_k = item_weights[item_order]
            input_pattern = (indptr, indices)
            user_indptr = np.zeros(m + 1, dtype=np.int64)
            np.cumsum(user_counts, out=user_indptr[1:])
            user_indices = np.empty(nnz, dtype=np.int32)
            user_targets = _entry_values_like(targets)
            user_confidence = _entry_values_like(confidence)
            gather_csr_rows(indptr, user_order, indices, targets, confidence,
                            inverse_permutation(item_order).astype(np.int32), user_indptr,
                            user_indices, user_targets, user_confidence)
            targets = user_targets if user_targets.size else targets
            confidence = user_confidence if user_confidence.size else confidence
        else:
            user_weights_k, item_weights_k = user_weights, item_weights
        item_indices = np.empty(nnz, dtype=np.int32)
        item_targets = _entry_values_like(targets)
        item_confidence = _entry_values_like(confidence)
        item_indptr = transpose_renumbered(user_indptr[:-1], user_indptr[1:], user_indices,
                                           targets, confidence, np.arange(n, dtype=np.int32),
                                           item_indices, item_targets, item_confidence)
        if not item_targets.size:
            item_targets = targets
        if not item_confidence.size:
            item_confidence = confidence
        item_counts = np.diff(item_indptr)
        users = Side(
            indptr=user_indptr,
            indices=user_indices,
            targets=targets,
            confidence=confidence,
            row_weights=user_weights_k,
            row_reg=frequency_scaled_regularization(
                regularization, nu, user_counts, w0, user_weights_k, item_weights.sum()),
            chunks=row_chunks(user_indptr, row_cost),
            gram_chunks=uniform_chunks(m, min_rows=GRAMIAN_MIN_ROWS),
        )
        items = Side(
            indptr=item_indptr,
            indices=item_indices,
            targets=item_targets,
            confidence=item_confidence,
            row_weights=item_weights_k,
            row_reg=frequency_scaled_regularization(
                regularization, nu, item_counts, w0, item_weights_k, user_weights.sum()),
            chunks=row_chunks(item_indptr, row_cost),
            gram_chunks=uniform_chunks(n, min_rows=GRAMIAN_MIN_ROWS),
            sorted_indices=True,  # transposed from the user rows in order
        )
        return cls(shape=(m, n), users=users, items=items, w0=w0, dtype=np.dtype(dtype),
                   item_weights=item_weights, user_order=user_order, item_order=item_order,
                   input_pattern=input_pattern)

    def to_layout(self, U, V):
        """Reorder factor matrices from the caller's row order into the problem's, in place."""
        if self.renumbered:
            gather_rows_in_place(U, self.user_order)
            gather_rows_in_place(V, self.item_order)

    def take_user_pattern(self):
        """Copies of ``(indptr, indices)`` of the input's CSR pattern in the
        caller's user and item numbering, for the fitted model to keep.

        A renumbered problem drops its user side first, so that its copy of
        the entries is freed before the input's pattern is copied: call this
        last.
        """
        indptr, indices = self.input_pattern or (self.users.indptr, self.users.indices)
        if self.renumbered:
            self.users = None
            self.input_pattern = None
        return np.array(indptr, dtype=np.int64), np.array(indices, dtype=np.int32)

    def to_original(self, U, V):
        """Reorder factor matrices from the problem's row order into the caller's, in place."""
        if self.renumbered:
            gather_rows_in_place(U, inverse_permutation(self.user_order))
            gather_rows_in_place(V, inverse_permutation(self.item_order))

    def gramian(self, factors, side):
        """``F^T diag(w) F`` for the factor matrix of ``side``'s rows."""
        return weighted_gramian(factors, side.row_weights, side.gram_chunks)

    def solve(self, side, other_side, other, out, solver, cg_steps, basis=None,
              gramian=None, track_observed=False, block_size=None):
        """Run one half-step: update ``out`` (rows of ``side``) given ``other``.

        With a :class:`~._basis.SharedBasis` the CG and block solvers first
        rotate ``other`` and ``out`` into the eigenbasis of ``other``'s
        Gramian and leave them there (``basis`` records it); without one, or
        with the exact solver, the factors end in the basis they came in.

        Parameters
        ----------
        gramian : ndarray of float64, optional
            ``other``'s Gramian in its current basis, when already known.
        track_observed : bool, default False
            Also sum the observed part of the objective at the new rows.
        block_size : int, optional
            Columns per block of ``solver="block"``.

        Returns
        -------
        HalfStepSums
            Of the solved rows (:class:`fastwmf.kernels.halfstep.HalfStepSums`).
        """
        G = self.gramian(other, other_side) if gramian is None else gramian
        rows = side.half_step_rows()
        q = other_side.row_weights
        if solver == "block":
            rotation = SharedBasis() if basis is None else basis
            # the half-step stores every row of out in the new basis, rotating
            # only the warm starts of the rows it sweeps
            eigenvalues = rotation.diagonalise(G, other)
            step = np.ascontiguousarray(rotation.last_step, dtype=out.dtype)
            sums = half_step_block(rows, other, eigenvalues, self.w0, q, block_size, out,
                                   track_observed=track_observed, start_rotation=step)
            if basis is None:
                rotation.restore(other, out)
            return sums
        if basis is not None and solver == "cg":
            eigenvalues = basis.diagonalise(G, other, out)
            return half_step_cg_eigenbasis(rows, other, eigenvalues, self.w0, q, cg_steps, out,
                                           track_observed=track_observed,
                                           long_rows=side.long_rows(other))
        if solver == "cholesky":  # other is ours alone
            return half_step_cholesky(rows, other, G, self.w0, q, out, overwrite_other=True,
                                      track_observed=track_observed)
        return half_step_cg(rows, other, G, self.w0, q, cg_steps, out, overwrite_other=True,
                            track_observed=track_observed)

    def iterate(self, U, V, solver, cg_steps, basis, with_loss, item_gramian=None,
                block_size=None):
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
        solver, cg_steps, basis, block_size
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
        first = self.solve(users, items, V, U, solver, cg_steps, basis, gramian=item_gramian,
                           block_size=block_size)
        user_gramian = self.gramian(U, users)
        second = self.solve(items, users, U, V, solver, cg_steps, basis,
                            gramian=user_gramian, track_observed=with_loss,
                            block_size=block_size)
        if not (np.isfinite(first.squares) and np.isfinite(second.squares)):
            raise FloatingPointError(
                "the factors became non-finite during a half-step; increase "
                "regularization or use dtype='float64'")
        if not with_loss:
            return None, None
        if basis is not None and solver in ROTATING_SOLVERS:  # U was rotated with V since its Gramian
            step = basis.last_step
            user_gramian = step.T @ user_gramian @ step
        item_gramian = self.gramian(V, items)
        unobserved = 0.0
        if self.w0 != 0.0:
            unobserved = self.w0 * float(np.sum(user_gramian * item_gramian))
        loss = second.observed + unobserved + first.penalty + second.penalty
        return float(loss), item_gramian

    def loss(self, U, V):
        """The full objective, in ``O(nnz d + (m + n) d^2)``, of factors in the
        problem's row order."""
        u, v = self.users, self.items
        # from the item side, whose rows are stored in the factors' order
        data_part = observed_loss(v.indptr, v.indices, v.targets, v.confidence, V, U,
                                  self.w0, v.row_weights, u.row_weights, v.chunks)
        unobserved = 0.0
        if self.w0 != 0.0:
            unobserved = self.w0 * float(np.sum(self.gramian(U, u) * self.gramian(V, v)))
        penalty = (weighted_squared_norm(U, u.row_reg, u.chunks)
                   + weighted_squared_norm(V, v.row_reg, v.chunks))
        return float(data_part + unobserved + penalty)
