"""HEIF thumbnails: decode a stored thumbnail instead of the whole 12-MP photo.

HEVC has no reduced-size decoding (JPEG's DCT scaling has no HEVC counterpart), so
a phone's HEIC costs a full 12-MP decode — unless the file carries a thumbnail
item (iPhones store one; libheif writes them on request). pi-heif, the
decode-only libheif binding picfind depends on, lists thumbnails but cannot
decode them. This module rewrites the file's metadata *in place* (no byte added
or removed, so every offset stays valid) so that the chosen thumbnail becomes the
primary item: ``pitm`` names it, and its ``thmb`` reference is renamed to a box
type libheif ignores. libheif then decodes the thumbnail as if it were the image.

A thumbnail is used only when it is safe to: an HEVC item (``hvc1``), the same
orientation properties (``irot``/``imir``) as the primary, no ``clap`` crop on
either, the primary's aspect ratio (within 2 %), and at least ``size`` pixels on
both sides. Among those the smallest is taken — the same rule as JPEG draft mode
(the smallest scale still at least the model's input), since the final resize
filters anyway. Anything unexpected in the boxes means "no thumbnail", never an
error: the caller then decodes the full image.

The file libheif is given is small when it can be: the boxes up to the end of
``meta`` (patched as above) and one ``mdat`` of the thumbnail's extents and the
metadata items' (EXIF, XMP), their ``iloc`` offsets rewritten in place (same field
widths) to point there — a few tens
of kilobytes, not a copy of a 6.5 MB file (1.1–1.4 ms of CPU per HEIC, mostly fresh
pages). Where that is not possible (``meta`` after the data, offsets in ``idat``, a
field too narrow), the whole file is copied with the same two patches.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["thumbnail_as_primary"]

# Box type written over a used thumbnail's ``thmb`` reference: a reference type
# nobody defines, which readers skip (ISO/IEC 14496-12 §8.11.12: unknown types
# are ignored).
_IGNORED_REFERENCE = b"xthm"
_ASPECT_TOLERANCE = 0.02


@dataclass
class _Item:
    type: bytes = b""
    width: int = 0
    height: int = 0
    transforms: list[bytes] = field(default_factory=list)  # irot/imir payloads, in order
    cropped: bool = False


@dataclass
class _Meta:
    primary: int = 0
    pitm_at: int = -1  # offset of the item_ID field in ``pitm``
    pitm_wide: bool = False  # 32-bit item_ID
    items: dict[int, _Item] = field(default_factory=dict)
    thumbs: dict[int, int] = field(default_factory=dict)  # thumbnail id -> offset of its box type
    meta_end: int = -1  # where the top-level meta box ends
    locations: dict[int, _Location] = field(default_factory=dict)  # iloc, by item id


@dataclass
class _Location:
    """Where ``iloc`` keeps one item's data: the fields to rewrite, and the extents."""

    method: int = 0  # construction_method: 0 = file offsets
    base: tuple[int, int] = (0, 0)  # (offset of the base_offset field, its width)
    base_value: int = 0
    extents: list[tuple[int, int, int, int]] = field(default_factory=list)
    """(offset of the extent_offset field, its width, extent offset, extent length)"""


