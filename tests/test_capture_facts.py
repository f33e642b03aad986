"""The NumPy copy of the capture facts (``store/facts.py``) answers what the rows say.

Every filter and capture word is checked against the matchers' own ``matches`` over
the rows as stored (and the timeline's SQL reading of each filter with them), on one
store whose cache is reused, through adds, moves, removals, updates in place (a
backfill, a direct SQL update from another connection) and a fresh process that
loads the saved copy.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from picfind.matchers import (
    CameraMatch,
    CaptureMatch,
    Clause,
    ConceptMatch,
    DateMatch,
    PlaceMatch,
    WordsQuery,
)
from picfind.records import Features, Fields, ImageRecord, SparseClasses
from picfind.store import embedded, facts, vectors
from picfind.store.base import ClassesQuery, Filter, Move, Update
from picfind.store.embedded import EmbeddedStore
from picfind.vocabulary import Vocabulary

PLACES = ("paris", "sydney", "lima", "oslo")
CAMERAS = ("canon", "iphone", "nikon")
N = vectors.MIN_MAIN + 500  # a main segment and saved facts


def _record(i: int, rng: np.random.Generator) -> ImageRecord:
    ids = rng.choice(1000, 5, replace=False).astype(np.uint16)
    probs = np.sort(rng.dirichlet(np.ones(5)).astype(np.float32))[::-1]
    emb = rng.standard_normal(16).astype(np.float32)
    emb /= np.linalg.norm(emb)
    meta: dict[str, object] = {"meta_version": 1}
    if rng.random() < 0.8:
        day = int(rng.integers(2015, 2021)) * 10000 + int(rng.integers(1, 13)) * 100
        day += int(rng.integers(1, 29))
        meta |= {"taken": "x", "taken_day": day, "taken_md": day % 10000}
    if rng.random() < 0.7:
        place = PLACES[int(rng.integers(len(PLACES)))]
        lat = -33.9 if place in ("sydney", "lima") else 48.9
        meta |= {"lat": lat, "lon": 2.0, "place_keys": (place, f"country-{place}")}
    if rng.random() < 0.6:
        meta["camera_keys"] = (CAMERAS[int(rng.integers(len(CAMERAS)))],)
    return ImageRecord(
        f"id{i:06d}", f"/p/{i:06d}.jpg", f"h{i}", 1, 1, 4, 4, "JPEG",
        Features(SparseClasses(ids, probs), emb), **meta,  # type: ignore[arg-type]
    )  # fmt: skip


MATCHERS: list[CaptureMatch] = [
    PlaceMatch(("paris",)),
    PlaceMatch(("sydney", "country-lima")),
    PlaceMatch(("nowhere",)),
    CameraMatch(("iphone", "canon")),
    DateMatch(days=((20170101, 20180101),)),
    DateMatch(days=((20150301, 20150401), (20190101, 20190201)), yearly=((1224, 1226),)),
    # summer: June–August north, December–February south (no GPS counts as north)
    DateMatch(yearly=((601, 831),), south_yearly=((1201, 1231), (101, 229))),
]


def _expected(store: EmbeddedStore, matcher: CaptureMatch) -> set[str]:
    out = set()
    for row in store.rows(metadata=True):
        meta = row.metadata
        assert meta is not None
        if isinstance(matcher, DateMatch):
            hit = matcher.matches(meta.taken_day, meta.lat)
        elif isinstance(matcher, PlaceMatch):
            hit = matcher.matches(meta.place_keys)
        else:
            hit = matcher.matches(meta.camera_keys)
        if hit:
            out.add(row.id)
    return out


def _everything(store: EmbeddedStore, where: Filter) -> set[str]:
    """Every row a filter lets through (a classes query every row matches)."""
    total, hits = store.search(ClassesQuery(np.zeros(1000, dtype=np.float32)), 10**6, 0, where)
    assert total == len(hits)
    return {h.id for h in hits}


def _words(store: EmbeddedStore, matcher: CaptureMatch) -> set[str]:
    total, hits = store.search(WordsQuery((Clause((matcher,)),)), 10**6)
    assert total == len(hits)
    return {h.id for h in hits}


def _check(store: EmbeddedStore) -> None:
    for matcher in MATCHERS:
        want = _expected(store, matcher)
        assert _words(store, matcher) == want, matcher
    days = sorted(d for d in (r.metadata.taken_day for r in store.rows(metadata=True)) if d)
    lo, hi = days[len(days) // 4], days[3 * len(days) // 4]  # bounds that rows sit on
    for where, matcher in (
        (Filter(after_day=lo, before_day=hi), DateMatch(((lo, hi),))),
        (Filter(places=("paris", "oslo")), PlaceMatch(("paris", "oslo"))),
        (Filter(cameras=("nikon",)), CameraMatch(("nikon",))),
        (Filter(after_day=20160601, before_day=20190101), DateMatch(((20160601, 20190101),))),
        (Filter(after_day=20180101), DateMatch(((20180101, 100000000),))),
    ):
        assert _everything(store, where) == _expected(store, matcher), where
        # the timeline reads the same filter through SQL (``_browse_conditions``): a twin
        # of the facts path that must let the same rows through after every kind of write
        total, page = store.browse(10**6, 0, where)
        assert total == len(page) and {b.id for b in page} == _expected(store, matcher), where


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    rng = np.random.default_rng(7)
    s = EmbeddedStore(tmp_path / "idx", create=True)
    s.set_model("m")
    s.write(add=[_record(i, rng) for i in range(N)])
    return s


def test_filters_and_words_match_the_rows_through_every_kind_of_write(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    rng = np.random.default_rng(8)
    _check(store)
    assert (tmp_path / "idx" / "cache" / "facts.npz").exists()
    # adds (the delta), removals, moves
    store.write(add=[_record(i, rng) for i in range(N, N + 300)])
    store.write(remove=[f"id{i:06d}" for i in range(0, 400, 3)])
    store.write(moves=[Move(f"id{i:06d}", f"/q/{i}.jpg", 1, 2) for i in range(1, 200, 5)])
    _check(store)
    # a backfill: capture fields rewritten in place (dates moved, places swapped, cleared)
    updates = []
    for i in range(1, N, 7):
        day = 20170000 + int(rng.integers(1, 13)) * 100 + 15
        keys = ("oslo",) if i % 2 else None
        updates.append(
            Update(f"id{i:06d}", Fields(meta_version=2, taken_day=day, taken_md=day % 10000,
                                        lat=59.9 if keys else None, place_keys=keys))
        )  # fmt: skip
    store.write(update=updates)
    _check(store)
    # another connection (another picfind process) updates a date and adds a key in SQL
    conn = sqlite3.connect(tmp_path / "idx" / "picfind.db", isolation_level=None)
    conn.execute("UPDATE images SET taken_day = 20170707, taken_md = 707 WHERE id = 'id000010'")
    conn.execute(
        "INSERT INTO image_keys (image_rowid, kind, key) "
        "SELECT rowid, 'camera', 'nikon' FROM images WHERE id = 'id000011'"
    )
    conn.close()
    _check(store)
    store.close()
    # a fresh process: the saved copy (current for this database) is loaded, then checked
    again = EmbeddedStore(tmp_path / "idx")
    _check(again)
    assert again._cache.capture_facts().seq == facts.change_seq(again.db.conn)
    again.close()


def test_saved_facts_of_another_database_are_never_used(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    _check(store)
    store.close()
    saved = (tmp_path / "idx" / "cache" / "facts.npz").read_bytes()
    for p in (tmp_path / "idx").glob("picfind.db*"):
        p.unlink()
    rng = np.random.default_rng(9)
    other = EmbeddedStore(tmp_path / "idx", create=True)
    other.set_model("m")
    other.write(add=[_record(i, rng) for i in range(N)])  # same rowids, other facts
    (tmp_path / "idx" / "cache" / "facts.npz").write_bytes(saved)
    _check(other)
    other.close()


def test_scoring_only_the_candidates_gives_the_same_page(
    store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A selective filter or capture word scores its candidate rows alone
    (``vectors.RowSubset``): the same totals, ids and scores as scoring every row, for
    concept columns (dog: 118 classes), a class through the postings, and the delta."""
    rng = np.random.default_rng(10)
    store.write(add=[_record(i, rng) for i in range(N, N + 200)])  # a delta beside main
    dog = ConceptMatch(tuple(Vocabulary.load().concepts["n02084071"].classes))
    one = ConceptMatch((207,))
    year = DateMatch(days=((20170101, 20180101),))
    cases = [
        (WordsQuery((Clause((dog,)),)), Filter(places=("paris",))),
        (WordsQuery((Clause((one,)),)), Filter(after_day=20160101, cameras=("iphone",))),
        (WordsQuery((Clause((dog,)), Clause((PlaceMatch(("lima",)),)))), Filter()),
        (WordsQuery((Clause((dog, year)), Clause((CameraMatch(("canon",)),)))), Filter()),
        (WordsQuery((Clause((one,)), Clause((year,)), Clause((dog,), True))), Filter()),
        (WordsQuery((Clause((dog,)), Clause((year,)))), Filter(sort="date")),
    ]
    pages = {}
    for fraction in (0.0, 1.0):
        monkeypatch.setattr(embedded, "SUBSET_FRACTION", fraction)
        pages[fraction] = [store.search(q, 40, 0, w) for q, w in cases]
    assert pages[0.0] == pages[1.0]
    assert all(total > 0 for total, _ in pages[0.0])


