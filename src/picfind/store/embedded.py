"""The embedded store: one folder, SQLite (WAL) for the truth, NumPy for scoring.

No server. ``sqlite.Database`` holds the connections (read-only when the index
cannot be written); ``cache.SegmentCache`` keeps the NumPy segments in step with
the committed rows; ``ranking`` scores a segment. This module is the store seam
(``store.base.Store``) over them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from picfind.errors import StoreError, UsageError
from picfind.records import Features, Hit, ImageRecord, Stats, StoredFile
from picfind.scoring import Mask
from picfind.store import vectors
from picfind.store.base import DocSummary, Filter, Move, StoreQuery, Touch, Update
from picfind.store.cache import SegmentCache
from picfind.store.codec import (
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
from picfind.store.ranking import score_segment
from picfind.store.sqlite import DB_NAME, Database, transaction, translated

__all__ = ["DB_NAME", "EmbeddedStore"]

_FILE_COLUMNS = "id, path, size, mtime_ns, content_hash, width, height, format"
_FEATURE_COLUMNS = ", class_ids, class_probs, embedding"
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
        features: bool = False,
    ) -> Iterator[StoredFile]:
        where: list[str] = []
        params: list[object] = []
        if under is not None:
            where.append("path >= ? AND path < ?")
            params += under_prefix(under)
        lists = [
            (col, list(dict.fromkeys(encode_path(v) if col == "path" else v for v in values)))
            for col, values in (("id", ids), ("path", paths), ("content_hash", hashes))
            if values is not None
        ]
        columns = _FILE_COLUMNS + (_FEATURE_COLUMNS if features else "")
        found: list[StoredFile] = []
        for extra, extra_params in _in_lists(lists):
            sql = f"SELECT {columns} FROM images"
            if where or extra:
                sql += " WHERE " + " AND ".join(where + extra)
            for r in self.db.conn.execute(sql + " ORDER BY path", params + extra_params):
                found.append(_stored(r, features))
        if len(lists) and any(len(v) > _CHUNK for _, v in lists):
            found.sort(key=lambda f: encode_path(f.path))
        return iter(found)

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
        return Stats(count, self.model or "", size, json.loads(last) if last else None)

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
                    "UPDATE images SET path = ?, size = ?, mtime_ns = ? WHERE id = ?",
                    (path, m.size, m.mtime_ns, m.id),
                )
            for t in touch:
                conn.execute(
                    "UPDATE images SET size = ?, mtime_ns = ? WHERE id = ?",
                    (t.size, t.mtime_ns, t.id),
                )
            for u in update:
                written = updated_fields(u.fields)
                if written:
                    sets = ", ".join(f"{name} = ?" for name in written)
                    conn.execute(
                        f"UPDATE images SET {sets} WHERE id = ?", [*written.values(), u.id]
                    )
            now = time.time()
            model = self.db.meta("model") or ""
            for rec in add:
                # A replaced file is a new row (features never change under a rowid,
                # which keeps the NumPy cache append-only); it keeps its id.
                path = encode_path(rec.path)
                conn.execute("DELETE FROM images WHERE path = ? OR id = ?", (path, rec.id))
                ids, probs = class_blobs(rec.features.classes)
                conn.execute(
                    "INSERT INTO images (id, path, content_hash, size, mtime_ns, width, "
                    "height, format, model, class_ids, class_probs, embedding, indexed_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    ),
                )

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
        pages: list[tuple[int, list[tuple[float, int]]]] = []
        for query, query_masks in zip(queries, masks, strict=True):
            total = 0
            found: list[tuple[float, int]] = []  # (score, rowid)
            for seg, mask in zip(segments, query_masks, strict=True):
                if seg.n == 0:
                    continue
                count, scores, positions = score_segment(seg, query, mask, want)
                total += count
                found.extend(zip(scores.tolist(), seg.rowids[positions].tolist(), strict=True))
            found.sort(key=lambda t: (-t[0], t[1]))
            pages.append((total, found[:want]))
        ids = self._ids_of_rowids([r for _, page in pages for _, r in page])
        return [(total, [Hit(ids[r], s) for s, r in page if r in ids]) for total, page in pages]

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
                    inside[w.under] = [_membership(seg, keep) for seg in segments]
                for mask, allowed in zip(masks, inside[w.under], strict=True):
                    mask &= allowed
            if w.exclude:
                drop = np.sort(
                    np.array([excluded[i] for i in w.exclude if i in excluded], dtype=np.int64)
                )
                for seg, mask in zip(segments, masks, strict=True):
                    mask[seg.positions_of(drop)] = False
            out.append(masks)
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


def _membership(seg: vectors.Segment, rowids: npt.NDArray[np.int64]) -> Mask:
    inside = np.zeros(seg.n, dtype=bool)
    inside[seg.positions_of(rowids)] = True
    return inside


def _in_lists(lists: list[tuple[str, list[str]]]) -> Iterator[tuple[list[str], list[object]]]:
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
    """A row of ``_FILE_COLUMNS`` (+ ``_FEATURE_COLUMNS``) as a record."""
    feats = (
        Features(classes_from_blobs(r[8], r[9]), embedding_from_blob(r[10])) if features else None
    )
    return StoredFile(
        str(r[0]), decode_path(str(r[1])), int(r[2]), int(r[3]), str(r[4]),
        int(r[5]), int(r[6]), str(r[7]), feats,
    )  # fmt: skip
