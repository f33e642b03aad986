"""Capture metadata from real files written with Pillow (and pillow-heif), broken ones included."""

from __future__ import annotations

import io
import os
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from picfind import containers, exif, metadata
from picfind.metadata import CaptureInfo, camera_name, read_capture

NOW = datetime(2026, 1, 1, tzinfo=UTC)

# (name, latitude, longitude): every continent, both hemispheres, both sides of Greenwich.
CITIES = [
    ("Paris", 48.8566, 2.3522),
    ("New York", 40.7128, -74.0060),
    ("São Paulo", -23.5505, -46.6333),
    ("Sydney", -33.8688, 151.2093),
    ("Tokyo", 35.6762, 139.6503),
    ("Nairobi", -1.2921, 36.8219),
    ("Reykjavík", 64.1466, -21.9426),
]


def dms(value: float) -> tuple[float, float, float]:
    """Degrees → (degrees, minutes, seconds) as cameras write them (rationals)."""
    v = abs(value)
    d = int(v)
    m = int((v - d) * 60)
    s = round(((v - d) * 60 - m) * 60, 4)
    return float(d), float(m), s


def camera_exif(
    *,
    make: str | None = "Apple",
    model: str | None = "iPhone 12",
    original: str | None = "2019:07:14 12:34:56",
    digitized: str | None = None,
    datetime_: str | None = None,
    offset: str | None = None,
    subsec: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    gps_time: tuple[str, tuple[float, float, float]] | None = None,
    lens: str | None = None,
    lens_make: str | None = None,
) -> Image.Exif:
    """An EXIF block with IFD0, Exif IFD and GPS IFD as a phone writes them."""
    ex = Image.Exif()
    for tag, value in ((exif.MAKE, make), (exif.MODEL, model), (exif.DATETIME, datetime_)):
        if value is not None:
            ex[tag] = value
    sub = ex.get_ifd(exif.EXIF_IFD)
    for tag, value in (
        (exif.DATETIME_ORIGINAL, original),
        (exif.DATETIME_DIGITIZED, digitized),
        (exif.OFFSET_TIME_ORIGINAL, offset),
        (exif.OFFSET_TIME_DIGITIZED, offset if digitized else None),
        (exif.SUBSEC_TIME_ORIGINAL, subsec),
        (exif.LENS_MODEL, lens),
        (exif.LENS_MAKE, lens_make),
    ):
        if value is not None:
            sub[tag] = value
    if lat is not None and lon is not None:
        gps = ex.get_ifd(exif.GPS_IFD)
        gps[exif.GPS_LATITUDE_REF] = "N" if lat >= 0 else "S"
        gps[exif.GPS_LATITUDE] = dms(lat)
        gps[exif.GPS_LONGITUDE_REF] = "E" if lon >= 0 else "W"
        gps[exif.GPS_LONGITUDE] = dms(lon)
        if gps_time is not None:
            gps[exif.GPS_DATESTAMP] = gps_time[0]
            gps[exif.GPS_TIMESTAMP] = gps_time[1]
    return ex


def photo(fmt: str = "JPEG", ex: Image.Exif | bytes | None = None, **save: object) -> bytes:
    im = Image.new("RGB", (48, 32), (180, 120, 60))
    buf = io.BytesIO()
    if ex is not None:
        save["exif"] = ex.tobytes() if isinstance(ex, Image.Exif) else ex
    im.save(buf, fmt, **save)
    return buf.getvalue()


