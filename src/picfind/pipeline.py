"""One pipeline for every per-image job: read → stages → sink, batched, threaded, with progress.

The indexer, ``picfind eval`` (all 1000 class probabilities) and ``picfind
duplicates`` (turned views) all push files through here; so do passes over
stored rows (``passes``: a metadata backfill, a slow second pass such as OCR).
Batching, the decode threads, the read-ahead window and progress reporting
exist in this module only.

Per chunk of ``batch_size`` files::

    threads   read (once, bounded, hashed while read: ``reading.read_file``)
    main      resolve(chunk)      the caller's bulk look-ups (e.g. known content)
    threads   unbatched stages    cheap, per file: header, metadata … and the decode
    main      batched stages      the model, one call per chunk
    main      sink(chunk)         the caller writes the chunk (one transaction)

The next chunks are read and decoded in the threads while the main thread runs
the model on this one, so decoding overlaps inference.

Memory is bounded by **bytes**, not by files: a file's bytes are held from its
read until its decode (then dropped, in the decode thread, unless a batched stage
reads them), and reads are started only while the bytes held stay under
``read_budget`` (``READ_BUDGET``); a chunk closes at ``batch_size`` files or at a
quarter of that budget, whichever comes first. Counting files alone let a run
over 6 MB HEICs hold 2 chunks and a read-ahead window of them — 128 files, 800 MB —
so peak memory grew with the number of files up to that depth. A batched stage with a
``warm()`` method (the model stage: it loads the model) is warmed in a thread of
its own as soon as the first chunk holds a file it will see, so that loading
overlaps the first chunk's decoding instead of following it with a core idle
(a run with nothing new still never warms it).

A **stage** is one object (usually one module in ``picfind.stages``) that
declares what it reads — ``Source.BYTES`` (the whole file), ``Source.HEADER``
(at least the file's first ``reading.HEAD_BYTES``; a header-only pass reads no
more) or ``Source.PIXELS`` (decoded RGB at the model's input size) — and which
``records.Fields`` it writes. Unbatched stages run per file in the decode
threads, before the batched ones; a stage records a per-file failure with
``item.skip(reason)``, never by raising.
"""

from __future__ import annotations

import enum
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from picfind import allocator, imaging
from picfind.errors import ImageError
from picfind.reading import MAX_FILE_BYTES, ReadFailure, read_file
from picfind.records import Fields, FileState, Progress, Skipped, StoredFile

BATCH_SIZE = 32
READ_BUDGET = 96 * 1024 * 1024
"""File bytes held at once (read, not yet decoded) by default: 15 HEICs of 6 MB, 40
12-MP JPEGs; a run over small photos never reaches it (its window of files does)."""


def decode_threads() -> int:
    """Decode threads: one per usable core, at most 4 (the model's threads need the rest)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class Source(enum.Enum):
    """What a stage reads of a file."""

    BYTES = "bytes"
    HEADER = "header"
    PIXELS = "pixels"


@dataclass(eq=False)
class Item:
    """One file on its way through the stages."""

    file: FileState
    row: StoredFile | None = None
    """The row the store holds for this path (None for a file it does not know)."""
    data: bytes = b""
    content_hash: str = ""
    pixels: npt.NDArray[np.uint8] | None = None
    fields: Fields = field(default_factory=Fields)
    skipped: Skipped | None = None
    held: int = 0
    """Bytes of this item counted against the pipeline's read budget (see ``Pipeline``)."""
    known: bool = False
    """The content is already indexed: stages that read pixels are not run for it."""
    finished: bool = False
    """Nothing is left to do (a touch, a move): no further stage runs for it."""
    outcome: str = ""
    """What the caller's resolve step decided (the indexer: touched, moved, copied)."""
    target: str = ""
    """The stored row that outcome concerns."""
    scratch: dict[str, object] = field(default_factory=dict)
    """Intermediate results a stage keeps for a later one, keyed by the stage's name."""

    @property
    def path(self) -> str:
        return self.file.path

    @property
    def live(self) -> bool:
        return self.skipped is None and not self.finished

    def skip(self, reason: str, *, keep: bool = False) -> None:
        """Leave the run with a reason; ``keep``: a failure to read, not of the content."""
        if self.skipped is None:
            self.skipped = Skipped(self.file.path, reason, keep)


