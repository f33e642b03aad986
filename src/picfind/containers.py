"""Where each image format keeps its metadata, found without decoding a pixel.

JPEG (and MPO): APP1 segments ``Exif\\0\\0`` and ``http://ns.adobe.com/xap/1.0/``
before the first scan. PNG: ``eXIf`` and text chunks (tEXt, zTXt, iTXt; XMP in
iTXt ``XML:com.adobe.xmp``) anywhere, by a chunk walk that skips image data.
WebP: RIFF ``EXIF`` and ``XMP `` chunks. TIFF: the file is an EXIF block. GIF:
XMP in the "XMP DataXMP" application extension. HEIC/AVIF: the ``info`` of the
image pi-heif opened, or ``pi_heif.open_heif`` on the bytes (the
``picfind[heif]`` extra; without it a note says so). Each walker only slices
bytes and reads lengths, so a damaged file costs a note, never an exception.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from PIL import Image

from picfind import exif
from picfind.exif import Tags

_heif: ModuleType | None
try:  # a core dependency (the decoder-only pi-heif); pillow-heif has the same API
    import pi_heif as _heif_module  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    try:
        import pillow_heif as _heif_module  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        _heif = None
    else:
        _heif = _heif_module
else:  # pragma: no cover - depends on the environment
    _heif = _heif_module

MAX_PNG_TEXT = 1 << 20


@dataclass
class Blocks:
    """What a file's containers hold: EXIF tags, XMP text, PNG text chunks, notes."""

    tags: Tags = field(default_factory=Tags)
    exif_seen: bool = False  # the first EXIF block wins; later ones are ignored
    xmp: str = ""
    png_text: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def find_blocks(data: bytes | None, image: Image.Image | None = None) -> Blocks:
    """The metadata blocks of one file; never raises for what the file contains."""
    found = Blocks()
    try:
        _gather(data, image, found)
    except (struct.error, ValueError, IndexError, zlib.error, OverflowError) as exc:
        found.notes.append(f"metadata: unreadable container ({type(exc).__name__})")
    return found


def _gather(data: bytes | None, image: Image.Image | None, found: Blocks) -> None:
    """Walk the container the bytes are; else ask the opened image (HEIC, AVIF, …)."""
    head = data[:16] if data else b""
    for accepts, walk in _WALKERS:
        if data and accepts(head):
            walk(data, found)
            return
    if image is not None:
        _pillow_info(image.info, found)
    elif data and head[4:8] == b"ftyp":
        _heif_container(data, found)


def _exif_block(block: bytes, found: Blocks) -> None:
    """An EXIF payload: TIFF data, optionally after an ``Exif\\0\\0`` header (APP1, HEIF)."""
    if block.startswith(b"Exif\x00\x00"):
        block = block[6:]
    elif block[4:6] in (b"II", b"MM") and block[:2] not in (b"II", b"MM"):
        block = block[4:]  # HEIF's 4-byte offset to the TIFF header
    if found.exif_seen:
        return
    found.exif_seen = True
    tags = exif.read_tiff(block)
    found.tags = tags
    found.notes.extend(tags.notes)
    xmp = tags.ifd0.pop(exif.XMP_PACKET, None)
    if isinstance(xmp, bytes) and not found.xmp:
        found.xmp = xmp.decode("utf-8", "replace")


def _jpeg(data: bytes, found: Blocks) -> None:
    """APP segments up to the first scan; EXIF in APP1 "Exif", XMP in APP1 "http://ns.adobe…"."""
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            found.notes.append("JPEG: damaged segment list")
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no more metadata
            return
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker == 0xE1:
            body = data[pos + 4 : pos + 2 + length]
            if body.startswith(b"Exif\x00"):
                _exif_block(body, found)
            elif body.startswith(b"http://ns.adobe.com/xap/1.0/\x00") and not found.xmp:
                found.xmp = body[29:].decode("utf-8", "replace")
        pos += 2 + length


def _png(data: bytes, found: Blocks) -> None:
    """Chunk walk (headers only; image data is skipped): eXIf, tEXt, zTXt, iTXt."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IEND":
            return
        if kind == b"eXIf":
            _exif_block(body, found)
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            keyword, text = _png_text(kind, body)
            if keyword == "XML:com.adobe.xmp":
                found.xmp = found.xmp or text
            elif keyword:
                found.png_text.setdefault(keyword, text)


def _png_text(kind: bytes, body: bytes) -> tuple[str, str]:
    keyword, _, rest = body.partition(b"\x00")
    name = keyword.decode("latin-1")
    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        return name, _inflate(rest[1:]).decode("latin-1")
    compressed, rest = rest[:1], rest[1:]  # iTXt: flag, method, language\0, translated\0, text
    _, _, rest = rest[1:].partition(b"\x00")
    _, _, text = rest.partition(b"\x00")
    raw = _inflate(text) if compressed == b"\x01" else text
    return name, raw.decode("utf-8", "replace")


def _inflate(blob: bytes) -> bytes:
    """Decompress at most MAX_PNG_TEXT bytes (a zip bomb in a text chunk costs nothing)."""
    return zlib.decompressobj().decompress(blob, MAX_PNG_TEXT)


def _webp(data: bytes, found: Blocks) -> None:
    pos = 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack_from("<4sI", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
        if kind == b"EXIF":
            _exif_block(body, found)
        elif kind == b"XMP ":
            found.xmp = found.xmp or body.decode("utf-8", "replace")


def _gif(data: bytes, found: Blocks) -> None:
    """GIF has no EXIF; XMP may sit in an application extension ("XMP DataXMP")."""
    start = data.find(b"XMP DataXMP", 0, 1 << 22)
    if start >= 0:
        end = data.find(b"</x:xmpmeta>", start, start + exif.MAX_XMP)
        if end >= 0:
            found.xmp = data[start + 11 : end + 12].decode("utf-8", "replace")


#: (does the head of the file say it is this container?, the walker), in order.
_WALKERS: tuple[tuple[Callable[[bytes], bool], Callable[[bytes, Blocks], None]], ...] = (
    (lambda head: head.startswith(b"\xff\xd8"), _jpeg),  # JPEG, MPO
    (lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"), _png),
    (lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP", _webp),
    (lambda head: head[:4] in (b"II*\x00", b"MM\x00*"), _exif_block),  # TIFF is an EXIF block
    (lambda head: head[:6] in (b"GIF87a", b"GIF89a"), _gif),
)


def _heif_container(data: bytes, found: Blocks) -> None:
    if _heif is None:
        found.notes.append("HEIF: metadata needs pi-heif (pip install pi-heif)")
        return
    try:
        heif = _heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
    except (ValueError, RuntimeError, OSError) as exc:
        found.notes.append(f"HEIF: unreadable ({exc})")
        return
    _pillow_info(heif.info, found)


def _pillow_info(info: Mapping[Any, Any], found: Blocks) -> None:
    block = info.get("exif")
    if isinstance(block, bytes | bytearray) and block:
        _exif_block(bytes(block), found)
    xmp = info.get("xmp")
    if isinstance(xmp, bytes | bytearray) and not found.xmp:
        found.xmp = bytes(xmp).decode("utf-8", "replace")


__all__ = ["Blocks", "find_blocks"]
