"""Serving: remembered training interactions, filters, unknown users, similar
users and items, users for items; against brute-force numpy."""

import io

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastwmf
from fastwmf.io import ModelFileError

from . import naive
from .conftest import random_interactions

MODELS = {
    "wals": lambda: fastwmf.WALS(factors=4, iterations=3, dtype="float64", random_state=0),
    "sgd": lambda: fastwmf.SGD(factors=4, epochs=3, random_state=0),
    "bayesian-mf": lambda: fastwmf.BayesianMF(factors=4, samples=4, burn_in=2, random_state=0),
    "dense-svd": lambda: fastwmf.DenseSVD(factors=4),
    "truncated-svd": lambda: fastwmf.TruncatedSVD(factors=4, random_state=0),
    "popularity": lambda: fastwmf.Popularity(),
}


@pytest.fixture(scope="module")
def fitted():
    X = random_interactions(40, 30, 0.2, seed=3, empty_rows=(5,), empty_cols=(7,))
    return X, fastwmf.WALS(factors=4, iterations=3, dtype="float64", random_state=0).fit(X)


@pytest.fixture(scope="module")
def labelled():
    pd = pytest.importorskip("pandas")
    X = random_interactions(12, 9, 0.35, seed=4).tocoo()
    frame = pd.DataFrame({"user": [f"u{i:02d}" for i in X.row],
                          "item": [f"i{j}" for j in X.col], "value": X.data})
    model = fastwmf.WALS(factors=3, iterations=3, dtype="float64", random_state=0)
    return frame, model.fit(frame, columns={"value": "value"})


def pattern(X):
    X = sp.csr_matrix(X, copy=True)
    X.sum_duplicates()
    X.sort_indices()
    return X.indptr, X.indices


# ------------------------------------------------------- remembered data

@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_remembers_the_training_pattern(name):
    X = random_interactions(30, 20, 0.25, seed=1, empty_rows=(3,))
    model = MODELS[name]().fit(X)
    indptr, indices = pattern(X)
    np.testing.assert_array_equal(model.seen_indptr_, indptr)
    np.testing.assert_array_equal(model.seen_indices_, indices)
    seen = model.interactions_
    assert seen.dtype == np.bool_ and seen.shape == X.shape
    np.testing.assert_array_equal(seen.toarray(), X.toarray() != 0)
    assert MODELS[name]().set_params(keep_interactions=False).fit(X).interactions_ is None


def test_a_renumbered_fit_remembers_the_callers_numbering(monkeypatch):
    import fastwmf.models._problem as problem
    monkeypatch.setattr(problem, "RENUMBER_MIN_ENTRIES", 1)
    X = random_interactions(30, 20, 0.25, seed=2)
    model = fastwmf.WALS(factors=3, iterations=2, random_state=0).fit(X)
    indptr, indices = pattern(X)
    np.testing.assert_array_equal(model.seen_indptr_, indptr)
    np.testing.assert_array_equal(model.seen_indices_, indices)


def test_the_pattern_is_a_copy_of_the_input(fitted):
    X = random_interactions(20, 10, 0.3, seed=5)
    model = fastwmf.Popularity().fit(X)
    X.indices[:] = 0
    assert not np.all(model.seen_indices_ == 0)


def test_keep_interactions_is_validated():
    with pytest.raises(TypeError, match="keep_interactions"):
        fastwmf.WALS(keep_interactions="yes").fit(random_interactions(5, 5, 0.5, seed=0))


# ------------------------------------------------------------- recommend

def test_recommend_leaves_seen_items_out_by_default(fitted):
    X, model = fitted
    users = np.arange(X.shape[0])
    ids, scores = model.recommend(users, k=6)
    explicit, explicit_scores = model.recommend(users, k=6, exclude=X, exclude_seen=False)
    np.testing.assert_array_equal(ids, explicit)
    np.testing.assert_array_equal(scores, explicit_scores)
    dense = model.user_factors_ @ model.item_factors_.T
    for user in users:
        np.testing.assert_array_equal(ids[user], naive.topk(dense[user], 6,
                                                            set(X[user].indices)))


def test_without_remembered_interactions_exclude_seen_must_be_turned_off():
    X = random_interactions(20, 10, 0.3, seed=5)
    model = fastwmf.WALS(factors=2, iterations=2, keep_interactions=False,
                         random_state=0).fit(X)
    with pytest.raises(ValueError, match="exclude_seen.*keep_interactions=False"):
        model.recommend(0)
    ids, _ = model.recommend(0, exclude_seen=False, exclude=X[[0]])
    assert not set(ids.tolist()) & set(X[0].indices.tolist())