def read(data: bytes, **kw: object) -> CaptureInfo:
    return read_capture(data, now=NOW, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- a hand-made TIFF


def tiff_block(
    ifd0: list[tuple[int, int, int, bytes]],
    exif_ifd: list[tuple[int, int, int, bytes]] | None = None,
    gps_ifd: list[tuple[int, int, int, bytes]] | None = None,
    order: str = "<",
) -> bytes:
    """A TIFF structure with exactly the entries given (tag, type, count, raw value bytes).

    For what Pillow will not write: zero denominators, huge counts, bad offsets.
    """
    ifds = [list(ifd0)]
    if exif_ifd is not None:
        ifds[0].append((exif.EXIF_IFD, 4, 1, b"\0\0\0\0"))
        ifds.append(list(exif_ifd))
    if gps_ifd is not None:
        ifds[0].append((exif.GPS_IFD, 4, 1, b"\0\0\0\0"))
        ifds.append(list(gps_ifd))
    offsets, pos = [], 8
    for entries in ifds:
        offsets.append(pos)
        pos += 2 + 12 * len(entries) + 4
    data = bytearray()
    data_start = pos
    out = bytearray((b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8))
    pointers = {exif.EXIF_IFD: 1, exif.GPS_IFD: 1 + (exif_ifd is not None)}
    for entries in ifds:
        out += struct.pack(order + "H", len(entries))
        for tag, kind, count, raw in entries:
            if tag in pointers and kind == 4 and raw == b"\0\0\0\0":
                raw = struct.pack(order + "I", offsets[pointers[tag]])
            if len(raw) <= 4:
                field_ = raw.ljust(4, b"\0")
            else:
                field_ = struct.pack(order + "I", data_start + len(data))
                data += raw
            out += struct.pack(order + "HHI", tag, kind, count) + field_
        out += b"\0\0\0\0"
    return bytes(out + data)


def ascii_entry(tag: int, text: bytes) -> tuple[int, int, int, bytes]:
    return (tag, 2, len(text) + 1, text + b"\0")


def rationals(tag: int, *pairs: tuple[int, int], order: str = "<") -> tuple[int, int, int, bytes]:
    return (tag, 5, len(pairs), b"".join(struct.pack(order + "II", a, b) for a, b in pairs))


# --------------------------------------------------------------------------- dates


def test_date_time_original_with_offset_and_subseconds() -> None:
    info = read(photo(ex=camera_exif(offset="+02:00", subsec="25")))
    assert info.taken == datetime(2019, 7, 14, 12, 34, 56, 250000)
    assert info.taken_source == "DateTimeOriginal"
    assert info.utc_offset_minutes == 120
    assert info.taken_utc == datetime(2019, 7, 14, 10, 34, 56, 250000, tzinfo=UTC)
    assert info.utc_source == "OffsetTimeOriginal"
    assert info.taken_date is not None and info.taken_date.isoformat() == "2019-07-14"
    assert info.notes == ()


@pytest.mark.parametrize(
    ("offset", "minutes"), [("-05:00", -300), ("+05:45", 345), ("+14:00", 840), ("-09:30", -570)]
)
def test_offsets_west_and_east_of_utc(offset: str, minutes: int) -> None:
    info = read(photo(ex=camera_exif(offset=offset)))
    assert info.utc_offset_minutes == minutes
    assert info.taken_utc == (
        datetime(2019, 7, 14, 12, 34, 56) - timedelta(minutes=minutes)
    ).replace(tzinfo=UTC)


def test_fallbacks_to_digitized_then_datetime_say_which() -> None:
    digitized = read(photo(ex=camera_exif(original=None, digitized="2018:01:02 03:04:05")))
    assert digitized.taken == datetime(2018, 1, 2, 3, 4, 5)
    assert digitized.taken_source == "DateTimeDigitized"
    ifd0 = read(photo(ex=camera_exif(original=None, datetime_="2017:05:06 07:08:09")))
    assert ifd0.taken == datetime(2017, 5, 6, 7, 8, 9)
    assert ifd0.taken_source == "DateTime"
    blank = read(
        photo(ex=camera_exif(original="    :  :     :  :  ", datetime_="2016:01:01 00:00:01"))
    )
    assert blank.taken_source == "DateTime" and blank.notes == ()


def test_gps_clock_gives_utc_and_the_offset() -> None:
    # A phone that writes no OffsetTime: local 12:34:56, GPS (UTC) 03:34:50 → +09:00.
    ex = camera_exif(lat=35.6762, lon=139.6503, gps_time=("2019:07:14", (3.0, 34.0, 50.0)))
    info = read(photo(ex=ex))
    assert info.taken_utc == datetime(2019, 7, 14, 3, 34, 50, tzinfo=UTC)
    assert info.utc_source == "GPS time"
    assert info.utc_offset_minutes == 9 * 60
    # Clocks that disagree by 7 minutes past a quarter hour: UTC kept, no offset guessed.
    skewed = camera_exif(lat=35.0, lon=139.0, gps_time=("2019:07:14", (3.0, 27.0, 0.0)))
    assert read(photo(ex=skewed)).utc_offset_minutes is None


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("0000:00:00 00:00:00", None),  # "no date" as cameras write it: dropped quietly
        ("0000:01:01 00:00:00", "impossible date"),  # year 0
        ("2019:13:01 10:00:00", "impossible date"),  # month 13
        ("2019:02:30 10:00:00", "impossible date"),
        ("2019:07:14 25:00:00", "impossible date"),
        ("0001:01:01 00:00:00", "before photography"),
        ("1700:01:01 00:00:00", "before photography"),
        ("2999:01:01 00:00:00", "in the future"),
        ("garbage\x01\x02 string", "not a date"),
        ("tomorrow", "not a date"),
    ],
)
def test_bad_dates_are_ignored_with_a_reason(written: str, reason: str | None) -> None:
    info = read(photo(ex=camera_exif(original=written)))
    assert info.taken is None and info.taken_utc is None
    assert info.camera == "Apple iPhone 12"  # the rest of the block still counts
    if reason is None:
        assert info.notes == ()
    else:
        assert any(reason in note and "DateTimeOriginal" in note for note in info.notes), info.notes


