"""Scoring functions against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picfind.scoring import (
    NUM_CLASSES,
    ConceptColumns,
    Postings,
    SparseClasses,
    clause_scores,
    dense_dot,
    indicator,
    keyword_scores,
    query_weights,
    sparse_top,
    top_k,
    words_scores,
)


def random_probs(rng: np.random.Generator, n: int) -> np.ndarray:
    logits = rng.standard_normal((n, NUM_CLASSES)) * 3
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def test_sparse_top_keeps_the_most_probable_in_order() -> None:
    p = random_probs(np.random.default_rng(1), 1)[0]
    top = sparse_top(p, 10)
    assert list(top.ids) == list(np.argsort(-p)[:10])
    assert np.all(np.diff(top.probs) <= 0)
    assert top.ids.dtype == np.uint16 and top.probs.dtype == np.float32


def test_sparse_top_drops_negligible_classes_but_keeps_one() -> None:
    p = np.zeros(NUM_CLASSES, dtype=np.float32)
    p[7] = 0.9
    p[8] = 0.1
    assert list(sparse_top(p, 32).ids) == [7, 8]
    flat = np.full(NUM_CLASSES, 1e-5, dtype=np.float32)
    assert sparse_top(flat, 32).ids.size == 1


def padded(sparse: list[SparseClasses], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.zeros((len(sparse), k), dtype=np.uint16)
    probs = np.zeros((len(sparse), k), dtype=np.float32)
    lengths = np.array([s.ids.size for s in sparse])
    for i, s in enumerate(sparse):
        ids[i, : s.ids.size] = s.ids
        probs[i, : s.ids.size] = s.probs
    return ids, probs, lengths


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60), k=st.integers(1, 80))
def test_postings_and_dense_dot_equal_brute_force(seed: int, n: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    probs = random_probs(rng, n)
    sparse = [sparse_top(p, k) for p in probs]
    ids, vals, lengths = padded(sparse, k)
    mask = np.arange(k)[None, :] < lengths[:, None]
    postings = Postings.build(ids[mask].astype(np.int64), vals[mask], lengths)
    weights = np.zeros(NUM_CLASSES, dtype=np.float32)
    chosen = rng.choice(NUM_CLASSES, size=rng.integers(1, 200), replace=False)
    weights[chosen] = rng.random(chosen.size)
    truncated = np.zeros_like(probs)
    for i, s in enumerate(sparse):
        truncated[i, s.ids] = s.probs
    expected = truncated @ weights
    np.testing.assert_allclose(postings.dot(weights, n), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dense_dot(ids, vals, weights), expected, rtol=1e-5, atol=1e-6)


def test_classes_formula_is_the_papers_inner_product() -> None:
    rng = np.random.default_rng(3)
    probs = random_probs(rng, 5)
    query = sparse_top(probs[0], 32)
    w = query_weights(query, 10)
    top10 = np.argsort(-probs[0])[:10]
    assert set(np.flatnonzero(w)) == set(top10)
    expected = 1 + probs[:, top10] @ probs[0, top10]
    np.testing.assert_allclose(1 + probs @ w, expected, rtol=1e-6)


def test_keyword_scores_and_or_not() -> None:
    dog = np.array([0.9, 0.5, 0.001, 0.3, 0.4])
    beach = np.array([0.001, 0.4, 0.9, 0.3, 0.3])
    cat = np.array([0.0, 0.0, 0.0, 0.6, 0.2])
    scores, match = keyword_scores([dog, beach], [cat])
    # row 0 and 2 lack a positive, row 3 is mostly a cat; row 4's trace of cat is kept
    assert list(match) == [False, True, False, False, True]
    assert scores[1] == pytest.approx(np.sqrt(0.5 * 0.4))
    with pytest.raises(ValueError):
        keyword_scores([], [cat])


def test_concept_columns_cover_partitions_a_class_set() -> None:
    concepts = {
        "animal": np.arange(0, 40),
        "dog": np.arange(0, 20),
        "hound": np.arange(0, 8),
        "cat": np.arange(20, 28),
        "tiny": np.array([30, 31]),
        "same-as-dog": np.arange(0, 20),
    }
    cols = ConceptColumns.from_concepts(concepts, min_classes=8)
    assert cols.wnids == ("animal", "dog", "cat", "hound")  # one column per class set
    assert cols.cover(tuple(range(0, 40))) == ([0], ())
    assert cols.cover((*range(0, 28), 99)) == ([1, 2], (99,))
    assert cols.cover((0, 1, 2)) == ([], (0, 1, 2))
    m = cols.matrix()
    assert m.shape == (NUM_CLASSES, 4) and m[:, 1].sum() == 20


def test_indicator() -> None:
    w = indicator((1, 5, 5, 999))
    assert w.sum() == 3 and w[999] == 1


@settings(max_examples=50, deadline=None)
@given(
    scores=st.lists(st.floats(-10, 10, allow_nan=False), min_size=0, max_size=60),
    k=st.integers(0, 70),
)
def test_top_k_equals_a_full_sort(scores: list[float], k: int) -> None:
    arr = np.array(scores, dtype=np.float64)
    expected = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    assert list(top_k(arr, k)) == expected
    mask = np.arange(len(scores)) % 2 == 0
    expected_masked = [
        i for i in sorted(range(len(scores)), key=lambda i: (-scores[i], i)) if i % 2 == 0
    ][:k]
    assert list(top_k(arr, k, mask)) == expected_masked


# --- attacks (issue 8): NaN and infinity never poison a ranking ------------------------------


@settings(max_examples=80, deadline=None)
@given(
    scores=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=60),
    k=st.integers(0, 70),
)
def test_attack_nan_and_inf_rank_last_and_never_empty_a_page(scores: list[float], k: int) -> None:
    """One NaN made top_k return nothing; now every non-finite score ranks as −∞."""
    arr = np.array(scores, dtype=np.float32)
    best = top_k(arr, k)
    assert len(best) == min(k, len(scores))
    finite = [i for i in range(len(scores)) if np.isfinite(arr[i])]
    expected = sorted(finite, key=lambda i: (-arr[i], i))[:k]
    assert list(best[: len(expected)]) == expected  # the finite ones first, in order
    assert set(best[len(expected) :].tolist()) <= set(range(len(scores))) - set(finite)


def test_clause_of_matchers_is_any_and_the_best_score() -> None:
    dog = np.array([0.9, 0.0, 0.02, 0.3])
    cat = np.array([0.05, 0.6, 0.0, 0.3])
    score, match = clause_scores([(dog, dog >= 0.01), (cat, cat >= 0.01)])
    assert match.tolist() == [True, True, True, True]
    assert score.tolist() == [0.9, 0.6, 0.02, 0.3]
    # one matcher per clause: exactly the keyword semantics (geometric mean, thresholds)
    s1, m1 = words_scores([(dog, dog >= 0.01), (cat, cat >= 0.01)], [cat >= 0.5])
    s2, m2 = keyword_scores([dog, cat], [cat])
    assert m1.tolist() == m2.tolist() == [True, False, False, True]
    np.testing.assert_allclose(s1, s2)
