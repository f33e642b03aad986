"""A small, strict reader of the EXIF tags picfind uses (TIFF structure, EXIF 2.32).

Why not Pillow's ``getexif()``: it parses every tag of every IFD, warns
(through the global ``warnings`` machinery, which decode threads cannot scope)
on the damaged blocks that real cameras and editors write, and costs more than
picfind's whole metadata budget on a photo with a large maker note. This reader
visits IFD0, the Exif IFD and the GPS IFD only, reads only the tags in
:data:`WANTED`, bounds every count and offset by the data it was given, and
never raises: whatever it cannot read becomes a note.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

# Tag numbers (EXIF 2.32, TIFF 6.0).
MAKE, MODEL, DATETIME, XMP_PACKET = 0x010F, 0x0110, 0x0132, 0x02BC
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL, DATETIME_DIGITIZED = 0x9003, 0x9004
OFFSET_TIME, OFFSET_TIME_ORIGINAL, OFFSET_TIME_DIGITIZED = 0x9010, 0x9011, 0x9012
SUBSEC_TIME, SUBSEC_TIME_ORIGINAL, SUBSEC_TIME_DIGITIZED = 0x9290, 0x9291, 0x9292
LENS_MAKE, LENS_MODEL = 0xA433, 0xA434
GPS_LATITUDE_REF, GPS_LATITUDE, GPS_LONGITUDE_REF, GPS_LONGITUDE = 1, 2, 3, 4
GPS_TIMESTAMP, GPS_STATUS, GPS_DATESTAMP = 7, 9, 29

WANTED: dict[str, frozenset[int]] = {
    "ifd0": frozenset({MAKE, MODEL, DATETIME, XMP_PACKET, EXIF_IFD, GPS_IFD}),
    "exif": frozenset(
        {
            DATETIME_ORIGINAL,
            DATETIME_DIGITIZED,
            OFFSET_TIME,
            OFFSET_TIME_ORIGINAL,
            OFFSET_TIME_DIGITIZED,
            SUBSEC_TIME,
            SUBSEC_TIME_ORIGINAL,
            SUBSEC_TIME_DIGITIZED,
            LENS_MAKE,
            LENS_MODEL,
        }
    ),
    "gps": frozenset(
        {
            GPS_LATITUDE_REF,
            GPS_LATITUDE,
            GPS_LONGITUDE_REF,
            GPS_LONGITUDE,
            GPS_TIMESTAMP,
            GPS_STATUS,
            GPS_DATESTAMP,
        }
    ),
}

MAX_ENTRIES = 1000
"""An IFD claiming more entries than this is damaged (cameras write < 100)."""
MAX_VALUES = 64
"""Numbers per tag kept (GPS needs 3); longer arrays are damaged or not ours."""
MAX_TEXT = 1024
"""Bytes per text tag kept; longer is garbage for make, model or a date."""
MAX_XMP = 1 << 20

# TIFF field types → (struct code, size): BYTE, ASCII, SHORT, LONG, RATIONAL (a pair),
# SBYTE, UNDEFINED, SSHORT, SLONG, SRATIONAL, FLOAT, DOUBLE.
_CODES = ("B", "s", "H", "I", "II", "b", "s", "h", "i", "ii", "f", "d")
_TYPES: dict[int, tuple[str, int]] = {
    kind: (code, struct.calcsize("<" + code)) for kind, code in enumerate(_CODES, 1)
}

Value = bytes | tuple[float, ...]


@dataclass
class Tags:
    """The wanted tags found, per IFD: text and undefined values as bytes, numbers as floats.

    A rational with a zero denominator is ``nan``: the caller decides what a
    broken number means for its tag.
    """

    ifd0: dict[int, Value] = field(default_factory=dict)
    exif: dict[int, Value] = field(default_factory=dict)
    gps: dict[int, Value] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_tiff(data: bytes) -> Tags:
    """The wanted tags of a TIFF structure (an EXIF block without its ``Exif\\0\\0`` header)."""
    tags = Tags()
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        tags.notes.append("EXIF: no TIFF header")
        return tags
    order = "<" if data[:2] == b"II" else ">"
    magic, first = struct.unpack_from(order + "HI", data, 2)
    if magic != 42:
        tags.notes.append("EXIF: bad TIFF magic number")
        return tags
    _read_ifd(data, order, first, "ifd0", tags)
    for pointer, name in ((EXIF_IFD, "exif"), (GPS_IFD, "gps")):
        value = tags.ifd0.pop(pointer, None)
        if isinstance(value, tuple) and value and value[0] == value[0]:  # not nan
            _read_ifd(data, order, int(value[0]), name, tags)
    return tags


def _read_ifd(data: bytes, order: str, offset: int, name: str, tags: Tags) -> None:
    store: dict[int, Value] = getattr(tags, name)
    wanted = WANTED[name]
    if offset < 8 or offset + 2 > len(data):
        tags.notes.append(f"EXIF: {name} IFD offset {offset} outside the data")
        return
    (count,) = struct.unpack_from(order + "H", data, offset)
    if count > MAX_ENTRIES:
        tags.notes.append(f"EXIF: {name} IFD claims {count} entries; ignored")
        return
    count = min(count, (len(data) - offset - 2) // 12)  # entries cut off by the end: dropped
    entries = struct.unpack_from(order + "HHI4x" * count, data, offset + 2)
    for n in range(count):
        tag = entries[3 * n]
        if tag not in wanted:
            continue
        entry = offset + 2 + 12 * n
        value = _read_value(
            data, order, entry, entries[3 * n + 1], entries[3 * n + 2], tag == XMP_PACKET
        )
        if isinstance(value, str):
            tags.notes.append(f"EXIF: tag 0x{tag:04x} in {name}: {value}")
        else:
            store[tag] = value


def _read_value(data: bytes, order: str, entry: int, kind: int, n: int, big: bool) -> Value | str:
    """A tag's value, or a reason (str) why it cannot be read."""
    if kind not in _TYPES:
        return f"unknown type {kind}"
    code, size = _TYPES[kind]
    total = size * n
    if total <= 4:
        start = entry + 8
    else:
        (start,) = struct.unpack_from(order + "I", data, entry + 8)
    if code == "s":
        limit = MAX_XMP if big else MAX_TEXT
        if n > limit:
            return f"{n} bytes, more than {limit}"
        if start + total > len(data):
            return "value outside the data"
        return data[start : start + total]
    if n > MAX_VALUES:
        return f"{n} values, more than {MAX_VALUES}"
    if start + total > len(data):
        return "value outside the data"
    raw = struct.unpack_from(order + code * n, data, start)
    if kind in (5, 10):
        pairs = zip(raw[0::2], raw[1::2], strict=True)
        return tuple(a / b if b else float("nan") for a, b in pairs)
    return tuple(float(v) for v in raw)


__all__ = ["WANTED", "Tags", "read_tiff"]
