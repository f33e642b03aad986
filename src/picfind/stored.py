"""Bulk, read-only reads of what an embedded index stores, for whole-index analyses.

``picfind eval`` and ``picfind duplicates`` look at every image at once (score
matrices, pairwise similarities); going through ``Store.features`` one id at a
time would be N queries. This reads the rows in one pass over a read-only
SQLite connection (``mode=ro``), so neither command can change the index —
not even the derived ``cache/`` that a search would refresh.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from picfind.errors import NotFoundError, StoreError
from picfind.scoring import NUM_CLASSES
from picfind.store.embedded import DB_NAME, under_prefix


@dataclass(frozen=True)
class StoredSet:
    """Rows of an index in path order: ids, paths, content hashes, features."""

    ids: list[str]
    paths: list[str]
    hashes: list[str]
    embeddings: np.ndarray  # float32 (n, D), unit norm (stored as float16)
    classes: np.ndarray | None  # float32 (n, 1000): the stored top classes, zero elsewhere
    model: str

    def __len__(self) -> int:
        return len(self.ids)


def _connect(folder: str | os.PathLike[str]) -> sqlite3.Connection:
    db = Path(folder).expanduser().absolute() / DB_NAME
    if not db.is_file():
        raise NotFoundError(f"no picfind index at {db.parent} (run 'picfind index PATH' first)")
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=60)
        conn.execute("SELECT 1 FROM images LIMIT 1")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot read index {db}: {exc}") from exc
    return conn


def _rows(
    conn: sqlite3.Connection, columns: str, under: str | None
) -> Iterator[tuple[object, ...]]:
    if under is None:
        yield from conn.execute(f"SELECT {columns} FROM images ORDER BY path")
        return
    lo, hi = under_prefix(os.path.abspath(under))
    yield from conn.execute(
        f"SELECT {columns} FROM images WHERE path >= ? AND path < ? ORDER BY path", (lo, hi)
    )


def read_index(
    folder: str | os.PathLike[str], *, under: str | None = None, classes: bool = True
) -> StoredSet:
    """Every row (or those inside ``under``), with embeddings and optionally dense classes."""
    conn = _connect(folder)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()
        model = row[0] if row else ""
        ids: list[str] = []
        paths: list[str] = []
        hashes: list[str] = []
        emb: list[np.ndarray] = []
        cls_rows: list[tuple[np.ndarray, np.ndarray]] = []
        cols = "id, path, content_hash, embedding" + (", class_ids, class_probs" if classes else "")
        for r in _rows(conn, cols, under):
            ids.append(str(r[0]))
            paths.append(str(r[1]))
            hashes.append(str(r[2]))
            emb.append(np.frombuffer(r[3], dtype=np.float16))  # type: ignore[arg-type]
            if classes:
                cls_rows.append(
                    (
                        np.frombuffer(r[4], dtype=np.uint16),  # type: ignore[arg-type]
                        np.frombuffer(r[5], dtype=np.float32),  # type: ignore[arg-type]
                    )
                )
    finally:
        conn.close()
    embeddings = np.stack(emb).astype(np.float32) if emb else np.zeros((0, 0), dtype=np.float32)
    dense = None
    if classes:
        dense = np.zeros((len(ids), NUM_CLASSES), dtype=np.float32)
        for i, (cids, cprobs) in enumerate(cls_rows):
            dense[i, cids.astype(np.intp)] = cprobs
    return StoredSet(ids, paths, hashes, embeddings, dense, model)
