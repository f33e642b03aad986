"""Read text in the stores: the texts table and FTS5 index (embedded), the text fields
(OpenSearch), the text matcher in both, and the same answers from both.

Documents are written through the store seam with the text the OCR pass would write
(``records.ImageText``), so these tests need no OCR model; tests/test_ocr_pass.py runs
the real reader end to end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from picfind import textnorm
from picfind.matchers import Clause, ConceptMatch, TextMatch, WordsQuery
from picfind.records import Features, Fields, ImageRecord, ImageText, SparseClasses
from picfind.store.base import Filter, Move, Store, Update
from picfind.store.cluster import ClusterOptions, ClusterStore
from picfind.store.embedded import EmbeddedStore
from picfind.store.schema import SCHEMA_VERSION
from picfind.textsearch import TEXT_SCORE, fts_match, matches, text_match

MODEL = "efficientnet-lite0"
DIM = 1280

# (path, text read) — the shapes OCR gives: cases, accents, joined words, times, lines.
TEXTS = [
    ("/p/cake.jpg", "Happy Birthday\nANNA"),
    ("/p/card.jpg", "HAPPY\nbirthday to you"),
    ("/p/gate.jpg", "Gate23\nDepartures 10:30"),
    ("/p/gate2.jpg", "Gate 23"),
    ("/p/cafe.jpg", "Café du Monde\nOuvert"),
    ("/p/cafe2.jpg", "CAFE NOIR"),
    ("/p/book.jpg", "TheWizard\nofOz"),
    ("/p/street.jpg", "Hauptstraße 5"),
    ("/p/strasse.jpg", "STRASSE gesperrt"),
    ("/p/birth.jpg", "Birthplace of jazz"),
    ("/p/sale.jpg", "SALE 50%\nBirthday sale"),
    ("/p/empty.jpg", ""),
    ("/p/menu.jpg", "Pizza Margherita 8.50\nPIZZA"),
    ("/p/dog.jpg", "BEWARE OF THE DOG"),
]
PLAIN = ["/p/none1.jpg", "/p/none2.jpg"]  # never read


def _record(path: str, seed: int, dog: float = 0.0) -> ImageRecord:
    rng = np.random.default_rng(seed)
    ids = np.array([207, 281, *rng.choice(np.arange(300, 1000), 6, replace=False)], np.uint16)
    probs = np.array([dog, 0.5 - dog / 2, *([0.05] * 6)], np.float32)
    order = np.argsort(-probs, kind="stable")
    emb = rng.normal(size=DIM).astype(np.float32)
    emb /= np.linalg.norm(emb)
    classes = SparseClasses(ids[order], probs[order])
    ident = f"{seed:016x}"
    return ImageRecord(ident, path, f"hash{seed}", 100 + seed, 1_000 + seed, 640, 480, "JPEG",
                       Features(classes, emb))  # fmt: skip


def _read(text: str) -> ImageText:
    lines = [
        {"text": t, "confidence": 0.99, "box": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.2], [0.1, 0.2]],
         "words": []}
        for t in text.splitlines()
    ]  # fmt: skip
    return ImageText("test-reader/1", text, {"width": 640, "height": 480, "lines": lines})


def _fill(store: Store) -> dict[str, str]:
    """Every document, then the text of those read; {path: id}."""
    paths = [p for p, _ in TEXTS] + PLAIN
    records = [_record(p, i, dog=0.9 if "dog" in p else 0.0) for i, p in enumerate(paths)]
    store.write(add=records)
    updates = [
        Update(r.id, Fields(text=_read(t))) for r, (_, t) in zip(records, TEXTS, strict=False)
    ]
    store.write(update=updates)
    return {r.path: r.id for r in records}


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[EmbeddedStore]:
    store = EmbeddedStore(tmp_path / "index", create=True)
    store.set_model(MODEL)
    yield store
    store.close()


# ------------------------------------------------------------------------ the rule


def _m(term: str, prefix: bool = False) -> TextMatch:
    found = text_match(term, prefix=prefix)
    assert found is not None
    return found


QUERIES: list[tuple[TextMatch, set[str]]] = [
    # a phrase within a line, or across lines in reading order (a sign's two lines)
    (_m("happy birthday"), {"/p/cake.jpg", "/p/card.jpg"}),
    (_m("birthday anna"), {"/p/cake.jpg"}),
    (_m("birthday"), {"/p/cake.jpg", "/p/card.jpg", "/p/sale.jpg"}),
    (_m("BIRTHDAY"), {"/p/cake.jpg", "/p/card.jpg", "/p/sale.jpg"}),
    (_m("birth", prefix=True), {"/p/cake.jpg", "/p/card.jpg", "/p/sale.jpg", "/p/birth.jpg"}),
    (_m("happy birth", prefix=True), {"/p/cake.jpg", "/p/card.jpg"}),
    (_m("gate 23"), {"/p/gate.jpg", "/p/gate2.jpg"}),  # "Gate23" through its parts
    (_m("gate23"), {"/p/gate.jpg"}),
    (_m("10:30"), {"/p/gate.jpg"}),
    (_m("café"), {"/p/cafe.jpg", "/p/cafe2.jpg"}),  # accents folded both ways
    (_m("cafe du monde"), {"/p/cafe.jpg"}),
    (_m("wizard of oz"), {"/p/book.jpg"}),
    (_m("strasse"), {"/p/strasse.jpg"}),
    (_m("hauptstrasse"), {"/p/street.jpg"}),
    (_m("STRAßE"), {"/p/strasse.jpg"}),
    (_m("8.50"), {"/p/menu.jpg"}),
    (_m("pizza"), {"/p/menu.jpg"}),
    (_m("nothing here"), set()),
]


def test_the_rule_on_stored_terms() -> None:
    terms = {p: textnorm.terms(t) for p, t in TEXTS}
    for matcher, expected in QUERIES:
        found = {p for p, (w, parts) in terms.items() if matches(matcher, w, parts)}
        assert found == expected, matcher


def test_short_prefixes_and_empty_terms_are_no_matcher() -> None:
    assert text_match("bi", prefix=True) is None
    assert text_match("!!!") is None
    assert _m("Happy  Birthday!") == TextMatch(("happy", "birthday"))


def test_fts_match_cannot_be_escaped_by_input() -> None:
    # Built from folded words only: quotes and FTS5 operators in the input are not syntax.
    assert fts_match(_m('say "hi" OR NEAR(x)')) == '"say hi or near x"'
    assert fts_match(_m("birth", prefix=True)) == '"birth" *'


# ------------------------------------------------------------------- embedded store


def test_schema_has_the_texts_step(embedded: EmbeddedStore) -> None:
    conn = embedded.db.conn
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"texts", "text_fts", "images_texts_removed", "texts_fts_removed"} <= names


def test_an_index_of_the_first_schema_is_migrated(tmp_path: Path) -> None:
    from picfind.store import schema

    folder = tmp_path / "old"
    folder.mkdir()
    conn = sqlite3.connect(folder / "picfind.db", isolation_level=None)
    conn.executescript("BEGIN;" + schema._MIGRATIONS[1] + "PRAGMA user_version = 1; COMMIT;")
    conn.close()
    store = EmbeddedStore(folder)
    store.set_model(MODEL)
    ids = _fill(store)
    assert store.texts([ids["/p/cake.jpg"]])[ids["/p/cake.jpg"]].text == "Happy Birthday\nANNA"
    assert store.db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()


def test_text_is_stored_with_lines_boxes_and_version(embedded: EmbeddedStore) -> None:
    ids = _fill(embedded)
    got = embedded.texts([ids["/p/cake.jpg"], ids["/p/none1.jpg"], "nosuchid"])
    assert set(got) == {ids["/p/cake.jpg"]}
    text = got[ids["/p/cake.jpg"]]
    assert text.text == "Happy Birthday\nANNA" and text.version == "test-reader/1"
    assert text.record is not None
    assert [line["text"] for line in text.record["lines"]] == ["Happy Birthday", "ANNA"]
    assert text.record["lines"][0]["box"][2] == [0.5, 0.2]
    rows = {r.path: r.text_version for r in embedded.rows()}
    assert rows["/p/cake.jpg"] == rows["/p/empty.jpg"] == "test-reader/1"
    assert rows["/p/none1.jpg"] is None
    assert embedded.stats().texts == len([t for _, t in TEXTS if t])  # "" holds no text


def test_a_failure_is_stored_with_its_reason(embedded: EmbeddedStore) -> None:
    ids = _fill(embedded)
    failed = ImageText("test-reader/1", "", None, "reading text failed: out of memory")
    embedded.write(update=[Update(ids["/p/none1.jpg"], Fields(text=failed))])
    assert embedded.texts([ids["/p/none1.jpg"]])[ids["/p/none1.jpg"]] == failed
    assert next(embedded.rows(paths=["/p/none1.jpg"])).text_version == "test-reader/1"


def _text_query(*matchers: TextMatch | ConceptMatch, negated: bool = False) -> WordsQuery:
    return WordsQuery((Clause(tuple(matchers), negated),))


def _paths(store: Store, query: WordsQuery, ids: dict[str, str]) -> set[str]:
    by_id = {v: k for k, v in ids.items()}
    total, hits = store.search(query, 100)
    assert total == len(hits)
    return {by_id[h.id] for h in hits}


def test_embedded_search_finds_what_the_rule_finds(embedded: EmbeddedStore) -> None:
    ids = _fill(embedded)
    for matcher, expected in QUERIES:
        assert _paths(embedded, _text_query(matcher), ids) == expected, matcher
    _, hits = embedded.search(_text_query(_m("birthday")), 10)
    assert all(h.score == TEXT_SCORE for h in hits)


def test_text_alone_answered_by_fts_equals_the_general_path(embedded: EmbeddedStore) -> None:
    _fill(embedded)
    everything = Filter(under="/")  # a filter: the general path (segments and masks)
    queries = [_text_query(m) for m, _ in QUERIES]
    queries.append(_text_query(_m("pizza"), _m("birth", prefix=True), _m("gate 23")))
    for q in queries:
        fast = embedded.search(q, 100)
        assert fast == embedded.search(q, 100, where=everything), q
        assert embedded.search(q, 2, offset=1) == embedded.search(q, 2, 1, everything), q
    total, hits = embedded.search(queries[-1], 100)
    assert total == len(hits) == 7 and hits == sorted(hits, key=lambda h: int(h.id, 16))


def test_text_and_concepts_combine(embedded: EmbeddedStore) -> None:
    ids = _fill(embedded)
    dog = ConceptMatch((207,))
    # a clause: the concept OR the text (the dog photo has both; dog.jpg text says "dog")
    assert _paths(embedded, _text_query(dog, _m("pizza")), ids) == {"/p/dog.jpg", "/p/menu.jpg"}
    # AND: a text clause and a concept clause
    both = WordsQuery((Clause((dog,)), Clause((_m("beware"),))))
    assert _paths(embedded, both, ids) == {"/p/dog.jpg"}
    # NOT text
    q = WordsQuery((Clause((_m("birthday"),)), Clause((_m("sale"),), negated=True)))
    assert _paths(embedded, q, ids) == {"/p/cake.jpg", "/p/card.jpg"}


def test_a_changed_file_loses_its_text_a_moved_one_keeps_it(embedded: EmbeddedStore) -> None:
    ids = _fill(embedded)
    query = _text_query(_m("birthday"))
    changed = _record("/p/cake.jpg", 99)  # new content at the same path: a new row
    embedded.write(add=[changed])
    assert "/p/cake.jpg" not in _paths(embedded, query, ids | {"/p/cake.jpg": changed.id})
    assert embedded.texts([changed.id]) == {}
    assert next(embedded.rows(paths=["/p/cake.jpg"])).text_version is None
    embedded.write(moves=[Move(ids["/p/card.jpg"], "/q/card.jpg", 1, 2)])
    assert ids["/p/card.jpg"] in {h.id for h in embedded.search(query, 10)[1]}
    embedded.write(remove=[ids["/p/sale.jpg"]])
    conn = embedded.db.conn
    assert conn.execute("SELECT count(*) FROM texts").fetchone()[0] == len(TEXTS) - 2
    assert conn.execute("SELECT count(*) FROM text_fts").fetchone()[0] == len(TEXTS) - 3


def test_reading_again_replaces_the_text(embedded: EmbeddedStore) -> None:
    ids = _fill(embedded)
    embedded.write(update=[Update(ids["/p/cake.jpg"], Fields(text=_read("Merry Christmas")))])
    assert _paths(embedded, _text_query(_m("birthday")), ids) == {"/p/card.jpg", "/p/sale.jpg"}
    assert _paths(embedded, _text_query(_m("christmas")), ids) == {"/p/cake.jpg"}


def test_filters_apply_to_text(embedded: EmbeddedStore) -> None:
    ids = _fill(embedded)
    embedded.write(moves=[Move(ids["/p/card.jpg"], "/q/card.jpg", 1, 2)])
    _, hits = embedded.search(_text_query(_m("birthday")), 10, where=Filter(under="/q"))
    assert [h.id for h in hits] == [ids["/p/card.jpg"]]


# -------------------------------------------------------------------- the cluster


@pytest.fixture
def cluster(opensearch_url: str, index_name: str) -> Iterator[ClusterStore]:
    store = ClusterStore(opensearch_url, ClusterOptions(name=index_name, replicas=0), create=True)
    store.set_model(MODEL)
    yield store
    store.close()


@pytest.mark.opensearch
def test_both_stores_give_the_same_answers(embedded: EmbeddedStore, cluster: ClusterStore) -> None:
    ids = _fill(embedded)
    assert _fill(cluster) == ids
    dog = ConceptMatch((207,))
    queries = [_text_query(m) for m, _ in QUERIES] + [
        _text_query(dog, _m("pizza")),
        WordsQuery((Clause((dog,)), Clause((_m("beware"),)))),
        WordsQuery((Clause((_m("birthday"),)), Clause((_m("sale"),), negated=True))),
        WordsQuery((Clause((_m("birth", prefix=True),)), Clause((dog, _m("anna"))))),
    ]
    for q in queries:
        te, he = embedded.search(q, 50)
        tc, hc = cluster.search(q, 50)
        assert te == tc, q
        assert {(h.id, round(h.score, 6)) for h in he} == {(h.id, round(h.score, 6)) for h in hc}
    for matcher, expected in QUERIES:
        assert _paths(cluster, _text_query(matcher), ids) == expected, matcher


@pytest.mark.opensearch
def test_cluster_keeps_text_lines_and_loses_them_with_new_content(cluster: ClusterStore) -> None:
    ids = _fill(cluster)
    got = cluster.texts([ids["/p/cake.jpg"], ids["/p/none1.jpg"]])
    assert set(got) == {ids["/p/cake.jpg"]}
    assert got[ids["/p/cake.jpg"]].record == _read("Happy Birthday\nANNA").record
    assert cluster.stats().texts == len([t for _, t in TEXTS if t])
    rows = {r.path: r.text_version for r in cluster.rows()}
    assert rows["/p/cake.jpg"] == "test-reader/1" and rows["/p/none1.jpg"] is None
    changed = _record("/p/cake.jpg", 99)
    cluster.write(add=[changed])
    assert cluster.texts([changed.id]) == {}
    assert "/p/cake.jpg" not in _paths(cluster, _text_query(_m("anna")), ids)


@pytest.mark.opensearch
def test_reindex_keeps_the_text(cluster: ClusterStore) -> None:
    ids = _fill(cluster)
    cluster.reindex()
    assert _paths(cluster, _text_query(_m("gate 23")), ids) == {"/p/gate.jpg", "/p/gate2.jpg"}
    assert cluster.texts([ids["/p/cafe.jpg"]])[ids["/p/cafe.jpg"]].text == "Café du Monde\nOuvert"


@pytest.mark.opensearch
def test_a_cluster_index_from_before_read_text_says_what_to_do(
    opensearch_url: str, index_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from picfind.errors import StoreError
    from picfind.store.cluster import admin, mapping

    def old_mapping(*args: object, **kwargs: object) -> dict:
        body = mapping.mapping(*args, **kwargs)  # type: ignore[arg-type]
        body["settings"].pop("analysis", None)
        body["mappings"]["_meta"].pop("text", None)
        for name in mapping.TEXT_FIELDS:
            body["mappings"]["properties"].pop(name, None)
        return body

    monkeypatch.setattr(admin, "mapping", old_mapping)
    store = ClusterStore(opensearch_url, ClusterOptions(name=index_name, replicas=0), create=True)
    try:
        store.set_model(MODEL)
        monkeypatch.undo()
        rec = _record("/p/a.jpg", 1)
        store.write(add=[rec])
        with pytest.raises(StoreError, match="predates read text; run 'picfind reindex"):
            store.write(update=[Update(rec.id, Fields(text=_read("Gate 23")))])
        assert store.search(_text_query(_m("gate")), 10) == (0, [])  # no text, no error
        assert store.stats().texts == 0 and store.texts([rec.id]) == {}
        store.reindex()  # the new index has the text fields
        store.write(update=[Update(rec.id, Fields(text=_read("Gate 23")))])
        assert [h.id for h in store.search(_text_query(_m("gate 23")), 10)[1]] == [rec.id]
    finally:
        store.close()
