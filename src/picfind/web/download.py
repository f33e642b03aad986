"""Several indexed originals as one zip, streamed: bounded in count and bytes.

``GET /api/download?id=…&id=…`` answers a zip of the originals, addressed by id
only, each read once and sent only if its bytes still hash to the indexed
content (like ``/api/images/{id}/file``). The archive is written as it is sent
(stored, not deflated: photos do not compress), so the server holds one file at
a time, never the archive. A file changed or gone since indexing is left out and
named in ``SKIPPED.txt`` inside the zip (the answer has started by then).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime

from picfind.errors import ChangedFileError, NotFoundError, UsageError
from picfind.records import StoredFile
from picfind.web.security import binary_size
from picfind.web.service import Service, check_id, thumbnail_source

MAX_FILES = 200
"""Photos in one zip: a page of selections, not the collection."""
MAX_BYTES = 2 * 1024**3
"""Their indexed sizes together: under 4 GiB, so the zip needs no ZIP64."""


class _Sink(io.RawIOBase):
    """Where zipfile writes; what it wrote is taken out after each member."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


def files_for(service: Service, ids: list[str]) -> list[StoredFile]:
    """The indexed files of ``ids`` in their order, once each; refused past the bounds."""
    unique = list(dict.fromkeys(check_id(i) for i in ids))
    if not unique:
        raise UsageError("choose at least one photo to download")
    if len(unique) > MAX_FILES:
        raise UsageError(f"at most {MAX_FILES} photos can be downloaded at once")
    found = {f.id: f for f in service.index.store.rows(ids=unique)}
    missing = [i for i in unique if i not in found]
    if missing:
        raise NotFoundError(f"no indexed image with id {missing[0]}")
    files = [found[i] for i in unique]
    total = sum(f.size for f in files)
    if total > MAX_BYTES:
        raise UsageError(
            f"these photos come to {binary_size(total)}; at most {binary_size(MAX_BYTES)} "
            "can be downloaded at once"
        )
    return files


def zip_stream(files: list[StoredFile]) -> Iterator[bytes]:
    """The zip, member by member; names are the files' own, made unique."""
    sink = _Sink()
    names: set[str] = set()
    skipped: list[str] = []
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
        for stored in files:
            try:
                data = thumbnail_source(stored)  # verified: the indexed content or nothing
            except ChangedFileError:
                skipped.append(stored.path)
                continue
            info = zipfile.ZipInfo(_unique(os.path.basename(stored.path), names), _stamp(stored))
            archive.writestr(info, data)
            yield sink.take()
        if skipped:
            note = "Changed or gone since indexing, not included:\n" + "\n".join(skipped) + "\n"
            archive.writestr("SKIPPED.txt", note)
    yield sink.take()


def _unique(name: str, taken: set[str]) -> str:
    stem, ext = os.path.splitext(name or "photo")
    candidate, n = name or "photo", 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem} ({n}){ext}"
    taken.add(candidate.lower())
    return candidate


def _stamp(stored: StoredFile) -> tuple[int, int, int, int, int, int]:
    """The file's modification time, as zip keeps it (from 1980 on)."""
    when = datetime.fromtimestamp(stored.mtime_ns / 1e9, UTC)
    if when.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (when.year, when.month, when.day, when.hour, when.minute, when.second)
