"""Hogwild SGD: gradients, recovery, agreement with exact ALS, determinism."""

import os

import numpy as np
import pytest
import scipy.sparse as sp

import fastwmf
from fastwmf._threading import thread_limits
from fastwmf.metrics import rmse
from fastwmf.model_selection import split_entries
from fastwmf.kernels.sgd import (
    Entries, EpochSettings, EpochTiles, row_scalars, scalar_columns, sgd_epoch)

from . import naive
from .conftest import planted_low_rank, random_interactions

ML100K = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "ml-100k.zip")


@pytest.mark.parametrize("biased,w0", [(True, 0.0), (False, 0.0), (False, 0.7)])
def test_visit_gradient_matches_finite_differences(biased, w0):
    rng = np.random.default_rng(0)
    d = 5
    u, v = rng.standard_normal(d), rng.standard_normal(d)
    bu, bv, mu = 0.3, -0.2, 3.1
    A = rng.standard_normal((d, d))
    B = rng.standard_normal((d, d))
    Gv, Gu = A @ A.T, B @ B.T
    a, c, p, q = 4.0, 1.7, 0.8, 1.3
    reg_u, reg_v, breg_u, breg_v, gram_u, gram_v = 0.11, 0.07, 0.05, 0.02, 0.3 * w0, 0.2 * w0
    args = (mu, biased, a, c, w0, p, q, Gv, Gu, reg_u, reg_v, breg_u, breg_v, gram_u, gram_v)

    def loss(x):
        return naive.sgd_visit_loss(x[:d], x[d:2 * d], x[2 * d], x[2 * d + 1], *args)

    x = np.concatenate([u, v, [bu, bv]])
    h = 1e-6
    numeric = np.array([(loss(x + h * e) - loss(x - h * e)) / (2 * h) for e in np.eye(len(x))])

    U, V = u[None].copy(), v[None].copy()
    user_bias, item_bias = np.array([bu]), np.array([bv])
    lr = 1e-3
    one = lambda value: np.array([value])  # noqa: E731
    tile_ptr = np.array([0, 1], dtype=np.int64)
    first = np.zeros(1, dtype=np.int64)
    flat_epoch(tile_ptr, 1, first, first, 7, np.zeros(1, dtype=np.int32),
              np.zeros(1, dtype=np.int32), one(a), one(c), U, V, user_bias, item_bias, mu,
              biased, w0, one(p), one(q), Gu, Gv, one(reg_u), one(reg_v), one(breg_u),
              one(breg_v), one(gram_u), one(gram_v), lr, False, 0, False, one(1.0), one(1.0),
              one(1.0), one(1.0), one(1.0), one(1.0))
    analytic = np.concatenate([(u - U[0]) / lr, (v - V[0]) / lr,
                               [(bu - user_bias[0]) / lr, (bv - item_bias[0]) / lr]])
    if not biased:
        numeric[2 * d:] = 0.0
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6)


def flat_epoch(tile_ptr, n_item_blocks, block_order, tile_offsets, seed, rows, cols, targets,
               confidence, U, V, user_bias, item_bias, global_bias, biased, w0, row_weights,
               col_weights, user_gramian, item_gramian, reg_u, reg_v, breg_u, breg_v, gram_u,
               gram_v, lr, adagrad, head, warmup, acc_u, acc_v, tail_u, tail_v, bacc_u, bacc_v):
    """:func:`sgd_epoch` on separate per-row arrays: packed into the kernel's
    row-scalar blocks, and the updated biases and sums copied back."""
    sides = [(user_bias, row_weights, reg_u, breg_u, gram_u, acc_u, tail_u, bacc_u),
             (item_bias, col_weights, reg_v, breg_v, gram_v, acc_v, tail_v, bacc_v)]
    blocks = []
    for bias, weight, reg, breg, gram, acc, tail, bacc in sides:
        block = row_scalars(len(bias), reg, breg, gram, weight)
        columns = scalar_columns(block)
        columns["bias"][:], columns["acc"][:] = bias, acc
        columns["tail_acc"][:], columns["bias_acc"][:] = tail, bacc
        blocks.append(block)
    sgd_epoch(EpochTiles(tile_ptr, n_item_blocks, block_order, tile_offsets, seed),
              Entries(rows, cols, targets, confidence), U, V, blocks[0], blocks[1],
              (user_gramian, item_gramian),
              EpochSettings(global_bias, biased, w0, lr, adagrad, head, warmup))
    for (bias, _, _, _, _, acc, tail, bacc), block in zip(sides, blocks):
        columns = scalar_columns(block)
        bias[:], acc[:], tail[:], bacc[:] = (columns["bias"], columns["acc"],
                                             columns["tail_acc"], columns["bias_acc"])


