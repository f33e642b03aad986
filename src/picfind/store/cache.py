"""Which segments reflect the committed database: the main segment's cache, kept fresh.

A search asks for the segments of the current committed state. They are reused
while nothing changed; rows added since the main segment was built form the
delta; deletions are masked; when the delta or the deletions grow past a
fraction of main, main is rebuilt (under a lock file, so concurrent processes
build once and share it).

The cache is derived and never needed for correctness. It is used only when its
manifest names this database's index id (a recreated database never reads an
older database's cache), and when it cannot be written (a full disk, a read-only
index) everything is scored from one dense segment read from SQLite instead:
slower, same answers.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt

from picfind.scoring import STORED_CLASSES
from picfind.store import facts, vectors
from picfind.store.codec import concept_columns
from picfind.store.sqlite import INDEX_ID, Database

log = logging.getLogger(__name__)


class SegmentCache:
    """The segments of one database, rebuilt only when its committed state moved."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dir: Path = db.folder / "cache"
        self._snapshot: tuple[tuple[int, int], list[vectors.Segment]] | None = None
        self._main: vectors.MainSegment | None = None
        self._dim: int | None = None
        self._cannot_build = False
        self._facts: facts.CaptureFacts | None = None
        self._placed: (
            tuple[list[vectors.Segment], facts.CaptureFacts, npt.NDArray[np.int64]] | None
        ) = None
        """(the segments, the facts, ``placed``'s answer for them) for reuse."""
        self._facts_saved = (-1, 0)
        """(``seq``, ``upto``) of the facts last saved (or loaded) in ``cache/``."""

    def close(self) -> None:
        if self._main is not None:
            self._main.close()
            self._main = None
        self._snapshot = None
        self._facts = None
        self._placed = None

    def segments(self) -> list[vectors.Segment]:
        """Segments reflecting the committed state (one read snapshot for all of it)."""
        conn = self.db.conn
        conn.execute("BEGIN")
        try:
            max_rowid, removed_seq = conn.execute(
                "SELECT (SELECT coalesce(max(rowid), 0) FROM images), "
                "(SELECT coalesce(max(seq), 0) FROM removed)"
            ).fetchone()
            state = (int(max_rowid), int(removed_seq))
            if self._snapshot is not None and self._snapshot[0] == state:
                return self._snapshot[1]
            segments = self._build(*state)
        finally:
            conn.execute("COMMIT")
        self._snapshot = (state, segments)
        return segments

    def capture_facts(self) -> facts.CaptureFacts:
        """The capture facts of every row the last ``segments`` cover (at least), current
        for changes in place: read once, extended by new rows, read again after a change
        (``capture_changes``), loaded from ``cache/`` by a fresh process."""
        upto = self._snapshot[0][0] if self._snapshot is not None else 0
        conn = self.db.conn
        conn.execute("BEGIN")
        try:
            seq = facts.change_seq(conn)
            known = self._facts
            if known is None or known.seq != seq:
                known = self._loaded(seq)
            if known is not None and known.seq == seq and known.upto >= upto:
                self._facts = known
                return known
            if known is not None and known.seq == seq:
                found = facts.extended(known, facts.read(conn, known.upto, upto, seq))
            else:
                found = facts.read(conn, 0, upto, seq)
        finally:
            conn.execute("COMMIT")
        self._facts = found
        if found.rowids.shape[0] >= vectors.MIN_MAIN and self._stale_facts(found):
            self._save_facts(found)
        return found

    def placed(
        self, segments: list[vectors.Segment], found: facts.CaptureFacts
    ) -> npt.NDArray[np.int64]:
        """Per row of the facts, its position among the rows of ``segments`` taken in
        order (-1: in none, a row removed since): facts then become rows of segments by
        indexing, with no search per query. Computed once per snapshot of both."""
        known = self._placed
        if known is not None and known[0] is segments and known[1] is found:
            return known[2]
        out = np.full(found.rowids.shape[0], -1, dtype=np.int64)
        start = 0
        for seg in segments:
            pos = np.searchsorted(found.rowids, seg.rowids)
            inside = pos < found.rowids.shape[0]
            inside[inside] = found.rowids[pos[inside]] == seg.rowids[inside]
            out[pos[inside]] = start + np.flatnonzero(inside)
            start += seg.n
        self._placed = (segments, found, out)
        return out

    def _loaded(self, seq: int) -> facts.CaptureFacts | None:
        saved = facts.load(self.dir, self.db.meta(INDEX_ID))
        if saved is None or saved.seq != seq:
            return None
        self._facts_saved = (saved.seq, saved.upto)
        return saved

    def _stale_facts(self, found: facts.CaptureFacts) -> bool:
        """Whether the saved copy lags far enough behind to be written again."""
        seq, upto = self._facts_saved
        lag = found.rowids.shape[0] - int(np.searchsorted(found.rowids, upto, "right"))
        return seq != found.seq or lag > vectors.REBUILD_FRACTION * found.rowids.shape[0]

    def _save_facts(self, found: facts.CaptureFacts) -> None:
        if self.db.read_only or self._cannot_build:
            return
        try:
            facts.save(found, self.dir, self.db.meta(INDEX_ID))
            self._facts_saved = (found.seq, found.upto)
        except OSError as exc:  # optional, like the segments
            log.warning("cannot write the capture facts in %s (%s)", self.dir, exc)
            self._cannot_build = True

    def _build(self, max_rowid: int, removed_seq: int) -> list[vectors.Segment]:
        dim = self._embedding_dim()
        main = self._usable(self._main or vectors.load_main(self.dir), max_rowid, dim)
        upto, gone, delta_n = self._diff(main)
        total = (main.n if main else 0) - gone.size + delta_n
        if total >= vectors.MIN_MAIN and self._stale(main, gone, delta_n):
            # When no new main can be written, a stale one plus a larger delta is
            # still exact.
            main = self._rebuilt(max_rowid, removed_seq, dim) or main
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
        segments.append(vectors.read_delta(self.db.conn, upto, STORED_CLASSES, dim))
        self._main = main
        return segments

    def _rebuilt(self, max_rowid: int, removed_seq: int, dim: int) -> vectors.MainSegment | None:
        """A fresh main segment, or None (score densely) when none can be written."""
        if self.db.read_only or self._cannot_build:
            return None
        try:
            with vectors.build_lock(self.dir):
                # Another process may have built a fresh main while we waited.
                other = self._usable(vectors.load_main(self.dir), max_rowid, dim)
                if other is not None and not self._stale(other, *self._diff(other)[1:]):
                    return other
                return vectors.build_main(
                    self.db.conn,
                    self.dir,
                    max_rowid,
                    removed_seq,
                    STORED_CLASSES,
                    dim,
                    concept_columns(),
                    self.db.meta(INDEX_ID),
                )
        except OSError as exc:  # a full disk, a read-only folder: the cache is optional
            log.warning(
                "cannot write the search cache in %s (%s); scoring from SQLite", self.dir, exc
            )
            self._cannot_build = True
            return None

    def _usable(
        self, main: vectors.MainSegment | None, max_rowid: int, dim: int
    ) -> vectors.MainSegment | None:
        """None for a cache that cannot describe this database (another database, model)."""
        if main is None or main.upto > max_rowid or main.dim != dim:
            return None
        if main.index_id != self.db.meta(INDEX_ID):
            log.info("the cache in %s belongs to another database; rebuilding it", self.dir)
            return None
        return main

    def _diff(self, main: vectors.MainSegment | None) -> tuple[int, npt.NDArray[np.int64], int]:
        """(rowid main covers, its rows deleted since, rows added after it)."""
        upto = main.upto if main else 0
        seq = main.removed_seq if main else 0
        conn = self.db.conn
        gone = np.array(
            [
                r[0]
                for r in conn.execute(
                    "SELECT image_rowid FROM removed WHERE seq > ? AND image_rowid <= ?",
                    (seq, upto),
                )
            ],
            dtype=np.int64,
        )
        delta_n = int(
            conn.execute("SELECT count(*) FROM images WHERE rowid > ?", (upto,)).fetchone()[0]
        )
        return upto, gone, delta_n

    @staticmethod
    def _stale(main: vectors.MainSegment | None, gone: npt.NDArray[np.int64], delta_n: int) -> bool:
        main_n = main.n if main else 0
        limit = max(vectors.MIN_MAIN, min(vectors.REBUILD_FRACTION * main_n, vectors.MAX_DELTA))
        return delta_n + gone.size > limit

    def _embedding_dim(self) -> int:
        if self._dim is None:
            row = self.db.conn.execute("SELECT length(embedding) FROM images LIMIT 1").fetchone()
            if row is None:
                return 0
            self._dim = int(row[0]) // 2
        return self._dim
