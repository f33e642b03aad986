"""The indexer: from folders to stored features, incrementally and safely.

Per file the decision is: unchanged (same size and mtime: not even read),
touched (same content), moved (its content hash belongs to a row whose file is
gone: the row follows it, no inference), copied (the hash belongs to a file
still there: its features are reused), or new/changed (decoded and run through
the model). Decoding runs in threads while the model runs on the previous
batch; every batch is committed in one transaction, so an interrupted run keeps
everything before it and the next run resumes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from picfind import imaging
from picfind.errors import ImageError, NotFoundError
from picfind.records import Features as StoredFeatures
from picfind.records import FileState, ImageRecord, IndexReport, Skipped, StoredFile
from picfind.scoring import sparse_top
from picfind.store.embedded import make_id
from picfind.walk import walk

if TYPE_CHECKING:
    from picfind.models import Model
    from picfind.store.base import Store

log = logging.getLogger(__name__)

BATCH_SIZE = 32
MAX_FILE_BYTES = 1 << 30
"""Files larger than this are not read: no photo is a gigabyte."""


@dataclass(frozen=True)
class Progress:
    """Reported after each batch and each skipped file."""

    done: int
    total: int
    indexed: int
    skipped: int
    elapsed: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None


@dataclass(frozen=True)
class _Prepared:
    """A worker's answer for one file: pixels to infer, a known hash, or a skip."""

    state: FileState
    content_hash: str = ""
    loaded: imaging.Loaded | None = None
    known: tuple[StoredFile, ...] = ()
    reason: str = ""


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


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
    ) -> None:
        self.store = store
        self._model_loader = model_loader
        self._model: Model | None = None
        self.input_size = input_size
        self.batch_size = batch_size
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))

    @property
    def model(self) -> Model:
        """Loaded on first need: a run with nothing new never pays for it."""
        if self._model is None:
            self._model = self._model_loader()
        return self._model

    def run(
        self,
        roots: Sequence[str | Path],
        *,
        exclude: Sequence[str] = (),
        include_hidden: bool = False,
        progress: Callable[[Progress], None] | None = None,
    ) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport()
        tops = [os.path.abspath(os.fspath(r)) for r in roots]
        for top in tops:
            if not os.path.exists(top):
                raise NotFoundError(f"no such file or folder: {top}")
        seen: set[str] = set()
        todo: list[FileState] = []
        for top in tops:
            for item in walk(top, exclude=exclude, include_hidden=include_hidden):
                if isinstance(item, Skipped):
                    report.skipped.append(item)
                    continue
                if item.path in seen:
                    continue
                seen.add(item.path)
                stored = self.store.get_file(item.path)
                if stored and stored.size == item.size and stored.mtime_ns == item.mtime_ns:
                    report.unchanged += 1
                else:
                    todo.append(item)
        total = len(todo)

        def tick() -> None:
            if progress is not None:
                done = report.indexed + report.moved + len(failed_paths) + touched[0]
                progress(
                    Progress(
                        done,
                        total,
                        report.indexed,
                        len(report.skipped),
                        time.perf_counter() - started,
                    )
                )

        touched = [0]
        failed_paths: set[str] = set()
        batch: list[_Prepared] = []
        moved_ids: set[str] = set()
        try:
            for item in self._prepare_all(todo):
                if item.reason:
                    report.skipped.append(Skipped(item.state.path, item.reason))
                    failed_paths.add(item.state.path)
                    tick()
                elif item.loaded is None:
                    kind = self._reuse(item, seen, moved_ids)
                    if kind == "moved":
                        report.moved += 1
                    elif kind == "touched":
                        report.unchanged += 1
                        touched[0] += 1
                    else:
                        report.indexed += 1
                    tick()
                else:
                    batch.append(item)
                    if len(batch) >= self.batch_size:
                        report.indexed += self._commit(batch)
                        batch = []
                        tick()
            if batch:
                report.indexed += self._commit(batch)
                tick()
            # Only a complete walk can say what is gone.
            gone = [
                f.id
                for top in tops
                if os.path.isdir(top)
                for f in self.store.iter_files(under=top)
                if f.path not in seen or f.path in failed_paths
            ]
            if gone:
                self.store.write(remove=gone)
                report.removed = len(gone)
            self.store.refresh()  # the first search after a big run need not rebuild
        except KeyboardInterrupt:
            report.interrupted = True
            raise
        finally:
            report.seconds = time.perf_counter() - started
            summary = report.to_json()
            summary["skipped"] = len(report.skipped)
            summary["finished_at"] = time.time()
            summary["interrupted"] = report.interrupted
            summary["roots"] = tops
            self.store.record_run(summary)
        return report

    # -- steps -------------------------------------------------------------------------
    def _prepare_all(self, todo: list[FileState]) -> Iterator[_Prepared]:
        """Prepared files in order, with a bounded number in flight."""
        window = max(2 * self.batch_size, 8)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="picfind-decode") as pool:
            pending: deque[Future[_Prepared]] = deque()
            queue = iter(todo)
            try:
                for state in queue:
                    pending.append(pool.submit(self._prepare, state))
                    if len(pending) >= window:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for fut in pending:
                    fut.cancel()

    def _prepare(self, state: FileState) -> _Prepared:
        """Worker: read once, hash, and decode unless the content is already known."""
        if state.size > MAX_FILE_BYTES:
            return _Prepared(state, reason=f"file too large ({state.size} bytes)")
        try:
            with open(state.path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            reason = "permission denied" if isinstance(exc, PermissionError) else str(exc)
            return _Prepared(state, reason=reason)
        if not data:
            return _Prepared(state, reason="empty file")
        digest = content_hash(data)
        known = tuple(self.store.files_with_hash(digest))
        if known:
            return _Prepared(state, digest, known=known)
        try:
            loaded = imaging.load_for_model(data, self.input_size, name=state.path)
        except ImageError as exc:
            return _Prepared(state, digest, reason=exc.reason)
        return _Prepared(state, digest, loaded=loaded)

    def _reuse(self, item: _Prepared, seen: set[str], moved_ids: set[str]) -> str:
        """Known content: a touch, a move or a copy — no inference in any case."""
        state = item.state
        for f in item.known:
            if f.path == state.path:
                self.store.write(touch=[(f.id, state.size, state.mtime_ns)])
                return "touched"
        for f in item.known:
            if f.id not in moved_ids and f.path not in seen and not os.path.exists(f.path):
                self.store.write(moves=[(f.id, state.path, state.size, state.mtime_ns)])
                moved_ids.add(f.id)
                return "moved"
        features = self.store.features(item.known[0].id)
        try:
            fmt, width, height = imaging.probe(state.path)
        except ImageError:  # the copy's content is known good; its header is cosmetic
            fmt, width, height = "", 0, 0
        self.store.write(add=[self._record(item, features, (width, height, fmt))])
        return "copied"

    def _commit(self, batch: list[_Prepared]) -> int:
        pixels = np.stack([p.loaded.pixels for p in batch if p.loaded is not None])
        out = self.model.run(pixels)
        records = []
        for i, item in enumerate(batch):
            features = StoredFeatures(sparse_top(out.probs[i]), out.embedding[i])
            assert item.loaded is not None
            loaded = item.loaded
            records.append(
                self._record(item, features, (loaded.width, loaded.height, loaded.format))
            )
        self.store.write(add=records)
        return len(records)

    def _record(
        self,
        item: _Prepared,
        features: StoredFeatures | None,
        width_height_format: tuple[int, int, str],
    ) -> ImageRecord:
        state = item.state
        if features is None:
            raise RuntimeError(f"features vanished while indexing {state.path}")
        existing = self.store.get_file(state.path)
        if existing is not None:
            image_id = existing.id
        else:
            salt = 0
            image_id = make_id(item.content_hash, state.path)
            while self.store.id_in_use(image_id):
                salt += 1
                image_id = make_id(item.content_hash, state.path, salt)
        width, height, fmt = width_height_format
        return ImageRecord(
            image_id,
            state.path,
            item.content_hash,
            state.size,
            state.mtime_ns,
            width,
            height,
            fmt,
            features,
        )