def test_recovers_planted_low_rank_matrix():
    dense = planted_low_rank(120, 100, 3, seed=0)
    rng = np.random.default_rng(1)
    observed = rng.random(dense.shape) < 0.5
    rows, cols = np.nonzero(observed)
    train = sp.csr_matrix((dense[rows, cols], (rows, cols)), shape=dense.shape)
    hold_rows, hold_cols = np.nonzero(~observed)
    test = sp.csr_matrix((dense[hold_rows, hold_cols], (hold_rows, hold_cols)),
                         shape=dense.shape)
    model = fastwmf.SGD(factors=3, epochs=200, learning_rate=0.1, regularization=1e-4,
                        bias_regularization=1e-4, biased=False, nu=0.0, random_state=0,
                        num_threads=1, dtype="float64").fit(train)
    assert rmse(model, test) / dense.std() < 0.05


def test_wmf_mode_reaches_the_exact_als_objective():
    X = random_interactions(40, 30, 0.25, seed=3)
    common = dict(factors=3, w0=0.2, regularization=0.5, nu=0.0, dtype="float64",
                  random_state=0)
    als = fastwmf.WALS(iterations=100, **common).fit(X)
    sgd = fastwmf.SGD(epochs=200, learning_rate=1.0, num_threads=1, **common).fit(X)
    assert not sgd.biased_
    assert sgd.loss_history_[-1] == pytest.approx(als.loss_history_[-1], rel=0.02)
    # and the objective SGD reports is the one WALS computes for its factors
    wals_view = fastwmf.WALS(**common)
    wals_view.user_factors_, wals_view.item_factors_ = sgd.user_factors_, sgd.item_factors_
    wals_view.item_weights_ = sgd.item_weights_
    assert wals_view.loss(X) == pytest.approx(sgd.loss_history_[-1], rel=1e-9)


def test_single_thread_is_bit_for_bit_reproducible():
    X = random_interactions(60, 40, 0.2, seed=4)
    runs = [fastwmf.SGD(factors=4, epochs=5, random_state=7, num_threads=1).fit(X)
            for _ in range(2)]
    assert np.array_equal(runs[0].user_factors_, runs[1].user_factors_)
    assert np.array_equal(runs[0].item_factors_, runs[1].item_factors_)
    assert runs[0].loss_history_ == runs[1].loss_history_


def test_multithreaded_quality_within_noise_of_single_thread():
    import numba
    X = fastwmf.datasets.make_planted_ratings(3000, 800, density=0.1, seed=2)
    train, test = split_entries(X, 0.2, seed=0)
    scores = {}
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        model = fastwmf.SGD(factors=8, epochs=15, random_state=0, num_threads=threads)
        model.fit(train)
        assert np.all(np.isfinite(model.user_factors_))
        scores[threads] = rmse(model, test)
    values = list(scores.values())
    assert max(values) - min(values) < 0.02 * min(values)


@pytest.mark.parametrize("factors", [64, 512])
def test_first_epochs_do_not_diverge_for_large_factors(factors):
    X = fastwmf.datasets.make_planted_ratings(600, 600, density=0.05, seed=1)
    model = fastwmf.SGD(factors=factors, epochs=3, random_state=0).fit(X)
    history = np.array(model.loss_history_)
    assert np.all(np.isfinite(history))
    assert np.all(np.diff(history) < 0)


