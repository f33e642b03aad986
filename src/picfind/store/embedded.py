"""The embedded store: one folder, SQLite (WAL) for the truth, NumPy for scoring.

No server. Readers see committed data while an indexer writes (WAL snapshots);
the NumPy side refreshes itself when SQLite moved on (see ``vectors``).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from picfind.errors import NotFoundError, StoreError, UsageError
from picfind.records import Features, Hit, ImageRecord, Stats, StoredFile
from picfind.scoring import (
    NUM_CLASSES,
    STORED_CLASSES,
    ConceptColumns,
    SparseClasses,
    keyword_scores,
)
from picfind.store import vectors
from picfind.store.base import (
    ClassesQuery,
    DocSummary,
    EmbeddingQuery,
    Filter,
    HybridQuery,
    KeywordQuery,
    StoreQuery,
)
from picfind.store.schema import migrate
from picfind.vocabulary import Vocabulary

DB_NAME = "picfind.db"


def make_id(content_hash: str, path: str, salt: int = 0) -> str:
    """A stable id: fixed at first indexing, kept when the file moves."""
    data = f"{content_hash}\0{path}\0{salt}".encode()
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def under_prefix(folder: str) -> tuple[str, str]:
    """The [low, high) path range of everything inside ``folder``."""
    base = folder.rstrip("/") + "/"
    return base, base[:-1] + chr(ord("/") + 1)


class EmbeddedStore:
    """An index folder: ``picfind.db`` plus ``cache/`` of derived arrays."""

    def __init__(self, folder: str | Path, *, create: bool = False) -> None:
        self.folder = Path(folder).expanduser().absolute()
        db = self.folder / DB_NAME
        if not db.exists():
            if not create:
                raise NotFoundError(
                    f"no picfind index at {self.folder} (run 'picfind index PATH' first)"
                )
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create index folder {self.folder}: {exc}") from exc
        elif not db.is_file():
            raise StoreError(f"{db} is not a file")
        self._local = threading.local()
        self._write_lock = threading.Lock()
        try:
            migrate(self._conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open index {db}: {exc}") from exc
        self._snapshot: tuple[tuple[int, int], list[vectors.Segment]] | None = None
        self._main: vectors.MainSegment | None = None
        self._dim: int | None = None

    # -- connections: one per thread, all on the same WAL database ------------------
    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.folder / DB_NAME, timeout=60, isolation_level=None, check_same_thread=True
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._main is not None:
            self._main.close()
            self._main = None

    # -- metadata --------------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @property
    def model(self) -> str | None:
        return self._meta("model")

    def set_model(self, name: str) -> None:
        with self._write_lock:
            self._set_meta("model", name)

    def record_run(self, summary: dict[str, object]) -> None:
        with self._write_lock:
            self._set_meta("last_run", json.dumps(summary))

    # -- the indexer's side ----------------------------------------------------------
    _FILE_COLUMNS = "id, path, size, mtime_ns, content_hash"

    def get_file(self, path: str) -> StoredFile | None:
        row = self._conn.execute(
            f"SELECT {self._FILE_COLUMNS} FROM images WHERE path = ?", (path,)
        ).fetchone()
        return StoredFile(*row) if row else None

    def files_with_hash(self, content_hash: str) -> list[StoredFile]:
        rows = self._conn.execute(
            f"SELECT {self._FILE_COLUMNS} FROM images WHERE content_hash = ?", (content_hash,)
        ).fetchall()
        return [StoredFile(*r) for r in rows]

    def iter_files(self, under: str | None = None) -> Iterator[StoredFile]:
        if under is None:
            cur = self._conn.execute(f"SELECT {self._FILE_COLUMNS} FROM images ORDER BY path")
        else:
            lo, hi = under_prefix(under)
            cur = self._conn.execute(
                f"SELECT {self._FILE_COLUMNS} FROM images WHERE path >= ? AND path < ? "
                "ORDER BY path",
                (lo, hi),
            )
        rows = cur.fetchall()  # materialised: callers may write while iterating
        return (StoredFile(*r) for r in rows)

    def find_id(self, path: str) -> str | None:
        row = self._conn.execute("SELECT id FROM images WHERE path = ?", (path,)).fetchone()
        return row[0] if row else None

    def write(
        self,
        add: Sequence[ImageRecord] = (),
        moves: Sequence[tuple[str, str, int, int]] = (),
        touch: Sequence[tuple[str, int, int]] = (),
        remove: Sequence[str] = (),
    ) -> None:
        if not (add or moves or touch or remove):
            return
        conn = self._conn
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for image_id in remove:
                    conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
                for image_id, path, size, mtime_ns in moves:
                    conn.execute("DELETE FROM images WHERE path = ? AND id != ?", (path, image_id))
                    conn.execute(
                        "UPDATE images SET path = ?, size = ?, mtime_ns = ? WHERE id = ?",
                        (path, size, mtime_ns, image_id),
                    )
                for image_id, size, mtime_ns in touch:
                    conn.execute(
                        "UPDATE images SET size = ?, mtime_ns = ? WHERE id = ?",
                        (size, mtime_ns, image_id),
                    )
                now = time.time()
                model = self._meta("model") or ""
                for rec in add:
                    # A replaced file is a new row (features never change under a rowid,
                    # which keeps the NumPy cache append-only); it keeps its id.
                    conn.execute("DELETE FROM images WHERE path = ? OR id = ?", (rec.path, rec.id))
                    conn.execute(
                        "INSERT INTO images (id, path, content_hash, size, mtime_ns, width, "
                        "height, format, model, class_ids, class_probs, embedding, indexed_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            rec.id,
                            rec.path,
                            rec.content_hash,
                            rec.size,
                            rec.mtime_ns,
                            rec.width,
                            rec.height,
                            rec.format,
                            model,
                            rec.features.classes.ids.astype(np.uint16).tobytes(),
                            rec.features.classes.probs.astype(np.float32).tobytes(),
                            rec.features.embedding.astype(np.float16).tobytes(),
                            now,
                        ),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """An advisory lock file: two indexers on one index would only race."""
        with open(self.folder / "index.lock", "a+") as fh:
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

    def id_in_use(self, image_id: str) -> bool:
        return (
            self._conn.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone()
            is not None
        )

    def features(self, image_id: str) -> Features | None:
        row = self._conn.execute(
            "SELECT class_ids, class_probs, embedding FROM images WHERE id = ?", (image_id,)
        ).fetchone()
        if row is None:
            return None
        classes = SparseClasses(
            np.frombuffer(row[0], dtype=np.uint16).copy(),
            np.frombuffer(row[1], dtype=np.float32).copy(),
        )
        return Features(classes, np.frombuffer(row[2], dtype=np.float16).astype(np.float32))

    def summaries(self, ids: Sequence[str]) -> dict[str, DocSummary]:
        out: dict[str, DocSummary] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for image_id, path, cids, cprobs in self._conn.execute(
                f"SELECT id, path, class_ids, class_probs FROM images WHERE id IN ({marks})",
                chunk,
            ):
                out[image_id] = DocSummary(
                    image_id,
                    path,
                    np.frombuffer(cids, dtype=np.uint16),
                    np.frombuffer(cprobs, dtype=np.float32),
                )
        return out

    def stats(self) -> Stats:
        count = self._conn.execute("SELECT count(*) FROM images").fetchone()[0]
        size = sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())
        last = self._meta("last_run")
        return Stats(count, self.model or "", size, json.loads(last) if last else None)

    # -- the searcher's side ---------------------------------------------------------
    def refresh(self) -> None:
        self._segments()

    def _segments(self) -> list[vectors.Segment]:
        """Segments reflecting the committed state; rebuilt only when it changed."""
        conn = self._conn
        conn.execute("BEGIN")  # one read snapshot for the state, the diff and the delta
        try:
            max_rowid, removed_seq = conn.execute(
                "SELECT (SELECT coalesce(max(rowid), 0) FROM images), "
                "(SELECT coalesce(max(seq), 0) FROM removed)"
            ).fetchone()
            state = (max_rowid, removed_seq)
            if self._snapshot is not None and self._snapshot[0] == state:
                return self._snapshot[1]
            dim = self._embedding_dim()
            cache_dir = self.folder / "cache"
            main = self._usable(self._main or vectors.load_main(cache_dir), max_rowid, dim)
            upto, gone, delta_n = self._diff(main)
            total = (main.n if main else 0) - gone.size + delta_n
            if total >= vectors.MIN_MAIN and self._stale(main, gone, delta_n):
                with vectors.build_lock(cache_dir):
                    # Another process may have built a fresh main while we waited.
                    other = self._usable(vectors.load_main(cache_dir), max_rowid, dim)
                    if other is not None and not self._stale(other, *self._diff(other)[1:]):
                        main = other
                    else:
                        main = vectors.build_main(
                            conn,
                            cache_dir,
                            max_rowid,
                            removed_seq,
                            STORED_CLASSES,
                            dim,
                            _columns(),
                        )
                upto, gone, delta_n = self._diff(main)
            elif total < vectors.MIN_MAIN:
                main, upto, gone = None, 0, np.zeros(0, dtype=np.int64)
            segments: list[vectors.Segment] = []
            if main is not None:
                # A fresh mask, not an update in place: a search in another thread
                # may still be reading this segment's previous one.
                alive = np.ones(main.n, dtype=bool)
                alive[main.positions_of(np.sort(gone))] = False
                main.alive = alive
                segments.append(main)
            segments.append(vectors.read_delta(conn, upto, STORED_CLASSES, dim))
        finally:
            conn.execute("COMMIT")
        self._main = main
        self._snapshot = (state, segments)
        return segments

    @staticmethod
    def _usable(
        main: vectors.MainSegment | None, max_rowid: int, dim: int
    ) -> vectors.MainSegment | None:
        """None for a cache that cannot describe this database (replaced, other model)."""
        if main is None or main.upto > max_rowid or main.dim != dim:
            return None
        return main

    def _diff(self, main: vectors.MainSegment | None) -> tuple[int, np.ndarray, int]:
        """(rowid main covers, its rows deleted since, rows added after it)."""
        upto = main.upto if main else 0
        seq = main.removed_seq if main else 0
        gone = self._rowids(
            "SELECT image_rowid FROM removed WHERE seq > ? AND image_rowid <= ?", (seq, upto)
        )
        delta_n = self._conn.execute(
            "SELECT count(*) FROM images WHERE rowid > ?", (upto,)
        ).fetchone()[0]
        return upto, gone, delta_n

    @staticmethod
    def _stale(main: vectors.MainSegment | None, gone: np.ndarray, delta_n: int) -> bool:
        main_n = main.n if main else 0
        limit = max(vectors.MIN_MAIN, min(vectors.REBUILD_FRACTION * main_n, vectors.MAX_DELTA))
        return delta_n + gone.size > limit

    def _embedding_dim(self) -> int:
        if self._dim is None:
            row = self._conn.execute("SELECT length(embedding) FROM images LIMIT 1").fetchone()
            if row is None:
                return 0
            self._dim = row[0] // 2
        return self._dim

    def _rowids(self, sql: str, params: Sequence[object]) -> np.ndarray:
        return np.array([r[0] for r in self._conn.execute(sql, params)], dtype=np.int64)

    def search(
        self, query: StoreQuery, limit: int, offset: int = 0, where: Filter | None = None
    ) -> tuple[int, list[Hit]]:
        where = where or Filter()
        segments = self._segments()
        masks = [seg.alive.copy() for seg in segments]
        if where.under is not None:
            lo, hi = under_prefix(where.under)
            keep = np.sort(
                self._rowids("SELECT rowid FROM images WHERE path >= ? AND path < ?", (lo, hi))
            )
            for seg, mask in zip(segments, masks, strict=True):
                inside = np.zeros(seg.n, dtype=bool)
                inside[seg.positions_of(keep)] = True
                mask &= inside
        if where.exclude:
            marks = ",".join("?" * len(where.exclude))
            drop = np.sort(
                self._rowids(f"SELECT rowid FROM images WHERE id IN ({marks})", where.exclude)
            )
            for seg, mask in zip(segments, masks, strict=True):
                mask[seg.positions_of(drop)] = False
        want = offset + limit
        total = 0
        found: list[tuple[float, int]] = []  # (score, rowid)
        for seg, mask in zip(segments, masks, strict=True):
            if seg.n == 0:
                continue
            count, scores, positions = _score_segment(seg, query, mask, want)
            total += count
            found.extend(zip(scores.tolist(), seg.rowids[positions].tolist(), strict=True))
        found.sort(key=lambda t: (-t[0], t[1]))
        page = found[offset:want]
        if not page:
            return total, []
        marks = ",".join("?" * len(page))
        ids = dict(
            self._conn.execute(
                f"SELECT rowid, id FROM images WHERE rowid IN ({marks})", [r for _, r in page]
            ).fetchall()
        )
        return total, [Hit(ids[r], s) for s, r in page if r in ids]


def _score_segment(
    seg: vectors.Segment, query: StoreQuery, mask: np.ndarray, want: int
) -> tuple[int, np.ndarray, np.ndarray]:
    """(matches in this segment, best scores, their positions) — at most ``want``."""
    from picfind.scoring import top_k

    if isinstance(query, KeywordQuery):
        positive = [seg.concept_mass(c) for c in query.positive]
        negative = [seg.concept_mass(c) for c in query.negative]
        scores, match = keyword_scores(positive, negative)
        match &= mask
        best = top_k(scores, want, match)
        return int(match.sum()), scores[best], best
    if isinstance(query, ClassesQuery):
        scores = 1.0 + seg.class_dot(_dense(query.weights))
        best = top_k(scores, want, mask)
        return int(mask.sum()), scores[best], best
    if isinstance(query, EmbeddingQuery | HybridQuery):
        vector = query.vector.astype(np.float32)
        extra = (
            query.weight * seg.class_dot(_dense(query.weights))
            if isinstance(query, HybridQuery)
            else 0.0
        )
        coarse = seg.coarse_cosine(vector) + extra
        if not seg.approximate:
            best = top_k(coarse, want, mask)
            return int(mask.sum()), np.asarray(coarse)[best], best
        candidates = top_k(coarse, max(want, vectors.RERANK), mask)
        exact = seg.exact_cosine(candidates, vector)
        if isinstance(query, HybridQuery):
            exact = exact + np.asarray(extra)[candidates]
        order = top_k(exact, want)
        return int(mask.sum()), exact[order], candidates[order]
    raise TypeError(f"unknown query type {type(query).__name__}")


@functools.cache
def _columns() -> ConceptColumns:
    """The concepts whose masses main segments precompute: broad ones from WordNet."""
    vocab = Vocabulary.load()
    return ConceptColumns.from_concepts({w: c.classes for w, c in vocab.concepts.items()})


def _dense(weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float32)
    if w.shape != (NUM_CLASSES,):
        raise ValueError(f"class weights must have shape ({NUM_CLASSES},), got {w.shape}")
    return w
