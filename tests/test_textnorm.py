"""Text normalisation for search: folding, words, parts — and the FTS5 table they feed."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from picfind import textnorm

# The table shape proposed for the embedded store (docs/ocr.md): picfind's terms,
# split again only at spaces (tokenchars keep "10:30" whole), accents folded again.
FTS5 = (
    "CREATE VIRTUAL TABLE texts USING fts5(words, parts, "
    "tokenize = \"unicode61 remove_diacritics 2 tokenchars ':.,/-'\")"
)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Café", "cafe"),
        ("CRÈME BRÛLÉE", "creme brulee"),
        ("Straße", "strasse"),
        ("Ærø Łódź", "aero lodz"),
        ("ﬁne", "fine"),
        ("ＡＢＣ", "abc"),
        ("İstanbul", "istanbul"),
    ],
)
def test_fold_removes_case_accents_and_compatibility_forms(text: str, folded: str) -> None:
    assert textnorm.fold(text) == folded


@pytest.mark.parametrize(
    ("text", "words", "parts"),
    [
        ("Gate 23", ["gate", "23"], ["gate", "23"]),
        ("Gate23", ["gate23"], ["gate", "23"]),
        ("A4 paper", ["a4", "paper"], ["a", "4", "paper"]),
        ("open 10:30–18:45", ["open", "10:30", "18:45"], ["open", "10", "30", "18", "45"]),
        ("total 1,250.00 €", ["total", "1,250.00"], ["total", "1", "250", "00"]),
        ("2024-05-01", ["2024-05-01"], ["2024", "05", "01"]),
        ("well-known, end.", ["well", "known", "end"], ["well", "known", "end"]),
        ("TheWizard ofOz", ["thewizard", "ofoz"], ["the", "wizard", "of", "oz"]),
        ("USA iPhone", ["usa", "iphone"], ["usa", "i", "phone"]),
        ("北京 Tokyo東京", ["北", "京", "tokyo", "東", "京"], ["北", "京", "tokyo", "東", "京"]),
        ("50% off!", ["50", "off"], ["50", "off"]),
        ("", [], []),
    ],
)
def test_words_and_parts(text: str, words: list[str], parts: list[str]) -> None:
    assert textnorm.words(text) == words
    assert textnorm.parts(text) == parts
    assert textnorm.terms(text) == textnorm.Terms(" ".join(words), " ".join(parts))


def test_query_words_ignore_case_changes() -> None:
    assert textnorm.query_words("TheWizard") == textnorm.query_words("thewizard") == ["thewizard"]
    assert textnorm.query_words("Café 10:30") == ["cafe", "10:30"]


@given(st.text(max_size=60))
def test_terms_are_folded_space_free_and_stable(text: str) -> None:
    for term in textnorm.words(text) + textnorm.parts(text):
        assert term and not any(c.isspace() for c in term)
        assert textnorm.fold(term) == term
    assert textnorm.words(textnorm.fold(text)) == textnorm.words(text)
    # parts never lose a word's letters: joined, they spell the words less joiners
    joined = "".join(textnorm.words(text))
    assert "".join(textnorm.parts(text)) == "".join(c for c in joined if c not in ":.,/-")


@given(st.text(alphabet="aéB3:. -Zß", max_size=30))
def test_fold_is_idempotent(text: str) -> None:
    assert textnorm.fold(textnorm.fold(text)) == textnorm.fold(text)


@pytest.fixture
def texts() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute(FTS5)
    for i, read in enumerate(
        [
            "CAFÉ DU MONDE\nTotal 12.50",
            "Gate23 Departures 10:30",
            "TheWizard ofOz",
            "Happy Birthday Anna",
            "A4 paper 500 sheets",
            "Straße der Pariser Kommune",
        ],
        start=1,
    ):
        conn.execute(
            "INSERT INTO texts(rowid, words, parts) VALUES (?, ?, ?)", (i, *textnorm.terms(read))
        )
    return conn


def _match(conn: sqlite3.Connection, term: str, prefix: bool = False) -> list[int]:
    words = textnorm.query_words(term)
    phrase = '"' + " ".join(words) + '"' + ("*" if prefix else "")
    return [r[0] for r in conn.execute("SELECT rowid FROM texts WHERE texts MATCH ?", (phrase,))]


@pytest.mark.parametrize(
    ("term", "rows"),
    [
        ("cafe", [1]),
        ("Café", [1]),
        ("12.50", [1]),
        ("gate 23", [2]),
        ("gate23", [2]),
        ("10:30", [2]),
        ("wizard of oz", [3]),
        ("happy birthday", [4]),
        ("birthday happy", []),
        ("a4", [5]),
        ("strasse", [6]),
        ("STRASSE", [6]),
        ("pizza", []),
    ],
)
def test_fts5_table_finds_terms_and_phrases(
    texts: sqlite3.Connection, term: str, rows: list[int]
) -> None:
    assert _match(texts, term) == rows


def test_fts5_prefix(texts: sqlite3.Connection) -> None:
    assert _match(texts, "birth", prefix=True) == [4]
    assert _match(texts, "depart", prefix=True) == [2]
