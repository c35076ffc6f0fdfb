"""One Hogwild SGD epoch over the stored entries.

Threads take contiguous slices of a shuffled order and update the shared
factors without locks (Recht et al. 2011). With one thread the slices run in
order, so an epoch is a plain sequential pass and fully reproducible.
"""

import numpy as np
from numba import njit, prange

from .._config import PARALLEL


@njit(**PARALLEL)
def sgd_epoch(order, rows, cols, targets, confidence, U, V, user_bias, item_bias,
              global_bias, biased, w0, row_weights, col_weights, user_gramian, item_gramian,
              user_visit_reg, item_visit_reg, user_visit_bias_reg, item_visit_bias_reg,
              user_visit_gram, item_visit_gram, learning_rate, adagrad,
              user_acc, item_acc, user_bias_acc, item_bias_acc, n_slices):
    """Visit ``order``'s entries once, updating factors (and biases) in place.

    Each visit of entry ``e = (i, j)`` steps along minus the gradient of its
    share of the objective (halved)::

        c (a - pred)^2 - w0 p_i q_j (u.v)^2
          + user_visit_gram[i] u^T Gv u + item_visit_gram[j] v^T Gu v
          + user_visit_reg[i] |u|^2 + item_visit_reg[j] |v|^2
          + user_visit_bias_reg[i] b_i^2 + item_visit_bias_reg[j] b_j^2

    with ``pred = u.v (+ global_bias + b_i + b_j when biased)``. The per-visit
    weights are the row totals divided by the row's entry count, so one epoch
    sums to the full objective. ``item_gramian`` is ``V^T diag(q) V`` and
    ``user_gramian`` is ``U^T diag(p) U``, both fixed for the epoch.

    With ``adagrad`` each row keeps the running sum of its mean squared
    gradient (LIBMF's per-row rule) and steps ``learning_rate / sqrt(sum)``;
    otherwise the step is ``learning_rate``.
    """
    d = U.shape[1]
    n = order.shape[0]
    size = (n + n_slices - 1) // n_slices
    gram = w0 > 0.0
    for s in prange(n_slices):
        gu = np.empty(d)
        gv = np.empty(d)
        u = np.empty(d)
        v = np.empty(d)
        for t in range(s * size, min(n, (s + 1) * size)):
            e = order[t]
            i = rows[e]
            j = cols[e]
            dot = 0.0
            for k in range(d):
                u[k] = U[i, k]
                v[k] = V[j, k]
                dot += u[k] * v[k]
            pred = dot
            if biased:
                pred += global_bias + user_bias[i] + item_bias[j]
            conf = np.float64(confidence[e])
            err = np.float64(targets[e]) - pred
            scale = conf * err + w0 * row_weights[i] * col_weights[j] * dot
            ru = user_visit_reg[i]
            rv = item_visit_reg[j]
            sq_u = 0.0
            sq_v = 0.0
            for k in range(d):
                gu[k] = ru * u[k] - scale * v[k]
                gv[k] = rv * v[k] - scale * u[k]
            if gram:
                wu = user_visit_gram[i]
                wv = item_visit_gram[j]
                for k in range(d):
                    acc_u = 0.0
                    acc_v = 0.0
                    for l in range(d):
                        acc_u += item_gramian[k, l] * u[l]
                        acc_v += user_gramian[k, l] * v[l]
                    gu[k] += wu * acc_u
                    gv[k] += wv * acc_v
            for k in range(d):
                sq_u += gu[k] * gu[k]
                sq_v += gv[k] * gv[k]
            step_u = learning_rate
            step_v = learning_rate
            if adagrad:
                user_acc[i] += sq_u / d
                item_acc[j] += sq_v / d
                step_u = learning_rate / np.sqrt(user_acc[i])
                step_v = learning_rate / np.sqrt(item_acc[j])
            for k in range(d):
                U[i, k] = u[k] - step_u * gu[k]
                V[j, k] = v[k] - step_v * gv[k]
            if biased:
                gbu = user_visit_bias_reg[i] * user_bias[i] - conf * err
                gbv = item_visit_bias_reg[j] * item_bias[j] - conf * err
                step_bu = learning_rate
                step_bv = learning_rate
                if adagrad:
                    user_bias_acc[i] += gbu * gbu
                    item_bias_acc[j] += gbv * gbv
                    step_bu = learning_rate / np.sqrt(user_bias_acc[i])
                    step_bv = learning_rate / np.sqrt(item_bias_acc[j])
                user_bias[i] -= step_bu * gbu
                item_bias[j] -= step_bv * gbv
