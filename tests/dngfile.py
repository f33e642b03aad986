"""A small DNG writer, so tests and bench/library.py can make camera RAW files.

No package writes DNGs that LibRaw reads (rawpy only reads), so this writes the
minimum the DNG 1.4 specification asks of a raw file, little-endian:

* IFD 0: the raw image — a 16-bit RGGB Bayer mosaic (CFA), uncompressed, with
  DNGVersion, UniqueCameraModel, ColorMatrix1 and AsShotNeutral;
* optionally a SubIFD holding a baseline-JPEG preview (NewSubFileType 1,
  Compression 7 = JPEG, as cameras and Adobe's converter store theirs).

The mosaic is made from an 8-bit sRGB photo: linearised, scaled to the white
level, then one colour kept per pixel. ColorMatrix1 is XYZ→linear sRGB, so the
"camera" sees sRGB primaries: demosaiced, the photo comes back close to itself.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

# XYZ (D65) → linear sRGB (IEC 61966-2-1), as DNG's ColorMatrix1 (XYZ → camera).
_XYZ_TO_SRGB = (
    (3.2406, -1.5372, -0.4986),
    (-0.9689, 1.8758, 0.0415),
    (0.0557, -0.2040, 1.0570),
)
_WHITE = 65535
_BLACK = 0
# TIFF field types
_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _SRATIONAL = 1, 2, 3, 4, 5, 10
_SIZES = {_BYTE: 1, _ASCII: 1, _SHORT: 2, _LONG: 4, _RATIONAL: 8, _SRATIONAL: 8}
_FORMATS = {_BYTE: "B", _ASCII: "B", _SHORT: "H", _LONG: "I", _RATIONAL: "I", _SRATIONAL: "i"}


def mosaic(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB (H, W, 3) → uint16 RGGB Bayer mosaic (H, W) of linear light."""
    x = rgb.astype(np.float64) / 255.0
    linear = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    values = np.rint(linear * (_WHITE - _BLACK) + _BLACK).astype(np.uint16)
    out = np.empty(rgb.shape[:2], np.uint16)
    out[0::2, 0::2] = values[0::2, 0::2, 0]  # R
    out[0::2, 1::2] = values[0::2, 1::2, 1]  # G
    out[1::2, 0::2] = values[1::2, 0::2, 1]  # G
    out[1::2, 1::2] = values[1::2, 1::2, 2]  # B
    return out


def _rationals(values: tuple[float, ...], denominator: int = 10000) -> list[int]:
    flat: list[int] = []
    for v in values:
        flat += [round(v * denominator), denominator]
    return flat


class _Ifd:
    def __init__(self) -> None:
        self.entries: dict[int, tuple[int, list[int] | bytes]] = {}

    def add(self, tag: int, kind: int, value: list[int] | bytes | str) -> None:
        if isinstance(value, str):
            value = value.encode("ascii") + b"\0"
        self.entries[tag] = (kind, value)


def _count(kind: int, value: list[int] | bytes) -> int:
    n = len(value)
    return n // 2 if kind in (_RATIONAL, _SRATIONAL) else n


