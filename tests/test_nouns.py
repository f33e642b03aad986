"""All of WordNet's nouns: the committed table, and the rules that build it."""

from __future__ import annotations

import gzip
import os
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pytest

from picfind.nouns import DATA_NAME, MAX_HOPS, NounTable
from picfind.photowords import PhotoWords, parse
from picfind.resolve import Resolver
from picfind.vocabulary import Vocabulary, normalize

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import nouns_table as build  # noqa: E402  (a script module, not an installed one)

WORDNET = Path("/usr/share/wordnet")


@pytest.fixture(scope="module")
def table() -> NounTable:
    return NounTable.load()


def index_lemmas() -> list[str]:
    if not (WORDNET / "index.noun").exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("needs WordNet 3.0 (apt-get install wordnet-base)", pytrace=False)
        pytest.skip("needs WordNet 3.0 (apt-get install wordnet-base)")
    lemmas = []
    with (WORDNET / "index.noun").open(encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("  "):
                lemmas.append(line.split(" ", 1)[0])
    return lemmas


# --- the committed table ------------------------------------------------------------


def test_every_wordnet_noun_is_in_the_table(table: NounTable) -> None:
    lemmas = index_lemmas()
    assert len(lemmas) > 117_000
    keys = {normalize(lemma) for lemma in lemmas} - {""}
    missing = [k for k in keys if k not in table]
    assert not missing, missing[:10]
    assert len(table) == len(keys)


def test_every_key_is_core_answered_or_refused(table: NounTable) -> None:
    vocab = Vocabulary.load()
    counts = {"core": 0, "answered": 0, "refused": 0}
    for key in table.words():
        entry = table.get(key)
        assert entry is not None
        if entry.core:
            assert vocab.is_key(key), key
            counts["core"] += 1
        elif entry.senses:
            assert entry.refusal is None
            counts["answered"] += 1
        else:
            assert entry.refusal in ("far", "broad", "name"), key
            counts["refused"] += 1
    assert counts["core"] == len(vocab.keys) - sum(1 for k in vocab.keys if k not in table)
    assert counts["answered"] > 15_000 and counts["refused"] > 50_000


def test_every_answer_resolves_to_classes_with_a_short_path(table: NounTable) -> None:
    resolver = Resolver.load()
    for key, _ in table.answering_keys():
        entry = table.get(key)
        assert entry is not None
        for sense in entry.senses:
            if sense.route == "hypernym":
                assert 1 <= len(sense.path) <= MAX_HOPS + 1, key
            else:
                assert len(sense.path) == 2, key
        found = resolver.lookup(key)
        assert found is not None and found.classes, key
        assert found.route in ("hypernym", "definition", "photo", "class", "concept")


@pytest.mark.parametrize(
    ("word", "route", "path"),
    [
        ("puppy", "hypernym", ("n01322604", "n02084071")),  # puppy → dog
        ("duckling", "hypernym", ("n01847170", "n01846331")),  # young duck → duck
        ("pony", "hypernym", ("n02380335", "n02374451")),  # pony → horse
        ("kitten", "definition", ("n02122948", "n02121808")),  # young domestic cat
        ("piglet", "definition", ("n02395694", "@pig")),  # a young pig
        ("kitchenette", "hypernym", ("n03620353", "n03619890")),  # → the photo word kitchen
    ],
)
def test_routes(table: NounTable, word: str, route: str, path: tuple[str, ...]) -> None:
    entry = table.get(word)
    assert entry is not None
    assert entry.senses[0].route == route
    assert entry.senses[0].path == path


@pytest.mark.parametrize(
    ("word", "refusal"),
    [("idea", "far"), ("teacher", "far"), ("thing", "broad"), ("paris", "name")],
)
def test_refusals(table: NounTable, word: str, refusal: str) -> None:
    entry = table.get(word)
    assert entry is not None and not entry.senses
    assert entry.refusal == refusal


def test_table_is_compact_and_licensed() -> None:
    data = resources.files("picfind").joinpath("data")
    blob = data.joinpath(DATA_NAME).read_bytes()
    assert len(blob) < 1_500_000
    header = gzip.decompress(blob).decode("utf-8").split("\n\n", 1)[0]
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in header
    assert "WORDNET-LICENSE.txt" in header and "scripts/build_vocabulary.py" in header


def test_frequencies_names_and_plurals(table: NounTable) -> None:
    assert table.frequency("dog") > table.frequency("puppy") > 0
    assert table.frequency("no such word") == 0
    assert table.synset("n01322604") == ("puppy", "a young dog")
    assert table.exceptions["geese"] == ("goose",)
    assert table.is_prefix(("golden",)) and table.is_prefix(("golden", "retriever"))
    assert not table.is_prefix(("retriever", "golden"))


# --- the rules, on a small made-up WordNet -------------------------------------------


@dataclass
class Syn:
    lemmas: list[str]
    hypernyms: list[int]
    gloss: str
    instance: bool = False
    ranks: list[int] = field(default_factory=list)


TOY_CLASSES = [[0, "n00000004", "sorrel", ["sorrel"]], [1, "n00000012", "tabby", ["tabby"]]]
TOY_SYNSETS = {
    1: Syn(["entity"], [], "that which is"),
    2: Syn(["animal"], [1], "a living organism"),
    3: Syn(["horse"], [2], "a hoofed animal"),
    4: Syn(["sorrel"], [3], "a brown horse"),
    5: Syn(["pony"], [3], "a small horse"),
    6: Syn(["young_mammal"], [2], "any immature mammal"),
    7: Syn(["foal"], [6], "a young horse"),
    8: Syn(["idea"], [9], "the content of cognition"),
    9: Syn(["abstraction"], [1], "a concept"),
    10: Syn(["Dobbin"], [3], "a famous horse", instance=True),
    11: Syn(["cat"], [2], "a feline"),
    12: Syn(["tabby"], [11], "a striped cat"),
}


def toy_vocab() -> Vocabulary:
    concepts = []
    for offset in (1, 2, 3, 4, 11, 12):
        s = TOY_SYNSETS[offset]
        concepts.append(
            {
                "wnid": f"n{offset:08d}",
                "lemmas": s.lemmas,
                "ranks": [1] * len(s.lemmas),
                "gloss": s.gloss,
                "parents": [f"n{p:08d}" for p in s.hypernyms],
            }
        )
    return Vocabulary({"classes": TOY_CLASSES, "concepts": concepts, "exceptions": {}})


def test_genus_phrases() -> None:
    phrases = build.genus_phrases("young domestic cat")
    assert phrases == ["young domestic cat", "domestic cat", "cat"]
    assert build.genus_phrases("a young pig")[-1] == "pig"
    assert build.genus_phrases("any of various breeds of small gentle horses")[-1] == "horses"
    assert build.genus_phrases("a room (as in a residence) containing a bathtub") == ["room"]
    assert build.genus_phrases("someone who works metal") == ["someone"]
    assert build.genus_phrases("") == []


def test_climb_finds_the_nearest_specific_answer() -> None:
    answers = build.Answers(classes={1: 2, 2: 2, 3: 1, 4: 1}, subtree={1: 12, 2: 10, 3: 4, 4: 1})
    assert build.climb(5, TOY_SYNSETS, answers) == ([[5, 3]], None)  # pony → horse
    # foal → young mammal → animal: within reach, but too broad when animal covers much
    broad = build.Answers(classes={1: 2, 2: 2, 3: 1, 4: 1}, subtree={1: 9999, 2: 900, 3: 4, 4: 1})
    assert build.climb(7, TOY_SYNSETS, broad) == ([], 2)
    assert build.climb(8, TOY_SYNSETS, broad) == ([], 1)  # idea: only the root
    far = build.Answers(classes={4: 1}, subtree={4: 1})
    assert build.climb(8, TOY_SYNSETS, far) == ([], None)
    grab_bag = build.Answers({3: 1, 4: 1}, {3: 4, 4: 1}, grab_bags=frozenset({3}))
    assert build.climb(5, TOY_SYNSETS, grab_bag) == ([], 3)


def test_define_makes_a_broad_answer_precise() -> None:
    vocab = toy_vocab()
    photo = PhotoWords([], vocab)
    answers = build.Answers(classes={1: 2, 2: 2, 3: 1, 4: 1, 11: 1, 12: 1},
                            subtree={1: 12, 2: 900, 3: 4, 4: 1, 11: 2, 12: 1})  # fmt: skip
    first = {"horse": 3, "cat": 11, "entity": 1}
    # foal: "a young horse" → horse, which is an animal like the broad answer
    assert build.define("a young horse", 2, TOY_SYNSETS, vocab, photo, answers, first, {}) == [
        "n00000003"
    ]
    # never a change of subject: horse is no kind of abstraction
    assert build.define("a young horse", 9, TOY_SYNSETS, vocab, photo, answers, first, {}) == []
    # a phrase counts in its most frequent sense only
    other = {"horse": 11}
    assert build.define("a young horse", 2, TOY_SYNSETS, vocab, photo, answers, other, {}) == []
    # plurals fold
    assert build.define("small horses", 2, TOY_SYNSETS, vocab, photo, answers, first, {}) == [
        "n00000003"
    ]
    # a photo-vocabulary word answers as @word when it stands for the phrase's sense
    photo = PhotoWords(parse("nag\tn00000003\tsorrel\n"), vocab)
    assert build.define("an old nag", 2, TOY_SYNSETS, vocab, photo, answers, {}, {}) == ["@nag"]


def test_considered_senses() -> None:
    assert build.considered_senses([7, 8, 9], 1) == [7]  # only the tagged sense
    assert build.considered_senses([7, 8, 9], 0) == [7, 8, 9]  # none tagged: all


def test_build_nouns_on_a_toy_wordnet() -> None:
    vocab = toy_vocab()
    photo = PhotoWords([], vocab)
    senses = {s.lemmas[0].lower(): [o] for o, s in TOY_SYNSETS.items()}
    text = build.build_nouns(TOY_SYNSETS, senses, {}, {"pony": 3}, {}, vocab, photo, ["toy"])
    table = NounTable(text)
    assert table.get("horse") is not None and table.get("horse").core  # type: ignore[union-attr]
    pony = table.get("pony")
    assert pony is not None and pony.senses[0].path == ("n00000005", "n00000003")
    assert pony.frequency == 3
    dobbin = table.get("dobbin")
    assert dobbin is not None and dobbin.refusal == "name"
    assert table.synset("n00000005") == ("pony", "a small horse")
    assert build.build_nouns(TOY_SYNSETS, senses, {}, {}, {}, vocab, photo, ["toy"]) == (
        build.build_nouns(TOY_SYNSETS, senses, {}, {}, {}, vocab, photo, ["toy"])
    )
