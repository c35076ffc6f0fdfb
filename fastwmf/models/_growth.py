"""Growth and refresh without a refit: the half-step for given users or items.

:class:`Growth` is mixed into the WMF estimators (WALS, SGD), which supply
``_solve_side(data, which, own_weights)``: the exact rows of one side for
the validated rows of ``data`` with the other side's factors fixed.
"""

import numpy as np
import scipy.sparse as sp

from .._frames import frame_to_triples, is_frame
from .._validation import check_interactions
from ._serving import pairs_to_rows, sorted_rows

class Growth:
    """``partial_fit_users`` and ``partial_fit_items`` for a fitted factor model."""

    def partial_fit_users(self, X, users=None, *, weights=None, columns=None):
        """Solve the factors of the given users again, or add new users, items fixed.

        Each row of ``X`` is the whole interaction row of one user: the exact
        user half-step of the fitted objective is solved for it against the
        fixed item factors (with unit user weight, as in :meth:`fold_in`), and
        it replaces that user's remembered interactions. Users the model
        knows are refreshed; new ones are appended (their factors and labels
        at the end). Every other user's factors stay as they were, bit for bit.

        Parameters
        ----------
        X : sparse matrix, (rows, cols, values) tuple or DataFrame
            One row per user, ``n_items`` columns; a DataFrame (for a model
            fitted on one) names users and items by label, one row per entry,
            read with ``columns`` as in ``fit`` (its items must be known).
        users : array-like, optional
            For matrix input, the id (label) of each row of ``X``, without
            repeats. Default: the rows are new users (for a model without
            labels, ids ``n_users, n_users + 1, ...``). New integer ids must
            continue the numbering without gaps.
        weights : optional
            Per-entry confidences, as in ``fit``.
        columns : dict, optional
            Column names of a DataFrame, as in ``fit``.

        Returns
        -------
        self
        """
        return self._partial_fit(X, users, weights, columns, "user")

    def partial_fit_items(self, X, items=None, *, weights=None, columns=None):
        """Solve the factors of the given items again, or add new items, users fixed.

        The item-side twin of :meth:`partial_fit_users`: each column of ``X``
        is the whole interaction column of one item, solved exactly against
        the fixed user factors (the users' unobserved weights taken as 1; an
        item keeps its own ``item_weights_`` entry, a new one gets 1). New
        items can be recommended at once.

        Parameters
        ----------
        X : sparse matrix, (rows, cols, values) tuple or DataFrame
            One column per item, at most ``n_users`` rows (users by id); a
            DataFrame (for a model fitted on one) as in
            :meth:`partial_fit_users`, its users known.
        items : array-like, optional
            For matrix input, the id (label) of each column of ``X``, without
            repeats. Default: the columns are new items.
        weights, columns : optional
            As in :meth:`partial_fit_users`.

        Returns
        -------
        self
        """
        return self._partial_fit(X, items, weights, columns, "item")

    # ------------------------------------------------------------ the work
    def _partial_fit(self, X, ids, weights, columns, which):
        self._check_fitted()
        name = f"{which}s"
        data, ids = self._side_rows(X, ids, weights, columns, which, name)
        positions, new_labels, n_new = self._place(ids, data.shape[0], which, name)
        factors = self.user_factors_ if which == "user" else self.item_factors_
        own_weights = None
        if which == "item":
            known = self.item_weights_
            own_weights = np.where(positions < len(known),
                                   known[np.minimum(positions, len(known) - 1)], 1.0)
        solved = self._solve_side(data, which, own_weights)
        grown = np.empty((factors.shape[0] + n_new, factors.shape[1]), dtype=factors.dtype)
        grown[:factors.shape[0]] = factors
        grown[positions] = solved
        seen = self._updated_pattern(data, positions, n_new, which)
        # everything is computed: now change the model
        if which == "user":
            self.user_factors_ = grown
        else:
            self.item_factors_ = grown
            self.item_weights_ = np.concatenate((self.item_weights_, np.ones(n_new)))
            self.__dict__.pop("index_", None)  # built for the items as they were
        if new_labels is not None:
            attr = "user_ids_" if which == "user" else "item_ids_"
            setattr(self, attr, np.concatenate((getattr(self, attr), new_labels)))
        if seen is not None:
            self.seen_indptr_, self.seen_indices_ = seen
        self._grown(which)
        return self

    def _grown(self, which):
        """Refresh what a model derives from its factors (biases); a hook."""

    def _side_rows(self, X, ids, weights, columns, which, name):
        """``(rows, ids)``: one validated row per updated entity (columns: the other side)."""
        n_other = self.n_items if which == "user" else self.n_users
        if is_frame(X):
            if ids is not None:
                raise ValueError(f"{name}: a DataFrame names its {name} in its "
                                 f"{which} column; leave {name}=None")
            if weights is not None:
                raise ValueError("weights: pass per-entry weights as columns={'weight': ...} "
                                 "with a DataFrame")
            if self.user_ids_ is None or self.item_ids_ is None:
                raise ValueError("X: a DataFrame needs a model fitted on a DataFrame (labels)")
            (rows, cols, values), weights, user_labels, item_labels = frame_to_triples(
                X, columns)
            if which == "user":
                ids, cols = user_labels, self._index(item_labels, "item", "X items")[0][cols]
            else:
                ids, rows = item_labels, self._index(user_labels, "user", "X users")[0][rows]
            shape = ((len(user_labels), n_other) if which == "user"
                     else (n_other, len(item_labels)))
            X = sp.csr_matrix((np.asarray(values, dtype=np.float64), (rows, cols)), shape=shape)
            if weights is not None:
                weights = sp.csr_matrix((np.asarray(weights, dtype=np.float64), (rows, cols)),
                                        shape=shape)
        elif columns is not None:
            raise ValueError("columns is only used when X is a DataFrame")
        if which == "user":
            data = check_interactions(X, "X", weights=weights, n_cols=n_other,
                                      allow_empty=True)
            return data, ids
        data = check_interactions(X, "X", weights=weights, allow_empty=True)
        if data.shape[0] > n_other:
            raise ValueError(f"X has {data.shape[0]} rows (users), more than the model's "
                             f"{n_other}")
        return _transposed(data, n_other), ids

    def _place(self, ids, n_rows, which, name):
        """``(positions, new labels or None, number of new rows)`` of the updated rows."""
        labels = self.user_ids_ if which == "user" else self.item_ids_
        n = self.n_users if which == "user" else self.n_items
        if ids is None:
            if labels is not None:
                raise ValueError(f"{name}: a model fitted on labels needs the label of each "
                                 f"{'row' if which == 'user' else 'column'} of X")
            return np.arange(n, n + n_rows, dtype=np.int64), None, n_rows
        wanted = np.atleast_1d(np.asarray(ids))
        if wanted.ndim != 1 or len(wanted) != n_rows:
            raise ValueError(f"{name} must hold one id per "
                             f"{'row' if which == 'user' else 'column'} of X ({n_rows}), "
                             f"got shape {wanted.shape}")
        if len(np.unique(wanted)) != len(wanted):
            raise ValueError(f"{name} must not repeat an id")
        positions = self._positions(wanted, which, name)[0]
        new = positions < 0
        n_new = int(new.sum())
        if labels is None:
            if wanted.dtype.kind not in "iu":
                raise TypeError(f"{name} must hold integer ids, got dtype {wanted.dtype}")
            added = np.sort(wanted[new])
            if n_new and (added[0] < n or not np.array_equal(added, np.arange(n, n + n_new))):
                raise ValueError(f"{name}: new ids must continue the numbering without gaps "
                                 f"from {n} ({n_new} new), got {added[:5].tolist()}")
            return np.where(new, wanted, positions).astype(np.int64), None, n_new
        if n_new and wanted.dtype.kind != labels.dtype.kind and not (
                wanted.dtype.kind in "iu" and labels.dtype.kind in "iu"):
            raise TypeError(f"{name}: new labels of dtype {wanted.dtype} do not match the "
                            f"model's labels (dtype {labels.dtype})")
        positions = positions.copy()
        positions[new] = n + np.arange(n_new)
        return positions, (wanted[new] if n_new else None), n_new

    def _updated_pattern(self, data, positions, n_new, which):
        """The remembered pattern with the updated rows (columns) replaced."""
        if self.seen_indptr_ is None:
            return None
        m = self.n_users + (n_new if which == "user" else 0)
        n_items = self.n_items + (n_new if which == "item" else 0)
        old_rows = np.repeat(np.arange(self.n_users, dtype=np.int64),
                             np.diff(self.seen_indptr_))
        old_cols = self.seen_indices_.astype(np.int64)
        replaced = np.zeros(m if which == "user" else n_items, dtype=np.bool_)
        replaced[positions] = True
        keep = ~replaced[old_rows if which == "user" else old_cols]
        new_major = np.repeat(positions, np.diff(data.indptr))
        new_minor = data.indices.astype(np.int64)
        if which == "user":
            rows = np.concatenate((old_rows[keep], new_major))
            cols = np.concatenate((old_cols[keep], new_minor))
        else:
            rows = np.concatenate((old_rows[keep], new_minor))
            cols = np.concatenate((old_cols[keep], new_major))
        return sorted_rows(*pairs_to_rows(rows, cols, m))


def _transposed(data, n_rows):
    """``data`` (users x items, at most ``n_rows`` users) as items x users rows."""
    indptr = np.full(n_rows + 1, data.indptr[-1], dtype=np.int64)
    indptr[:len(data.indptr)] = data.indptr
    shape = (n_rows, data.shape[1])
    values = sp.csr_matrix((data.values, data.indices, indptr), shape=shape).T.tocsr()
    weights = None
    if data.weights is not None:
        weights = sp.csr_matrix((data.weights, data.indices, indptr), shape=shape).T.tocsr()
        weights = weights.data
    return check_interactions(values, "X", weights=weights, allow_empty=True)
