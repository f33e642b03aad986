"""Why each result of a words search matched: the JSON contract, the CLI lines, the API,
computed from the stored rows of real photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import picfind
from picfind import cli
from picfind.query import parse_query
from picfind.vocabulary import Vocabulary

pytestmark = pytest.mark.shared_data

VOCAB = Vocabulary.load()
WHY = {"signal", "term", "via", "score"}


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def stored_classes(index: Path, ids: list[str]) -> dict[str, dict[str, float]]:
    """Each row's stored classes by name, read back from the store itself."""
    with picfind.open_index(index, read_only=True) as idx:
        rows = idx.store.rows(ids=ids, features=True)
        return {
            r.id: {
                VOCAB.class_name(int(i)): float(p)
                for i, p in zip(r.features.classes.ids, r.features.classes.probs, strict=True)  # type: ignore[union-attr]
            }
            for r in rows
        }


def test_every_hit_says_why_from_its_stored_classes(small_index: Path, capsys) -> None:
    code, out, _ = run(capsys, "search", "dog", "--index", small_index, "--json", "-n", 40)
    assert code == 0
    body = json.loads(out)
    dog = set(parse_query("dog").terms[0].class_indices)
    dog_names = {VOCAB.class_name(i) for i in dog}
    classes = stored_classes(small_index, [r["id"] for r in body["results"]])
    assert len(body["results"]) == 40
    for r in body["results"]:
        assert r["why"], r
        scores = [w["score"] for w in r["why"]]
        assert scores == sorted(scores, reverse=True)
        for w in r["why"]:
            assert set(w) == WHY and w["signal"] == "concept" and w["term"] == "dog"
            assert w["via"] in dog_names
            assert w["score"] == pytest.approx(classes[r["id"]][w["via"]], abs=1e-6)
        # the best reason is the most probable dog class the photo carries
        best = max((p, n) for n, p in classes[r["id"]].items() if n in dog_names)
        assert r["why"][0]["via"] == best[1]


def test_each_term_explains_only_what_it_matched(small_index: Path, capsys) -> None:
    """In "dog OR cat" a term explains a result exactly when its own mass matches."""
    code, out, _ = run(capsys, "search", "dog", "OR", "cat", "--index", small_index, "--json")
    body = json.loads(out)
    assert code == 0 and len(body["results"]) == 10
    names = {
        word: {VOCAB.class_name(i) for i in parse_query(word).terms[0].class_indices}
        for word in ("dog", "cat")
    }
    classes = stored_classes(small_index, [r["id"] for r in body["results"]])
    for r in body["results"]:
        mine = classes[r["id"]]
        matched = {w for w, n in names.items() if sum(p for c, p in mine.items() if c in n) >= 0.01}
        assert {w["term"] for w in r["why"]} == matched, r
    # a negated term never explains a result
    _, out, _ = run(capsys, "search", "dog", "-cat", "--index", small_index, "--json")
    assert all(w["term"] == "dog" for r in json.loads(out)["results"] for w in r["why"])


def test_the_parsed_query_and_corrections_are_in_the_json(small_index: Path, capsys) -> None:
    _, out, _ = run(capsys, "search", "dgo", "-cat", "--index", small_index, "--json")
    body = json.loads(out)
    assert body["corrections"] == [
        {"typed": "dgo", "corrected": "dog", "distance": 1, "others": ["duo"]}
    ]
    [dog, cat] = body["query"]["clauses"]
    assert body["query"]["text"] == "dog -cat"
    assert (dog["negated"], cat["negated"]) == (False, True)
    [reading] = dog["terms"][0]["readings"]
    assert reading["signal"] == "concept" and reading["label"] == "dog"
    assert reading["route"] == "concept" and reading["concepts"] == ["n02084071"]


def test_image_search_json_has_no_why(small_index: Path, small_photos: Path, capsys) -> None:
    args = ("search", "--image", small_photos / "cat.1.jpg", "--index", small_index, "--json")
    body = json.loads(run(capsys, *args, "-n", 3)[1])
    assert body["results"] and all("why" not in r for r in body["results"])
    assert "query" not in body and "corrections" not in body


def test_the_cli_line_shows_the_best_reason_and_why_shows_all(small_index: Path, capsys) -> None:
    code, out, _ = run(capsys, "search", "dog", "--index", small_index, "--json", "-n", 5)
    body = json.loads(out)
    code, out, err = run(capsys, "search", "dog", "--index", small_index, "-n", 5)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 5
    for line, r in zip(lines, body["results"], strict=True):
        best = r["why"][0]
        assert f"dog ← {best['via']} {best['score']:.2f}" in line
    code, out, _ = run(capsys, "search", "dog", "--index", small_index, "-n", 5, "--why")
    whys = [line.strip() for line in out.splitlines() if line.startswith(" " * 16)]
    expected = [
        f"concept: dog ← {w['via']} {w['score']:.2f}" for r in body["results"] for w in r["why"]
    ]
    assert whys == expected
    _, _, err = run(capsys, "search", "dgo", "--index", small_index, "-n", 1)
    assert "searching dog for dgo (spelling)" in err
