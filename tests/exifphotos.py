"""Real JPEG files with real capture metadata (EXIF date, offset, GPS, camera), made by Pillow.

Used by the metadata integration tests and by ``scripts/make_v1_fixture.py``.
Each photo gets a distinct colour pattern so that its content hash (and the
model's output) differs from the others.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from picfind import exif


@dataclass(frozen=True)
class Shot:
    """What a test photo's EXIF says."""

    name: str
    taken: str | None = None  # "2019:07:14 12:34:56"
    offset: str | None = None  # "+02:00"
    lat: float | None = None
    lon: float | None = None
    make: str | None = None
    model: str | None = None


# Several cities on several continents, both hemispheres, both sides of Greenwich;
# no GPS; no EXIF at all; a broken date.
SHOTS = (
    Shot("paris", "2019:07:14 12:34:56", "+02:00", 48.8584, 2.2945, "Apple", "iPhone 12"),
    Shot("newyork", "2020:12:25 09:00:00", "-05:00", 40.7580, -73.9855, "Canon", "Canon EOS R5"),
    Shot("sydney", "2019:01:02 18:00:00", "+11:00", -33.8568, 151.2153, "NIKON CORPORATION",
         "NIKON D750"),
    Shot("saopaulo", "2021:06:01 08:00:00", "-03:00", -23.5505, -46.6333, "samsung", "SM-G991B"),
    Shot("nogps", "2018:03:03 10:10:10", None, None, None, "Apple", "iPhone 8"),
    Shot("broken", "0000:13:45 99:99:99", None, None, None, None, None),
    Shot("plain"),
)  # fmt: skip


def dms(value: float) -> tuple[float, float, float]:
    v = abs(value)
    d = int(v)
    m = int((v - d) * 60)
    return float(d), float(m), round(((v - d) * 60 - m) * 60, 4)


def exif_block(shot: Shot) -> bytes | None:
    """The EXIF block a camera would write for ``shot`` (None: no EXIF at all)."""
    if shot.taken is None and shot.make is None and shot.lat is None:
        return None
    ex = Image.Exif()
    if shot.make:
        ex[exif.MAKE] = shot.make
    if shot.model:
        ex[exif.MODEL] = shot.model
    sub = ex.get_ifd(exif.EXIF_IFD)
    if shot.taken:
        sub[exif.DATETIME_ORIGINAL] = shot.taken
    if shot.offset:
        sub[exif.OFFSET_TIME_ORIGINAL] = shot.offset
    if shot.lat is not None and shot.lon is not None:
        gps = ex.get_ifd(exif.GPS_IFD)
        gps[exif.GPS_LATITUDE_REF] = "N" if shot.lat >= 0 else "S"
        gps[exif.GPS_LATITUDE] = dms(shot.lat)
        gps[exif.GPS_LONGITUDE_REF] = "E" if shot.lon >= 0 else "W"
        gps[exif.GPS_LONGITUDE] = dms(shot.lon)
    return ex.tobytes()