def test_early_stopping_keeps_the_best_epoch():
    X = fastwmf.datasets.make_planted_ratings(300, 200, density=0.1, seed=3)
    train, val = split_entries(X, 0.2, seed=0)
    model = fastwmf.SGD(factors=32, epochs=60, learning_rate=0.1, regularization=0.0,
                        bias_regularization=0.0, patience=3, random_state=0, num_threads=1)
    model.fit(train, validation=val)
    history = model.validation_history_
    assert model.n_iter_ < 60  # no regularization: it overfits and stops
    assert model.best_epoch_ == int(np.argmin(history)) + 1
    assert model.n_iter_ - model.best_epoch_ == 3
    assert rmse(model, val) == pytest.approx(min(history), rel=1e-5)


def test_biased_predictions_include_biases():
    X = fastwmf.datasets.make_planted_ratings(100, 80, density=0.2, seed=5)
    model = fastwmf.SGD(factors=4, epochs=3, random_state=0).fit(X)
    d = 4
    expected = (model.global_bias_ + model.user_bias_[3] + model.item_bias_[5]
                + model.user_factors_[3, :d].astype(float) @ model.item_factors_[5, :d])
    assert model.predict(3, 5) == pytest.approx(expected, rel=1e-5)


def test_biased_fold_in_solves_the_ridge_problem():
    X = fastwmf.datasets.make_planted_ratings(100, 80, density=0.2, seed=6)
    model = fastwmf.SGD(factors=4, epochs=3, random_state=0, regularization=0.3,
                        bias_regularization=0.1, nu=1.0, dtype="float64").fit(X)
    folded = model.fold_in(X[:5])
    V = model.item_factors_[:, :4]
    for r in range(5):
        items = X[r].indices
        n_r = len(items)
        features = np.hstack([V[items], np.ones((n_r, 1))])
        residual = X[r].data - model.global_bias_ - model.item_bias_[items]
        penalty = np.diag([0.3 * n_r] * 4 + [0.1 * n_r])
        solution = np.linalg.solve(features.T @ features + penalty, features.T @ residual)
        np.testing.assert_allclose(folded[r, :4], solution[:4], rtol=1e-6, atol=1e-9)
        assert folded[r, 4] == pytest.approx(model.global_bias_ + solution[4], rel=1e-6)


def test_save_load_round_trip(tmp_path):
    X = fastwmf.datasets.make_planted_ratings(60, 50, density=0.2, seed=7)
    model = fastwmf.SGD(factors=3, epochs=2, random_state=0).fit(X)
    model.save(tmp_path / "sgd.npz")
    loaded = fastwmf.load_model(tmp_path / "sgd.npz")
    assert isinstance(loaded, fastwmf.SGD)
    assert np.array_equal(loaded.user_factors_, model.user_factors_)
    assert loaded.global_bias_ == model.global_bias_ and loaded.biased_
    np.testing.assert_array_equal(loaded.fold_in(X[:3]), model.fold_in(X[:3]))


BAD_PARAMS = [
    ("learning_rate", 0.0, ValueError), ("learning_rate", -0.1, ValueError),
    ("epochs", 0, ValueError), ("epochs", 1.5, TypeError), ("schedule", "adam", ValueError),
    ("decay", -1.0, ValueError), ("bias_regularization", -0.1, ValueError),
    ("init_scale", float("nan"), ValueError), ("patience", 0, ValueError),
    ("biased", "yes", TypeError), ("factors", 0, ValueError), ("w0", -1.0, ValueError),
    ("warmup_factors", -1, ValueError), ("warmup_factors", 2.5, TypeError),
]


@pytest.mark.parametrize("name,value,error", BAD_PARAMS, ids=[f"{b[0]}={b[1]}" for b in BAD_PARAMS])
def test_bad_parameters_name_the_argument(name, value, error):
    X = random_interactions(20, 15, 0.3, seed=0)
    with pytest.raises(error, match=name):
        fastwmf.SGD(**{"factors": 3, "epochs": 1, name: value}).fit(X)


