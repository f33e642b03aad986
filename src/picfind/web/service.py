"""What the web layer does with an index, free of HTTP: searches, metadata, files.

Routes and pages are thin wrappers over :class:`Service`. Two rules shape it:

* a request never names a path: images are addressed by id, and a file is
  opened only at the path the index holds for that id — and its bytes are
  served only when they hash to the content that was indexed (a file swapped
  for a symlink to a secret since indexing is refused, not served);
* upload inference runs in the caller's worker thread (routes call these from
  a thread pool), so it never blocks the event loop; the model serialises its
  own batches. Uploads are read into memory and decoded by ``MAX_DECODES``
  threads of their own (a decode of a 67-megapixel image takes ~200 MB); the
  others wait on disk, where the guard spooled them, for up to ``DECODE_WAIT``
  seconds (then 503 ``busy``). Threads of their own, not a semaphore in the
  request threads: glibc gives each thread that allocates big buffers a heap
  of its own and keeps what was freed there, so 40 request threads each
  reading a 20 MiB upload once left the server 320 MB larger for good.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import IO

from picfind import imaging
from picfind.api import Index
from picfind.errors import (
    BusyError,
    ChangedFileError,
    EmptyIndexError,
    ImageError,
    NotFoundError,
)
from picfind.hashing import content_hash, digest, same_content
from picfind.reading import MAX_FILE_BYTES
from picfind.records import Features, ImageDetails, SearchResults, Stats, StoredFile
from picfind.search import Mode, Searcher, capture_filter, labels_of
from picfind.search import check_mode as _check_mode
from picfind.stages.model import NOT_FINITE, features_of
from picfind.store.base import Filter
from picfind.vocabulary import Vocabulary
from picfind.web.grouping import Grouper, Run
from picfind.web.uploads import Upload, Uploads, preview_jpeg

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What an image id may look like; anything else is refused before any look-up."""

DETAIL_LABELS = 10
"""How many top classes the image metadata shows."""

MAX_DECODES = 2
"""Uploads decoded at once: the machine's cores, not one per waiting request."""
DECODE_WAIT = 60.0
STATS_SECONDS = 5.0


@dataclass(frozen=True)
class ImageFile:
    """The verified bytes of an indexed original, with what a response needs."""

    data: bytes
    content_hash: str
    format: str
    mtime_ns: int


MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
NO_DATE = "No date"
"""The timeline's last group: photos that carry no capture date."""


def month_of(taken: str | None) -> tuple[str, str]:
    """(key, heading) of the timeline month of a local capture time: ("2019-07", "July
    2019"); ("none", "No date") for a photo without one."""
    if not taken or len(taken) < 7:
        return "none", NO_DATE
    return taken[:7], f"{MONTHS[int(taken[5:7]) - 1]} {taken[:4]}"


@dataclass(frozen=True)
class TimelineItem:
    """One photo of the timeline, as the page and ``GET /api/timeline`` show it."""

    rank: int
    id: str
    path: str
    taken: str | None
    labels: list[dict[str, object]]

    def to_json(self) -> dict[str, object]:
        key, heading = month_of(self.taken)
        return {
            "rank": self.rank,
            "id": self.id,
            "path": self.path,
            "taken": self.taken,
            "month": key,
            "month_label": heading,
            "labels": self.labels,
        }


@dataclass(frozen=True)
class Timeline:
    """A page of the collection, newest first; ``total``: every photo the filter allows."""

    total: int
    items: list[TimelineItem]

    def to_json(self) -> dict[str, object]:
        results = [i.to_json() for i in self.items]
        return {"mode": "timeline", "total": self.total, "results": results}


