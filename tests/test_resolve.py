"""Resolution of words through each route, the records they leave, and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picfind.errors import UnknownConceptError
from picfind.resolve import ROUTES, Resolution, Resolver
from picfind.vocabulary import Vocabulary, normalize

RESOLVER = Resolver.load()
VOCAB = Vocabulary.load()
DOGS = tuple(range(151, 269))


def names(found: Resolution) -> set[str]:
    return {VOCAB.class_name(i) for i in found.classes}


@pytest.mark.parametrize(
    ("word", "route", "key"),
    [
        ("harbour", "photo", "harbour"),
        ("Harbours", "photo", "harbour"),  # folded: "harbours" is no variant in the file
        ("espresso", "class", "espresso"),
        ("golden retriever", "class", "golden retriever"),
        ("crane", "class", "crane"),  # the bird and the machine: both classes
        ("dog", "concept", "dog"),
        ("Dogs", "concept", "dog"),
        ("puppies", "hypernym", "puppy"),
        ("kitten", "definition", "kitten"),
    ],
)
def test_each_route(word: str, route: str, key: str) -> None:
    found = RESOLVER.resolve(word)
    assert (found.route, found.key, found.typed) == (route, key, word)
    assert found.correction is None and found.routes == (route,)


def test_hypernym_route_keeps_its_path() -> None:
    puppy = RESOLVER.resolve("puppy")
    assert puppy.classes == DOGS and puppy.concepts == ("n02084071",)
    ((start, end),) = puppy.paths
    assert (start.wnid, start.name, end.wnid, end.name) == (
        "n01322604", "puppy", "n02084071", "dog",
    )  # fmt: skip
    pony = RESOLVER.resolve("pony")
    assert "sorrel" in names(pony)
    assert all(path[-1].name == "horse" for path in pony.paths)
    duckling = RESOLVER.resolve("duckling")
    assert names(duckling) == {"drake", "red-breasted merganser"}


def test_definition_route_reaches_photo_words() -> None:
    piglet = RESOLVER.resolve("piglet")
    assert piglet.route == "definition" and piglet.photo_word == "pig"
    assert "hog" in names(piglet)
    assert [s.name for s in piglet.paths[0]] == ["piglet", "pig"]
    kitten = RESOLVER.resolve("kitten")
    assert names(kitten) == {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


def test_photo_route_carries_weights_and_entry() -> None:
    beach = RESOLVER.resolve("beach")
    weights = dict(zip(beach.classes, beach.weights, strict=True))
    assert weights[VOCAB.index_of("n09428293")] == 1.0  # seashore
    assert 0 < min(beach.weights) < 1
    assert beach.photo_word == "beach" and beach.concepts[0] == "n09217230"
    vector = beach.weight_vector()
    assert vector.shape == (1000,) and vector.dtype == np.float32
    assert np.flatnonzero(vector).tolist() == list(beach.classes)


def test_typed_form_wins_over_singular_and_singulars_fold() -> None:
    assert RESOLVER.resolve("glasses").photo_word == "glasses"  # spectacles, not beer glasses
    assert RESOLVER.resolve("geese").key == "goose"  # noun.exc
    assert RESOLVER.resolve("kitchenettes").key == "kitchenette"  # noun then plural rule


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        ("idea", "no photo class is within 3 steps"),
        ("thing", "too broad to search"),
        ("paris", "name of a particular person, place or thing"),
        ("entity", "too general: entity covers 1000 of the 1000 classes"),
        ("object", "too general"),
        ("xqzvw", None),
    ],
)
def test_refused_words_say_why(word: str, reason: str | None) -> None:
    with pytest.raises(UnknownConceptError) as info:
        RESOLVER.resolve(word)
    assert info.value.term == word
    if reason is None:
        assert info.value.reason is None
    else:
        assert info.value.reason is not None and reason in info.value.reason
        assert reason in str(info.value)


def test_unknown_word_error_suggests() -> None:
    with pytest.raises(UnknownConceptError) as info:
        RESOLVER.resolve("brid")
    assert info.value.suggestions[:2] == ["bird", "bride"]
    assert "did you mean 'bird'" in str(info.value)


def test_quoted_phrases_are_not_corrected() -> None:
    assert RESOLVER.resolve("sports bar").key == "sports car"
    with pytest.raises(UnknownConceptError):
        RESOLVER.resolve("sports bar", correct=False)


def test_core_only_resolver_is_the_old_vocabulary() -> None:
    old = Resolver(VOCAB, spelling=False)
    for word in ("dog", "sports car", "geese", "hound", "crane", "animal"):
        found = old.resolve(word)
        match = VOCAB.match(word)
        assert match is not None
        assert found.classes == tuple(int(i) for i in match.classes)
        assert found.concepts == tuple(c.wnid for c in match.concepts)
    for word in ("harbour", "puppy", "retreiver"):
        with pytest.raises(UnknownConceptError):
            old.resolve(word)


def test_describe_is_json_and_names_everything() -> None:
    described = RESOLVER.describe(RESOLVER.resolve("golden retreiver"))
    json.dumps(described)
    assert described["key"] == "golden retriever" and described["routes"] == ["spelling", "class"]
    assert described["correction"] == {
        "typed": "golden retreiver", "corrected": "golden retriever", "distance": 1, "others": [],
    }  # fmt: skip
    assert described["classes"] == [
        {"index": 207, "wnid": "n02099601", "name": "golden retriever", "weight": 1.0}
    ]
    puppy = RESOLVER.describe(RESOLVER.resolve("puppy"))
    assert puppy["definition"] == "a young dog"
    assert puppy["concepts"][0]["name"] == "dog"  # type: ignore[index]
    assert puppy["class_count"] == 118
    harbour = RESOLVER.describe(RESOLVER.resolve("harbor"))
    assert harbour["photo_word"]["headword"] == "harbour"  # type: ignore[index]
    weights = [c["weight"] for c in harbour["classes"]]  # type: ignore[attr-defined]
    assert weights == sorted(weights, reverse=True)


# --- properties -----------------------------------------------------------------------

KNOWN = sorted(
    set(VOCAB.keys[::7])
    | set(list(RESOLVER.photo.words())[::3])  # type: ignore[union-attr]
    | set(RESOLVER.nouns.words()[::997])  # type: ignore[union-attr]
)
words = st.one_of(
    st.sampled_from(KNOWN),
    st.sampled_from(KNOWN).map(lambda w: w[:-1] + w[-1] * 2),  # a typo
    st.sampled_from(KNOWN).map(str.upper),
    st.text(max_size=20),
)


def explains_itself(found: Resolution) -> None:
    assert found.route in ROUTES
    assert found.classes and list(found.classes) == sorted(set(found.classes))
    assert len(found.weights) == len(found.classes)
    assert all(0 < w <= 1 for w in found.weights)
    assert found.concepts or found.route == "photo"  # a photo word may name classes only
    assert found.key == normalize(found.key) and found.key
    if found.route in ("hypernym", "definition"):
        assert found.paths and all(len(path) >= 1 for path in found.paths)
        assert all(step.name for path in found.paths for step in path)
    else:
        assert found.paths == ()
    if found.route == "photo":
        assert found.photo_word
    if found.correction is not None:
        assert found.correction.corrected == found.key
        assert found.correction.typed != found.key and 1 <= found.correction.distance <= 2
        assert found.routes == ("spelling", found.route)
    json.dumps(found.to_json())


@settings(max_examples=300, deadline=None)
@given(words)
def test_any_word_resolves_and_explains_itself_or_is_refused(word: str) -> None:
    try:
        found = RESOLVER.resolve(word)
    except UnknownConceptError as exc:
        assert exc.term == word
        assert "\n" not in str(exc)
        return
    explains_itself(found)
    assert RESOLVER.resolve(found.key).classes == found.classes  # the key answers the same