def test_inconsistent_settings_are_rejected():
    X = random_interactions(20, 15, 0.3, seed=0)
    with pytest.raises(ValueError, match="biased"):
        fastwmf.SGD(factors=3, biased=True, w0=0.5, epochs=1).fit(X)
    with pytest.raises(ValueError, match="patience"):
        fastwmf.SGD(factors=3, patience=2, epochs=1).fit(X)
    with pytest.raises(ValueError, match="validation"):
        fastwmf.SGD(factors=3, epochs=1).fit(X, validation=random_interactions(20, 10, 0.3, seed=1))


@pytest.mark.realdata
@pytest.mark.skipif(not os.path.isfile(ML100K), reason="../shared/datasets/ml-100k.zip absent")
def test_movielens_100k_official_folds_rmse():
    from fastwmf.datasets import read_ml100k_file
    scores = []
    for fold in range(1, 6):
        train = read_ml100k_file(ML100K, f"u{fold}.base")
        test = read_ml100k_file(ML100K, f"u{fold}.test")
        model = fastwmf.SGD(random_state=0).fit(train)
        scores.append(rmse(model, test))
    assert np.mean(scores) <= 0.910, scores


@pytest.mark.parametrize("cls,steps", [(fastwmf.WALS, {"iterations": 3}),
                                       (fastwmf.SGD, {"epochs": 3})])
def test_progress_bar_counts_iterations(capsys, cls, steps):
    X = random_interactions(20, 15, 0.3, seed=0)
    cls(factors=2, show_progress=True, random_state=0, **steps).fit(X)
    err = capsys.readouterr().err
    assert "3/3" in err