def _boxes(buf: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of the boxes in ``buf[start:end]``."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", buf, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError("box overruns its parent")
        yield kind, pos, pos + header, pos + size
        pos += size


def _item(meta: _Meta, item_id: int) -> _Item:
    return meta.items.setdefault(item_id, _Item())


def _read_iinf(buf: bytes, start: int, end: int, meta: _Meta) -> None:
    entries = start + (6 if buf[start] == 0 else 8)  # FullBox header + entry_count
    for kind, _, body, _ in _boxes(buf, entries, end):
        version = buf[body]
        if kind != b"infe" or version < 2:
            continue
        if version == 2:
            item_id = struct.unpack_from(">H", buf, body + 4)[0]
            type_at = body + 8
        else:
            item_id = struct.unpack_from(">I", buf, body + 4)[0]
            type_at = body + 10
        _item(meta, item_id).type = buf[type_at : type_at + 4]


def _read_iref(buf: bytes, start: int, end: int, meta: _Meta) -> None:
    wide = buf[start] != 0
    fmt, width = (">I", 4) if wide else (">H", 2)
    for kind, box_start, body, _ in _boxes(buf, start + 4, end):
        if kind != b"thmb":
            continue
        from_id = struct.unpack_from(fmt, buf, body)[0]
        count = struct.unpack_from(">H", buf, body + width)[0]
        targets = [
            struct.unpack_from(fmt, buf, body + width + 2 + i * width)[0] for i in range(count)
        ]
        if meta.primary in targets and from_id != meta.primary:  # else another image's
            meta.thumbs[from_id] = box_start + 4


def _read_iprp(buf: bytes, start: int, end: int, meta: _Meta) -> None:
    properties: list[tuple[bytes, int, int]] = []  # (type, payload start, end), 1-based below
    associations: list[tuple[int, list[int]]] = []
    for kind, _, body, box_end in _boxes(buf, start, end):
        if kind == b"ipco":
            properties = [(k, b, e) for k, _, b, e in _boxes(buf, body, box_end)]
        elif kind == b"ipma":
            version, flags = buf[body], int.from_bytes(buf[body + 1 : body + 4], "big")
            count = struct.unpack_from(">I", buf, body + 4)[0]
            pos = body + 8
            for _ in range(count):
                if version < 1:
                    item_id = struct.unpack_from(">H", buf, pos)[0]
                    pos += 2
                else:
                    item_id = struct.unpack_from(">I", buf, pos)[0]
                    pos += 4
                n = buf[pos]
                pos += 1
                indices = []
                for _ in range(n):
                    if flags & 1:
                        indices.append(struct.unpack_from(">H", buf, pos)[0] & 0x7FFF)
                        pos += 2
                    else:
                        indices.append(buf[pos] & 0x7F)
                        pos += 1
                associations.append((item_id, indices))
    for item_id, indices in associations:
        item = _item(meta, item_id)
        for index in indices:
            if not 1 <= index <= len(properties):
                continue  # 0 means "no property"
            kind, body, box_end = properties[index - 1]
            if kind == b"ispe":
                item.width, item.height = struct.unpack_from(">II", buf, body + 4)
            elif kind in (b"irot", b"imir"):
                item.transforms.append(kind + buf[body : body + 1])
            elif kind == b"clap":
                item.cropped = True


def _field(buf: bytes, pos: int, width: int) -> int:
    return int.from_bytes(buf[pos : pos + width], "big") if width else 0


def _read_iloc(buf: bytes, start: int, end: int, meta: _Meta) -> None:
    version = buf[start]
    pos = start + 4
    offset_size, length_size = buf[pos] >> 4, buf[pos] & 15
    base_size, index_size = buf[pos + 1] >> 4, (buf[pos + 1] & 15) if version in (1, 2) else 0
    pos += 2
    id_width = 4 if version == 2 else 2
    count = _field(buf, pos, id_width)
    pos += id_width
    for _ in range(count):
        loc = _Location()
        item_id = _field(buf, pos, id_width)
        pos += id_width
        if version in (1, 2):
            loc.method = _field(buf, pos, 2) & 15
            pos += 2
        pos += 2  # data_reference_index
        loc.base, loc.base_value = (pos, base_size), _field(buf, pos, base_size)
        pos += base_size
        extents = _field(buf, pos, 2)
        pos += 2
        for _ in range(extents):
            pos += index_size
            offset = _field(buf, pos, offset_size)
            length = _field(buf, pos + offset_size, length_size)
            loc.extents.append((pos, offset_size, offset, length))
            pos += offset_size + length_size
        if pos > end:
            raise ValueError("iloc overruns its box")
        meta.locations[item_id] = loc


def _read_meta(buf: bytes) -> _Meta | None:
    for kind, _, body, end in _boxes(buf, 0, len(buf)):
        if kind != b"meta":
            continue
        meta = _Meta(meta_end=end)
        children = list(_boxes(buf, body + 4, end))  # meta is a FullBox
        for child, _, child_body, _ in children:
            if child == b"pitm":
                meta.pitm_wide = buf[child_body] != 0
                meta.pitm_at = child_body + 4
                fmt = ">I" if meta.pitm_wide else ">H"
                meta.primary = struct.unpack_from(fmt, buf, meta.pitm_at)[0]
        for child, _, child_body, child_end in children:
            if child == b"iinf":
                _read_iinf(buf, child_body, child_end, meta)
            elif child == b"iref":
                _read_iref(buf, child_body, child_end, meta)
            elif child == b"iprp":
                _read_iprp(buf, child_body, child_end, meta)
            elif child == b"iloc":
                _read_iloc(buf, child_body, child_end, meta)
        return meta if meta.pitm_at >= 0 else None
    return None


def _usable(thumb: _Item, primary: _Item, size: int) -> bool:
    if thumb.type != b"hvc1" or thumb.cropped or primary.cropped:
        return False
    if thumb.transforms != primary.transforms or not (thumb.height and primary.height):
        return False
    ratio, want = thumb.width / thumb.height, primary.width / primary.height
    if abs(ratio - want) > _ASPECT_TOLERANCE * want:
        return False
    return min(thumb.width, thumb.height) >= size


def thumbnail_as_primary(data: bytes, size: int, *, compact: bool = True) -> bytes | None:
    """``data`` with its smallest usable thumbnail (≥ ``size`` per side) as the primary image.

    None when the file has no such thumbnail or its boxes are not as expected. The
    result is the compact file when it can be made and ``compact`` (see the module
    docstring), else the one whole copy of the file (a 12-MP HEIC is 3–6 MB).
    """
    try:
        meta = _read_meta(data)
    except (ValueError, struct.error, IndexError):
        return None
    if meta is None or meta.primary not in meta.items:
        return None
    primary = meta.items[meta.primary]
    usable = [
        (item.width * item.height, item_id)
        for item_id, item in ((i, meta.items[i]) for i in meta.thumbs if i in meta.items)
        if _usable(item, primary, size)
    ]
    if not usable:
        return None
    _, chosen = min(usable)
    item_id = struct.pack(">I" if meta.pitm_wide else ">H", chosen)
    patches = [(meta.pitm_at, item_id), (meta.thumbs[chosen], _IGNORED_REFERENCE)]
    small = _compact(data, meta, chosen, patches) if compact else None
    return small if small is not None else _patched(data, sorted(patches))


_IMAGE_TYPES = frozenset({b"hvc1", b"hev1", b"av01", b"grid", b"iden", b"iovl", b"jpeg"})
"""Coded images: their data stays out of the compact file (all but the thumbnail's)."""


def _compact(
    data: bytes, meta: _Meta, item_id: int, patches: list[tuple[int, bytes]]
) -> bytes | None:
    """The boxes up to ``meta``'s end and an ``mdat`` of the thumbnail's extents and the
    metadata items' (EXIF, XMP: libheif reads them when it opens the file), their
    ``iloc`` fields pointing there; None when the file is not laid out for that."""
    kept = [item_id] + [
        i
        for i in meta.locations
        if i != item_id and meta.items.get(i, _Item()).type not in _IMAGE_TYPES
    ]
    head = meta.meta_end
    out = bytearray(data[:head])
    for at, patch in patches:
        out[at : at + len(patch)] = patch
    view = memoryview(data)
    pieces: list[memoryview] = []
    at = head + 8  # the new mdat's payload
    for kept_id in kept:
        loc = meta.locations.get(kept_id)
        if loc is None or (loc.method != 0 and kept_id == item_id):
            return None
        if loc.method == 1:
            continue  # in idat, inside the meta box kept: nothing to move
        if loc.method != 0:
            return None  # data in another item: the whole file keeps it where it is
        base_at, base_width = loc.base
        rewrites = [(base_at, base_width, 0)] if base_width else []
        for field_at, width, offset, length in loc.extents:
            start = loc.base_value + offset
            if length == 0 or start < head or start + length > len(data):
                return None  # "to the end of the file", data among the boxes kept, or cut
            if not width:
                if not (base_width and len(loc.extents) == 1):
                    return None
                rewrites = [(base_at, base_width, at)]  # the base alone says where
            else:
                rewrites.append((field_at, width, at))
            pieces.append(view[start : start + length])
            at += length
        for field_at, width, value in rewrites:
            if value >= 1 << (8 * width):
                return None
            out[field_at : field_at + width] = value.to_bytes(width, "big")
    total = sum(len(p) for p in pieces)
    if not total or total + 8 >= 1 << 32:
        return None
    out += struct.pack(">I4s", total + 8, b"mdat")
    for piece in pieces:
        out += piece
    return bytes(out)


def _patched(data: bytes, patches: list[tuple[int, bytes]]) -> bytes:
    """``data`` with ``patches`` (offset, bytes) applied: one copy of the whole file."""
    view = memoryview(data)
    pieces: list[bytes | memoryview] = []
    pos = 0
    for at, patch in patches:  # the two patches never overlap: pitm and iref are boxes apart
        pieces += [view[pos:at], patch]
        pos = at + len(patch)
    pieces.append(view[pos:])
    return b"".join(pieces)
