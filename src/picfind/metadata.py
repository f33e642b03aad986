"""When, where and with which camera a photo was taken, from its metadata, never its pixels.

Read from the bytes the indexer already holds (and, for HEIC/AVIF, the image
pillow-heif opened), so it costs a few tens of microseconds per photo:

* **date**: EXIF ``DateTimeOriginal``, else ``DateTimeDigitized``, else
  ``DateTime`` (IFD0, which editors rewrite: the source says which was used),
  with the matching ``OffsetTime*`` and ``SubSecTime*``; for files without EXIF
  dates, XMP ``exif:DateTimeOriginal``, ``photoshop:DateCreated``,
  ``xmp:CreateDate``, then PNG's ``Creation Time`` text. Never the file's
  modification time: that is the file's, not the photo's.
* **UTC**: from the offset when written; else from the GPS date and time
  stamp (always UTC), which also gives the offset when the two clocks agree to
  a quarter hour.
* **where**: GPS latitude/longitude (degrees, minutes, seconds as rationals
  with N/S/E/W references; signed or decimal variants; XMP's "48,51.5N"), WGS 84.
* **camera**: make, model, lens (``LensModel``, ``LensMake``) and a
  normalised name ("Apple iPhone 12", "Nikon D750").

Bad values (year 0, month 13, the future, GPS out of range or NaN, "0, 0",
garbage or huge strings) are dropped, each with a note saying why; nothing
here raises for what a file contains.
"""

from __future__ import annotations

import io
import math
import re
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import ModuleType
from typing import Any

from PIL import Image

from picfind import exif
from picfind.exif import Tags, Value

_heif: ModuleType | None
try:  # optional extra: picfind[heif]
    import pillow_heif as _heif_module  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _heif = None
else:  # pragma: no cover - depends on the environment
    _heif = _heif_module

EARLIEST_YEAR = 1826
"""The first photograph; an earlier date is a camera's unset clock or garbage."""
FUTURE_SLACK = timedelta(days=2)
"""A date later than now by more than this (time zones, clock drift) is ignored."""
MAX_NAME = 64
"""Characters of a make, model or lens name; longer is not a name."""
MAX_PNG_TEXT = 1 << 20

