"""The indexer: from folders to stored features, incrementally and safely.

Per file the decision is: unchanged (same size and mtime: not even read),
touched (same content), moved (its content hash belongs to a row whose file is
gone: the row follows it, no inference), copied (the hash belongs to a file
still there: its features are reused), or new/changed (decoded and run through
the model). The store is asked in bulk — every row under a root in one request
before the walk's files are compared, the content hashes of a whole batch in
one more — never once per file. Rows keyed by the old kind of content hash are
recognised too (``legacy``: one more request per batch, by size, and the old hash
only for a file whose size such a row has); they take the current key as they are
found (``Touch``/``Move.content_hash``).

The work itself is ``pipeline.Pipeline``: reads and decodes in threads while
the model runs on the previous batch; every batch is one store write, so an
interrupted run keeps everything before it and the next run resumes.

What is removed: a stored path under a root is removed only when the walk
listed its folder and the file is not there, or when its file now holds
something that is not an image. A folder that could not be listed, an entry
that could not be examined and a file that could not be read keep their rows
(and are reported), so a permission glitch or an I/O error never deletes.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from picfind.errors import NotFoundError, StoreError
from picfind.legacy import old_kind_matches
from picfind.passes import run_over
from picfind.pipeline import BATCH_SIZE, Item, Pipeline, Stage
from picfind.reading import MAX_FILE_BYTES
from picfind.records import FileState, ImageRecord, IndexReport, Progress, Skipped, StoredFile
from picfind.stages import backfill_stages, inline_stages, needs_backfill
from picfind.stages.model import ModelStage
from picfind.store.base import Move, Store, Touch
from picfind.store.codec import folder_prefix, make_id
from picfind.walk import walk

if TYPE_CHECKING:
    from picfind.models import Model

__all__ = ["BATCH_SIZE", "Indexer"]


class Indexer:
    """Runs one indexing job against a store with a model (loaded only if needed)."""

    def __init__(
        self,
        store: Store,
        model_loader: Callable[[], Model],
        *,
        input_size: int,
        batch_size: int = BATCH_SIZE,
        workers: int | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
        stages: Sequence[Stage] | None = None,
    ) -> None:
        self.store = store
        self.model_stage = ModelStage(model_loader)
        self.stages = list(stages) if stages is not None else [*inline_stages(), self.model_stage]
        self.backfill = backfill_stages() if stages is None else []
        """Stages run alone over unchanged rows that lack their fields (older schemas)."""
        self.input_size = input_size
        self.batch_size = batch_size
        self.workers = workers
        self.max_file_bytes = max_file_bytes

    def run(
        self,
        roots: Sequence[str | Path],
        *,
        exclude: Sequence[str] = (),
        include_hidden: bool = False,
        follow_outside_links: bool = False,
        progress: Callable[[Progress], None] | None = None,
    ) -> IndexReport:
        started = time.perf_counter()
        run = _Run(self.store, IndexReport())
        tops = [os.path.abspath(os.fspath(r)) for r in roots]
        for top in tops:
            if not os.path.exists(top):
                raise NotFoundError(f"no such file or folder: {top}")
        try:
            for top in tops:
                for item in walk(
                    top,
                    exclude=exclude,
                    include_hidden=include_hidden,
                    roots=tops,
                    follow_outside_links=follow_outside_links,
                ):
                    if isinstance(item, Skipped):
                        run.skip(item)
                    else:
                        run.seen.setdefault(item.path, item)
            before = _rows_under(self.store, tops)
            stored = {f.path: f for f in before}
            todo: list[Item] = []
            unchanged: set[str] = set()
            for path, state in run.seen.items():
                row = stored.get(path)
                if row and row.size == state.size and row.mtime_ns == state.mtime_ns:
                    run.report.unchanged += 1
                    unchanged.add(path)
                else:
                    todo.append(Item(state, row=row))
            pipeline = Pipeline(
                self.stages,
                input_size=self.input_size,
                batch_size=self.batch_size,
                workers=self.workers,
                max_file_bytes=self.max_file_bytes,
                progress=progress,
            )
            pipeline.run(todo, total=len(todo), resolve=run.resolve, sink=run.sink)
            # Only a complete walk can say what is gone: of the rows under the folders
            # walked, as read before the run (its own moves left their old paths), those
            # whose files are not there. No second read of every row: a cluster store
            # deletes only the version it read, so what another run changed meanwhile stays.
            folders = tuple(folder_prefix(t) for t in tops if os.path.isdir(t))
            gone = [
                f.id
                for f in before
                if f.id not in run.moved and f.path.startswith(folders) and run.gone(f.path)
            ]
            if self.backfill:  # unchanged rows of an older schema: their headers, never the model
                # the unchanged rows as read, and the moved ones where they are now
                stale = [
                    f
                    for f in [*(f for f in before if f.path in unchanged), *run.moves]
                    if needs_backfill(f) and not run.gone(f.path)
                ]
                if stale:
                    done = run_over(
                        self.store,
                        self.backfill,
                        stale,
                        batch_size=self.batch_size,
                        workers=self.workers,
                    )
                    run.report.backfilled = done.updated
                    for skipped in done.skipped:
                        run.skip(skipped)
            if gone:
                self.store.write(remove=gone)
                run.report.removed = len(gone)
            self.store.refresh()  # the first search after a big run need not rebuild
        except KeyboardInterrupt:
            run.report.interrupted = True
            raise
        except BaseException:
            run.failed = True
            raise
        finally:
            run.report.seconds = time.perf_counter() - started
            self._record(run, tops)
        return run.report

    def _record(self, run: _Run, tops: list[str]) -> None:
        report = run.report
        summary = report.to_json()
        summary["skipped"] = len(report.skipped)
        summary["finished_at"] = time.time()
        summary["interrupted"] = report.interrupted
        summary["roots"] = tops
        if run.failed or report.interrupted:
            with contextlib.suppress(StoreError):  # never hide the error that ended the run
                self.store.record_run(summary)
        else:
            self.store.record_run(summary)


class _Run:
    """What one indexing run has seen and decided so far."""

    def __init__(self, store: Store, report: IndexReport) -> None:
        self.store = store
        self.report = report
        self.seen: dict[str, FileState] = {}
        self.kept: set[str] = set()  # paths (files or folders) whose rows stay: read failures
        self.refused: set[str] = set()  # files whose content cannot be indexed any more
        self.moved: set[str] = set()  # ids moved in this run
        self.moves: list[StoredFile] = []  # their rows as read, at their new paths
        self.rekeyed: set[str] = set()  # ids given the current content key in this run
        self.rekeys: list[Touch] = []  # old-kind rows of known content: their new key, unsent
        self.failed = False

    def skip(self, skipped: Skipped) -> None:
        self.report.skipped.append(skipped)
        (self.kept if skipped.keep else self.refused).add(skipped.path)

    def gone(self, path: str) -> bool:
        """Whether a stored path is to be removed at the end of the run."""
        if path in self.kept or any(path.startswith(k.rstrip("/") + "/") for k in self.kept):
            return False
        return path not in self.seen or path in self.refused

    # -- the pipeline's hooks -------------------------------------------------------
    def resolve(self, chunk: list[Item]) -> None:
        """Known content, in two bulk requests per chunk: a touch, a move or a copy."""
        hashes = sorted({i.content_hash for i in chunk if i.content_hash})
        known: dict[str, list[StoredFile]] = {}
        for f in self.store.rows(hashes=hashes) if hashes else ():
            known.setdefault(f.content_hash, []).append(f)
        old = old_kind_matches(self.store, [i for i in chunk if i.content_hash not in known])
        copies: list[Item] = []
        for item in chunk:
            rows = known.get(item.content_hash) or old.get(id(item))
            if not rows:
                continue
            if id(item) in old:  # known under its old key: every such row takes the new one
                self._rekey(rows, item.content_hash)
            same = next((f for f in rows if f.path == item.path), None)
            gone = next(
                (
                    f
                    for f in rows
                    if f.id not in self.moved and f.path not in self.seen
                    and not os.path.exists(f.path)
                ),
                None,
            )  # fmt: skip
            if same is not None:
                item.outcome, item.target, item.finished = "touched", same.id, True
            elif gone is not None:
                item.outcome, item.target, item.finished = "moved", gone.id, True
                self.moved.add(gone.id)
                st = item.file  # the row where it is now
                self.moves.append(replace(gone, path=st.path, size=st.size, mtime_ns=st.mtime_ns))
            else:
                item.outcome, item.target, item.known = "copied", rows[0].id, True
                copies.append(item)
        if copies:
            features = {
                f.id: f.features
                for f in self.store.rows(ids=[i.target for i in copies], features=True)
            }
            for item in copies:
                item.fields.features = features.get(item.target)
                if item.fields.features is None:  # removed meanwhile: infer after all
                    item.known, item.outcome = False, ""

    def _rekey(self, rows: list[StoredFile], key: str) -> None:
        """Queue the current key for old-kind rows of one content (each once per run)."""
        for f in rows:
            if f.id not in self.rekeyed and f.id not in self.moved:
                self.rekeyed.add(f.id)
                self.rekeys.append(Touch(f.id, f.size, f.mtime_ns, key))

    def sink(self, chunk: list[Item]) -> int:
        """One store write per chunk; returns how many images it indexed."""
        report = self.report
        touches: list[Touch] = []
        moves: list[Move] = []
        new: list[Item] = []
        for item in chunk:
            st = item.file
            if item.skipped is not None:
                self.skip(item.skipped)
            elif item.outcome == "touched":
                touches.append(Touch(item.target, st.size, st.mtime_ns, item.content_hash))
            elif item.outcome == "moved":
                moves.append(Move(item.target, st.path, st.size, st.mtime_ns, item.content_hash))
            elif item.fields.features is not None:
                new.append(item)
        ids = self._ids(new)
        records = [
            ImageRecord.build(ids[n], item.file, item.content_hash, item.fields)
            for n, item in enumerate(new)
        ]
        # the other old-kind rows of contents found here: a key only (a row touched or
        # moved in this write carries its own key, with its new size and mtime)
        changed = {t.id for t in touches} | {m.id for m in moves}
        rekeys = [t for t in self.rekeys if t.id not in changed and t.id not in self.moved]
        self.rekeys = []
        self.store.write(add=records, moves=moves, touch=touches + rekeys)
        report.unchanged += len(touches)
        report.moved += len(moves)
        report.indexed += len(records)
        return len(records)

    def _ids(self, items: list[Item]) -> list[str]:
        """A replaced file keeps its row's id; a new one gets ``make_id`` (salted on the
        rare collision with an id in use, checked in bulk)."""
        ids = [i.row.id if i.row is not None else make_id(i.content_hash, i.path) for i in items]
        fresh = [n for n, i in enumerate(items) if i.row is None]
        salt = 0
        while fresh:
            taken = {f.id for f in self.store.rows(ids=[ids[n] for n in fresh])}
            fresh = [n for n in fresh if ids[n] in taken]
            salt += 1
            for n in fresh:
                ids[n] = make_id(items[n].content_hash, items[n].path, salt)
        return ids


def _rows_under(store: Store, tops: Sequence[str]) -> list[StoredFile]:
    """The stored rows of each root: a folder's in one bulk read, a file's by its path."""
    out: list[StoredFile] = []
    files = [t for t in tops if not os.path.isdir(t)]
    for top in tops:
        if os.path.isdir(top):
            out += store.rows(under=top)
    if files:
        out += store.rows(paths=files)
    return out
