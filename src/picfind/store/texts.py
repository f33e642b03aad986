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
    """Sorted rowids of the images whose text holds the matcher's phrase.

    One row of comma-separated rowids, parsed by NumPy: three times faster than a
    Python tuple per match (a common word matches thousands of photos).
    """
    found = conn.execute(
        "SELECT group_concat(rowid) FROM text_fts WHERE text_fts MATCH ?", (fts_match(matcher),)
    ).fetchone()[0]
    if not found:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.fromstring(str(found), dtype=np.int64, sep=","))


def first_matches(
    conn: sqlite3.Connection, matchers: Sequence[TextMatch], want: int
) -> tuple[int, list[int]]:
    """(how many images hold any of the phrases, the ``want`` lowest of their rowids)."""
    expr = " OR ".join(f"({fts_match(m)})" for m in matchers)
    total = int(
        conn.execute("SELECT count(*) FROM text_fts WHERE text_fts MATCH ?", (expr,)).fetchone()[0]
    )
    rows = conn.execute(
        "SELECT rowid FROM text_fts WHERE text_fts MATCH ? ORDER BY rowid LIMIT ?", (expr, want)
    ).fetchall()
    return total, [int(r[0]) for r in rows]


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