class Service:
    """One open index and what the web layer asks of it."""

    def __init__(
        self, index: Index, *, max_upload_pixels: int = imaging.DEFAULT_MAX_PIXELS
    ) -> None:
        self.index = index
        self.max_upload_pixels = max_upload_pixels
        self.vocab = Vocabulary.load()
        self.searcher = Searcher(index.store, self.vocab)
        # Scoring an image query multiplies matrices with NumPy's multi-threaded BLAS;
        # several at once oversubscribe the cores (20 clients on 2 cores: p50 0.3 s
        # with this lock, 4 s without). Keyword queries need no BLAS and skip it.
        self._image_lock = threading.Lock()
        self._decoder = ThreadPoolExecutor(MAX_DECODES, thread_name_prefix="picfind-upload")
        self.uploads = Uploads()
        self.grouper = Grouper(index.store)
        self._stats: tuple[float, Stats] | None = None

    # -- searching -----------------------------------------------------------------
    def search_words(
        self,
        words: str,
        limit: int,
        offset: int,
        min_score: float | None = None,
        where: Filter | None = None,
        group: bool = False,
    ) -> SearchResults:
        """``group``: exact and near duplicates folded behind one result (``grouping``)."""

        def run(limit: int, offset: int) -> SearchResults:
            results = self.searcher.by_words(
                words,
                limit=limit,
                offset=offset,
                min_score=min_score,
                where=where,
                under=where.under if where else None,
            )
            return self._not_empty(results)

        return self._grouped(("words", words, min_score, where), group, limit, offset, run)

    def search_similar(
        self,
        image_id: str,
        mode: Mode,
        limit: int,
        offset: int,
        where: Filter | None = None,
        group: bool = False,
    ) -> SearchResults:
        """More like an indexed image: by id only (never a path, unlike the CLI)."""
        check_mode(mode)
        row = next(self.index.store.rows(ids=[check_id(image_id)], features=True), None)
        features = row.features if row is not None else None
        if features is None:
            raise NotFoundError(f"no indexed image with id {image_id}")
        return self._grouped(
            ("similar", image_id, mode, where), group, limit, offset,
            lambda n, at: self._by_features(features, mode, n, at, [image_id], where),
        )  # fmt: skip

    def search_upload(
        self,
        upload: bytes | IO[bytes],
        name: str,
        mode: Mode,
        limit: int,
        offset: int,
        where: Filter | None = None,
        group: bool = False,
    ) -> tuple[str, SearchResults]:
        """More like an uploaded image, with a pixel bound and a bound on decodes at once.

        The photo is kept (features and a preview, by content hash: ``uploads``) so
        its search has an address; the same photo again is not decoded again.
        """
        check_mode(mode)
        model = self.index.model
        decoding = self._decoder.submit(self._decode, upload, name, model.input_size)
        try:
            key, loaded = decoding.result(timeout=DECODE_WAIT)
        except TimeoutError:
            if decoding.cancel():
                raise BusyError(
                    "the server is busy with other uploads; try again in a minute"
                ) from None
            key, loaded = decoding.result()
        if loaded is not None:
            features = features_of(model.run(loaded.pixels[None]), 0)
            if not features.finite():
                raise ImageError(name, NOT_FINITE)
            preview = preview_jpeg(loaded.pixels, loaded.width, loaded.height)
            self.uploads.put(Upload(key, name, features, preview))
        return key, self.search_uploaded(key, mode, limit, offset, where, group)

    def search_uploaded(
        self,
        key: str,
        mode: Mode,
        limit: int,
        offset: int,
        where: Filter | None = None,
        group: bool = False,
    ) -> SearchResults:
        """More like a photo uploaded earlier, by its key (404 once it is no longer kept)."""
        check_mode(mode)
        features = self.uploads.get(key).features
        return self._grouped(
            ("upload", key, mode, where), group, limit, offset,
            lambda n, at: self._by_features(features, mode, n, at, [], where),
        )  # fmt: skip

    def _grouped(
        self, key: tuple[object, ...], group: bool, limit: int, offset: int, run: Run
    ) -> SearchResults:
        return self.grouper.page(key, run, limit, offset) if group else run(limit, offset)

    def _decode(
        self, upload: bytes | IO[bytes], name: str, size: int
    ) -> tuple[str, imaging.Loaded | None]:
        """In a decode thread: the upload's bytes, read only now, hashed, decoded for the
        model unless that photo is already kept."""
        data = upload if isinstance(upload, bytes) else upload.read()
        key = digest(data)  # an upload's address: 32 hex digits (uploads.KEY_PATTERN)
        if self.uploads.find(key) is not None:
            return key, None
        return key, imaging.load_for_model(data, size, name=name, max_pixels=self.max_upload_pixels)

    def close(self) -> None:
        self._decoder.shutdown(wait=False, cancel_futures=True)
        self.index.close()

    def _by_features(
        self,
        features: Features,
        mode: Mode,
        limit: int,
        offset: int,
        exclude: list[str],
        where: Filter | None = None,
    ) -> SearchResults:
        under = where.under if where else None
        with self._image_lock:
            results = self.searcher.by_features(
                features,
                mode,
                exclude=exclude,
                limit=limit,
                offset=offset,
                where=where,
                under=under,
            )
        return self._not_empty(results)

    def _not_empty(self, results: SearchResults) -> SearchResults:
        if results.total == 0 and self.image_count() == 0:
            raise EmptyIndexError(
                "the index is empty; index a folder first (picfind index PATH, "
                "or start indexing one of the configured folders)"
            )
        return results

    def timeline(self, limit: int, offset: int, where: Filter | None = None) -> Timeline:
        """A page of the whole collection, newest capture first (``Store.browse``), each
        photo with its top classes; undated photos last, in their own group."""
        total, page = self.index.store.browse(limit, offset, where)
        found = self.index.store.summaries([b.id for b in page])
        items = []
        for rank, b in enumerate(page, start=offset + 1):
            s = found.get(b.id)
            labels = labels_of(s.class_ids[:3], s.class_probs[:3], self.vocab) if s else []
            items.append(TimelineItem(rank, b.id, b.path, b.taken, [x.to_json() for x in labels]))
        return Timeline(total, items)

    def complete(self, prefix: str, limit: int) -> list[str]:
        return self.vocab.complete(prefix, limit)

    # -- images --------------------------------------------------------------------
    def stored(self, image_id: str) -> StoredFile:
        """The index's record of an id; NotFoundError for an id it does not hold."""
        stored = next(self.index.store.rows(ids=[check_id(image_id)]), None)
        if stored is None:
            raise NotFoundError(f"no indexed image with id {image_id}")
        return stored

    def metadata(self, image_id: str) -> dict[str, object]:
        """Path, size, date, dimensions and top classes of an indexed image."""
        summary = self.index.store.summaries([check_id(image_id)]).get(image_id)
        if summary is None:
            raise NotFoundError(f"no indexed image with id {image_id}")
        stored = next(self.index.store.rows(ids=[image_id], metadata=True), None)
        if stored is None:
            raise NotFoundError(f"no indexed image with id {image_id}")
        text = self.index.store.texts([image_id]).get(image_id)
        captured = ImageDetails(replace(stored, text=text), []).to_json()
        ids, probs = summary.class_ids[:DETAIL_LABELS], summary.class_probs[:DETAIL_LABELS]
        labels = labels_of(ids.tolist(), probs.tolist(), self.vocab)
        fmt = width = height = None
        available = _unchanged(stored)
        if available:
            try:
                fmt, width, height = imaging.probe(stored.path)
            except ImageError:
                available = False
        return {
            "id": image_id,
            "path": stored.path,
            "size": stored.size,
            "modified": datetime.fromtimestamp(stored.mtime_ns / 1e9, UTC).isoformat(
                timespec="seconds"
            ),
            "mtime_ns": stored.mtime_ns,
            "width": width,
            "height": height,
            "format": fmt,
            "available": available,
            "labels": [label.to_json() for label in labels],
            # What ``picfind show --json`` says of its capture and the text read in it.
            **{k: captured[k] for k in ("taken", "place", "camera", "text")},
        }

    def original(self, image_id: str) -> ImageFile:
        """The indexed file's bytes, only if they are still the indexed content."""
        stored = self.stored(image_id)
        data = _read_verified(stored)
        try:
            fmt, _, _ = imaging.probe(data, name=stored.path)
        except ImageError as exc:  # cannot happen for indexed content; refuse anyway
            raise ChangedFileError(f"{image_id}: {exc.reason}") from None
        return ImageFile(data, stored.content_hash, fmt, stored.mtime_ns)

    def image_count(self) -> int:
        return self.index.stats().images

    def stats(self) -> dict[str, object]:
        return self.index.stats().to_json()

    def recent_stats(self) -> Stats:
        """The index's stats as of at most ``STATS_SECONDS`` ago, for the header menu of
        every page: reading them costs a scan of the table and of the index folder
        (~20 ms CPU on 10,000 photos), more than the search the page shows."""
        now = time.monotonic()
        kept = self._stats
        if kept is None or now - kept[0] > STATS_SECONDS:
            kept = self._stats = (now, self.index.stats())
        return kept[1]


