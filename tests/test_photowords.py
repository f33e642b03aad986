"""The photo vocabulary: the committed file, its checker, and what it maps words to."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from picfind.photowords import DATA_NAME, PhotoWords, PhotoWordsError, check, parse
from picfind.vocabulary import Vocabulary, normalize

REPO = Path(__file__).resolve().parents[1]
VOCAB = Vocabulary.load()
TEXT = resources.files("picfind").joinpath("data").joinpath(DATA_NAME).read_text("utf-8")


@pytest.fixture(scope="module")
def words() -> PhotoWords:
    return PhotoWords.load()


def names(word: object) -> set[str]:
    return {VOCAB.class_name(i) for i in word.classes}  # type: ignore[attr-defined]


def test_checker_script_passes_on_the_committed_file() -> None:
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "check_photo_words.py")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all good" in r.stdout


def test_checker_script_fails_on_a_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("harbour\t-\tdock, no such class\n", encoding="utf-8")
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "check_photo_words.py"), str(bad)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    assert "'no such class' is not a class name" in r.stdout


def test_header_states_provenance_and_licence() -> None:
    header = [line for line in TEXT.splitlines() if line.startswith("#")][:12]
    text = "\n".join(header)
    assert "Provenance" in text and "not copied" in text
    assert "Licence: Apache-2.0" in text and "WORDNET-LICENSE.txt" in text


def test_several_hundred_words_each_reaching_classes(words: PhotoWords) -> None:
    keys = list(words.words())
    assert len(words.entries) >= 250 and len(keys) >= 800
    assert len(keys) == len(set(keys))
    for key in keys:
        word = words.get(key)
        assert word is not None and word.classes, key
        assert list(word.classes) == sorted(set(word.classes))
        assert len(word.weights) == len(word.classes)
        assert all(0 < w <= 1 for w in word.weights)
        assert all(0 <= i < 1000 for i in word.classes)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("harbour", {"dock", "pier", "breakwater", "container ship", "boathouse"}),
        ("bathroom", {"bathtub", "washbasin", "shower curtain", "toilet seat", "toilet tissue"}),
        ("kitchen", {"refrigerator", "stove", "microwave", "dishwasher", "frying pan"}),
        ("office", {"desk", "desktop computer", "monitor", "photocopier", "printer"}),
        ("birthday", {"candle", "balloon"}),
        ("christmas", {"Christmas stocking"}),
        ("countryside", {"barn", "valley", "hay"}),
    ],
)
def test_everyday_words(words: PhotoWords, word: str, expected: set[str]) -> None:
    found = words.get(word)
    assert found is not None
    assert expected <= names(found)


def test_variants_share_their_entry(words: PhotoWords) -> None:
    assert words.get("harbor") is words.get("harbour")
    assert words.get(normalize("Living-Room")) is words.get("living room")
    assert words.get("harbours") is None  # plurals fold in the resolver, not here


def test_weights_and_included_entries(words: PhotoWords) -> None:
    beach = words.get("beach")
    assert beach is not None
    weight = dict(zip((VOCAB.class_name(i) for i in beach.classes), beach.weights, strict=True))
    assert weight["seashore"] == 1.0 and weight["sunscreen"] == 0.5
    seaside = words.get("seaside")  # "@beach" brings beach's classes, at their weights
    assert seaside is not None and names(beach) <= names(seaside)
    pets = words.get("pets")  # a concept target brings every class under it
    assert pets is not None and {VOCAB.class_name(i) for i in range(151, 269)} <= names(pets)


def test_senses_link_entries_to_wordnet(words: PhotoWords) -> None:
    kitchen = words.get("kitchen")
    assert kitchen is not None and kitchen.entry.senses == ("n03619890",)
    assert words.by_sense("n03619890") is kitchen
    assert kitchen.concepts[0] == "n03619890"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a\t-\tno such class\n", "'no such class' is not a class name"),
        ("a\t-\tcrane\n", "'crane' names 2 classes: use n02012849, n03126707"),
        ("a\t-\tn99999999\n", "n99999999 is neither a class nor a concept"),
        ("a\t-\tdock:1.5\n", "weight 1.5 of 'dock' is not in (0, 1]"),
        ("a\t-\tdock:0\n", "weight 0.0 of 'dock' is not in (0, 1]"),
        ("a\t-\t@b\n", "'@b' names no entry"),
        ("a\t-\tdock\nb|A\t-\tpier\n", "'A' is also defined on line 1"),
        ("a\t-\t@b\nb\t-\t@a\n", "includes itself through @"),
        ("a\t-\t\n", "'a' has no targets"),
        ("a\tharbour.n.01\tdock\n", "is not a WordNet id"),
        ("a\tdock\n", "expected 3 tab-separated fields, got 2"),
    ],
)
def test_check_reports_each_problem(text: str, problem: str) -> None:
    problems = check(text, VOCAB)
    assert problems and any(problem in p for p in problems), problems


def test_check_passes_a_good_text_and_reports_every_bad_line() -> None:
    assert check("# comment\nquay|wharf\tn08639058\tdock, pier:0.5, @port\nport\t-\tdock\n") == []
    problems = check("a\t-\tnope\nb\t-\talso nope\n", VOCAB)
    assert len(problems) == 2


def test_parse_errors_are_typed() -> None:
    with pytest.raises(PhotoWordsError) as info:
        parse("x\ty\n")
    assert info.value.line == 1
    with pytest.raises(PhotoWordsError):
        PhotoWords(parse("a\t-\tno such class\n"), VOCAB)