def test_tiles_hold_every_entry_once_inside_their_blocks():
    from fastwmf.kernels.sgd import tile_entries
    X = random_interactions(53, 41, 0.3, seed=5)
    nnz = X.nnz
    rows, cols = np.empty(nnz, np.int32), np.empty(nnz, np.int32)
    targets, conf = np.empty(nnz), np.empty(nnz)
    weights = np.arange(nnz, dtype=np.float64)
    tile_ptr = tile_entries(X.indptr.astype(np.int64), X.indices, X.data.astype(np.float64),
                            weights, 7, 9, 5, rows, cols, targets, conf)
    assert tile_ptr[0] == 0 and tile_ptr[-1] == nnz and np.all(np.diff(tile_ptr) >= 0)
    assert len(tile_ptr) == 8 * 5 + 1
    # a permutation of the CSR entries, values carried along
    assert sorted(conf.astype(int)) == list(range(nnz))
    coo_rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    order = conf.astype(int)
    np.testing.assert_array_equal(rows, coo_rows[order])
    np.testing.assert_array_equal(cols, X.indices[order])
    np.testing.assert_array_equal(targets, X.data[order])
    for tile in range(len(tile_ptr) - 1):
        sl = slice(tile_ptr[tile], tile_ptr[tile + 1])
        assert np.all(rows[sl] // 7 == tile // 5) and np.all(cols[sl] // 9 == tile % 5)


def test_visit_order_covers_each_tile_position_once():
    from numba import njit

    from fastwmf.kernels.sgd import visit_order

    @njit
    def order(seed, tile, n):
        start, step = visit_order(seed, tile, n)
        out = np.empty(n, np.int64)
        pos = start
        for s in range(n):
            out[s] = pos
            pos = (pos + step) % n
        return out

    for n in (1, 2, 3, 4, 12, 97, 360, 1024):
        seen = [tuple(order(seed, tile, n)) for seed in range(3) for tile in range(3)]
        for visit in seen:
            assert sorted(visit) == list(range(n))
        if n > 3:
            assert len(set(seen)) > 2  # start and direction change with the epoch's seed


def _reference_epoch(tile_ptr, n_item_blocks, block_order, tile_offsets, seed, rows, cols,
                     targets, confidence, U, V, user_bias, item_bias, mu, biased, w0, p, q,
                     Gu, Gv, reg_u, reg_v, breg_u, breg_v, gram_u, gram_v, lr, adagrad, head,
                     warmup, acc_u, acc_v, tail_u, tail_v, bacc_u, bacc_v):
    """One epoch, one visit at a time in the kernel's order, in plain numpy (float64)."""
    from fastwmf.kernels.sgd import visit_order
    d = U.shape[1]
    split = head if 0 < head < d else d
    parts = [(slice(0, split), acc_u, acc_v)]
    if split < d and not warmup:
        parts.append((slice(split, d), tail_u, tail_v))
    for ub in block_order:
        for k in range(n_item_blocks):
            tile = ub * n_item_blocks + (tile_offsets[ub] + k) % n_item_blocks
            lo, n = tile_ptr[tile], tile_ptr[tile + 1] - tile_ptr[tile]
            if n == 0:
                continue
            pos, step = visit_order(seed, tile, n)
            for _ in range(n):
                e = lo + pos
                pos = (pos + step) % n
                i, j = rows[e], cols[e]
                u, v = U[i].copy(), V[j].copy()
                dot = u @ v
                err = targets[e] - (dot + (mu + user_bias[i] + item_bias[j] if biased else 0.0))
                scale = confidence[e] * err + w0 * p[i] * q[j] * dot
                gu = reg_u[i] * u - scale * v + gram_u[i] * (Gv @ u)
                gv = reg_v[j] * v - scale * u + gram_v[j] * (Gu @ v)
                for part, sums_u, sums_v in parts:
                    su = sv = lr
                    if adagrad:
                        sums_u[i] += gu[part] @ gu[part] / len(gu[part])
                        sums_v[j] += gv[part] @ gv[part] / len(gv[part])
                        su, sv = lr / np.sqrt(sums_u[i]), lr / np.sqrt(sums_v[j])
                    U[i, part], V[j, part] = u[part] - su * gu[part], v[part] - sv * gv[part]
                if biased:
                    gbu = breg_u[i] * user_bias[i] - confidence[e] * err
                    gbv = breg_v[j] * item_bias[j] - confidence[e] * err
                    sbu = sbv = lr
                    if adagrad:
                        bacc_u[i] += gbu * gbu
                        bacc_v[j] += gbv * gbv
                        sbu, sbv = lr / np.sqrt(bacc_u[i]), lr / np.sqrt(bacc_v[j])
                    user_bias[i] -= sbu * gbu
                    item_bias[j] -= sbv * gbv


@pytest.mark.parametrize("d,biased,w0,adagrad,head,warmup,dtype", [
    (5, True, 0.0, True, 0, False, np.float64), (5, False, 0.0, True, 0, False, np.float64),
    (5, False, 0.6, True, 0, False, np.float64), (5, True, 0.0, False, 0, False, np.float64),
    (8, False, 0.0, True, 0, False, np.float64), (5, True, 0.0, True, 2, False, np.float64),
    (5, False, 0.6, True, 2, False, np.float64), (5, True, 0.0, True, 2, True, np.float64),
    (5, False, 0.6, True, 2, True, np.float64), (8, False, 0.0, True, 8, True, np.float64),
    (8, False, 0.0, True, 0, False, np.float32), (5, True, 0.0, True, 2, False, np.float32),
    (5, False, 0.6, True, 2, False, np.float32),
    # a width kernel with two parts (one blended update per row)
    (16, True, 0.0, True, 8, False, np.float64), (16, False, 0.0, True, 8, True, np.float32),
    (16, False, 0.0, True, 4, False, np.float32)])
def test_epoch_matches_visit_by_visit_reference(d, biased, w0, adagrad, head, warmup, dtype):
    # tiles of up to 8 x 8 entries, most longer than the prefetch distance; the
    # reference is float64; float32 factors are rounded at every visit, and their
    # AdaGrad steps use the float32 square-root estimate (relative error < 4e-4)
    from fastwmf.kernels.sgd import PREFETCH_VISITS, tile_entries
    rng = np.random.default_rng(3)
    X = random_interactions(40, 30, 0.45, seed=11)
    m, n = X.shape
    nnz = X.nnz
    user_rows = item_rows = 8
    n_item_blocks = -(-n // item_rows)
    rows, cols = np.empty(nnz, np.int32), np.empty(nnz, np.int32)
    targets, confidence = np.empty(nnz), np.empty(nnz)
    tile_ptr = tile_entries(X.indptr.astype(np.int64), X.indices, X.data.astype(np.float64),
                            1.0 + rng.random(nnz), user_rows, item_rows, n_item_blocks,
                            rows, cols, targets, confidence)
    assert np.diff(tile_ptr).max() > PREFETCH_VISITS
    n_user_blocks = -(-m // user_rows)
    block_order = rng.permutation(n_user_blocks).astype(np.int64)
    tile_offsets = rng.integers(0, n_item_blocks, n_user_blocks).astype(np.int64)
    U0, V0 = 0.3 * rng.standard_normal((m, d)), 0.3 * rng.standard_normal((n, d))
    A, B = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    Gu, Gv = A @ A.T / d, B @ B.T / d
    per_row = [rng.random(m) * 0.1, rng.random(n) * 0.1, rng.random(m) * 0.1,
               rng.random(n) * 0.1, rng.random(m) * 0.05 * w0, rng.random(n) * 0.05 * w0]
    p, q = 0.5 + rng.random(m), 0.5 + rng.random(n)

    def state():
        return [U0.copy(), V0.copy(), 0.1 * rng.standard_normal(m), 0.1 * rng.standard_normal(n),
                1.0 + rng.random(m), 1.0 + rng.random(n), 1.0 + rng.random(m),
                1.0 + rng.random(n), np.ones(m), np.ones(n)]

    ours = state()
    theirs = [x.copy() for x in ours]
    ours[:2] = [x.astype(dtype) for x in ours[:2]]
    initial = [x.copy() for x in ours]
    U, V, bu, bv, *sums = ours
    with thread_limits(1):  # one thread: a sequential pass, comparable visit by visit
        flat_epoch(tile_ptr, n_item_blocks, block_order, tile_offsets, 17, rows, cols,
                  targets.astype(dtype), confidence.astype(dtype), U, V, bu, bv, 0.4, biased, w0,
                  p, q, Gu, Gv, *per_row, 0.05, adagrad, head, warmup, *sums)
    U, V, bu, bv, *sums = theirs
    _reference_epoch(tile_ptr, n_item_blocks, block_order, tile_offsets, 17, rows, cols, targets,
                     confidence, U, V, bu, bv, 0.4, biased, w0, p, q, Gu, Gv, *per_row, 0.05,
                     adagrad, head, warmup, *sums)
    assert not np.allclose(ours[0], U0)
    if 0 < head < d:  # the second part moves unless the epoch warms up the first alone
        assert np.array_equal(ours[0][:, head:], initial[0][:, head:]) == warmup
        assert np.array_equal(ours[6], initial[6]) == warmup
    # float32 steps use rsqrt's estimate (relative error up to 3.7e-4) where the
    # reference takes the exact root: entries near 0 differ by that share of the
    # rows' scale, not of their own value
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (1e-3, 1e-4)
    for got, want in zip(ours, theirs):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * max(np.abs(want).max(), 1e-3))


def test_epoch_kernel_loads_from_numbas_disk_cache_in_a_new_process(tmp_path):
    # a closure that captures anything Numba cannot key its cache on compiles
    # again in every process (it did once: 9 s of overhead on each first fit)
    import subprocess
    import sys
    script = (
        "import numpy as np, fastwmf\n"
        "from fastwmf.datasets import make_implicit_interactions\n"
        "from fastwmf.kernels.sgd import _explicit_epoch_kernel\n"
        "X = make_implicit_interactions(60, 40, 600, seed=0)\n"
        "fastwmf.SGD(factors=16, epochs=2, random_state=0, calculate_loss=False).fit(X)\n"
        "stats = _explicit_epoch_kernel(16, np.float32, 8).stats\n"
        "print(len(stats.cache_hits), len(stats.cache_misses))\n")
    # both cache folders fresh: fastwmf's own may be shared by the test run
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), FASTWMF_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert runs[0] == ["0", "1"]  # compiled and saved
    assert runs[1] == ["1", "0"]  # loaded


@pytest.mark.parametrize("w0", [0.0, 0.6])
def test_small_steps_follow_the_dense_objectives_gradient(w0):
    # An epoch visits every entry once with per-visit weights that sum to the
    # full objective, so for a small constant step it moves each visited row
    # by -lr times half the gradient of the dense objective (plain numpy, no
    # visit order), up to O(lr^2) terms from rows that moved earlier.
    from fastwmf.kernels.sgd import tile_entries
    rng = np.random.default_rng(8)
    X = random_interactions(30, 20, 0.3, seed=21, empty_rows=(4,), empty_cols=(6,))
    m, n = X.shape
    d, lr = 4, 1e-7
    coo = X.tocoo()
    conf = 1.0 + rng.random(X.nnz)
    rows, cols = np.empty(X.nnz, np.int32), np.empty(X.nnz, np.int32)
    targets, confidence = np.empty(X.nnz), np.empty(X.nnz)
    n_item_blocks = -(-n // 8)
    tile_ptr = tile_entries(X.indptr.astype(np.int64), X.indices, X.data.astype(np.float64),
                            conf, 8, 8, n_item_blocks, rows, cols, targets, confidence)
    n_user_blocks = -(-m // 8)
    U0, V0 = rng.standard_normal((m, d)), rng.standard_normal((n, d))
    p, q = 0.5 + rng.random(m), 0.5 + rng.random(n)
    lam_u, lam_v = 0.1 + rng.random(m), 0.1 + rng.random(n)
    n_u = np.maximum(np.bincount(coo.row, minlength=m), 1)
    n_v = np.maximum(np.bincount(coo.col, minlength=n), 1)
    Gu, Gv = U0.T @ (p[:, None] * U0), V0.T @ (q[:, None] * V0)
    U, V = U0.copy(), V0.copy()
    zeros_m, zeros_n = np.zeros(m), np.zeros(n)
    with thread_limits(1):
        flat_epoch(tile_ptr, n_item_blocks, rng.permutation(n_user_blocks).astype(np.int64),
                  rng.integers(0, n_item_blocks, n_user_blocks).astype(np.int64), 5, rows, cols,
                  targets, confidence, U, V, zeros_m.copy(), zeros_n.copy(), 0.0, False, w0,
                  p, q, Gu, Gv, lam_u / n_u, lam_v / n_v, zeros_m, zeros_n,
                  w0 * p / n_u, w0 * q / n_v, lr, False, 0, False,
                  np.ones(m), np.ones(n), np.ones(m), np.ones(n), np.ones(m), np.ones(n))
    # the dense objective of tests/naive.py and its gradient, by hand
    # (tocoo of a canonical CSR keeps its entry order, so conf lines up with coo)
    W = naive.dense_weights((m, n), coo.row, coo.col, conf, w0, p, q)
    A = naive.dense_targets((m, n), coo.row, coo.col, coo.data)
    R = A - U0 @ V0.T
    half_grad_U = -(W * R) @ V0 + lam_u[:, None] * U0
    half_grad_V = -(W * R).T @ U0 + lam_v[:, None] * V0
    visited_u = np.bincount(coo.row, minlength=m) > 0
    visited_v = np.bincount(coo.col, minlength=n) > 0
    np.testing.assert_allclose((U0 - U)[visited_u] / lr, half_grad_U[visited_u], rtol=1e-4,
                               atol=1e-5 * np.abs(half_grad_U).max())
    np.testing.assert_allclose((V0 - V)[visited_v] / lr, half_grad_V[visited_v], rtol=1e-4,
                               atol=1e-5 * np.abs(half_grad_V).max())
    assert np.array_equal(U[~visited_u], U0[~visited_u])  # no entry, no visit