def jpeg(shot: Shot, seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small JPEG with ``shot``'s EXIF and a pattern of its own."""
    im = Image.new("RGB", size)
    im.putdata(
        [
            ((x * 7 + seed * 37) % 256, (y * 11 + seed * 53) % 256, (x * y + seed * 91) % 256)
            for y in range(size[1])
            for x in range(size[0])
        ]
    )
    buf = io.BytesIO()
    block = exif_block(shot)
    if block is None:
        im.save(buf, "JPEG", quality=85)
    else:
        im.save(buf, "JPEG", quality=85, exif=block)
    return buf.getvalue()


def write_shots(folder: Path, shots: tuple[Shot, ...] = SHOTS) -> dict[str, Path]:
    """Every shot as ``folder/<name>.jpg``; name → path."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for seed, shot in enumerate(shots):
        path = folder / f"{shot.name}.jpg"
        path.write_bytes(jpeg(shot, seed))
        out[shot.name] = path
    return out


# Real photos of cats and dogs (the shared catsdogs set) given a phone's or a camera's
# EXIF: concepts and capture facts together, for the filters and words of both stores.
TAGGED = (
    ("cat.0", Shot("cat.0", "2019:07:14 10:00:00", "+02:00", 48.8584, 2.2945, "Apple",
                   "iPhone 12")),
    ("cat.1", Shot("cat.1", "2020:12:25 11:00:00", "+01:00", 48.8606, 2.3376, "Canon",
                   "Canon EOS R5")),
    ("cat.2", Shot("cat.2", "2019:12:24 20:00:00", "-05:00", 40.7580, -73.9855, "Apple",
                   "iPhone 12")),
    ("cat.3", Shot("cat.3", "2021:01:01 00:30:00", "+11:00", -33.8568, 151.2153,
                   "NIKON CORPORATION", "NIKON D750")),
    ("cat.4", Shot("cat.4", "2019:05:05 09:00:00", None, None, None, "Apple", "iPhone 8")),
    ("cat.5", Shot("cat.5")),
    ("dog.0", Shot("dog.0", "2019:08:01 15:00:00", "+02:00", 48.8530, 2.3499,
                   "NIKON CORPORATION", "NIKON D750")),
    ("dog.1", Shot("dog.1", "2020:06:15 13:00:00", "-04:00", 40.7484, -73.9857, "Canon",
                   "Canon EOS R5")),
    ("dog.2", Shot("dog.2", "2019:12:25 08:00:00", "+11:00", -33.8688, 151.2093, "Apple",
                   "iPhone 12")),
    ("dog.3", Shot("dog.3", "2020:07:04 17:00:00", "-03:00", -23.5505, -46.6333, "samsung",
                   "SM-G991B")),
    ("dog.4", Shot("dog.4", "2018:10:31 19:00:00", "+09:00", 35.6762, 139.6503, "SONY",
                   "ILCE-7M3")),
    ("dog.5", Shot("dog.5")),
)  # fmt: skip


def tag_photo(src: Path, shot: Shot, dest: Path) -> Path:
    """``src`` re-saved as a JPEG carrying ``shot``'s EXIF (Pillow writes the block)."""
    with Image.open(src) as im:
        rgb = im.convert("RGB")
    block = exif_block(shot)
    if block is None:
        rgb.save(dest, "JPEG", quality=90)
    else:
        rgb.save(dest, "JPEG", quality=90, exif=block)
    return dest


def write_tagged(catsdogs: Path, folder: Path) -> dict[str, Shot]:
    """``TAGGED`` photos in ``folder`` (``cat.0.jpg`` …); file stem → its shot."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, shot in TAGGED:
        tag_photo(catsdogs / f"{stem}.jpg", shot, folder / f"{stem}.jpg")
    return dict(TAGGED)


SIGN = ("BEWARE OF THE CAT", "since 2019")
"""The text lines ``tagged_index`` gives cat.1, as if the OCR pass had read them."""


def sign_box(line: int) -> list[list[float]]:
    """Where ``tagged_index`` says line ``line`` of ``SIGN`` was read (0–1 corners)."""
    top = 0.1 + 0.2 * line
    return [[0.1, top], [0.9, top], [0.9, top + 0.1], [0.1, top + 0.1]]


def tagged_index(catsdogs: Path, root: Path) -> tuple[Path, dict[str, str]]:
    """An embedded index of ``TAGGED`` under ``root`` (photos in ``root/photos``), with
    ``SIGN`` read in cat.1 (written to the store as the OCR pass writes it); the index
    folder and file stem → id."""
    import picfind
    from picfind.records import Fields, ImageText
    from picfind.store.base import Update

    shots = write_tagged(catsdogs, root / "photos")
    with picfind.open_index(root / "index", create=True) as idx:
        assert idx.add([root / "photos"]).indexed == len(shots)
        ids = {Path(f.path).stem: f.id for f in idx.store.rows()}
        lines = [
            {"text": t, "confidence": 0.97, "box": sign_box(i), "words": []}
            for i, t in enumerate(SIGN)
        ]
        record = {"width": 500, "height": 375, "lines": lines}
        read = ImageText("test-reader/1", "\n".join(SIGN), record)
        idx.store.write(update=[Update(ids["cat.1"], Fields(text=read))])
    return root / "index", ids
