"""The relevance floor, --min-score and the -word threshold, checked against the stored
classes of real photos: a total counts exactly the photos that match."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import picfind
from picfind import cli
from picfind.query import parse_query
from picfind.scoring import KEYWORD_FLOOR, KEYWORD_NOT
from picfind.store.base import Table

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def stored(small_index: Path) -> tuple[list[str], np.ndarray]:
    """(ids, dense stored classes) of every photo of the index."""
    with picfind.open_index(small_index, read_only=True) as idx:
        table = Table.of(idx.store.rows(features=True))
    return table.ids, table.classes.astype(np.float64)


def mass(dense: np.ndarray, word: str) -> np.ndarray:
    """Each photo's weighted mass of a word, computed here from the stored classes."""
    [clause] = parse_query(word).clauses
    return dense @ clause.weight_vector().astype(np.float64)


def search(index: Path, words: str, **kw: object) -> picfind.SearchResults:
    with picfind.open_index(index, read_only=True) as idx:
        return idx.search_words(words, limit=1000, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("floor", [None, 0.005, 0.1, 0.5])
def test_a_total_counts_exactly_the_photos_over_the_floor(small_index: Path, stored, floor) -> None:
    ids, dense = stored
    for word in ("dog", "cat", "pet"):
        m = mass(dense, word)
        expected = {i for i, x in zip(ids, m, strict=True) if x >= (floor or KEYWORD_FLOOR)}
        found = search(small_index, word, min_score=floor)
        assert found.total == len(found.results) == len(expected), (word, floor)
        assert {r.id for r in found.results} == expected
        assert all(r.score >= (floor or KEYWORD_FLOOR) for r in found.results)


def test_a_negated_word_excludes_at_its_threshold(small_index: Path, stored) -> None:
    ids, dense = stored
    cat, tabby = mass(dense, "cat"), mass(dense, "tabby")
    expected = {
        i for i, c, t in zip(ids, cat, tabby, strict=True) if c >= KEYWORD_FLOOR and t < KEYWORD_NOT
    }
    found = search(small_index, "cat -tabby")
    assert {r.id for r in found.results} == expected and found.total == len(expected)
    # the threshold really excludes: photos whose tabby mass is 0.4-0.5 went with 0.5
    between = {i for i, t in zip(ids, tabby, strict=True) if KEYWORD_NOT <= t < 0.5}
    assert between and not between & {r.id for r in found.results}


def test_min_score_on_the_command_line(small_index: Path, capsys) -> None:
    def run(*args: object) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.run([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    _, out, _ = run("search", "dog", "--index", small_index, "--json", "-n", 0)
    default = json.loads(out)["total"]
    _, out, _ = run("search", "dog", "--index", small_index, "--json", "--min-score", 0.5)
    strict = json.loads(out)
    assert strict["total"] < default and all(r["score"] >= 0.5 for r in strict["results"])
    for bad in ("0", "1.5", "x"):
        code, _, err = run("search", "dog", "--index", small_index, "--min-score", bad)
        assert code == 2 and "--min-score" in err and "Traceback" not in err
    code, _, err = run("search", "--image", "x.jpg", "--index", small_index, "--min-score", 0.1)
    assert code == 2 and "--min-score is for a words search" in err