_DATE_SOURCES = (
    (exif.DATETIME_ORIGINAL, exif.OFFSET_TIME_ORIGINAL, exif.SUBSEC_TIME_ORIGINAL, "exif"),
    (exif.DATETIME_DIGITIZED, exif.OFFSET_TIME_DIGITIZED, exif.SUBSEC_TIME_DIGITIZED, "exif"),
    (exif.DATETIME, exif.OFFSET_TIME, exif.SUBSEC_TIME, "ifd0"),
)
_TAG_NAMES = {
    exif.DATETIME_ORIGINAL: "DateTimeOriginal",
    exif.DATETIME_DIGITIZED: "DateTimeDigitized",
    exif.DATETIME: "DateTime",
    exif.OFFSET_TIME_ORIGINAL: "OffsetTimeOriginal",
    exif.OFFSET_TIME_DIGITIZED: "OffsetTimeDigitized",
    exif.OFFSET_TIME: "OffsetTime",
}
_XMP_DATES = ("exif:DateTimeOriginal", "photoshop:DateCreated", "xmp:CreateDate")
_EXIF_DATE = re.compile(
    r"(\d{4})[:\-/.](\d{1,2})[:\-/.](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?(?:[.,](\d+))?)?"
)
_ISO_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_RFC1123 = re.compile(
    r"(?:\w{3},\s*)?(\d{1,2})\s+(\w{3})\w*\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"\s*(GMT|UTC|Z|[+-]\d{4})?",
    re.IGNORECASE,
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_XMP_GPS = re.compile(
    r"^\s*(\d{1,3})(?:,(\d{1,2}(?:\.\d+)?))?(?:,(\d{1,2}(?:\.\d+)?))?([NSEW])\s*$"
)

#: Makers as cameras write them → as people say them (matched on the folded make).
MAKERS: dict[str, str] = {
    "apple": "Apple",
    "canon": "Canon",
    "nikon": "Nikon",
    "nikon corporation": "Nikon",
    "sony": "Sony",
    "fujifilm": "Fujifilm",
    "fuji photo film co ltd": "Fujifilm",
    "olympus": "Olympus",
    "olympus imaging corp": "Olympus",
    "olympus corporation": "Olympus",
    "olympus optical co ltd": "Olympus",
    "om digital solutions": "OM System",
    "panasonic": "Panasonic",
    "samsung": "Samsung",
    "samsung techwin": "Samsung",
    "google": "Google",
    "huawei": "Huawei",
    "xiaomi": "Xiaomi",
    "oneplus": "OnePlus",
    "lge": "LG",
    "lg electronics": "LG",
    "motorola": "Motorola",
    "pentax": "Pentax",
    "pentax corporation": "Pentax",
    "ricoh": "Ricoh",
    "ricoh imaging company ltd": "Ricoh",
    "eastman kodak company": "Kodak",
    "kodak": "Kodak",
    "leica": "Leica",
    "leica camera ag": "Leica",
    "hasselblad": "Hasselblad",
    "dji": "DJI",
    "gopro": "GoPro",
    "sigma": "Sigma",
    "casio computer co ltd": "Casio",
    "minolta co ltd": "Minolta",
    "konica minolta camera inc": "Konica Minolta",
    "hmd global": "HMD Global",
    "nokia": "Nokia",
}


@dataclass(frozen=True)
class CaptureInfo:
    """What a photo's metadata says about its capture; ``None`` where it says nothing usable."""

    taken: datetime | None = None  # local wall-clock time as written (naive)
    taken_source: str | None = None  # "DateTimeOriginal", "xmp:CreateDate", "png:Creation Time"…
    utc_offset_minutes: int | None = None  # east of UTC, e.g. 120 for +02:00
    taken_utc: datetime | None = None  # aware, UTC; from the offset or the GPS clock
    utc_source: str | None = None  # "OffsetTimeOriginal", "GPS time", …
    latitude: float | None = None  # WGS 84 degrees, north positive
    longitude: float | None = None  # east positive
    make: str | None = None  # as written, cleaned: "NIKON CORPORATION"
    model: str | None = None  # "NIKON D750"
    lens: str | None = None  # "Canon EF 24-70mm f/2.8L II USM"
    camera: str | None = None  # normalised: "Nikon D750", "Apple iPhone 12"
    notes: tuple[str, ...] = ()  # why values were ignored, for the run's log

    @property
    def taken_date(self) -> date | None:
        """The local calendar day of capture: what date words and filters compare."""
        return self.taken.date() if self.taken else None

    @property
    def has_gps(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def camera_keys(self) -> tuple[str, ...]:
        """Search keys for the camera: maker, full name, model, model family ("iphone")."""
        keys: list[str] = []
        maker = MAKERS.get(_fold(self.make or ""), _tidy(self.make or ""))
        model = _strip_maker(self.model or "", self.make or "", maker)
        family = model.split()[0] if model.split() else ""
        for text in (maker, self.camera, model, family if len(family) >= 3 else ""):
            key = _fold(text or "")
            if key and key not in keys:
                keys.append(key)
        return tuple(keys)


@dataclass
class _Found:
    """What the containers gave: EXIF tags, XMP text, PNG text chunks."""

    tags: Tags = field(default_factory=Tags)
    exif_seen: bool = False  # the first EXIF block wins; later ones are ignored
    xmp: str = ""
    png_text: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_capture(
    data: bytes | None = None, *, image: Image.Image | None = None, now: datetime | None = None
) -> CaptureInfo:
    """The capture metadata of one image file.

    ``data`` is the file's bytes (what the indexer read and hashed); ``image``
    the same file opened by Pillow, if at hand (never decoded here): its
    ``info`` supplies EXIF/XMP for containers not walked here (HEIC, AVIF, MPO
    through Pillow plugins). ``now`` bounds future dates (default: the clock).
    """
    found = _Found()
    try:
        _gather(data, image, found)
    except (struct.error, ValueError, IndexError, zlib.error, OverflowError) as exc:
        found.notes.append(f"metadata: unreadable container ({type(exc).__name__})")
    return _interpret(found, now or datetime.now(UTC))


# --------------------------------------------------------------------------- containers


def _gather(data: bytes | None, image: Image.Image | None, found: _Found) -> None:
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


def _exif_block(block: bytes, found: _Found) -> None:
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


def _jpeg(data: bytes, found: _Found) -> None:
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


def _png(data: bytes, found: _Found) -> None:
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


def _webp(data: bytes, found: _Found) -> None:
    pos = 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack_from("<4sI", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
        if kind == b"EXIF":
            _exif_block(body, found)
        elif kind == b"XMP ":
            found.xmp = found.xmp or body.decode("utf-8", "replace")


def _gif(data: bytes, found: _Found) -> None:
    """GIF has no EXIF; XMP may sit in an application extension ("XMP DataXMP")."""
    start = data.find(b"XMP DataXMP", 0, 1 << 22)
    if start >= 0:
        end = data.find(b"</x:xmpmeta>", start, start + exif.MAX_XMP)
        if end >= 0:
            found.xmp = data[start + 11 : end + 12].decode("utf-8", "replace")


#: (does the head of the file say it is this container?, the walker), in order.
_WALKERS: tuple[tuple[Callable[[bytes], bool], Callable[[bytes, _Found], None]], ...] = (
    (lambda head: head.startswith(b"\xff\xd8"), _jpeg),  # JPEG, MPO
    (lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"), _png),
    (lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP", _webp),
    (lambda head: head[:4] in (b"II*\x00", b"MM\x00*"), _exif_block),  # TIFF is an EXIF block
    (lambda head: head[:6] in (b"GIF87a", b"GIF89a"), _gif),
)


def _heif_container(data: bytes, found: _Found) -> None:
    if _heif is None:
        found.notes.append("HEIF: metadata needs picfind[heif] (pillow-heif)")
        return
    try:
        heif = _heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
    except (ValueError, RuntimeError, OSError) as exc:
        found.notes.append(f"HEIF: unreadable ({exc})")
        return
    _pillow_info(heif.info, found)


def _pillow_info(info: Mapping[Any, Any], found: _Found) -> None:
    block = info.get("exif")
    if isinstance(block, bytes | bytearray) and block:
        _exif_block(bytes(block), found)
    xmp = info.get("xmp")
    if isinstance(xmp, bytes | bytearray) and not found.xmp:
        found.xmp = bytes(xmp).decode("utf-8", "replace")


# --------------------------------------------------------------------------- rules


def _interpret(found: _Found, now: datetime) -> CaptureInfo:
    notes = list(found.notes)
    tags = found.tags
    taken, source, offset, offset_source = _exif_date(tags, now, notes)
    if taken is None and found.xmp:
        taken, source, offset = _xmp_date(found.xmp, now, notes)
        offset_source = source if offset is not None else None
    if taken is None:
        taken, source, offset = _png_date(found.png_text, now, notes)
        offset_source = source if offset is not None else None
    lat, lon = _gps(tags.gps, notes)
    if lat is None and found.xmp and not tags.gps:
        lat, lon = _xmp_gps(found.xmp, notes)
    taken_utc = None
    if taken is not None and offset is not None:
        taken_utc = (taken - timedelta(minutes=offset)).replace(tzinfo=UTC)
    elif taken is not None:
        gps_utc = _gps_time(tags.gps, notes)
        if gps_utc is not None:
            taken_utc, offset_source = gps_utc, "GPS time"
            offset = _offset_from_clocks(taken, gps_utc)
    make = _text(tags.ifd0.get(exif.MAKE), "Make", notes) or _xmp_text(
        found.xmp, "tiff:Make", notes
    )
    model = _text(tags.ifd0.get(exif.MODEL), "Model", notes) or _xmp_text(
        found.xmp, "tiff:Model", notes
    )
    lens = _lens(tags.exif, notes) or _xmp_text(found.xmp, "exifEX:LensModel", notes)
    return CaptureInfo(
        taken=taken,
        taken_source=source,
        utc_offset_minutes=offset,
        taken_utc=taken_utc,
        utc_source=offset_source if taken_utc is not None else None,
        latitude=lat,
        longitude=lon,
        make=make,
        model=model,
        lens=lens,
        camera=camera_name(make, model),
        notes=tuple(notes),
    )


def _exif_date(
    tags: Tags, now: datetime, notes: list[str]
) -> tuple[datetime | None, str | None, int | None, str | None]:
    for tag, offset_tag, subsec_tag, ifd in _DATE_SOURCES:
        store = tags.exif if ifd == "exif" else tags.ifd0
        raw = store.get(tag)
        if raw is None:
            continue
        name = _TAG_NAMES[tag]
        text = _ascii(raw)
        taken = _parse_exif_datetime(text, now, name, notes)
        if taken is None:
            continue
        subsec = _ascii(store.get(subsec_tag, b""))
        if subsec.isdigit() and taken.microsecond == 0:
            taken = taken.replace(microsecond=int(subsec[:6].ljust(6, "0")))
        offset_text = _ascii(tags.exif.get(offset_tag, b""))
        offset = _parse_offset(offset_text, notes) if offset_text else None
        return taken, name, offset, _TAG_NAMES[offset_tag] if offset is not None else None
    return None, None, None, None


def _parse_exif_datetime(text: str, now: datetime, name: str, notes: list[str]) -> datetime | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" (and the '-' or '/' variants writers use); checked."""
    if not text.strip(" :0\x00"):
        return None  # blank or all zeros: the writer had no date (not worth a note)
    m = _EXIF_DATE.match(text.strip())
    if not m:
        notes.append(f"{name}: not a date: {_shown(text)}")
        return None
    return _checked(name, text, now, notes, m.groups())


def _checked(
    name: str, text: str, now: datetime, notes: list[str], parts: Sequence[str | None]
) -> datetime | None:
    """A datetime from (year, month, day, hour, minute, second, fraction) digits, if real."""
    y, mo, d, h, mi, s = (int(p or default) for p, default in zip(parts, "111000", strict=False))
    frac = parts[6] if len(parts) > 6 else None
    try:
        value = datetime(y, mo, d, h, mi, min(s, 59), int((frac or "0")[:6].ljust(6, "0")))
    except ValueError as exc:
        notes.append(f"{name}: impossible date {_shown(text)} ({exc})")
        return None
    if y < EARLIEST_YEAR:
        notes.append(f"{name}: year {y} is before photography")
        return None
    if value > now.replace(tzinfo=None) + FUTURE_SLACK:
        notes.append(f"{name}: {_shown(text)} is in the future")
        return None
    return value


def _parse_offset(text: str, notes: list[str]) -> int | None:
    """ "+02:00" → 120; "Z" → 0; checked against the offsets in use (−12:00 … +14:00)."""
    text = text.strip()
    if text in ("Z", "z"):
        return 0
    m = _OFFSET.match(text)
    if not m:
        if text.strip(" :\x00"):
            notes.append(f"UTC offset: not an offset: {_shown(text)}")
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    minutes = -minutes if m.group(1) == "-" else minutes
    if not -12 * 60 <= minutes <= 14 * 60 or int(m.group(3)) >= 60:
        notes.append(f"UTC offset: out of range: {text}")
        return None
    return minutes


def _xmp_value(xmp: str, name: str) -> str | None:
    """An XMP property as attribute (name="v") or element (<name>v</name>); first one wins."""
    if not xmp:
        return None
    m = re.search(
        rf"{re.escape(name)}(?:\s*=\s*\"([^\"]*)\"|\s*=\s*'([^']*)'|>\s*([^<]*?)\s*<)", xmp
    )
    if not m:
        return None
    value = next(g for g in m.groups() if g is not None).strip()
    return value[:MAX_NAME] if value else None


def _xmp_text(xmp: str, name: str, notes: list[str]) -> str | None:
    """A name from XMP, under the same rules as the EXIF tags."""
    value = _xmp_value(xmp, name)
    return _text(value.encode("utf-8"), f"xmp:{name}", notes) if value else None


def _xmp_date(
    xmp: str, now: datetime, notes: list[str]
) -> tuple[datetime | None, str | None, int | None]:
    for name in _XMP_DATES:
        text = _xmp_value(xmp, name)
        if text is None:
            continue
        parsed = _parse_iso(text, now, f"xmp:{name}", notes)
        if parsed is not None:
            return parsed[0], f"xmp:{name}", parsed[1]
    return None, None, None


def _parse_iso(
    text: str, now: datetime, name: str, notes: list[str]
) -> tuple[datetime, int | None] | None:
    """ISO 8601 as XMP writes it: "2019-07-14T12:00:00.5+02:00", "2019-07-14", "2019"."""
    m = _ISO_DATE.match(text.strip())
    if not m:
        notes.append(f"{name}: not a date: {_shown(text)}")
        return None
    *parts, zone = m.groups()
    taken = _checked(name, text, now, notes, parts)
    if taken is None:
        return None
    offset = _parse_offset(zone, notes) if zone else None
    return taken, offset


def _png_date(
    texts: dict[str, str], now: datetime, notes: list[str]
) -> tuple[datetime | None, str | None, int | None]:
    """PNG's "Creation Time" (RFC 1123 recommended; EXIF and ISO forms seen too)."""
    text = texts.get("Creation Time")
    if text is None:
        return None, None, None
    name = "png:Creation Time"
    m = _RFC1123.match(text.strip())
    if m and m.group(2).lower()[:3] in _MONTHS:
        d, mon, y, h, mi, s, zone = m.groups()
        month = str(_MONTHS[mon.lower()[:3]])
        taken = _checked(name, text, now, notes, (y, month, d, h, mi, s))
        offset = None
        if zone and zone.upper() in ("GMT", "UTC", "Z"):
            offset = 0
        elif zone:
            offset = _parse_offset(zone, notes)
        return taken, name if taken else None, offset
    if _ISO_DATE.match(text.strip()):
        parsed = _parse_iso(text, now, name, notes)
        return (parsed[0], name, parsed[1]) if parsed else (None, None, None)
    taken = _parse_exif_datetime(text, now, name, notes)
    return taken, name if taken else None, None


def _gps(gps: dict[int, Value], notes: list[str]) -> tuple[float | None, float | None]:
    if exif.GPS_LATITUDE not in gps and exif.GPS_LONGITUDE not in gps:
        return None, None
    status = _ascii(gps.get(exif.GPS_STATUS, b"")).strip().upper()
    if status == "V":
        notes.append("GPS: status V (measurement void); position ignored")
        return None, None
    lat = _coordinate(gps, exif.GPS_LATITUDE, exif.GPS_LATITUDE_REF, "NS", 90.0, notes)
    lon = _coordinate(gps, exif.GPS_LONGITUDE, exif.GPS_LONGITUDE_REF, "EW", 180.0, notes)
    return _position(lat, lon, notes)


def _position(
    lat: float | None, lon: float | None, notes: list[str]
) -> tuple[float | None, float | None]:
    if lat is None or lon is None:
        return None, None
    if lat == 0.0 and lon == 0.0:
        notes.append("GPS: 0, 0 (a receiver without a fix); position ignored")
        return None, None
    return round(lat, 7), round(lon, 7)


def _coordinate(
    gps: dict[int, Value], tag: int, ref_tag: int, refs: str, limit: float, notes: list[str]
) -> float | None:
    axis = "latitude" if refs == "NS" else "longitude"
    value = gps.get(tag)
    if not isinstance(value, tuple) or not value:
        notes.append(f"GPS: {axis} missing or not numbers")
        return None
    if not all(math.isfinite(v) for v in value):
        notes.append(f"GPS: {axis} has a zero denominator or NaN")
        return None
    parts = [*value[:3], 0.0, 0.0][:3]
    degrees, minutes, seconds = parts
    if minutes < 0 or seconds < 0 or minutes >= 60 or seconds > 60:
        notes.append(f"GPS: {axis} minutes/seconds out of range {value[:3]}")
        return None
    sign = -1.0 if degrees < 0 else 1.0
    result = sign * (abs(degrees) + minutes / 60.0 + seconds / 3600.0)
    ref = _ascii(gps.get(ref_tag, b"")).strip().upper()[:1]
    if ref == refs[1]:
        result = -abs(result)
    elif ref and ref != refs[0]:
        notes.append(f"GPS: {axis} reference {ref!r} is not {refs[0]} or {refs[1]}; ignored")
        return None
    if not abs(result) <= limit:
        notes.append(f"GPS: {axis} {result:g} out of range")
        return None
    return result


def _xmp_gps(xmp: str, notes: list[str]) -> tuple[float | None, float | None]:
    """XMP's GPSCoordinate: "DDD,MM,SSk" or "DDD,MM.mmk" (k = N/S/E/W)."""
    values = []
    for name, limit in (("exif:GPSLatitude", 90.0), ("exif:GPSLongitude", 180.0)):
        text = _xmp_value(xmp, name)
        if text is None:
            return None, None
        m = _XMP_GPS.match(text)
        if not m:
            notes.append(f"xmp:{name}: not a coordinate: {_shown(text)}")
            return None, None
        d, mi, s, ref = m.groups()
        value = int(d) + float(mi or 0) / 60 + float(s or 0) / 3600
        if float(mi or 0) >= 60 or float(s or 0) >= 60 or value > limit:
            notes.append(f"xmp:{name}: out of range: {text}")
            return None, None
        values.append(-value if ref in "SW" else value)
    return _position(values[0], values[1], notes)


def _gps_time(gps: dict[int, Value], notes: list[str]) -> datetime | None:
    stamp = _ascii(gps.get(exif.GPS_DATESTAMP, b""))
    clock = gps.get(exif.GPS_TIMESTAMP)
    if not stamp or not isinstance(clock, tuple) or len(clock) < 3:
        return None
    m = re.match(r"(\d{4}):(\d{2}):(\d{2})", stamp.strip())
    if not m or not all(math.isfinite(v) and v >= 0 for v in clock[:3]):
        notes.append(f"GPS: unusable date/time stamp {_shown(stamp)}")
        return None
    h, mi, s = clock[:3]
    try:
        day = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=UTC)
        return day + timedelta(hours=int(h), minutes=int(mi), seconds=float(s))
    except (ValueError, OverflowError):
        notes.append(f"GPS: impossible date stamp {_shown(stamp)}")
        return None


def _offset_from_clocks(local: datetime, utc: datetime) -> int | None:
    """The UTC offset implied by the camera's clock and the GPS clock, if they agree.

    Accepted when the difference is within the offsets in use and within five
    minutes of a quarter hour (time zones are whole quarter hours).
    """
    minutes = (local - utc.replace(tzinfo=None)).total_seconds() / 60.0
    quarter = round(minutes / 15.0) * 15
    if abs(minutes - quarter) > 5 or not -12 * 60 <= quarter <= 14 * 60:
        return None
    return int(quarter)


def _lens(tags: dict[int, Value], notes: list[str]) -> str | None:
    model = _text(tags.get(exif.LENS_MODEL), "LensModel", notes)
    make = _text(tags.get(exif.LENS_MAKE), "LensMake", notes)
    if model and make and not _fold(model).startswith(_fold(make)):
        return f"{make} {model}"
    return model or None


def _text(value: Value | None, name: str, notes: list[str]) -> str | None:
    """A name tag, cleaned; None (with a note) when it is garbage or too long.

    Names must be UTF-8 (ASCII, as EXIF says, is a part of it): bytes that are
    not are binary garbage, however printable their Latin-1 reading looks.
    """
    if not isinstance(value, bytes):
        return None
    raw = value.split(b"\x00", 1)[0]
    try:
        cleaned = _tidy(raw.decode("utf-8"))
    except UnicodeDecodeError:
        notes.append(f"{name}: not text: {_shown(raw.decode('latin-1'))}")
        return None
    if not cleaned:
        return None
    if len(cleaned) > MAX_NAME or not cleaned.isprintable() or not any(map(str.isalnum, cleaned)):
        notes.append(f"{name}: not a name: {_shown(cleaned)}")
        return None
    return cleaned


def _ascii(value: Value | None) -> str:
    """An EXIF text value: up to the first NUL, UTF-8 if it is, else Latin-1."""
    if not isinstance(value, bytes):
        return ""
    raw = value.split(b"\x00", 1)[0]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _tidy(text: str) -> str:
    return " ".join(text.split())


def _fold(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


def _shown(text: str) -> str:
    """A value quoted for a note: printable, at most 40 characters."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return repr(clean[:40] + ("…" if len(clean) > 40 else ""))


def _strip_maker(model: str, make: str, maker: str) -> str:
    """The model without a leading maker name ("NIKON D750" → "D750")."""
    model = _tidy(model)
    for prefix in {_tidy(make), make.split()[0] if make.split() else "", maker}:
        if prefix and model.casefold().startswith(prefix.casefold() + " "):
            return model[len(prefix) + 1 :].strip()
        if prefix and model.casefold() == prefix.casefold():
            return ""
    return model


def camera_name(make: str | None, model: str | None) -> str | None:
    """The name people use: "Apple" + "iPhone 12" → "Apple iPhone 12",
    "NIKON CORPORATION" + "NIKON D750" → "Nikon D750"."""
    if not make and not model:
        return None
    maker = MAKERS.get(
        _fold(make or ""),
        _tidy(make or "").title() if (make or "").isupper() else _tidy(make or ""),
    )
    rest = _strip_maker(model or "", make or "", maker)
    name = f"{maker} {rest}".strip() if maker else rest
    return name or None


__all__ = ["EARLIEST_YEAR", "MAKERS", "CaptureInfo", "camera_name", "read_capture"]
