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
here raises for what a file contains. Finding the blocks in each format is
``containers.py``'s job, reading EXIF ``exif.py``'s, naming cameras ``cameras.py``'s.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from PIL import Image

from picfind import exif
from picfind.cameras import camera_keys, camera_name
from picfind.containers import Blocks, find_blocks
from picfind.exif import Tags, Value

EARLIEST_YEAR = 1826
"""The first photograph; an earlier date is a camera's unset clock or garbage."""
FUTURE_SLACK = timedelta(days=2)
"""A date later than now by more than this (time zones, clock drift) is ignored."""
MAX_NAME = 64
"""Characters of a make, model or lens name; longer is not a name."""
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
        return camera_keys(self.make, self.model)


def read_capture(
    data: bytes | None = None, *, image: Image.Image | None = None, now: datetime | None = None
) -> CaptureInfo:
    """The capture metadata of one image file.

    ``data`` is the file's bytes (what the indexer read and hashed); ``image``
    the same file opened by Pillow, if at hand (never decoded here): its
    ``info`` supplies EXIF/XMP for containers not walked here (HEIC, AVIF, MPO
    through Pillow plugins). ``now`` bounds future dates (default: the clock).
    """
    return _interpret(find_blocks(data, image), now or datetime.now(UTC))


# --------------------------------------------------------------------------- rules


def _interpret(found: Blocks, now: datetime) -> CaptureInfo:
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
    if model and make and not model.casefold().startswith(make.casefold()):
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
        cleaned = " ".join(raw.decode("utf-8").split())
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


def _shown(text: str) -> str:
    """A value quoted for a note: printable, at most 40 characters."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return repr(clean[:40] + ("…" if len(clean) > 40 else ""))


__all__ = ["EARLIEST_YEAR", "CaptureInfo", "camera_name", "read_capture"]
