"""The embedded store: one folder, SQLite (WAL) for the truth, NumPy for scoring.

No server. ``sqlite.Database`` holds the connections (read-only when the index
cannot be written); ``cache.SegmentCache`` keeps the NumPy segments in step with
the committed rows; ``ranking`` scores a segment. This module is the store seam
(``store.base.Store``) over them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from picfind.errors import StoreError, UsageError
from picfind.matchers import (
    CameraMatch,
    CaptureMatch,
    DateMatch,
    Matcher,
    PlaceMatch,
    TextMatch,
    WordsQuery,
)
from picfind.records import (
    Capture,
    Features,
    Hit,
    ImageRecord,
    ImageText,
    MetadataCoverage,
    SparseClasses,
    Stats,
    StoredFile,
)
from picfind.scoring import Mask
from picfind.store import texts, vectors
from picfind.store.base import Browsed, DocSummary, Filter, Move, StoreQuery, Touch, Update
from picfind.store.cache import SegmentCache
from picfind.store.codec import (
    KEY_FIELDS,
    META_COLUMNS,
    class_blobs,
    classes_from_blobs,
    decode_path,
    embedding_blob,
    embedding_from_blob,
    encode_path,
    refuse_non_finite,
    under_prefix,
    updated_fields,
)
from picfind.store.ranking import (
    capture_matchers,
    membership,
    newest_first,
    score_query,
    text_matchers,
)
from picfind.store.schema import version_of
from picfind.store.sqlite import DB_NAME, Database, transaction, translated
from picfind.textsearch import TEXT_SCORE

__all__ = ["DB_NAME", "EmbeddedStore"]

_FILE_COLUMNS = (
    "id, path, size, mtime_ns, content_hash, width, height, format, meta_version, "
    "(SELECT version FROM texts WHERE texts.image_rowid = images.rowid)"
)
_FEATURE_COLUMNS = ", class_ids, class_probs, embedding"
_META_SELECT = ", rowid, " + ", ".join(META_COLUMNS)
_INSERT_MARKS = ", ".join("?" * (13 + len(META_COLUMNS)))
SUBSET_FRACTION = 0.25
"""A words query scores only its candidate rows when they are at most this fraction of a
segment (a selective filter, place, date or read text); otherwise the whole segment."""
_CHUNK = 500
"""Values per ``IN (…)`` list: far below SQLite's variable limit."""