def test_bad_offset_keeps_the_date() -> None:
    info = read(photo(ex=camera_exif(offset="+25:00")))
    assert info.taken == datetime(2019, 7, 14, 12, 34, 56)
    assert info.utc_offset_minutes is None and info.taken_utc is None
    assert any("UTC offset" in n for n in info.notes)


def test_date_variants_that_writers_use() -> None:
    assert read(photo(ex=camera_exif(original="2019-07-14 12:34:56"))).taken == datetime(
        2019, 7, 14, 12, 34, 56
    )
    assert read(photo(ex=camera_exif(original="2019:07:14 12:34"))).taken == datetime(
        2019, 7, 14, 12, 34
    )


# --------------------------------------------------------------------------- GPS


@pytest.mark.parametrize(("name", "lat", "lon"), CITIES, ids=[c[0] for c in CITIES])
def test_gps_in_every_hemisphere(name: str, lat: float, lon: float) -> None:
    info = read(photo(ex=camera_exif(lat=lat, lon=lon)))
    assert info.has_gps
    assert info.latitude == pytest.approx(lat, abs=1e-5)
    assert info.longitude == pytest.approx(lon, abs=1e-5)


def test_gps_variants_decimal_minutes_signed_and_missing_ref() -> None:
    # Decimal minutes (2 rationals), N/W refs, big-endian.
    block = tiff_block(
        [ascii_entry(exif.MAKE, b"Garmin")],
        gps_ifd=[
            ascii_entry(exif.GPS_LATITUDE_REF, b"N"),
            rationals(exif.GPS_LATITUDE, (40, 1), (427680, 10000), order=">"),
            ascii_entry(exif.GPS_LONGITUDE_REF, b"W"),
            rationals(exif.GPS_LONGITUDE, (74, 1), (36, 100), order=">"),
        ],
        order=">",
    )
    info = read(photo(ex=b"Exif\0\0" + block))
    assert info.latitude == pytest.approx(40.7128, abs=1e-6)
    assert info.longitude == pytest.approx(-74.0060, abs=1e-6)
    # Signed rationals (SRATIONAL, type 10), no refs: the sign stands.
    signed = tiff_block(
        [],
        gps_ifd=[
            (exif.GPS_LATITUDE, 10, 1, struct.pack("<ii", -338688, 10000)),
            (exif.GPS_LONGITUDE, 10, 1, struct.pack("<ii", 1512093, 10000)),
        ],
    )
    info = read(photo(ex=b"Exif\0\0" + signed))
    assert info.latitude == pytest.approx(-33.8688) and info.longitude == pytest.approx(151.2093)