FILTERS = ("after", "before", "place", "camera", "folder", "sort")
"""The capture filters of a search, named as in its address and the REST API."""


def search_filter(params: dict[str, str | None]) -> Filter | None:
    """The store ``Filter`` of a search's filter parameters (blank ones are absent), with
    the CLI's validation (``search.capture_filter``: one-line ``UsageError``); ``folder``
    is a path prefix (the CLI's ``--under``). None when nothing restricts."""
    given = {k: v.strip() for k, v in params.items() if k in FILTERS and v and v.strip()}
    if not given:
        return None
    where = capture_filter(
        after=given.get("after"),
        before=given.get("before"),
        place=given.get("place"),
        camera=given.get("camera"),
        sort=given.get("sort", "relevance"),
    )
    folder = given.get("folder")
    return replace(where, under=os.path.abspath(folder) if folder else None)


def check_id(image_id: str) -> str:
    if not ID_PATTERN.match(image_id):
        raise NotFoundError(f"no indexed image with id {image_id!r}")
    return image_id


def check_mode(mode: str) -> None:
    _check_mode(mode)


def _unchanged(stored: StoredFile) -> bool:
    """A regular file at the path with the indexed size and mtime (cheap pre-check)."""
    try:
        st = os.stat(stored.path)  # follows symlinks: what would be read
    except OSError:
        return False
    return (
        stat.S_ISREG(st.st_mode) and st.st_size == stored.size and st.st_mtime_ns == stored.mtime_ns
    )


def _read_verified(stored: StoredFile) -> bytes:
    """Read the file once and check its hash: what is served is what was indexed."""
    if not _unchanged(stored) or stored.size > MAX_FILE_BYTES:
        raise ChangedFileError(f"the file of image {stored.id} has changed or is gone")
    try:
        with open(stored.path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError:
        raise ChangedFileError(f"the file of image {stored.id} cannot be read") from None
    if not same_content(data, content_hash(data), stored.content_hash):  # either kind
        raise ChangedFileError(f"the file of image {stored.id} has changed since indexing")
    return data


def thumbnail_source(stored: StoredFile) -> bytes:
    """Verified bytes of the original, for the thumbnail cache."""
    return _read_verified(stored)


__all__ = [
    "FILTERS", "ImageFile", "Service", "Timeline", "TimelineItem", "check_id", "month_of",
    "search_filter",
]  # fmt: skip