def _pack(kind: int, value: list[int] | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    return struct.pack(f"<{len(value)}{_FORMATS[kind]}", *value)


def _write_ifd(out: bytearray, ifd: _Ifd, next_ifd: int = 0) -> int:
    """Append ``ifd`` (and its out-of-line values) to ``out``; returns its offset."""
    while len(out) % 2:
        out.append(0)
    start = len(out)
    tags = sorted(ifd.entries)
    size = 2 + 12 * len(tags) + 4
    out += bytes(size)
    entry = start + 2
    struct.pack_into("<H", out, start, len(tags))
    for tag in tags:
        kind, value = ifd.entries[tag]
        data = _pack(kind, value)
        struct.pack_into("<HHI", out, entry, tag, kind, _count(kind, value))
        if len(data) <= 4:
            out[entry + 8 : entry + 8 + len(data)] = data
        else:
            while len(out) % 2:
                out.append(0)
            struct.pack_into("<I", out, entry + 8, len(out))
            out += data
        entry += 12
    struct.pack_into("<I", out, start + size - 4, next_ifd)
    return start


def dng_bytes(
    rgb: np.ndarray,
    *,
    preview: bytes | None = None,
    orientation: int = 1,
    make: str = "picfind",
    model: str = "test camera",
) -> bytes:
    """A DNG of the uint8 RGB photo ``rgb`` (even sides), with ``preview`` (JPEG bytes)."""
    height, width = rgb.shape[:2]
    if height % 2 or width % 2:
        raise ValueError("a Bayer mosaic needs even sides")
    raw = mosaic(rgb).tobytes()
    out = bytearray(b"II*\0" + bytes(4))
    # Pixel data first; the IFDs after it point back to it.
    raw_at = len(out)
    out += raw
    preview_at = len(out)
    if preview is not None:
        out += preview

    ifd0 = _Ifd()
    ifd0.add(254, _LONG, [0])  # NewSubFileType: the main image
    ifd0.add(256, _LONG, [width])
    ifd0.add(257, _LONG, [height])
    ifd0.add(258, _SHORT, [16])
    ifd0.add(259, _SHORT, [1])  # no compression
    ifd0.add(262, _SHORT, [32803])  # CFA
    ifd0.add(271, _ASCII, make)
    ifd0.add(272, _ASCII, model)
    ifd0.add(273, _LONG, [raw_at])
    ifd0.add(274, _SHORT, [orientation])
    ifd0.add(277, _SHORT, [1])
    ifd0.add(278, _LONG, [height])
    ifd0.add(279, _LONG, [len(raw)])
    ifd0.add(284, _SHORT, [1])
    ifd0.add(33421, _SHORT, [2, 2])  # CFARepeatPatternDim
    ifd0.add(33422, _BYTE, [0, 1, 1, 2])  # CFAPattern: RGGB
    ifd0.add(50706, _BYTE, [1, 4, 0, 0])  # DNGVersion
    ifd0.add(50707, _BYTE, [1, 1, 0, 0])  # DNGBackwardVersion
    ifd0.add(50708, _ASCII, f"{make} {model}")  # UniqueCameraModel
    ifd0.add(50714, _LONG, [_BLACK])  # BlackLevel
    ifd0.add(50717, _LONG, [_WHITE])  # WhiteLevel
    ifd0.add(50721, _SRATIONAL, _rationals(tuple(v for row in _XYZ_TO_SRGB for v in row)))
    ifd0.add(50728, _RATIONAL, _rationals((1.0, 1.0, 1.0)))  # AsShotNeutral
    ifd0.add(50778, _SHORT, [21])  # CalibrationIlluminant1: D65

    if preview is not None:
        with Image.open(io.BytesIO(preview)) as im:
            pw, ph = im.size
        sub = _Ifd()
        sub.add(254, _LONG, [1])  # a reduced-resolution copy
        sub.add(256, _LONG, [pw])
        sub.add(257, _LONG, [ph])
        sub.add(258, _SHORT, [8, 8, 8])
        sub.add(259, _SHORT, [7])  # JPEG
        sub.add(262, _SHORT, [6])  # YCbCr
        sub.add(273, _LONG, [preview_at])
        sub.add(277, _SHORT, [3])
        sub.add(278, _LONG, [ph])
        sub.add(279, _LONG, [len(preview)])
        sub_at = _write_ifd(out, sub)
        ifd0.add(330, _LONG, [sub_at])  # SubIFDs
    ifd0_at = _write_ifd(out, ifd0)
    struct.pack_into("<I", out, 4, ifd0_at)
    return bytes(out)


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def write_dng(path: Path, photo: Image.Image, *, with_preview: bool, orientation: int = 1) -> Path:
    """``photo`` as a DNG at ``path`` (sides cropped to even), previewed by a JPEG of itself."""
    rgb = np.asarray(photo.convert("RGB"))
    rgb = rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]
    preview = jpeg_bytes(Image.fromarray(rgb), 85) if with_preview else None
    path.write_bytes(dng_bytes(rgb, preview=preview, orientation=orientation))
    return path
