"""Plain numpy reference implementations: dense, slow and obviously right."""

import numpy as np


def dense_weights(shape, rows, cols, confidence, w0, user_weights, item_weights):
    """Per-entry weight matrix: c_ij where observed, w0 p_i q_j elsewhere."""
    W = w0 * np.outer(user_weights, item_weights)
    W[rows, cols] = confidence
    return W


def dense_targets(shape, rows, cols, targets):
    """Target matrix: a_ij where observed, 0 elsewhere."""
    A = np.zeros(shape)
    A[rows, cols] = targets
    return A


def row_regularization(regularization, nu, counts, w0, row_weights, other_total):
    """lam * (n_i + w0 p_i sum(q))**nu, written out per row."""
    return np.array([regularization * (counts[i] + w0 * row_weights[i] * other_total) ** nu
                     for i in range(len(counts))])


def objective(W, A, U, V, reg_u, reg_v):
    """sum_ij W_ij (A_ij - u_i.v_j)^2 + sum_i reg_u[i] |u_i|^2 + sum_j reg_v[j] |v_j|^2."""
    R = A - U @ V.T
    return float(np.sum(W * R * R) + reg_u @ np.sum(U * U, axis=1) + reg_v @ np.sum(V * V, axis=1))


def solve_rows(W, A, other, reg):
    """Each row's exact minimiser with ``other`` fixed, from the dense normal equations.

    Row i solves (sum_j W_ij y_j y_j^T + reg_i I) x = sum_j W_ij A_ij y_j over
    every column j, observed or not: no Gramian trick.
    """
    d = other.shape[1]
    out = np.empty((W.shape[0], d))
    for i in range(W.shape[0]):
        lhs = (other * W[i][:, None]).T @ other + reg[i] * np.eye(d)
        rhs = other.T @ (W[i] * A[i])
        out[i] = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
    return out


def conjugate_gradient(A, b, x, steps):
    """``steps`` plain CG steps on ``A x = b`` from ``x`` (stops once the residual is 0)."""
    r = b - A @ x
    p = r.copy()
    rs = r @ r
    for _ in range(steps):
        if rs < 1e-300:
            break
        Ap = A @ p
        alpha = rs / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rs_new = r @ r
        p = r + rs_new / rs * p
        rs = rs_new
    return x


def truncated_svd_error(A, d):
    """Squared Frobenius error of the best rank-d approximation (Eckart-Young)."""
    s = np.linalg.svd(A, compute_uv=False)
    return float(np.sum(s[d:] ** 2))


def topk(scores, k, banned):
    """Indices of the k best scores (ties: lower id first), leaving out ``banned``."""
    order = sorted((j for j in range(len(scores)) if j not in banned),
                   key=lambda j: (-scores[j], j))
    return order[:k]


def sgd_visit_loss(u, v, bu, bv, mu, biased, a, c, w0, p, q, Gv, Gu, reg_u, reg_v, breg_u,
                   breg_v, gram_u, gram_v):
    """Half of one visit's share of the SGD objective (see kernels.sgd.sgd_epoch)."""
    dot = u @ v
    pred = dot + (mu + bu + bv if biased else 0.0)
    value = (c * (a - pred) ** 2 - w0 * p * q * dot ** 2
             + gram_u * u @ Gv @ u + gram_v * v @ Gu @ v
             + reg_u * u @ u + reg_v * v @ v + breg_u * bu ** 2 + breg_v * bv ** 2)
    return 0.5 * value