@pytest.mark.parametrize(
    ("lat", "lon", "reason"),
    [
        (((95, 1), (0, 1), (0, 1)), ((2, 1), (0, 1), (0, 1)), "out of range"),
        (((48, 1), (0, 1), (0, 1)), ((200, 1), (0, 1), (0, 1)), "out of range"),
        (((48, 0), (51, 1), (0, 1)), ((2, 1), (0, 1), (0, 1)), "zero denominator"),
        (((48, 1), (75, 1), (0, 1)), ((2, 1), (0, 1), (0, 1)), "minutes/seconds"),
        (((0, 1), (0, 1), (0, 1)), ((0, 1), (0, 1), (0, 1)), "0, 0"),
    ],
)
def test_bad_gps_is_ignored_with_a_reason(
    lat: tuple[tuple[int, int], ...], lon: tuple[tuple[int, int], ...], reason: str
) -> None:
    block = tiff_block(
        [ascii_entry(exif.MAKE, b"Canon"), ascii_entry(exif.MODEL, b"Canon EOS 5D")],
        gps_ifd=[
            ascii_entry(exif.GPS_LATITUDE_REF, b"N"),
            rationals(exif.GPS_LATITUDE, *lat),
            ascii_entry(exif.GPS_LONGITUDE_REF, b"E"),
            rationals(exif.GPS_LONGITUDE, *lon),
        ],
    )
    info = read(photo(ex=b"Exif\0\0" + block))
    assert not info.has_gps and info.latitude is None and info.longitude is None
    assert info.camera == "Canon EOS 5D"
    assert any(reason in n for n in info.notes), info.notes


def test_float_nan_and_void_status_are_ignored() -> None:
    nan = struct.pack("<d", float("nan"))
    block = tiff_block(
        [],
        gps_ifd=[
            (exif.GPS_LATITUDE, 12, 1, nan),
            (exif.GPS_LONGITUDE, 12, 1, struct.pack("<d", 2.0)),
        ],
    )
    assert "NaN" in " ".join(read(photo(ex=b"Exif\0\0" + block)).notes)
    void = camera_exif(lat=48.0, lon=2.0)
    void.get_ifd(exif.GPS_IFD)[exif.GPS_STATUS] = "V"
    info = read(photo(ex=void))
    assert not info.has_gps and any("void" in n for n in info.notes)


# --------------------------------------------------------------------------- camera


@pytest.mark.parametrize(
    ("make", "model", "name"),
    [
        ("Apple", "iPhone 12", "Apple iPhone 12"),
        ("NIKON CORPORATION", "NIKON D750", "Nikon D750"),
        ("Canon", "Canon EOS 5D Mark III", "Canon EOS 5D Mark III"),
        ("SONY", "ILCE-7M3", "Sony ILCE-7M3"),
        ("samsung", "SM-G991B", "Samsung SM-G991B"),
        ("OLYMPUS IMAGING CORP.", "E-M10MarkII", "Olympus E-M10MarkII"),
        ("FUJIFILM", "X-T3", "Fujifilm X-T3"),
        ("Google", "Pixel 7", "Google Pixel 7"),
        ("ACME OPTICS", "Z1", "Acme Optics Z1"),
        (None, "Mystery Cam", "Mystery Cam"),
        ("Leica Camera AG", None, "Leica"),
        (None, None, None),
    ],
)
def test_camera_names(make: str | None, model: str | None, name: str | None) -> None:
    assert camera_name(make, model) == name


