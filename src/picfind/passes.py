"""Passes of stages over rows already indexed: a backfill, or a slow second pass.

``run_pass`` reads the stored rows under the given roots in bulk, keeps those
the caller says still ``need`` the pass (say, rows with no text read yet), and
pushes their files through the same pipeline as indexing, with only the given
stages — the model never runs unless a stage asks for it. Each batch ends in one
``Store.write(update=…)``, committed, so an interrupted pass loses at most a
batch, and a re-run skips what is done (the ``needs`` predicate says so).

A file that changed since it was indexed (another size or mtime, or — when the
stages read whole files — another content hash) is skipped, its row kept: the
next ``picfind index`` handles it. When every stage reads only the header, only
each file's first ``reading.HEAD_BYTES`` are read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from picfind.hashing import same_content
from picfind.pipeline import BATCH_SIZE, Item, Pipeline, Stage
from picfind.records import FileState, Progress, Skipped, StoredFile
from picfind.store.base import Store, Update

CHANGED = "changed since it was indexed (run 'picfind index' first)"


@dataclass
class PassReport:
    """What a pass did: rows updated, files skipped (with reasons), time taken."""

    updated: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    pending: int = 0
    """Rows that needed the pass when it started."""
    seconds: float = 0.0
    interrupted: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "updated": self.updated,
            "pending": self.pending,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3),
        }


def run_pass(
    store: Store,
    stages: Sequence[Stage],
    roots: Sequence[str],
    *,
    needs: Callable[[StoredFile], bool] = lambda row: True,
    input_size: int | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> PassReport:
    """Run ``stages`` over the stored rows under ``roots`` that ``needs`` (see above)."""
    rows: dict[str, StoredFile] = {}
    for root in roots:
        found = store.rows(under=root) if os.path.isdir(root) else store.rows(paths=[root])
        rows.update((r.id, r) for r in found if needs(r))
    return run_over(
        store,
        stages,
        list(rows.values()),
        input_size=input_size,
        batch_size=batch_size,
        workers=workers,
        progress=progress,
    )


def run_over(
    store: Store,
    stages: Sequence[Stage],
    rows: Sequence[StoredFile],
    *,
    input_size: int | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> PassReport:
    """Run ``stages`` over the given stored rows (the indexer's backfill has them at hand)."""
    started = time.perf_counter()
    report = PassReport()
    report.pending = len(rows)
    items: list[Item] = []
    for row in rows:
        try:
            st = os.stat(row.path)
        except OSError:
            report.skipped.append(Skipped(row.path, CHANGED, keep=True))
            continue
        if st.st_size != row.size or st.st_mtime_ns != row.mtime_ns:
            report.skipped.append(Skipped(row.path, CHANGED, keep=True))
            continue
        items.append(Item(FileState(row.path, row.size, row.mtime_ns), row=row))
    pipeline = Pipeline(
        stages, input_size=input_size, batch_size=batch_size, workers=workers, progress=progress
    )

    def verify(chunk: list[Item]) -> None:
        for item in chunk:  # a whole read carries its hash: the content must be the row's
            row, key = item.row, item.content_hash  # (an old-kind row: hashed its way)
            if key and row and not same_content(item.data, key, row.content_hash):
                item.skip(CHANGED, keep=True)

    def sink(chunk: list[Item]) -> int:
        updates = []
        for item in chunk:
            if item.skipped is not None:
                report.skipped.append(item.skipped)
            elif item.row is not None and item.fields.written():
                updates.append(Update(item.row.id, item.fields))
        store.write(update=updates)
        report.updated += len(updates)
        return len(updates)

    try:
        pipeline.run(items, total=len(items), resolve=verify, sink=sink)
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        report.seconds = time.perf_counter() - started
    return report
