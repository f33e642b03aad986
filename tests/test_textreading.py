"""The text signal's reader of query words, its fallback rule, why a photo matched, and
``Index.search_text`` on a real embedded index (texts written through the store seam)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_texts import TEXTS, _fill, _read

import picfind
from picfind.errors import UsageError
from picfind.matchers import TextMatch
from picfind.records import ImageText
from picfind.store.embedded import EmbeddedStore
from picfind.textreading import (
    TextReader,
    explain_text,
    matched_lines,
    read_with_fallback,
    text_readers,
)
from picfind.textsearch import TEXT_SCORE


def _only(readings: list) -> tuple[TextMatch, int, str]:
    (r,) = readings
    (m,) = r.matchers
    assert isinstance(m, TextMatch) and r.signal == "text"
    return m, r.words, r.label


def test_text_field_is_read_always() -> None:
    for reader in (TextReader(holds_text=True), TextReader(holds_text=False)):
        assert _only(reader.read(["text:Gate23", "dog"])) == (TextMatch(("gate23",)), 1, "gate23")
    assert _only(TextReader(holds_text=False).read_phrase("Happy Birthday")) == (
        TextMatch(("happy", "birthday")),
        2,
        "happy birthday",
    )


def test_plain_words_only_when_the_index_holds_text() -> None:
    assert TextReader(holds_text=False).read(["espresso"]) == []
    m, n, _ = _only(TextReader(holds_text=True).read(["Café", "noir"]))
    assert (m, n) == (TextMatch(("cafe",)), 1)  # one word: phrases are the parser's


def test_prefixes() -> None:
    m, _, label = _only(TextReader().read(["birth*"]))
    assert m == TextMatch(("birth",), prefix=True) and label == "birth*"
    assert TextReader().read(["bi*"]) == []  # too short to be a prefix
    m, _, _ = _only(TextReader().read_phrase("happy birth*"))
    assert m == TextMatch(("happy", "birth"), prefix=True)
    assert TextReader().read(["text:!!"]) == []


def test_fallback_rule() -> None:
    text = text_readers(holds_text=True)[0]
    concept = ["a concept reading"]
    assert read_with_fallback(lambda w: concept if w[0] == "dog" else [], text, ["dog"]) == concept
    (r,) = read_with_fallback(lambda w: [], text, ["gate"])
    assert r.matchers == (TextMatch(("gate",)),)
    (r,) = read_with_fallback(lambda w: concept, text, ["text:dog"])  # text only
    assert r.matchers == (TextMatch(("dog",)),)
    assert read_with_fallback(lambda w: [], TextReader(holds_text=False), ["gate"]) == []


def test_why_names_the_line_read_and_its_box() -> None:
    text = _read("SALE 50%\nHappy Birthday\nANNA")
    (why,) = explain_text(text, TextMatch(("birthday",)), "birthday")
    assert why == {
        "signal": "text",
        "term": "birthday",
        "via": "Happy Birthday",
        "score": TEXT_SCORE,
        "box": text.record["lines"][1]["box"],
    }
    (across,) = explain_text(text, TextMatch(("birthday", "anna")), "birthday anna")
    assert across["via"] == "Happy Birthday / ANNA"
    assert explain_text(text, TextMatch(("christmas",)), "christmas") == []
    assert explain_text(None, TextMatch(("sale",)), "sale") == []
    assert explain_text(ImageText("v", "", None, "failed"), TextMatch(("x",)), "x") == []
    assert matched_lines("Gate23\nDepartures", TextMatch(("gate", "23"))) == (0, 1)


@pytest.fixture
def index(tmp_path: Path):
    store = EmbeddedStore(tmp_path / "index", create=True)
    store.set_model("efficientnet-lite0")
    ids = _fill(store)
    idx = picfind.Index(store)
    yield idx, ids
    idx.close()


def test_index_search_text(index) -> None:
    idx, ids = index
    res = idx.search_text("Happy Birthday")
    assert res.mode == "text" and res.total == 2
    assert {r.path for r in res.results} == {"/p/cake.jpg", "/p/card.jpg"}
    assert all(r.score == TEXT_SCORE and r.labels for r in res.results)
    assert {r.path for r in idx.search_text("birth", prefix=True).results} == {
        p for p, t in TEXTS if "birth" in t.lower()
    }
    assert idx.search_text("gate 23", under="/p").total == 2
    assert idx.search_text("nothing read").total == 0
    with pytest.raises(UsageError):
        idx.search_text("?!")
    text = idx.text_of(ids["/p/gate.jpg"])  # by id
    assert text is not None and text.text == "Gate23\nDepartures 10:30"
    assert idx.text_of("/p/none1.jpg") is None  # by path, never read


# ------------------------------------------------------------------ through the parser


def _clauses(text: str, **kwargs: object) -> list[tuple[tuple[object, ...], bool]]:
    from picfind.query import parse_query

    parsed = parse_query(text, **kwargs)  # type: ignore[arg-type]
    return [(c.matchers, c.negated) for c in parsed.clauses]


def test_the_parser_reads_text_fields_phrases_and_prefixes() -> None:
    assert _clauses('text:"Happy Birthday"') == [((TextMatch(("happy", "birthday")),), False)]
    assert _clauses("text:Gate23") == [((TextMatch(("gate23",)),), False)]
    assert _clauses("birth*") == [((TextMatch(("birth",), prefix=True),), False)]
    (dog, _), (sale, negated) = _clauses("dog -text:sale")
    assert all(type(m).__name__ == "ConceptMatch" for m in dog)
    assert sale == (TextMatch(("sale",)),) and negated
    from picfind.errors import QuerySyntaxError

    with pytest.raises(QuerySyntaxError):
        _clauses("dog text:")


def test_plain_words_fall_back_to_text_only_when_the_index_holds_text() -> None:
    from picfind.errors import UnknownConceptError

    with pytest.raises(UnknownConceptError):
        _clauses("zorblax")
    assert _clauses("zorblax", holds_text=True) == [((TextMatch(("zorblax",)),), False)]
    (dog, _), (word, _) = _clauses("dog zorblax", holds_text=True)
    assert not any(isinstance(m, TextMatch) for m in dog)  # a concept word keeps its meaning
    assert word == (TextMatch(("zorblax",)),)
    assert _clauses('"zorblax quux"', holds_text=True) == [
        ((TextMatch(("zorblax", "quux")),), False)
    ]
