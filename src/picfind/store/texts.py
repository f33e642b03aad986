"""Read text in the embedded store: the ``texts`` table and its FTS5 index ``text_fts``.

``texts`` holds, per image rowid, what the OCR pass read (the version that read it,
the plain text, the lines with their boxes as JSON, or why reading failed);
``text_fts`` holds ``textnorm.terms`` of the text, with the same rowid. An image row
deleted (a removed file, or a changed one: new content is a new row) takes its text
with it (triggers in ``schema.TEXTS_STEP``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from picfind import textnorm
from picfind.matchers import TextMatch
from picfind.records import ImageText
from picfind.textsearch import fts_match

_CHUNK = 500


def write(conn: sqlite3.Connection, image_id: str, text: ImageText) -> None:
    """Store (or replace) the text of the image with this id, inside the caller's
    transaction; nothing when the image is gone."""
    row = conn.execute("SELECT rowid, content_hash FROM images WHERE id = ?", (image_id,))
    found = row.fetchone()
    if found is None:
        return
    rowid, content_hash = int(found[0]), str(found[1])
    conn.execute("DELETE FROM texts WHERE image_rowid = ?", (rowid,))  # its FTS row too
    record = json.dumps(text.record, ensure_ascii=False) if text.record is not None else None
    conn.execute(
        "INSERT INTO texts (image_rowid, content_hash, version, text, record, failure) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (rowid, content_hash, text.version, text.text, record, text.failure),
    )
    if text.text:
        terms = textnorm.terms(text.text)
        conn.execute(
            "INSERT INTO text_fts (rowid, words, parts) VALUES (?, ?, ?)",
            (rowid, terms.words, terms.parts),
        )


def matching_rowids(conn: sqlite3.Connection, matcher: TextMatch) -> npt.NDArray[np.int64]:
    """Sorted rowids of the images whose text holds the matcher's phrase."""
    rows = conn.execute(
        "SELECT rowid FROM text_fts WHERE text_fts MATCH ?", (fts_match(matcher),)
    ).fetchall()
    return np.sort(np.array([r[0] for r in rows], dtype=np.int64))


def holds_text(conn: sqlite3.Connection) -> bool:
    """Whether any image has text read in it (a plain word then also searches text)."""
    return conn.execute("SELECT 1 FROM text_fts LIMIT 1").fetchone() is not None


def read(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, ImageText]:
    """The stored text of each of these image ids that has one."""
    out: dict[str, ImageText] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        for image_id, version, text, record, failure in conn.execute(
            "SELECT images.id, texts.version, texts.text, texts.record, texts.failure FROM texts "
            f"JOIN images ON images.rowid = texts.image_rowid WHERE images.id IN ({marks})",
            chunk,
        ):
            out[str(image_id)] = ImageText(
                str(version),
                str(text),
                json.loads(record) if record is not None else None,
                str(failure) if failure is not None else None,
            )
    return out
