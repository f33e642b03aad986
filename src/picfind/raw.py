"""Camera RAW files (DNG, CR2, NEF, ARW, …): telling them apart, and reading them via LibRaw.

**Detection.** Most RAW formats are TIFF files underneath, and Pillow opens them
as TIFF — often decoding only IFD 0, which in a NEF is a 160×120 thumbnail. So
the content is sniffed first, and the extension is only a hint where content
cannot decide:

* by content: DNG (a TIFF whose first IFD has the ``DNGVersion`` tag), CR2
  (``CR`` after the TIFF header), ORF (``IIRO``/``IIRS``/``MMOR``), RW2
  (``IIU\\0``), RAF (``FUJIFILMCCD-RAW``) and CR3 (an ISO media file of brand
  ``crx``) are RAW whatever they are called;
* by hint: any other TIFF whose name ends in a RAW extension (``.nef``, ``.arw``,
  ``.pef``, …) is tried as RAW first, and read as a TIFF if LibRaw refuses it;
* a TIFF with any other name is a TIFF; a RAW named ``.tif`` that is not
  recognised by content (a NEF renamed ``.tif``) is read as the TIFF it also is.

**Reading.** Cameras store a JPEG preview in the RAW — usually full size or
about 1.6 MP. Decoding that JPEG (in draft mode) is what makes RAW as fast as a
JPEG, so it is used whenever it is at least the model's input on both sides; only
without one does LibRaw demosaic, at half size (each 2×2 Bayer quad becomes one
pixel: 4× less work, still far above 224 pixels). LibRaw's ``flip`` is the
orientation of the raw data and of its previews, which are stored unrotated.

rawpy is the ``raw`` extra (MIT; LibRaw itself is LGPL-2.1 or CDDL-1.0).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    import rawpy
except ImportError:  # pragma: no cover - depends on the environment
    rawpy = None  # type: ignore[assignment]

__all__ = ["RAW_SUPPORTED", "RawImage", "RawReadError", "is_raw_name", "open_raw", "sniff"]

RAW_SUPPORTED: bool = rawpy is not None

#: Extensions of RAW formats; only a hint (see the module docstring).
RAW_EXTENSIONS = frozenset(
    f".{ext}"
    for ext in [
        "dng",
        "cr2",
        "cr3",
        "crw",
        "nef",
        "nrw",
        "arw",
        "srf",
        "sr2",
        "orf",
        "rw2",
        "raf",
        "pef",
        "srw",
        "rwl",
        "raw",
        "3fr",
        "fff",
        "iiq",
        "erf",
        "kdc",
        "dcr",
        "mrw",
        "mos",
        "mef",
        "x3f",
    ]
)

#: Reads ``n`` bytes at ``offset`` of a file (fewer at its end).
Reader = Callable[[int, int], bytes]

_DNG_VERSION = 50706
# LibRaw's flip → EXIF orientation (LibRaw uses 0, 3, 5, 6; 5 is 90° counter-clockwise).
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}


class RawReadError(Exception):
    """LibRaw could not read the file; ``reason`` is picfind's short reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_raw_name(name: str | None) -> bool:
    return name is not None and os.path.splitext(name)[1].lower() in RAW_EXTENSIONS


def _tiff_has_tag(read: Reader, tag: int) -> bool:
    """Whether IFD 0 of the TIFF file has ``tag`` (IFD 0 may be anywhere in the file)."""
    head = read(0, 8)
    endian = "<" if head[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(endian + "I", head, 4)
        ifd = read(offset, 2)
        (count,) = struct.unpack_from(endian + "H", ifd, 0)
        entries = read(offset + 2, 12 * count)
        for i in range(count):
            (found,) = struct.unpack_from(endian + "H", entries, 12 * i)
            if found == tag:
                return True
    except struct.error:  # a cut file
        return False
    return False


def sniff(read: Reader, name: str | None) -> str | None:
    """The RAW format of the file ``read`` reads (``read(offset, n)`` → bytes),
    ``"RAW?"`` for a TIFF only named like a RAW, or None: not RAW (leave it to Pillow)."""
    head = read(0, 16)
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "RAF"
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return "ORF"
    if head[:4] == b"IIU\0":
        return "RW2"
    if head[4:12] == b"ftypcrx ":
        return "CR3"
    if head[:4] not in (b"II*\0", b"MM\0*"):
        return None
    if head[8:10] == b"CR":
        return "CR2"
    if _tiff_has_tag(read, _DNG_VERSION):
        return "DNG"
    return "RAW?" if is_raw_name(name) else None


@dataclass(frozen=True)
class RawImage:
    """What picfind needs of a RAW file: its size, orientation and a way to its pixels."""

    width: int  # of the raw image as stored (before orientation)
    height: int
    orientation: int  # EXIF-style 1–8, from LibRaw's flip
    preview: bytes | None  # the embedded JPEG, if any
    preview_rgb: np.ndarray | None  # an embedded bitmap preview (uint8 H×W×3), if any
    _raw: Any

    def demosaic(self) -> np.ndarray:
        """Half-size demosaic, camera white balance, 8-bit sRGB, upright (H, W, 3)."""
        try:
            rgb: np.ndarray = self._raw.postprocess(
                half_size=True, use_camera_wb=True, output_bps=8
            )
        except Exception as e:  # rawpy's LibRaw errors, MemoryError
            raise RawReadError(_reason(e)) from None
        return rgb

    def close(self) -> None:
        self._raw.close()


def open_raw(source: str | os.PathLike[str] | bytes) -> RawImage:
    """Open a RAW file with LibRaw (reads the header and finds the preview; no demosaic).

    Raises RawReadError when LibRaw refuses the file (``"unsupported"`` when it is
    not a format LibRaw knows: the caller may then try it as a TIFF).
    """
    if rawpy is None:
        raise RawReadError("unsupported format: RAW (install picfind[raw])")
    try:
        if isinstance(source, bytes | bytearray | memoryview):
            raw = rawpy.imread(io.BytesIO(bytes(source)))
        else:
            raw = rawpy.imread(os.fspath(source))
    except Exception as e:
        raise RawReadError(_reason(e)) from None
    try:
        sizes = raw.sizes
        preview, preview_rgb = _preview(raw)
        return RawImage(
            width=int(sizes.width),
            height=int(sizes.height),
            orientation=_FLIP_TO_ORIENTATION.get(int(sizes.flip), 1),
            preview=preview,
            preview_rgb=preview_rgb,
            _raw=raw,
        )
    except BaseException:
        raw.close()
        raise


def _preview(raw: Any) -> tuple[bytes | None, np.ndarray | None]:
    try:
        thumb = raw.extract_thumb()
    except Exception:  # no preview, or one LibRaw cannot read: demosaic instead
        return None, None
    if thumb.format == rawpy.ThumbFormat.JPEG:
        return bytes(thumb.data), None
    data = np.asarray(thumb.data)
    if data.ndim == 3 and data.shape[2] == 3 and data.dtype == np.uint8:
        return None, data
    return None, None


def _reason(e: BaseException) -> str:
    if isinstance(e, MemoryError):
        return "too large to decode"
    name = type(e).__name__
    if name == "LibRawFileUnsupportedError":
        return "unsupported"
    if name in ("LibRawIOError", "LibRawDataError") or "truncat" in str(e).lower():
        return "truncated image"
    return "corrupt image"