class Stage(Protocol):
    """One step of the pipeline (see the module docstring)."""

    @property
    def name(self) -> str: ...

    @property
    def reads(self) -> Source: ...

    @property
    def writes(self) -> tuple[str, ...]:
        """Names of the ``records.Fields`` it writes."""
        ...

    @property
    def batched(self) -> bool:
        """True: one call per chunk in the main thread; False: per file in the threads."""
        ...

    def __call__(self, items: Sequence[Item]) -> None:
        """Fill ``item.fields`` of each item, or ``item.skip(reason)``."""
        ...


Sink = Callable[[list[Item]], int]
"""Writes a finished chunk; returns how many files it indexed (for progress)."""
Resolve = Callable[[list[Item]], None]


class Pipeline:
    """Stages over files, with one batching, threading and progress mechanism."""

    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        input_size: int | None = None,
        batch_size: int = BATCH_SIZE,
        workers: int | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
        read_budget: int = READ_BUDGET,
        progress: Callable[[Progress], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if read_budget < 1:
            raise ValueError("read_budget must be at least 1")
        self.stages = list(stages)
        self.unbatched = [s for s in self.stages if not s.batched]
        self.batched = [s for s in self.stages if s.batched]
        self.decodes = any(s.reads is Source.PIXELS for s in self.stages)
        if self.decodes and input_size is None:
            raise ValueError("stages that read pixels need an input_size")
        self.input_size = input_size or 0
        self.batch_size = batch_size
        self.workers = workers or decode_threads()
        self.max_file_bytes = max_file_bytes
        self.read_budget = read_budget
        self.progress = progress
        self.head_only = all(s.reads is Source.HEADER for s in self.stages)
        """Whether a file's head is all any stage reads (a header-only pass)."""
        self.keep_bytes = any(s.reads is not Source.PIXELS for s in self.batched)
        """Whether a batched stage reads the bytes: then they are held until the chunk ends."""
        self._held = 0  # bytes counted against read_budget (read or being read, not dropped)
        self._releasing = 0  # items whose bytes a decode thread will drop
        self._cond = threading.Condition()
        self._warm: list[Callable[[], None]] = [
            w for w in (getattr(s, "warm", None) for s in self.batched) if callable(w)
        ]

    def run(
        self,
        items: Iterable[Item],
        *,
        total: int,
        sink: Sink,
        resolve: Resolve | None = None,
    ) -> None:
        """Push ``items`` through the stages, ``sink`` receiving each finished chunk."""
        started = time.perf_counter()
        done = indexed = skipped = 0
        window = max(2 * self.batch_size, 8)
        warming = not self._warm
        self._held = self._releasing = 0
        if not self.head_only:  # whole files: their bytes reuse warm memory (see allocator)
            allocator.tune(2 * self.read_budget)
        with (
            ThreadPoolExecutor(self.workers, thread_name_prefix="picfind-decode") as pool,
            ThreadPoolExecutor(1, thread_name_prefix="picfind-warm") as warmer,
        ):
            try:
                pending: deque[tuple[list[Item], list[Future[None]]]] = deque()
                for chunk in self._chunks(pool, items, window):
                    if resolve is not None:
                        resolve([i for i in chunk if i.live])
                    for item in chunk:  # touched, moved, refused: no stage reads them now
                        if not item.live:
                            self._drop(item)
                    if not warming and any(i.live and not i.known for i in chunk):
                        warming = True  # once: the stages' own lock makes it load once
                        for warm in self._warm:
                            warmer.submit(warm)
                    prepared = [self._submit_prepare(pool, i) for i in chunk if i.live]
                    pending.append((chunk, prepared))
                    if len(pending) > 1:  # keep one chunk decoding while this one runs
                        n, k, s = self._finish(*pending.popleft(), sink)
                        done, indexed, skipped = done + n, indexed + k, skipped + s
                        self._report(done, total, indexed, skipped, started)
                while pending:
                    n, k, s = self._finish(*pending.popleft(), sink)
                    done, indexed, skipped = done + n, indexed + k, skipped + s
                    self._report(done, total, indexed, skipped, started)
            except BaseException:  # an interrupt: drop the work not started, keep nothing
                pool.shutdown(wait=True, cancel_futures=True)
                warmer.shutdown(wait=True, cancel_futures=True)
                raise

    # -- the steps ------------------------------------------------------------------
    def _chunks(
        self, pool: ThreadPoolExecutor, items: Iterable[Item], window: int
    ) -> Iterator[list[Item]]:
        """Chunks in order, with up to ``window`` reads in flight ahead of them and the
        bytes held under ``read_budget`` (a chunk also closes at a quarter of it)."""
        it = iter(items)
        inflight: deque[tuple[Item, Future[None]]] = deque()
        chunk_cap = max(1, self.read_budget // 4)
        exhausted = False

        def submit() -> bool:
            nonlocal exhausted
            item = next(it, None)
            if item is None:
                exhausted = True
                return False
            self._hold(item, item.file.size)  # the walk's size; corrected once read
            inflight.append((item, pool.submit(self._read, item)))
            return True

        def top_up() -> None:
            while not exhausted and len(inflight) < window and self._held < self.read_budget:
                if not submit():
                    return

        chunk: list[Item] = []
        chunk_bytes = 0
        while True:
            top_up()
            if not inflight:
                if exhausted:
                    break
                if self._await_release():  # the decodes under way drop enough bytes
                    continue
                if chunk:  # what holds the budget is this chunk: let it go on
                    yield chunk
                    chunk, chunk_bytes = [], 0
                    continue
                submit()  # nothing else can free bytes: one file over the budget
                continue
            item, fut = inflight.popleft()
            fut.result()
            chunk.append(item)
            chunk_bytes += item.held
            if len(chunk) == self.batch_size or chunk_bytes >= chunk_cap:
                yield chunk
                chunk, chunk_bytes = [], 0
        if chunk:
            yield chunk

    # -- the read budget ------------------------------------------------------------
    def _hold(self, item: Item, size: int) -> None:
        """Count ``size`` bytes of ``item`` (instead of what it held) against the budget."""
        with self._cond:
            self._held += max(0, size) - item.held
            item.held = max(0, size)
            if self._held < self.read_budget:
                self._cond.notify_all()

    def _drop(self, item: Item) -> None:
        """Free ``item``'s bytes (nothing reads them any more) and their budget."""
        item.data = b""
        if item.held:
            self._hold(item, 0)

    def _await_release(self) -> bool:
        """Wait while the budget is full and decode threads will still drop bytes;
        True when it has room now."""
        with self._cond:
            while self._held >= self.read_budget and self._releasing > 0:
                self._cond.wait(0.1)
            return self._held < self.read_budget

    def _submit_prepare(self, pool: ThreadPoolExecutor, item: Item) -> Future[None]:
        if self.keep_bytes:
            return pool.submit(self._prepare, item)
        with self._cond:
            self._releasing += 1
        return pool.submit(self._prepare_and_drop, item)

    def _prepare_and_drop(self, item: Item) -> None:
        """Thread: ``_prepare``, then the bytes go (only pixels and fields go on)."""
        try:
            self._prepare(item)
        finally:
            self._drop(item)
            with self._cond:
                self._releasing -= 1
                self._cond.notify_all()

    def _read(self, item: Item) -> None:
        try:
            got = read_file(item.path, max_bytes=self.max_file_bytes, head_only=self.head_only)
        except ReadFailure as exc:
            item.skip(exc.reason, keep=exc.keep)
            self._hold(item, 0)
            return
        item.data, item.content_hash = got.data, got.content_hash
        self._hold(item, len(got.data))

    def _prepare(self, item: Item) -> None:
        """Thread: the unbatched stages, and the decode when a stage needs pixels."""
        for stage in self.unbatched:
            if not item.live:
                return
            if stage.reads is Source.PIXELS:
                if item.known:
                    continue
                if not self._decode(item):
                    return
            stage([item])
        if self.decodes and item.live and not item.known:
            self._decode(item)

    def _decode(self, item: Item) -> bool:
        """Pixels at the model's size; False (and the item skipped) when it does not decode."""
        if item.pixels is not None:
            return True
        try:
            loaded = imaging.load_for_model(item.data, self.input_size, name=item.path)
        except ImageError as exc:
            item.skip(exc.reason)
            return False
        item.pixels = loaded.pixels
        return True

    def _finish(
        self, chunk: list[Item], prepared: list[Future[None]], sink: Sink
    ) -> tuple[int, int, int]:
        for f in prepared:
            f.result()
        for stage in self.batched:
            wanted = [i for i in chunk if i.live and not (i.known and stage.reads is Source.PIXELS)]
            if wanted:
                stage(wanted)
        indexed = sink(chunk)
        for item in chunk:  # the chunk is written: free its bytes and pixels
            self._drop(item)
            item.pixels = None
        return len(chunk), indexed, sum(i.skipped is not None for i in chunk)

    def _report(self, done: int, total: int, indexed: int, skipped: int, started: float) -> None:
        if self.progress is not None:
            elapsed = time.perf_counter() - started
            self.progress(Progress(done, total, indexed, skipped, elapsed))
