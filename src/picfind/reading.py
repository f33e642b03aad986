"""Reading a file for the pipeline: once, bounded, hashed while it is read.

Every byte picfind reads from a user's folder comes through :func:`read_file`:

* only regular files are read: the file is opened without blocking
  (``O_NONBLOCK``, so a FIFO swapped in since the walk cannot hang the run) and
  checked with ``fstat`` on the open descriptor;
* at most ``MAX_FILE_BYTES`` (no photo is half a gigabyte), refused from the size
  before anything is read;
* a JPEG's header is walked segment by segment from its lengths *before* the
  rest of the file is read: a file that starts like a JPEG but holds no frame
  and scan header where one must be (a sparse gigabyte of zeros after the
  marker, which Pillow would scan byte by byte for a minute) is refused after a
  few kilobytes;
* the rest of the file is read with one ``pread`` into one ``bytes`` (reading it
  in 1 MiB chunks and joining them cost 8.6 ms of CPU for a 6 MB HEIC, one read
  1.2 ms: fresh pages for every chunk, then a copy of all of them); the content
  hash (``hashing.content_hash``: BLAKE3, the index's content key) is computed on
  those bytes at once, before they are used: the file is never read a second time.

A failure carries whether it is the file's *content* (refused: its old row goes)
or a failure to *read* it (permission denied, an I/O error: its row is kept).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from picfind import hashing

MAX_FILE_BYTES = 512 * 1024 * 1024
"""Files larger than this are not read: the largest image picfind decodes (2**26
pixels, 16-bit RGB, uncompressed) is smaller."""
HEAD_BYTES = 256 * 1024
"""What a header-only read takes: enough for EXIF and every header picfind reads."""
_FIRST = 64 * 1024
_CHUNK = 1 << 20
_JPEG_JUNK = 64 * 1024
"""Bytes of junk between JPEG segments tolerated in total (Pillow skips such bytes)."""
_JPEG_SEGMENTS = 4096
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI


class ReadFailure(Exception):
    """Why a file was not read. ``keep``: a failure to read (its row is kept), not a
    refusal of its content (its row goes)."""

    def __init__(self, reason: str, keep: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.keep = keep


@dataclass(frozen=True)
class FileBytes:
    """A file's bytes (or its first ``HEAD_BYTES``) and, for a whole read, their hash."""

    data: bytes
    content_hash: str
    whole: bool


def read_file(path: str, *, max_bytes: int = MAX_FILE_BYTES, head_only: bool = False) -> FileBytes:
    """Read ``path`` under the rules above; raises :class:`ReadFailure`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise _failure(exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ReadFailure("not a regular file")
        if st.st_size > max_bytes:
            raise ReadFailure(f"file too large ({st.st_size} bytes; the limit is {max_bytes})")
        if st.st_size == 0:
            raise ReadFailure("empty file")  # /proc files say 0 too: never read them
        if head_only:
            return FileBytes(_read_upto(fd, min(st.st_size, HEAD_BYTES)), "", False)
        first = _read_upto(fd, min(st.st_size, _FIRST))
        if first[:3] == b"\xff\xd8\xff":
            problem = jpeg_header_problem(fd, first, st.st_size)
            if problem:
                raise ReadFailure(problem)
        if st.st_size > len(first):  # the rest in one read (+1: notice a file that grew)
            data = os.pread(fd, st.st_size + 1, 0)
            if len(data) != st.st_size:  # it grew or shrank while we read: to its end
                data = _read_on(fd, data, max_bytes)
        else:
            data = _read_on(fd, first, max_bytes)
        if not data:
            raise ReadFailure("empty file")
        return FileBytes(data, hashing.content_hash(data), True)
    except OSError as exc:
        raise _failure(exc) from None
    finally:
        os.close(fd)


def _read_on(fd: int, data: bytes, max_bytes: int) -> bytes:
    """``data`` (the file's first bytes) and whatever follows it, to the file's end now."""
    parts, total = [data], len(data)
    while True:
        if total > max_bytes:  # it grew while we read
            raise ReadFailure(f"file too large (over {max_bytes} bytes)")
        chunk = os.pread(fd, _CHUNK, total)
        if not chunk:
            break
        total += len(chunk)
        parts.append(chunk)
    return b"".join(parts) if len(parts) > 1 else data


def _read_upto(fd: int, n: int) -> bytes:
    parts: list[bytes] = []
    left = n
    while left > 0:
        chunk = os.read(fd, min(left, _CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def jpeg_header_problem(fd: int, first: bytes, size: int) -> str | None:
    """None when the JPEG's segments lead to a frame header and then a scan header within
    bounds; else the reason to refuse the file. Reads only the segment headers."""

    def at(pos: int, n: int) -> bytes:
        if pos + n <= len(first):
            return first[pos : pos + n]
        return os.pread(fd, n, pos)

    pos, junk, frame = 2, 0, False
    for _ in range(_JPEG_SEGMENTS):
        if pos >= size:
            return "truncated image"
        b = at(pos, 1)
        if b != b"\xff":  # junk between segments: find the next marker, within bounds
            window = at(pos, min(_JPEG_JUNK - junk, size - pos) + 1)
            found = window.find(b"\xff")
            if found < 0:
                return "corrupt image (no JPEG marker where one must be)"
            junk += found
            pos += found
            continue
        marker = at(pos + 1, 1)
        if not marker:
            return "truncated image"
        m = marker[0]
        if m == 0xFF:  # fill byte
            pos += 1
            continue
        if m == 0x00:  # an escaped 0xFF outside a scan: junk
            junk += 2
            pos += 2
            if junk > _JPEG_JUNK:
                return "corrupt image (no JPEG marker where one must be)"
            continue
        if m in _STANDALONE:
            pos += 2
            continue
        if m in (0xD9, 0xDA):
            if m == 0xDA and frame:
                return None  # the scan starts: the header is complete
            return "corrupt image (no JPEG frame header)"
        length = at(pos + 2, 2)
        if len(length) < 2:
            return "truncated image"
        n = int.from_bytes(length, "big")
        if n < 2:
            return "corrupt image (bad JPEG segment length)"
        frame = frame or m in _SOF
        pos += 2 + n
    return "corrupt image (too many JPEG segments)"


def _failure(exc: OSError) -> ReadFailure:
    """A read that failed: kept unless the file is simply gone."""
    if isinstance(exc, FileNotFoundError):
        return ReadFailure("no such file", keep=False)
    if isinstance(exc, PermissionError):
        return ReadFailure("permission denied", keep=True)
    if isinstance(exc, IsADirectoryError):
        return ReadFailure("is a directory", keep=False)
    if exc.errno == errno.EAGAIN:
        return ReadFailure("cannot read file: it would block (not a regular file?)", keep=True)
    if exc.errno == errno.EIO:
        return ReadFailure("cannot read file: input/output error", keep=True)
    return ReadFailure(f"cannot read file: {(exc.strerror or str(exc)).lower()}", keep=True)
