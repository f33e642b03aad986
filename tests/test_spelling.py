"""Spelling: candidates within the allowance, and when the best one is clearly best."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picfind.resolve import Resolver
from picfind.spelling import CLEAR_MARGIN, Speller, allowance, prior


def test_allowance_grows_with_length() -> None:
    assert [allowance(w) for w in ("", "ab", "cat", "bird", "horse", "retreiver")] == [
        0, 0, 1, 1, 2, 2,
    ]  # fmt: skip


def test_candidates_are_nearest_then_most_used() -> None:
    speller = Speller(["cat", "car", "cart", "dog"], [prior(50), prior(5), prior(500), prior(9)])
    found = speller.candidates("cst")
    assert [(c.word, c.distance) for c in found] == [("cat", 1)]  # car is 2 away: over 1
    found = speller.candidates("caat", 2)
    assert [c.word for c in found] == ["cart", "cat", "car"]  # 1, 1 (by use), then 2
    assert "cat" not in [c.word for c in speller.candidates("cat")]  # never itself
    assert speller.candidates("ca") == []  # a word this short is never corrected
    assert speller.candidates("dgo")[0].word == "dog"  # a swap is one edit


def test_clearly_best() -> None:
    speller = Speller(["bird", "bride", "bard"], [prior(100), prior(30), prior(0)])
    spelt = speller.spell("brid")
    assert spelt.best is None  # bird and bride: too close to call
    assert [c.word for c in spelt.candidates][:2] == ["bird", "bride"]
    alone = Speller(["retriever", "receiver"], [prior(2), prior(200)]).spell("retreiver")
    assert alone.best is not None and alone.best.word == "retriever"  # nearer wins
    used = Speller(["car", "cart"], [prior(540), prior(10)]).spell("carr")
    assert used.best is not None and used.best.word == "car"
    assert prior(540) - prior(10) >= CLEAR_MARGIN


def test_words_of_one_meaning_are_one_candidate() -> None:
    speller = Speller(["harbor", "harbour", "arbor"], [3.0, 2.0, 2.5], ["port", "port", "tree"])
    spelt = speller.spell("harbur")
    assert [c.word for c in spelt.candidates] == ["harbor", "arbor"]


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        Speller(["a", "b"], [1.0])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdefgh é-", max_size=12))
def test_candidates_are_within_the_allowance(typed: str) -> None:
    words = ["abc", "abd", "bad", "cafe", "café", "head", "heade", "deface", "a b"]
    speller = Speller(words, [float(i) for i in range(len(words))])
    found = speller.candidates(typed)
    brute = [w for w in words if w != typed and _osa(typed, w) <= allowance(typed)]
    assert sorted(c.word for c in found) == sorted(brute)
    assert all(c.distance == _osa(typed, c.word) for c in found)


def _osa(a: str, b: str) -> int:
    """Reference optimal string alignment distance (no early exit)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


# --- on the packaged vocabularies -----------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("golden retreiver", "golden retriever"),
        ("retreiver", "retriever"),
        ("bycicle", "bicycle"),
        ("chihuahau", "chihuahua"),
        ("kitchn", "kitchen"),
        ("moutain", "mountain"),
        ("dgo", "dog"),
    ],
)
def test_clear_misspellings_are_corrected(typed: str, meant: str) -> None:
    found = Resolver.load().resolve(typed)
    assert found.correction is not None
    assert (found.correction.typed, found.correction.corrected) == (typed, meant)
    assert found.key == meant and found.routes[0] == "spelling"


def test_unclear_misspellings_are_suggested_and_real_words_left_alone() -> None:
    resolver = Resolver.load()
    assert resolver.correct("brid") is None
    assert resolver.suggest("brid")[:2] == ["bird", "bride"]
    # "idea" is a word (WordNet knows it): never turned into a close word that answers
    assert resolver.correct("idea") is None
    assert resolver.correct("beech") is None  # the tree, not the beach


def test_letter_bitmask_popcount_without_numpy_2(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from picfind import spelling

    values = np.array([0, 1, 3, 255, 2**40 + 7, 2**62], dtype=np.int64)
    expected = [bin(int(v)).count("1") for v in values]
    assert spelling._popcount(values).tolist() == expected
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert spelling._popcount(values).tolist() == expected