def test_camera_and_lens_from_the_file() -> None:
    ex = camera_exif(lens="iPhone 12 back dual wide camera 4.2mm f/1.6", lens_make="Apple")
    info = read(photo(ex=ex))
    assert (info.make, info.model, info.camera) == ("Apple", "iPhone 12", "Apple iPhone 12")
    assert info.lens == "Apple iPhone 12 back dual wide camera 4.2mm f/1.6"
    assert info.camera_keys == ("apple", "apple iphone 12", "iphone 12", "iphone")
    canon = read(photo(ex=camera_exif(make="Canon", model="Canon EOS R5", lens="RF24-105mm F4 L")))
    assert canon.lens == "RF24-105mm F4 L" and "eos" in canon.camera_keys


@pytest.mark.parametrize(
    "make",
    [b"\x01\x02\x03\x04", b"A" * 200, b"   ", b"\xff\xfe\xfd\x00", b"----"],
)
def test_garbage_and_huge_names_are_ignored(make: bytes) -> None:
    block = tiff_block([ascii_entry(exif.MAKE, make), ascii_entry(exif.MODEL, b"X100V")])
    info = read(photo(ex=b"Exif\0\0" + block))
    assert info.make is None
    assert info.model == "X100V" and info.camera == "X100V"
    if make.strip(b" \x00"):
        assert any("Make" in n for n in info.notes), info.notes


def test_damaged_structures_never_raise() -> None:
    huge_count = struct.pack("<2sHI", b"II", 42, 8) + struct.pack("<H", 60000) + bytes(64)
    assert any("60000 entries" in n for n in read(photo(ex=b"Exif\0\0" + huge_count)).notes)
    outside = tiff_block([(exif.MAKE, 2, 100_000, struct.pack("<I", 999_999))])
    assert any("bytes, more than" in n for n in read(photo(ex=b"Exif\0\0" + outside)).notes)
    pointer = tiff_block([(exif.GPS_IFD, 4, 1, struct.pack("<I", 1 << 30))])
    assert any("outside the data" in n for n in read(photo(ex=b"Exif\0\0" + pointer)).notes)
    assert read(photo(ex=b"Exif\0\0XX*\0")).notes == ("EXIF: no TIFF header",)
    assert read(b"\xff\xd8\xff\xe1\x00").taken is None
    assert read(b"") == CaptureInfo()


def test_first_exif_block_wins_and_nothing_is_read_twice() -> None:
    later = photo(ex=camera_exif(original="2001:01:01 00:00:00"))
    first = camera_exif(original="2002:02:02 00:00:00").tobytes()
    data = later[:2] + b"\xff\xe1" + struct.pack(">H", len(first) + 2) + first + later[2:]
    assert read(data).taken == datetime(2002, 2, 2)
    # A GPS-only block (IFD0 has nothing picfind keeps) with a bad latitude: each note once.
    gps_only = tiff_block([], gps_ifd=[rationals(exif.GPS_LATITUDE, (95, 1), (0, 1), (0, 1))])
    broken = photo(ex=b"Exif\0\0" + gps_only)
    with Image.open(io.BytesIO(broken)) as im:
        notes = read_capture(broken, image=im, now=NOW).notes
    assert notes == read(broken).notes and len(set(notes)) == len(notes) == 2


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 300))
def test_any_bytes_in_an_exif_segment_never_raise(noise: bytes, cut: int) -> None:
    valid = camera_exif(lat=48.8566, lon=2.3522, offset="+02:00").tobytes()
    damaged = valid[: min(cut, len(valid))] + noise
    for data in (photo(ex=damaged), photo(ex=b"Exif\0\0" + noise), b"\xff\xd8" + noise):
        info = read(data)
        assert isinstance(info, CaptureInfo)
        if info.latitude is not None:
            assert -90 <= info.latitude <= 90
        if info.taken is not None:
            assert info.taken.year >= metadata.EARLIEST_YEAR


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_exif_in_every_format_pillow_writes(fmt: str) -> None:
    ex = camera_exif(lat=-33.8688, lon=151.2093, offset="+10:00")
    data = photo(fmt, ex)
    info = read(data)
    assert info.taken == datetime(2019, 7, 14, 12, 34, 56)
    assert info.utc_offset_minutes == 600
    assert info.latitude == pytest.approx(-33.8688, abs=1e-5)
    assert info.camera == "Apple iPhone 12"
    if fmt != "TIFF":  # Pillow keeps TIFF tags in the directory, not in info["exif"]
        opened = read_capture(None, image=Image.open(io.BytesIO(data)), now=NOW)
        assert opened.taken == info.taken and opened.latitude == info.latitude


