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
the model on this one, so decoding overlaps inference. A batched stage with a
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
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from picfind import imaging
from picfind.errors import ImageError
from picfind.reading import MAX_FILE_BYTES, ReadFailure, read_file
from picfind.records import Fields, FileState, Progress, Skipped, StoredFile

BATCH_SIZE = 32


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
        progress: Callable[[Progress], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
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
        self.progress = progress
        self.head_only = all(s.reads is Source.HEADER for s in self.stages)
        """Whether a file's head is all any stage reads (a header-only pass)."""
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
        with (
            ThreadPoolExecutor(self.workers, thread_name_prefix="picfind-decode") as pool,
            ThreadPoolExecutor(1, thread_name_prefix="picfind-warm") as warmer,
        ):
            try:
                pending: deque[tuple[list[Item], list[Future[None]]]] = deque()
                for chunk in self._chunks(pool, items, window):
                    if resolve is not None:
                        resolve([i for i in chunk if i.live])
                    if not warming and any(i.live and not i.known for i in chunk):
                        warming = True  # once: the stages' own lock makes it load once
                        for warm in self._warm:
                            warmer.submit(warm)
                    prepared = [pool.submit(self._prepare, i) for i in chunk if i.live]
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
        """Chunks in order, with up to ``window`` reads in flight ahead of them."""
        it = iter(items)
        inflight: deque[tuple[Item, Future[None]]] = deque()

        def top_up() -> None:
            while len(inflight) < window:
                item = next(it, None)
                if item is None:
                    return
                inflight.append((item, pool.submit(self._read, item)))

        chunk: list[Item] = []
        top_up()
        while inflight:
            item, fut = inflight.popleft()
            fut.result()
            top_up()
            chunk.append(item)
            if len(chunk) == self.batch_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _read(self, item: Item) -> None:
        try:
            got = read_file(item.path, max_bytes=self.max_file_bytes, head_only=self.head_only)
        except ReadFailure as exc:
            item.skip(exc.reason, keep=exc.keep)
            return
        item.data, item.content_hash = got.data, got.content_hash

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
            item.data, item.pixels = b"", None
        return len(chunk), indexed, sum(i.skipped is not None for i in chunk)

    def _report(self, done: int, total: int, indexed: int, skipped: int, started: float) -> None:
        if self.progress is not None:
            elapsed = time.perf_counter() - started
            self.progress(Progress(done, total, indexed, skipped, elapsed))
