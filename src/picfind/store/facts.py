"""The capture facts of every row as NumPy arrays: what date, place and camera filters read.

A filter or a capture word then costs a vectorised comparison (dates) or a lookup of
a sorted rowid array (place and camera keys) instead of an SQL query whose rowids
cross into Python one tuple at a time (tens of milliseconds at a million rows).

``CaptureFacts`` covers the rows up to ``upto`` as they were when the counter of
``capture_changes`` (schema step 4) read ``seq``: rows added since are read on their
own and appended; a change in place (a backfill, a re-read) bumps the counter and the
facts are read again. Removed rows may linger here; every search masks them out
through the segments. Saved beside the search cache (``cache/facts-*.npz``) so a fresh
process loads them instead of reading a million rows; like the cache they are derived,
and a copy made from another database (``index_id``) is never used.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from picfind.matchers import CameraMatch, CaptureMatch, DateMatch, PlaceMatch

log = logging.getLogger(__name__)

Rowids = npt.NDArray[np.int64]
NO_DAY = -1
"""``day`` of a row without a capture date (days are 20190714 numbers, never negative)."""
_VERSION = 2
_MEMO = 8


@dataclass(frozen=True)
class CaptureFacts:
    """Per row (``rowids`` ascending): capture day, month-day, south of the equator; and
    per (kind, key) the positions (ascending) of the rows that carry the key."""

    rowids: Rowids
    day: npt.NDArray[np.int32]
    md: npt.NDArray[np.int32]
    south: npt.NDArray[np.bool_]
    keys: dict[tuple[str, str], Rowids]
    upto: int
    seq: int
    _memo: dict[CaptureMatch, npt.NDArray[np.int64]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """The last few matchers' positions: a query asks for them more than once (its
    rowids for the scoring, its rows per segment for the candidates)."""

    def matching(self, matcher: CaptureMatch) -> Rowids:
        """Sorted rowids the matcher matches (the rows its SQL would select)."""
        return self.rowids[self.positions(matcher)]

    def positions(self, matcher: CaptureMatch) -> npt.NDArray[np.int64]:
        """Positions (ascending, into ``rowids``) of the rows the matcher matches."""
        found = self._memo.get(matcher)
        if found is None:
            found = self._positions(matcher)
            if len(self._memo) >= _MEMO:  # (searches in other threads may do the same)
                self._memo.pop(next(iter(self._memo), matcher), None)
            self._memo[matcher] = found
        return found

    def _positions(self, matcher: CaptureMatch) -> npt.NDArray[np.int64]:
        if isinstance(matcher, PlaceMatch | CameraMatch):
            kind = "place" if isinstance(matcher, PlaceMatch) else "camera"
            found = [
                self.keys[(kind, k)] for k in dict.fromkeys(matcher.keys) if (kind, k) in self.keys
            ]
            if not found:
                return np.zeros(0, dtype=np.int64)
            if len(found) == 1:
                return found[0]
            return np.unique(np.concatenate(found))
        return np.flatnonzero(self._date_mask(matcher))

    def _date_mask(self, matcher: DateMatch) -> npt.NDArray[np.bool_]:
        if matcher.south_days is None and matcher.south_yearly is None:
            inside = self._in_ranges(*matcher.ranges(False))
        else:
            north = self._in_ranges(*matcher.ranges(False))
            south = self._in_ranges(*matcher.ranges(True))
            inside = np.where(self.south, south, north)
        if any(lo <= NO_DAY for lo, _ in matcher.days) or matcher.yearly or matcher.south_yearly:
            inside &= self.day != NO_DAY  # (only day ranges from 0 up never hold NO_DAY)
        return inside

    def _in_ranges(
        self, days: tuple[tuple[int, int], ...], yearly: tuple[tuple[int, int], ...]
    ) -> npt.NDArray[np.bool_]:
        inside = np.zeros(self.rowids.shape[0], dtype=bool)
        for lo, hi in days:
            inside |= _between(self.day, lo, hi - 1)
        for lo, hi in yearly:
            inside |= _between(self.md, lo, hi)
        return inside


def _between(values: npt.NDArray[np.int32], lo: int, hi: int) -> npt.NDArray[np.bool_]:
    """lo <= values <= hi, as one unsigned comparison (one pass over a million rows)."""
    if hi < lo:
        return np.zeros(values.shape[0], dtype=bool)
    if not (-(2**30) < lo <= hi < 2**30):  # (int32 arithmetic could overflow)
        wide: npt.NDArray[np.bool_] = (values >= lo) & (values <= hi)
        return wide
    shifted = (values - np.int32(lo)).view(np.uint32)
    out: npt.NDArray[np.bool_] = shifted <= np.uint32(hi - lo)
    return out


def change_seq(conn: sqlite3.Connection) -> int:
    """The counter of in-place capture changes (schema step 4)."""
    return int(conn.execute("SELECT seq FROM capture_changes WHERE id = 1").fetchone()[0])


def read(conn: sqlite3.Connection, after: int, upto: int, seq: int) -> CaptureFacts:
    """The facts of the rows in (after, upto], read from SQLite (inside a read snapshot)."""
    rows = conn.execute(
        "SELECT rowid, coalesce(taken_day, -1), coalesce(taken_md, 0), coalesce(lat < 0, 0) "
        "FROM images WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
        (after, upto),
    ).fetchall()
    table = np.array(rows, dtype=np.int64).reshape(-1, 4)
    rowids = table[:, 0].copy()
    keys: dict[tuple[str, str], list[int]] = {}
    for kind, key, rowid in conn.execute(
        "SELECT kind, key, image_rowid FROM image_keys WHERE image_rowid > ? AND image_rowid <= ? "
        "ORDER BY kind, key, image_rowid",
        (after, upto),
    ):
        keys.setdefault((str(kind), str(key)), []).append(int(rowid))
    return CaptureFacts(
        rowids,
        table[:, 1].astype(np.int32),
        table[:, 2].astype(np.int32),
        table[:, 3].astype(bool),
        {k: _positions(rowids, v) for k, v in keys.items()},
        upto,
        seq,
    )


def _positions(rowids: Rowids, keyed: list[int]) -> npt.NDArray[np.int64]:
    """Positions of the (stored, so present) rows of a key, ascending and each once."""
    found = np.unique(np.array(keyed, dtype=np.int64))
    pos = np.searchsorted(rowids, found)
    inside = pos < rowids.shape[0]
    pos = pos[inside]
    out: npt.NDArray[np.int64] = pos[rowids[pos] == found[inside]].astype(np.int64)
    return out


def extended(old: CaptureFacts, new: CaptureFacts) -> CaptureFacts:
    """``old`` followed by ``new`` (rows after ``old.upto``)."""
    keys = dict(old.keys)
    shift = old.rowids.shape[0]
    for k, positions in new.keys.items():
        keys[k] = np.concatenate([keys[k], positions + shift]) if k in keys else positions + shift
    return CaptureFacts(
        np.concatenate([old.rowids, new.rowids]),
        np.concatenate([old.day, new.day]),
        np.concatenate([old.md, new.md]),
        np.concatenate([old.south, new.south]),
        keys,
        new.upto,
        new.seq,
    )


def save(facts: CaptureFacts, cache_dir: Path, index_id: str | None) -> None:
    """Write the facts beside the search cache (replacing older copies); OSError if not."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    names = sorted(facts.keys)
    lengths = np.array([facts.keys[k].shape[0] for k in names], dtype=np.int64)
    tmp = cache_dir / f"facts.{os.getpid()}.{secrets.token_hex(4)}.tmp.npz"
    np.savez(
        tmp,
        header=np.array([_VERSION, facts.upto, facts.seq], dtype=np.int64),
        index_id=np.array(index_id or ""),
        rowids=facts.rowids,
        day=facts.day,
        md=facts.md,
        south=facts.south,
        key_kinds=np.array([k for k, _ in names], dtype=str),
        key_names=np.array([n for _, n in names], dtype=str),
        key_offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        key_positions=(
            np.concatenate([facts.keys[k] for k in names]) if names else np.zeros(0, np.int64)
        ),
    )
    os.replace(tmp, cache_dir / "facts.npz")


def load(cache_dir: Path, index_id: str | None) -> CaptureFacts | None:
    """The saved facts, or None (none, unreadable, another database's, older format)."""
    try:
        with np.load(cache_dir / "facts.npz") as data:
            version, upto, seq = (int(v) for v in data["header"])
            if version != _VERSION or str(data["index_id"]) != (index_id or ""):
                return None
            offsets = data["key_offsets"]
            positions = data["key_positions"]
            keys = {
                (str(kind), str(name)): positions[offsets[i] : offsets[i + 1]]
                for i, (kind, name) in enumerate(
                    zip(data["key_kinds"], data["key_names"], strict=True)
                )
            }
            return CaptureFacts(
                data["rowids"], data["day"], data["md"], data["south"], keys, upto, seq
            )
    except (OSError, ValueError, KeyError) as exc:
        log.debug("no usable capture facts in %s: %s", cache_dir, exc)
        return None