def test_no_metadata_means_no_date_never_the_file_time(tmp_path: Path) -> None:
    for fmt in ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"):
        path = tmp_path / f"plain.{fmt.lower()}"
        path.write_bytes(photo(fmt))
        os.utime(path, (1_500_000_000, 1_500_000_000))
        info = read(path.read_bytes())
        assert info == CaptureInfo(), fmt


XMP = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
    ' xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmp:CreateDate="2015-03-01T09:00:00"'
    ' exif:GPSLatitude="64,8.796N" exif:GPSLongitude="21,56.556W" tiff:Make="DJI">'
    "<exif:DateTimeOriginal>2015-02-28T18:30:15.5-03:00</exif:DateTimeOriginal>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
    '<?xpacket end="w"?>'
)


def with_xmp(fmt: str, xmp: str) -> bytes:
    if fmt == "PNG":  # an iTXt chunk, as Adobe writes it
        meta = PngInfo()
        meta.add_itxt("XML:com.adobe.xmp", xmp)
        return photo("PNG", pnginfo=meta)
    return photo(fmt, xmp=xmp.encode())


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_xmp_fallback(fmt: str) -> None:
    info = read(with_xmp(fmt, XMP))
    assert info.taken == datetime(2015, 2, 28, 18, 30, 15, 500000)
    assert info.taken_source == "xmp:exif:DateTimeOriginal"
    assert info.utc_offset_minutes == -180
    assert info.taken_utc == datetime(2015, 2, 28, 21, 30, 15, 500000, tzinfo=UTC)
    assert info.latitude == pytest.approx(64.1466, abs=1e-4)
    assert info.longitude == pytest.approx(-21.9426, abs=1e-4)
    assert info.make == "DJI"


def test_xmp_create_date_when_nothing_else() -> None:
    xmp = XMP.replace(
        "<exif:DateTimeOriginal>2015-02-28T18:30:15.5-03:00</exif:DateTimeOriginal>", ""
    )
    info = read(with_xmp("PNG", xmp))
    assert info.taken == datetime(2015, 3, 1, 9, 0) and info.taken_source == "xmp:xmp:CreateDate"
    assert info.utc_offset_minutes is None


def test_gif_xmp_application_extension() -> None:
    plain = photo("GIF")
    flags = plain[10]
    palette = 3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0
    at = 13 + palette  # after the header, screen descriptor and global palette
    # XMP spec part 3: the packet as raw bytes, then a 258-byte "magic trailer"
    # that makes whatever a GIF reader takes for sub-block lengths end here.
    trailer = b"\x01" + bytes(range(255, -1, -1)) + b"\x00"
    data = plain[:at] + b"\x21\xff\x0bXMP DataXMP" + XMP.encode() + trailer + plain[at:]
    with Image.open(io.BytesIO(data)) as im:
        im.load()  # still a valid GIF
    info = read(data)
    assert info.taken_source == "xmp:exif:DateTimeOriginal" and info.make == "DJI"


@pytest.mark.parametrize(
    ("text", "expected", "offset"),
    [
        ("Sat, 14 Jul 2019 12:00:00 +0200", datetime(2019, 7, 14, 12), 120),
        ("14 Jul 2019 08:30:00 GMT", datetime(2019, 7, 14, 8, 30), 0),
        ("2019-07-14T12:00:00Z", datetime(2019, 7, 14, 12), 0),
        ("2019:07:14 12:00:00", datetime(2019, 7, 14, 12), None),
    ],
)
def test_png_creation_time(text: str, expected: datetime, offset: int | None) -> None:
    for chunk in ("add_text", "add_itxt"):
        meta = PngInfo()
        getattr(meta, chunk)(
            "Creation Time", text, **({"zip": True} if chunk == "add_itxt" else {})
        )
        info = read(photo("PNG", pnginfo=meta))
        assert info.taken == expected and info.taken_source == "png:Creation Time"
        assert info.utc_offset_minutes == offset