class EmbeddedStore:
    """An index folder: ``picfind.db`` plus ``cache/`` of derived arrays."""

    def __init__(
        self, folder: str | Path, *, create: bool = False, read_only: bool = False
    ) -> None:
        """``read_only``: never write, not even the cache (eval, duplicates, a server
        that only searches); an index that cannot be written is opened so anyway."""
        self.folder = Path(folder).expanduser().absolute()
        self.db = Database(self.folder, create=create, read_only=read_only)
        self._cache = SegmentCache(self.db)
        self._write_lock = threading.Lock()

    @property
    def read_only(self) -> bool:
        """Whether the index could only be opened for reading."""
        return self.db.read_only

    def close(self) -> None:
        self.db.close()
        self._cache.close()

    # -- metadata --------------------------------------------------------------------
    @property
    @translated("read")
    def model(self) -> str | None:
        return self.db.meta("model")

    @translated("write")
    def set_model(self, name: str) -> None:
        with self._write_lock:
            self.db.set_meta("model", name)

    @translated("write")
    def record_run(self, summary: dict[str, object]) -> None:
        with self._write_lock:
            self.db.set_meta("last_run", json.dumps(summary))

    # -- rows --------------------------------------------------------------------------
    @translated("read")
    def rows(
        self,
        *,
        under: str | None = None,
        ids: Sequence[str] | None = None,
        paths: Sequence[str] | None = None,
        hashes: Sequence[str] | None = None,
        sizes: Sequence[int] | None = None,
        features: bool = False,
        metadata: bool = False,
    ) -> Iterator[StoredFile]:
        where: list[str] = []
        params: list[object] = []
        if under is not None:
            where.append("path >= ? AND path < ?")
            params += under_prefix(under)
        selectors: list[tuple[str, Sequence[object] | None]] = [
            ("id", ids),
            ("path", paths),
            ("content_hash", hashes),
            ("size", sizes),
        ]
        lists = [
            (col, list(dict.fromkeys(encode_path(str(v)) if col == "path" else v for v in values)))
            for col, values in selectors
            if values is not None
        ]
        columns = _FILE_COLUMNS + (_FEATURE_COLUMNS if features else "")
        columns += _META_SELECT if metadata else ""
        found: list[StoredFile] = []
        rowids: list[int] = []
        for extra, extra_params in _in_lists(lists):
            sql = f"SELECT {columns} FROM images"
            if where or extra:
                sql += " WHERE " + " AND ".join(where + extra)
            for r in self.db.conn.execute(sql + " ORDER BY path", params + extra_params):
                found.append(_stored(r, features))
                if metadata:
                    rowids.append(int(r[13 if features else 10]))
        if metadata:
            found = self._with_metadata(found, rowids)
        if len(lists) and any(len(v) > _CHUNK for _, v in lists):
            found.sort(key=lambda f: encode_path(f.path))
        return iter(found)

    def _with_metadata(self, found: list[StoredFile], rowids: list[int]) -> list[StoredFile]:
        """The rows with their capture metadata (columns, then keys in one pass per chunk)."""
        keys: dict[tuple[int, str], list[str]] = {}
        for start in range(0, len(rowids), _CHUNK):
            chunk = rowids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for rowid, kind, key in self.db.conn.execute(
                f"SELECT image_rowid, kind, key FROM image_keys WHERE image_rowid IN ({marks}) "
                "ORDER BY rowid",
                chunk,
            ):
                keys.setdefault((int(rowid), str(kind)), []).append(str(key))
        out = []
        for row, rowid in zip(found, rowids, strict=True):
            meta = row.metadata or Capture()
            for name, kind in KEY_FIELDS.items():
                got = keys.get((rowid, kind))
                setattr(meta, name, tuple(got) if got else None)
            out.append(dataclasses.replace(row, metadata=meta))
        return out

    @translated("read")
    def summaries(self, ids: Sequence[str]) -> dict[str, DocSummary]:
        out: dict[str, DocSummary] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            for image_id, path, cids, cprobs in self.db.conn.execute(
                f"SELECT id, path, class_ids, class_probs FROM images WHERE id IN ({marks})",
                chunk,
            ):
                classes = classes_from_blobs(cids, cprobs)
                out[image_id] = DocSummary(image_id, decode_path(path), classes.ids, classes.probs)
        return out

    @translated("read")
    def stats(self) -> Stats:
        count = int(self.db.conn.execute("SELECT count(*) FROM images").fetchone()[0])
        size = 0
        for p in self.folder.rglob("*"):
            with contextlib.suppress(OSError):  # a cache being rebuilt meanwhile
                if p.is_file():
                    size += p.stat().st_size
        last = self.db.meta("last_run")
        migrated = self.db.meta("migrated")
        read, dated, placed, camera = self.db.conn.execute(
            "SELECT coalesce(sum(meta_version >= 1), 0), coalesce(sum(taken_day IS NOT NULL), 0), "
            "coalesce(sum(lat IS NOT NULL), 0), coalesce(sum(camera IS NOT NULL), 0) FROM images"
        ).fetchone()
        coverage = MetadataCoverage(
            int(read), count - int(read), int(dated), int(placed), int(camera)
        )
        return Stats(
            count,
            self.model or "",
            size,
            json.loads(last) if last else None,
            # a read-only index of an older schema: its file's version, not the copy's
            schema=self.db.copied_from or version_of(self.db.conn),
            migrated=json.loads(migrated) if migrated and self.db.copied_from is None else None,
            metadata=coverage,
            texts=int(self.db.conn.execute("SELECT count(*) FROM text_fts").fetchone()[0]),
        )

    @translated("read")
    def texts(self, ids: Sequence[str]) -> dict[str, ImageText]:
        return texts.read(self.db.conn, ids)

    @translated("read")
    def browse(
        self, limit: int, offset: int = 0, where: Filter | None = None
    ) -> tuple[int, list[Browsed]]:
        """Two ordered reads, dated rows (on the ``taken_day`` index) then undated ones by
        path: no sort of the whole table for a page near the top."""
        cond, params = _browse_conditions(where or Filter())
        conn = self.db.conn
        sql = "SELECT count(*) FROM images WHERE " + " AND ".join([*cond, "taken_day IS NOT NULL"])
        dated = int(conn.execute(sql, params).fetchone()[0])
        sql = "SELECT count(*) FROM images WHERE " + " AND ".join([*cond, "taken_day IS NULL"])
        total = dated + int(conn.execute(sql, params).fetchone()[0])
        rows: list[Any] = []
        if offset < dated and limit > 0:
            rows += conn.execute(
                "SELECT id, path, taken FROM images WHERE "
                + " AND ".join([*cond, "taken_day IS NOT NULL"])
                + " ORDER BY taken_day DESC, taken DESC, path, id LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        rest = limit - len(rows)
        if rest > 0 and offset + len(rows) < total:
            rows += conn.execute(
                "SELECT id, path, NULL FROM images WHERE "  # "+": walk the path index
                + " AND ".join([*cond, "+taken_day IS NULL"])
                + " ORDER BY path, id LIMIT ? OFFSET ?",
                [*params, rest, max(0, offset - dated)],
            ).fetchall()
        return total, [Browsed(str(i), decode_path(str(p)), t) for i, p, t in rows]

    # -- writing ---------------------------------------------------------------------
    @translated("write")
    def write(
        self,
        add: Sequence[ImageRecord] = (),
        moves: Sequence[Move] = (),
        touch: Sequence[Touch] = (),
        remove: Sequence[str] = (),
        update: Sequence[Update] = (),
    ) -> None:
        if not (add or moves or touch or remove or update):
            return
        self.db.writable()
        refuse_non_finite(add)
        conn = self.db.conn
        with self._write_lock, transaction(conn):
            for image_id in remove:
                conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
            for m in moves:
                path = encode_path(m.path)
                conn.execute("DELETE FROM images WHERE path = ? AND id != ?", (path, m.id))
                conn.execute(
                    "UPDATE images SET path = ?, size = ?, mtime_ns = ?, "
                    "content_hash = coalesce(nullif(?, ''), content_hash) WHERE id = ?",
                    (path, m.size, m.mtime_ns, m.content_hash, m.id),
                )
            for t in touch:
                conn.execute(
                    "UPDATE images SET size = ?, mtime_ns = ?, "
                    "content_hash = coalesce(nullif(?, ''), content_hash) WHERE id = ?",
                    (t.size, t.mtime_ns, t.content_hash, t.id),
                )
            for u in update:
                written = updated_fields(u.fields)
                text = written.pop("text", None)
                if isinstance(text, ImageText):
                    texts.write(conn, u.id, text)
                columns = {k: v for k, v in written.items() if k not in KEY_FIELDS}
                if columns:
                    sets = ", ".join(f"{name} = ?" for name in columns)
                    conn.execute(
                        f"UPDATE images SET {sets} WHERE id = ?", [*columns.values(), u.id]
                    )
                if written.keys() & KEY_FIELDS.keys():
                    row = conn.execute("SELECT rowid FROM images WHERE id = ?", (u.id,)).fetchone()
                    if row is not None:
                        _write_keys(conn, int(row[0]), written)
            now = time.time()
            model = self.db.meta("model") or ""
            for rec in add:
                # A replaced file is a new row (features never change under a rowid,
                # which keeps the NumPy cache append-only); it keeps its id.
                path = encode_path(rec.path)
                conn.execute("DELETE FROM images WHERE path = ? OR id = ?", (path, rec.id))
                ids, probs = class_blobs(rec.features.classes)
                meta = rec.metadata()
                cursor = conn.execute(
                    "INSERT INTO images (id, path, content_hash, size, mtime_ns, width, "
                    "height, format, model, class_ids, class_probs, embedding, indexed_at, "
                    f"{', '.join(META_COLUMNS)}) VALUES ({_INSERT_MARKS})",
                    (
                        rec.id,
                        path,
                        rec.content_hash,
                        rec.size,
                        rec.mtime_ns,
                        rec.width,
                        rec.height,
                        rec.format,
                        model,
                        ids,
                        probs,
                        embedding_blob(rec.features.embedding),
                        now,
                        *(meta[name] for name in META_COLUMNS),
                    ),
                )
                if cursor.lastrowid is not None:
                    _write_keys(conn, cursor.lastrowid, meta)
                if rec.text is not None:
                    texts.write(conn, rec.id, rec.text)

    @contextlib.contextmanager
    def writer_lock(self, roots: Sequence[str] = ()) -> Iterator[None]:
        """An advisory lock file for the whole index, whatever the roots: SQLite has one
        writer at a time anyway, and two indexers would only race."""
        self.db.writable()
        try:
            fh = open(self.folder / "index.lock", "a+")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise StoreError(f"cannot lock the index at {self.folder}: {exc.strerror}") from exc
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(
                    f"another 'picfind index' is running on {self.folder}; wait for it to finish"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- searching -------------------------------------------------------------------
    @translated("read")
    def refresh(self) -> None:
        self._cache.segments()

    @translated("read")
    def search(
        self, query: StoreQuery, limit: int, offset: int = 0, where: Filter | None = None
    ) -> tuple[int, list[Hit]]:
        total, hits = self._search([query], offset + limit, [where or Filter()])[0]
        return total, hits[offset:]

    @translated("read")
    def search_many(
        self, queries: Sequence[StoreQuery], limit: int, where: Sequence[Filter]
    ) -> list[tuple[int, list[Hit]]]:
        if len(where) != len(queries):
            raise ValueError("search_many needs one filter per query")
        return self._search(queries, limit, where)

    def _search(
        self, queries: Sequence[StoreQuery], want: int, where: Sequence[Filter]
    ) -> list[tuple[int, list[Hit]]]:
        segments = self._cache.segments()
        masks = self._filter_masks(segments, where)
        direct = [self._text_only(q, w, want) for q, w in zip(queries, where, strict=True)]
        pages: list[tuple[int, list[tuple[float, int]]]] = []
        for query, query_masks, w, page in zip(queries, masks, where, direct, strict=True):
            if page is not None:  # read text alone: the FTS index answered it
                pages.append(page)
                continue
            by_date = w.sort == "date"
            facts: dict[CaptureMatch | TextMatch, npt.NDArray[np.int64]] = {}
            scored, scored_masks = segments, query_masks
            if isinstance(query, WordsQuery):
                facts = {m: self._capture_rowids(m) for m in capture_matchers(query)}
                facts |= {m: texts.matching_rowids(self.db.conn, m) for m in text_matchers(query)}
                scored, scored_masks = self._candidates(segments, query_masks, query, facts)
            # by date: every match, then the newest first
            top = sum(seg.n for seg in scored) if by_date else want
            total, found = score_query(
                scored, scored_masks, query, top, self._classes_of_rowids, facts
            )
            if by_date:
                found = self._newest_first(found)
            pages.append((total, found[:want]))
        ids = self._ids_of_rowids([r for _, page in pages for _, r in page])
        return [(total, [Hit(ids[r], s) for s, r in page if r in ids]) for total, page in pages]

    def _candidates(
        self,
        segments: list[vectors.Segment],
        masks: list[Mask],
        query: WordsQuery,
        facts: Mapping[CaptureMatch | TextMatch, npt.NDArray[np.int64]],
    ) -> tuple[list[vectors.Segment], list[Mask]]:
        """The segments a words query scores: where the filter, or a clause of capture or
        text matchers only (which every match must satisfy), leaves few rows, just those
        rows (``vectors.RowSubset``), so the concept scores are computed for them alone;
        elsewhere the whole segment. The same matches and scores either way."""
        narrowing = [
            c.matchers
            for c in query.positive
            if all(
                isinstance(m, PlaceMatch | DateMatch | CameraMatch | TextMatch) for m in c.matchers
            )
        ]
        by_clause = [self._clause_positions(segments, matchers, facts) for matchers in narrowing]
        out_segments: list[vectors.Segment] = []
        out_masks: list[Mask] = []
        for i, (seg, mask) in enumerate(zip(segments, masks, strict=True)):
            candidates: npt.NDArray[np.int64] | None = None
            for per_segment in by_clause:
                pos = per_segment[i]
                candidates = (
                    pos[mask[pos]]
                    if candidates is None
                    else np.intersect1d(candidates, pos, assume_unique=True)
                )
            if candidates is None and np.count_nonzero(mask) <= SUBSET_FRACTION * seg.n:
                candidates = np.flatnonzero(mask)  # (counted first: no list for a wide mask)
            if candidates is None or candidates.shape[0] > SUBSET_FRACTION * seg.n:
                out_segments.append(seg)
                out_masks.append(mask)
                continue
            out_segments.append(vectors.RowSubset(seg, candidates))
            out_masks.append(np.ones(candidates.shape[0], dtype=bool))
        return out_segments, out_masks

    def _clause_positions(
        self,
        segments: list[vectors.Segment],
        matchers: tuple[Matcher, ...],
        facts: Mapping[CaptureMatch | TextMatch, npt.NDArray[np.int64]],
    ) -> list[npt.NDArray[np.int64]]:
        """Per segment, the positions of the rows any of these capture or text matchers
        matches (ascending, each once)."""
        parts: list[list[npt.NDArray[np.int64]]] = []
        for m in matchers:
            if isinstance(m, TextMatch):
                parts.append([seg.positions_of(facts[m]) for seg in segments])
            elif isinstance(m, PlaceMatch | DateMatch | CameraMatch):
                parts.append(self._capture_positions(segments, m))
        if len(parts) == 1:
            return parts[0]
        return [np.unique(np.concatenate(per)) for per in zip(*parts, strict=True)]

    def _capture_positions(
        self, segments: list[vectors.Segment], matcher: CaptureMatch
    ) -> list[npt.NDArray[np.int64]]:
        """Per segment, the positions (ascending) of the rows a capture matcher matches:
        the facts' rows placed among the segments' (``SegmentCache.placed``)."""
        found = self._cache.capture_facts()
        placed = self._cache.placed(segments, found)[found.positions(matcher)]
        placed = placed[placed >= 0]
        out = []
        start = 0
        for seg in segments:
            lo, hi = np.searchsorted(placed, [start, start + seg.n])
            out.append(placed[lo:hi] - start)
            start += seg.n
        return out

    def _text_only(
        self, query: StoreQuery, where: Filter, want: int
    ) -> tuple[int, list[tuple[float, int]]] | None:
        """A query of read text alone, unfiltered, answered by the FTS index itself: every
        match scores ``TEXT_SCORE``, so the page is the matches of lowest rowid (the
        order of ties everywhere) and the total their count — no rowid list of a common
        word crosses into Python. None for any other query."""
        if not isinstance(query, WordsQuery) or where != Filter():  # any filter, any order
            return None
        if len(query.clauses) != 1 or query.clauses[0].negated:
            return None
        matchers = query.clauses[0].matchers
        text = [m for m in matchers if isinstance(m, TextMatch)]
        if len(text) != len(matchers):
            return None
        total, rowids = texts.first_matches(self.db.conn, text, want)
        return total, [(TEXT_SCORE, r) for r in rowids]

    def _filter_masks(
        self, segments: list[vectors.Segment], where: Sequence[Filter]
    ) -> list[list[Mask]]:
        """Per query, per segment: the rows its ``Filter`` allows (the one place filters
        become masks; a new restriction adds its mask here)."""
        base = [seg.alive for seg in segments]
        inside: dict[str, list[Mask]] = {}
        excluded = self._rowids_of_ids({i for w in where for i in w.exclude})
        out: list[list[Mask]] = []
        for w in where:
            masks = [m.copy() for m in base]
            if w.under is not None:
                if w.under not in inside:
                    lo, hi = under_prefix(w.under)
                    keep = self._rowids(
                        "SELECT rowid FROM images WHERE path >= ? AND path < ?", [lo, hi]
                    )
                    inside[w.under] = [membership(seg, keep) for seg in segments]
                for mask, allowed in zip(masks, inside[w.under], strict=True):
                    mask &= allowed
            for matcher in _filter_matchers(w):
                positions = self._capture_positions(segments, matcher)
                for seg, mask, pos in zip(segments, masks, positions, strict=True):
                    allowed = np.zeros(seg.n, dtype=bool)
                    allowed[pos] = True
                    mask &= allowed
            if w.exclude:
                drop = np.sort(
                    np.array([excluded[i] for i in w.exclude if i in excluded], dtype=np.int64)
                )
                for seg, mask in zip(segments, masks, strict=True):
                    mask[seg.positions_of(drop)] = False
            out.append(masks)
        return out

    def _newest_first(self, found: list[tuple[float, int]]) -> list[tuple[float, int]]:
        """Scored rows (best first) by local capture time, newest first; undated rows
        last, by score (``ranking.newest_first``)."""
        taken: dict[int, str] = {}
        rowids = [r for _, r in found]
        for start in range(0, len(rowids), _CHUNK):
            chunk = rowids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            taken.update(
                self.db.conn.execute(
                    f"SELECT rowid, taken FROM images WHERE rowid IN ({marks}) "
                    "AND taken IS NOT NULL",
                    chunk,
                ).fetchall()
            )
        return newest_first((taken.get(rowid), score, rowid) for score, rowid in found)

    def _capture_rowids(self, matcher: CaptureMatch) -> npt.NDArray[np.int64]:
        """Sorted rowids the matcher matches, from the NumPy copy of the capture facts
        (``store/facts.py``); rows removed meanwhile may be among them (masks drop them)."""
        return self._cache.capture_facts().matching(matcher)

    def _classes_of_rowids(self, rowids: list[int]) -> dict[int, SparseClasses]:
        """Stored top classes of a few rows (the fused mode's expansion: five rows)."""
        out: dict[int, SparseClasses] = {}
        for start in range(0, len(rowids), _CHUNK):
            chunk = rowids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for rowid, cids, cprobs in self.db.conn.execute(
                f"SELECT rowid, class_ids, class_probs FROM images WHERE rowid IN ({marks})", chunk
            ):
                out[int(rowid)] = classes_from_blobs(cids, cprobs)
        return out

    def _rowids(self, sql: str, params: Sequence[object]) -> npt.NDArray[np.int64]:
        rows = self.db.conn.execute(sql, params).fetchall()
        return np.sort(np.array([r[0] for r in rows], dtype=np.int64))

    def _rowids_of_ids(self, ids: set[str]) -> dict[str, int]:
        return {str(i): int(r) for r, i in self._rowid_id_pairs("id", sorted(ids))}

    def _ids_of_rowids(self, rowids: list[int]) -> dict[int, str]:
        return {int(r): str(i) for r, i in self._rowid_id_pairs("rowid", sorted(set(rowids)))}

    def _rowid_id_pairs(self, column: str, values: Sequence[object]) -> list[tuple[Any, Any]]:
        """(rowid, id) of the rows whose ``column`` is one of ``values``."""
        out: list[tuple[Any, Any]] = []
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            out += self.db.conn.execute(
                f"SELECT rowid, id FROM images WHERE {column} IN ({marks})", chunk
            ).fetchall()
        return out


def _filter_matchers(w: Filter) -> list[CaptureMatch]:
    """A filter's capture restrictions as the matchers that say the same (a day range, any
    of some places, any of some cameras): one lookup each, shared with words queries."""
    out: list[CaptureMatch] = []
    if w.dated:
        lo = w.after_day if w.after_day is not None else 0
        hi = w.before_day if w.before_day is not None else 100000000
        out.append(DateMatch(days=((lo, hi),)))
    if w.places:
        out.append(PlaceMatch(w.places))
    if w.cameras:
        out.append(CameraMatch(w.cameras))
    return out


def _browse_conditions(w: Filter) -> tuple[list[str], list[object]]:
    """A ``Filter`` as SQL conditions on ``images`` (the timeline's; searches use masks)."""
    cond: list[str] = ["1"]
    params: list[object] = []
    if w.under is not None:
        cond.append("path >= ? AND path < ?")
        params += under_prefix(w.under)
    for matcher in _filter_matchers(w):
        sql, more = _capture_sql(matcher)
        cond.append(f"rowid IN ({sql})")
        params += more
    if w.exclude:
        cond.append(f"id NOT IN ({','.join('?' * len(w.exclude))})")
        params += w.exclude
    return cond, params


def _capture_sql(matcher: CaptureMatch) -> tuple[str, list[object]]:
    """The rowids a capture matcher matches, as one SQL query on indexed columns."""
    if isinstance(matcher, PlaceMatch | CameraMatch):
        kind = "place" if isinstance(matcher, PlaceMatch) else "camera"
        marks = ",".join("?" * len(matcher.keys))
        sql = f"SELECT DISTINCT image_rowid FROM image_keys WHERE kind = ? AND key IN ({marks})"
        return sql, [kind, *matcher.keys]
    if matcher.south_days is None and matcher.south_yearly is None:
        hemispheres = [(matcher.ranges(False), "1")]
    else:
        hemispheres = [(matcher.ranges(False), "(lat IS NULL OR lat >= 0)")]
        hemispheres.append((matcher.ranges(True), "lat < 0"))
    parts: list[str] = []
    params: list[object] = []
    for (days, yearly), where in hemispheres:
        any_of = ["(taken_day >= ? AND taken_day < ?)"] * len(days)
        any_of += ["(taken_md BETWEEN ? AND ?)"] * len(yearly)
        parts.append(f"({where} AND ({' OR '.join(any_of) or '0'}))")
        params += [v for pair in (*days, *yearly) for v in pair]
    sql = f"SELECT rowid FROM images WHERE taken_day IS NOT NULL AND ({' OR '.join(parts)})"
    return sql, params


def _write_keys(conn: sqlite3.Connection, rowid: int, fields: dict[str, object]) -> None:
    """Replace the row's place or camera keys with those in ``fields`` (when present)."""
    for name, kind in KEY_FIELDS.items():
        if name not in fields:
            continue
        conn.execute("DELETE FROM image_keys WHERE image_rowid = ? AND kind = ?", (rowid, kind))
        values = fields[name]
        if isinstance(values, tuple):
            conn.executemany(
                "INSERT INTO image_keys (image_rowid, kind, key) VALUES (?, ?, ?)",
                [(rowid, kind, str(v)) for v in values],
            )


def _in_lists(
    lists: list[tuple[str, list[object]]],
) -> Iterator[tuple[list[str], list[object]]]:
    """``col IN (…)`` conditions, chunked over the first list (the others whole)."""
    if not lists:
        yield [], []
        return
    (col, values), rest = lists[0], lists[1:]
    fixed: list[str] = []
    fixed_params: list[object] = []
    for other, vals in rest:
        fixed.append(f"{other} IN ({','.join('?' * len(vals))})")
        fixed_params += vals
    for start in range(0, max(len(values), 1), _CHUNK):
        chunk = values[start : start + _CHUNK]
        if not chunk:
            return
        cond = f"{col} IN ({','.join('?' * len(chunk))})"
        yield [cond, *fixed], [*chunk, *fixed_params]


def _stored(r: Sequence[Any], features: bool) -> StoredFile:
    """A row of ``_FILE_COLUMNS`` (+ ``_FEATURE_COLUMNS``) (+ ``_META_SELECT``) as a record."""
    feats = (
        Features(classes_from_blobs(r[10], r[11]), embedding_from_blob(r[12])) if features else None
    )
    at = 14 if features else 11  # after the rowid
    meta = (
        Capture(**{name: r[at + k] for k, name in enumerate(META_COLUMNS)}) if len(r) > at else None
    )
    return StoredFile(
        str(r[0]), decode_path(str(r[1])), int(r[2]), int(r[3]), str(r[4]),
        int(r[5]), int(r[6]), str(r[7]), feats, int(r[8] or 0), meta,
        text_version=None if r[9] is None else str(r[9]),
    )  # fmt: skip