def test_exclusions_as_frame_dict_and_matrix_agree(labelled):
    frame, model = labelled
    users = ["u03", "u07", "u03"]
    banned = {"u03": ["i1", "i4"], "u07": ["i0"], "u11": ["i2"]}
    rows = [(u, i) for u, items in banned.items() for i in items]
    pd = pytest.importorskip("pandas")
    as_frame = pd.DataFrame(rows, columns=["user", "item"])
    item_index = {label: j for j, label in enumerate(model.item_ids_.tolist())}
    matrix = sp.lil_matrix((len(users), model.n_items))
    for r, user in enumerate(users):
        for item in banned.get(user, []):
            matrix[r, item_index[item]] = 1
    results = [model.recommend(users, k=4, exclude=form)
               for form in (banned, as_frame, matrix.tocsr())]
    for ids, scores in results[1:]:
        np.testing.assert_array_equal(ids, results[0][0])
        np.testing.assert_array_equal(scores, results[0][1])
    for r, user in enumerate(users):
        seen = set(frame.loc[frame.user == user, "item"])
        assert not (seen | set(banned[user])) & set(results[0][0][r].tolist())


def test_exclusion_with_an_unknown_item_names_it(labelled):
    _, model = labelled
    with pytest.raises(KeyError, match="'nope'"):
        user = model.user_ids_[0]
        model.recommend([user], k=2, exclude={user: ["nope"]})


def test_candidates_and_its_alias_items(fitted):
    X, model = fitted
    whitelist = [2, 3, 11, 17, 29]
    ids, scores = model.recommend([0, 1, 2], k=3, candidates=whitelist)
    alias, alias_scores = model.recommend([0, 1, 2], k=3, items=whitelist)
    np.testing.assert_array_equal(ids, alias)
    dense = model.user_factors_ @ model.item_factors_.T
    for r in range(3):
        banned = set(range(model.n_items)) - set(whitelist) | set(X[r].indices)
        np.testing.assert_array_equal(ids[r][ids[r] >= 0],
                                      naive.topk(dense[r], 3, banned))
    with pytest.raises(ValueError, match="candidates and items"):
        model.recommend(0, candidates=[1], items=[1])


def test_unknown_users_raise_a_key_error_naming_them(fitted, labelled):
    _, model = fitted
    with pytest.raises(KeyError, match=r"40, 99 are not ids the model knows.*\[0, 40\)"):
        model.recommend([1, 40, 99, 40])
    _, named = labelled
    with pytest.raises(KeyError, match="'ghost'") as caught:
        named.recommend([named.user_ids_[1], "ghost"], k=2)
    assert caught.value.unknown == ["ghost"]


def test_unknown_users_get_the_most_popular_unfiltered_items(fitted):
    X, model = fitted
    counts = np.bincount(X.indices, minlength=X.shape[1]).astype(float)
    ids, scores = model.recommend([0, 1234, 3, -1], k=5, unknown="popular",
                                  filter_items=[int(np.argmax(counts))])
    known, known_scores = model.recommend([0, 3], k=5, filter_items=[int(np.argmax(counts))])
    np.testing.assert_array_equal(ids[[0, 2]], known)
    np.testing.assert_array_equal(scores[[0, 2]], known_scores)
    expected = naive.topk(counts, 5, {int(np.argmax(counts))})
    for row in (1, 3):
        np.testing.assert_array_equal(ids[row], expected)
        np.testing.assert_array_equal(scores[row], counts[expected])


def test_labels_for_popular_answers(labelled):
    _, model = labelled
    ids, _ = model.recommend(["ghost"], k=2, unknown="popular")
    assert all(label in set(model.item_ids_.tolist()) for label in ids[0])


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(unknown="ignore"), ValueError, "unknown"),
    (dict(exclude_seen=1), TypeError, "exclude_seen"),
    (dict(exclude=[[1, 2]]), TypeError, "exclude"),
    (dict(exclude=sp.csr_matrix((2, 30))), ValueError, "exclude"),
    (dict(candidates=[30]), KeyError, "candidates"),
    (dict(items=[-1]), KeyError, "items"),
    (dict(k=31), ValueError, "k"),
])
def test_recommend_rejects_bad_arguments(fitted, kwargs, exc, match):
    _, model = fitted
    before = model.user_factors_.copy()
    with pytest.raises(exc, match=match):
        model.recommend([0], **kwargs)
    np.testing.assert_array_equal(model.user_factors_, before)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_answers_respect_every_filter(fitted, data):
    X, model = fitted
    n_items = model.n_items
    users = data.draw(st.lists(st.integers(0, model.n_users - 1), min_size=1, max_size=6))
    k = data.draw(st.integers(1, n_items))
    filtered = data.draw(st.lists(st.integers(0, n_items - 1), max_size=8))
    whitelist = data.draw(st.none() | st.lists(st.integers(0, n_items - 1), min_size=1,
                                               max_size=20))
    extra = {u: data.draw(st.lists(st.integers(0, n_items - 1), max_size=5)) for u in users}
    ids, scores = model.recommend(users, k=k, filter_items=filtered, candidates=whitelist,
                                  exclude=extra)
    dense = model.user_factors_ @ model.item_factors_.T
    allowed = set(range(n_items)) if whitelist is None else set(whitelist)
    for r, user in enumerate(users):
        banned = set(X[user].indices.tolist()) | set(filtered) | set(extra[user]) \
            | (set(range(n_items)) - allowed)
        expected = naive.topk(dense[user], k, banned)
        np.testing.assert_array_equal(ids[r][:len(expected)], expected)
        assert np.all(ids[r][len(expected):] == -1)
        assert np.all(np.isneginf(scores[r][len(expected):]))