def test_png_garbage_creation_time_and_imagemagick_file_times() -> None:
    meta = PngInfo()
    meta.add_text("Creation Time", "sometime last summer")
    meta.add_text("date:create", "2020-01-01T00:00:00+00:00")  # the converter's file time
    info = read(photo("PNG", pnginfo=meta))
    assert info.taken is None
    assert any("Creation Time" in n for n in info.notes)


def need_heif() -> None:
    if containers._heif is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("pi-heif is required in CI (a core dependency)", pytrace=False)
        pytest.skip("pi-heif not installed (pip install pi-heif)")


def test_heic_through_pillow_heif() -> None:
    need_heif()
    import pillow_heif  # the writer (tests only); picfind reads with pi-heif

    from picfind import imaging  # registers the HEIF opener

    assert imaging.HEIF_SUPPORTED
    ex = camera_exif(lat=-1.2921, lon=36.8219, offset="+03:00")
    im = Image.new("RGB", (64, 64), (10, 200, 30))
    buf = io.BytesIO()
    pillow_heif.from_pillow(im).save(buf, exif=ex.tobytes(), quality=40)
    data = buf.getvalue()
    assert data[4:12] == b"ftypheic"
    info = read(data)
    assert info.taken == datetime(2019, 7, 14, 12, 34, 56) and info.utc_offset_minutes == 180
    assert info.latitude == pytest.approx(-1.2921, abs=1e-5)
    opened = read_capture(None, image=Image.open(io.BytesIO(data)), now=NOW)
    assert opened.latitude == info.latitude and opened.camera == "Apple iPhone 12"


def test_heic_without_pillow_heif_is_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers, "_heif", None)
    data = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    info = read(data)
    assert info.taken is None and info.notes == (
        "HEIF: metadata needs pi-heif (pip install pi-heif)",
    )


# --------------------------------------------------------------------------- real files


def test_agrees_with_pillow_on_the_shared_photos(shared: Path) -> None:
    """Every shared photo with EXIF: same make, model and date as Pillow's full parser."""
    checked = 0
    for path in sorted((shared / "data").rglob("*")):
        if not path.is_file() or path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        data = path.read_bytes()
        try:
            with Image.open(io.BytesIO(data)) as im:
                ex = im.getexif()
                pillow_make = str(ex.get(exif.MAKE, "")).strip("\0 ") or None
                pillow_original = ex.get_ifd(exif.EXIF_IFD).get(exif.DATETIME_ORIGINAL)
        except Exception:  # the shared set holds broken files on purpose
            continue
        info = read(data)
        if pillow_make or pillow_original:
            checked += 1
            assert info.make == pillow_make, path
            if pillow_original and pillow_original.strip(" :0"):
                assert info.taken_source == "DateTimeOriginal", path
                written = datetime.strptime(pillow_original[:19], "%Y:%m:%d %H:%M:%S")
                assert info.taken is not None and info.taken.replace(microsecond=0) == written, path
    assert checked >= 3


def test_real_camera_files(shared: Path) -> None:
    toaster = read((shared / "data/imagenet-samples/n04442312_toaster.JPEG").read_bytes())
    assert toaster.taken == datetime(2007, 3, 7, 12, 15, 50)
    assert toaster.camera == "Canon PowerShot Pro1"
    bolo = read((shared / "data/imagenet-samples/n02865351_bolo_tie.JPEG").read_bytes())
    # DateTimeOriginal is blank in this file: the IFD0 DateTime is used, and says so.
    assert bolo.taken == datetime(2002, 9, 17, 6, 13, 39) and bolo.taken_source == "DateTime"
    png = read((shared / "data/odd-images/alpha_channel_image.png").read_bytes())
    assert png.camera == "Canon PowerShot S230" and png.taken == datetime(2005, 7, 29, 14, 34, 56)
