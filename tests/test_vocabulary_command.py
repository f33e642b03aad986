"""``picfind vocabulary WORD``: what a word means, for people and as JSON."""

from __future__ import annotations

import json

import pytest
from helpers import run

KEYS = {
    "word", "key", "route", "routes", "definition", "correction", "concepts", "class_count",
    "classes", "paths", "photo_word",
}  # fmt: skip


def test_puppy_through_wordnet(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "vocabulary", "puppy")
    assert code == 0 and err == ""
    assert "WordNet hypernym" in out
    assert "a young dog" in out
    assert "puppy (n01322604) → dog (n02084071)" in out
    assert "classes     118: " in out and "(+108)" in out


def test_photo_word_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "vocabulary", "harbor", "--json")
    assert code == 0
    d = json.loads(out)
    assert set(d) == KEYS
    assert (d["word"], d["key"], d["route"]) == ("harbor", "harbor", "photo")
    assert d["photo_word"]["headword"] == "harbour" and "marina" in d["photo_word"]["words"]
    assert d["class_count"] == len(d["classes"]) >= 10
    assert {"dock", "pier"} <= {c["name"] for c in d["classes"]}
    assert all(set(c) == {"index", "wnid", "name", "weight"} for c in d["classes"])
    assert d["paths"] == [] and d["correction"] is None


def test_spelling_correction_is_shown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "vocabulary", "golden", "retreiver")
    assert code == 0
    assert (
        out.splitlines()[0] == "golden retreiver → golden retriever  (spelling corrected, 1 edit)"
    )
    code, out, _ = run(capsys, "vocabulary", "golden retreiver", "--json")
    assert json.loads(out)["routes"] == ["spelling", "class"]


def test_limit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "vocabulary", "dog", "-n", "2")
    line = next(line for line in out.splitlines() if "classes" in line)
    assert code == 0 and line.count(",") == 1 and line.endswith("(+116)")


@pytest.mark.parametrize(
    ("word", "says"),
    [
        ("idea", "unknown word 'idea' (a WordNet noun, but no photo class is within 3 steps"),
        ("entity", "too general"),
        ("dgi", "did you mean 'dog'"),
    ],
)
def test_words_nothing_answers_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], word: str, says: str
) -> None:
    code, out, err = run(capsys, "vocabulary", word)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("picfind: error: ") and says in err