# ----------------------------------------------------- similar and reverse

def cosine(F):
    """Cosine similarities; a zero row (a user without entries) scores 0."""
    norms = np.linalg.norm(F, axis=1, keepdims=True)
    unit = F / np.where(norms > 0, norms, 1.0)
    return unit @ unit.T


def test_similar_items_filters_and_include_self(fitted):
    _, model = fitted
    sim = cosine(model.item_factors_)
    ids, scores = model.similar_items([0, 5], k=4, include_self=True, filter_items=[1],
                                      candidates=list(range(0, 30, 2)) + [5])
    for row, item in enumerate([0, 5]):
        banned = {1} | (set(range(30)) - set(range(0, 30, 2)) - {5})
        expected = naive.topk(sim[item], 4, banned)
        assert expected[0] == item
        np.testing.assert_array_equal(ids[row], expected)
        np.testing.assert_allclose(scores[row], sim[item, expected], rtol=1e-10)


def test_similar_users_matches_cosine(fitted):
    _, model = fitted
    sim = cosine(model.user_factors_)
    ids, scores = model.similar_users([2, 9], k=5)
    for row, user in enumerate([2, 9]):
        expected = naive.topk(sim[user], 5, {user})
        np.testing.assert_array_equal(ids[row], expected)
        np.testing.assert_allclose(scores[row], sim[user, expected], rtol=1e-10)
    ids, _ = model.similar_users(2, k=model.n_users, include_self=True)
    assert sorted(ids.tolist()) == list(range(model.n_users))


def test_recommend_users_leaves_the_items_users_out(fitted):
    X, model = fitted
    dense = model.item_factors_ @ model.user_factors_.T
    columns = X.tocsc()
    ids, scores = model.recommend_users([0, 7, 12], k=6)
    for row, item in enumerate([0, 7, 12]):
        expected = naive.topk(dense[item], 6, set(columns[:, item].indices))
        np.testing.assert_array_equal(ids[row], expected)
        np.testing.assert_allclose(scores[row], dense[item, expected], rtol=1e-12)
    every, _ = model.recommend_users(0, k=model.n_users, exclude_seen=False)
    assert sorted(every.tolist()) == list(range(model.n_users))


def test_labels_in_and_out_for_users_and_items(labelled):
    _, model = labelled
    ids, _ = model.similar_users("u03", k=3)
    assert set(ids.tolist()) <= set(model.user_ids_.tolist()) and "u03" not in ids
    ids, _ = model.recommend_users(["i2"], k=2)
    assert set(ids[0].tolist()) <= set(model.user_ids_.tolist())
    with pytest.raises(KeyError, match="'i99'"):
        model.recommend_users("i99")


# ------------------------------------------------------------- persistence

def test_saved_models_keep_the_pattern_and_reject_a_broken_one(fitted):
    X, model = fitted
    buffer = io.BytesIO()
    model.save(buffer)
    loaded = fastwmf.WALS.load(io.BytesIO(buffer.getvalue()))
    np.testing.assert_array_equal(loaded.seen_indptr_, model.seen_indptr_)
    np.testing.assert_array_equal(loaded.seen_indices_, model.seen_indices_)
    np.testing.assert_array_equal(loaded.recommend([0, 1])[0], model.recommend([0, 1])[0])

    archive = dict(np.load(io.BytesIO(buffer.getvalue())))
    for name, bad in [("seen_indices_", lambda a: a + model.n_items),
                      ("seen_indptr_", lambda a: a[::-1].copy()),
                      ("seen_indptr_", lambda a: a[:-1])]:
        broken = dict(archive, **{name: bad(archive[name])})
        stream = io.BytesIO()
        np.savez(stream, **broken)
        stream.seek(0)
        with pytest.raises(ModelFileError, match="training pattern"):
            fastwmf.WALS.load(stream)