@pytest.mark.parametrize("gaps", [1, 3, 9])
def test_rowid_lookup_table_finds_what_the_binary_search_finds(
    gaps: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large segments find rowids through a table (``Segment.positions_of``); sparse ones
    (rowids spanning more than ``LOOKUP_SPAN`` times their rows) keep the binary search."""
    rng = np.random.default_rng(gaps)
    rowids = np.sort(rng.choice(np.arange(5, 5 + gaps * 6000), 6000, replace=False))
    asked = [
        np.sort(rng.choice(np.arange(0, 10 + gaps * 6000), 3000, replace=False)),
        rowids[::7],
        np.array([rowids[0] - 1, rowids[-1] + 1], dtype=np.int64),
        np.zeros(0, dtype=np.int64),
    ]
    seg = vectors.Segment(rowids.astype(np.int64), np.ones(rowids.shape[0], dtype=bool))
    found = [seg.positions_of(a.astype(np.int64)) for a in asked]
    assert (getattr(seg, "_table", None) is not None) == (gaps <= vectors.LOOKUP_SPAN)
    monkeypatch.setattr(vectors, "LOOKUP_MIN", 10**9)
    plain = vectors.Segment(rowids.astype(np.int64), np.ones(rowids.shape[0], dtype=bool))
    for a, got in zip(asked, found, strict=True):
        want = plain.positions_of(a.astype(np.int64))
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert np.array_equal(rowids[got], np.intersect1d(a, rowids))
