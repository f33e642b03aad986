"""Open any image safely and turn it into the pixels a model needs.

Every file a user points picfind at goes through here, so the rules are strict:

* the format is found from the content (Pillow's signature checks), never the
  extension — photos named ``.jpg`` that are really GIF or PNG are common;
* the size in the header is checked against ``max_pixels`` *before* anything is
  decoded, so a tiny file that claims 40000×40000 pixels costs nothing;
* decoding is forced (Pillow is lazy), so a file cut short is reported here as
  ``"truncated image"`` instead of failing later in someone else's code;
* every failure is an :class:`~picfind.errors.ImageError` with a short, specific
  reason; no Pillow, ``OSError`` or ``ValueError`` escapes for a bad file.

Thread safety: decode threads call these functions concurrently. Per call,
nothing global is touched. At import, and only then, this module calls
``PIL.Image.init()`` (registers every plugin, which Pillow would otherwise do
lazily and racily on first use), adds a ``NullHandler`` to the ``PIL`` logger
(see below) and registers the HEIF opener of ``pi_heif`` (or ``pillow_heif``).
It deliberately leaves ``Image.MAX_IMAGE_PIXELS``,
``ImageFile.LOAD_TRUNCATED_IMAGES`` and the warning filters alone: files are
identified through Pillow's plugin registry directly (:func:`_identify`), which
skips ``Image.open``'s global bomb check and its ``DecompressionBombWarning``;
our own per-call limit is applied instead, before anything is decoded.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError, features

from picfind import heif, raw
from picfind.errors import ImageError

try:  # a core dependency (pi-heif: libheif's decoder only, LGPL); pillow-heif also works
    import pi_heif as _heif_plugin  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    try:
        import pillow_heif as _heif_plugin  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        HEIF_SUPPORTED = False
    else:
        HEIF_SUPPORTED = True
else:  # pragma: no cover - depends on the environment
    HEIF_SUPPORTED = True
if HEIF_SUPPORTED:
    _heif_plugin.register_heif_opener()

Image.init()
# Pillow logs some refusals (e.g. a TIFF with absurd samples per pixel) at ERROR
# level; with no logging configured Python would print them mid-run. We report
# the same failure as an ImageError, so give Pillow's logger a NullHandler:
# applications that configure logging still receive the records.
logging.getLogger("PIL").addHandler(logging.NullHandler())

AVIF_SUPPORTED: bool = bool(features.check("avif")) or (HEIF_SUPPORTED and "AVIF" in Image.OPEN)

#: Refuse images whose header claims more pixels than this: 2**26 ≈ 67 MP.
#: Enough for every mainstream camera (61 MP full frame, 50 MP phone modes);
#: a full RGB decode stays under 200 MiB, so several decode threads cannot
#: exhaust a laptop. It is also below Pillow's own warning threshold
#: (``Image.MAX_IMAGE_PIXELS`` ≈ 89 MP), which some plugins re-check while
#: decoding frames (GIF, TIFF, ICO, WebP, MPO): with this default that global
#: limit never fires for a file we accepted. Callers may pass a larger
#: ``max_pixels`` (102 MP medium format, 200 MP phone modes); for those formats
#: Pillow's global limit then still applies on top.
DEFAULT_MAX_PIXELS: int = 2**26

#: And no side longer than this, whatever the area: a 1×60,000,000 PNG is 60 MP,
#: under the area limit, yet took 9 s and 1.3 GB to shrink (Pillow's resampling
#: tables grow with the ratio of the sides). 65,536 px holds any panorama a
#: camera makes; applied with ``max_pixels`` (``probe`` applies neither).
MAX_SIDE: int = 2**16

SourceType = str | os.PathLike[str] | bytes

_WHITE = (255, 255, 255)

# EXIF orientation → the transpose that makes the image upright (EXIF 2.3 §4.6.4).
_TRANSPOSE: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = frozenset({5, 6, 7, 8})

# Exceptions Pillow's plugins and decoders raise for bad data (warnings too:
# an application running with warnings as errors must still get a reason).
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    Image.DecompressionBombError,  # Pillow re-checks some frames (GIF, TIFF, ICO…)
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
    MemoryError,
    zlib.error,
    Warning,
)

# Brands of ISO base media files (``ftyp`` box) that hold HEIF or AVIF images.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})


@dataclass(frozen=True, eq=False)
class Loaded:
    """An image decoded for a model, with facts about the original file.

    ``eq=False``: field-wise ``==`` would compare arrays and raise; compare
    ``pixels`` with ``np.array_equal``.
    """

    pixels: np.ndarray  # uint8 (size, size, 3) RGB
    width: int  # of the oriented original, not the draft or the resized image
    height: int
    format: str  # Pillow's name: 'JPEG', 'PNG', 'GIF', 'WEBP', 'TIFF', 'PPM', …


# --------------------------------------------------------------------------- public API


def load_for_model(
    source: SourceType,
    size: int,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft: bool = True,
) -> Loaded:
    """Decode ``source`` into a (size, size, 3) uint8 RGB array for the model.

    JPEGs are decoded in draft mode (libjpeg's DCT scaling), at the smallest
    1/2, 1/4 or 1/8 scale still at least ``size`` on both sides: that is where
    most of the decoding time of large photos goes. Then EXIF orientation,
    RGB conversion, alpha flattened onto white, and a plain BILINEAR resize to
    (size, size) — the model's reference preprocessing, no aspect-preserving crop.
    ``name`` is the path shown in errors when ``source`` is bytes;
    ``draft=False`` decodes at full size (for checks and benchmarks).
    """
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    label = _label(source, name)
    kind = _raw_kind(source, label)
    if kind is not None:
        from_raw = _load_raw(source, label, kind, size, max_pixels, draft)
        if from_raw is not None:
            return from_raw
    with _opened(source, label, max_pixels) as im:
        fmt = str(im.format)
        header_size = im.size  # draft() below shrinks im.size
        orientation = None
        if draft and fmt in ("JPEG", "MPO"):
            orientation = _orientation(im)
            # The draft box is in stored (un-rotated) axes: swapped for 5–8.
            with _reasons(label):
                im.draft("RGB", _oriented_size((size, size), orientation))
        rgb = _heif_thumbnail(im, size, label) if draft and fmt == "HEIF" else None
        if rgb is None:
            rgb, orientation = _decode_rgb(im, label, orientation, size if draft else None)
        with _reasons(label):
            resized = rgb.resize((size, size), Image.Resampling.BILINEAR)
    width, height = _oriented_size(header_size, orientation or 1)
    pixels = np.asarray(resized, dtype=np.uint8)
    return Loaded(pixels=pixels, width=width, height=height, format=fmt)


def open_image(
    source: SourceType, *, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """The full-resolution, upright RGB image, for thumbnails and contact sheets.

    Same checks and reasons as :func:`load_for_model`, without draft mode or
    resizing. The result is detached from the file (safe to keep).
    """
    label = _label(source, name)
    kind = _raw_kind(source, label)
    if kind is not None:
        with _raw_opened(source, label, kind, max_pixels) as img:
            if img is not None:
                return _demosaiced(img, label)
    with _opened(source, label, max_pixels) as im:
        rgb, _ = _decode_rgb(im, label, None)
        if rgb is im:
            rgb = rgb.copy()
    return rgb


DRAFT_SLACK = 0.95
"""How far below ``max_side`` a draft decode for reading may go (1/2 of 4032 is 2016)."""


def load_for_reading(
    source: SourceType,
    max_side: int,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """The upright RGB image for reading its text, about ``max_side`` on its long side.

    A JPEG larger than that is draft-decoded (libjpeg's DCT scaling) at the smallest
    scale whose long side is still ≥ ``DRAFT_SLACK`` × ``max_side``: a 12-MP photo
    (4032 × 3024) is decoded at 1/2 (2016 × 1512), not in full — 4× fewer pixels, and
    OCR would scale it to ``max_side`` anyway. Other formats are decoded
    in full and box-reduced while still ≥ 2 × ``max_side`` on both sides. Same checks
    and reasons as :func:`load_for_model`; larger results are scaled down to
    ``max_side``.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}")
    label = _label(source, name)
    if _raw_kind(source, label) is not None:
        rgb = open_image(source, name=name, max_pixels=max_pixels)
    else:
        with _opened(source, label, max_pixels) as im:
            orientation = None
            width, height = im.size
            scale = DRAFT_SLACK * max_side / max(width, height)
            if im.format in ("JPEG", "MPO") and scale < 1:
                orientation = _orientation(im)
                with _reasons(label):  # proportional: the same in stored and upright axes
                    im.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            rgb, _ = _decode_rgb(im, label, orientation, max_side)
            if rgb is im:
                rgb = rgb.copy()
    if max(rgb.size) > max_side:
        with _reasons(label):
            rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return rgb


def reference_pixels(path: str | os.PathLike[str], size: int) -> np.ndarray:
    """Exactly the golden files' preprocessing: ``open → convert('RGB') → resize``.

    No draft, no EXIF orientation, no alpha flattening: this reproduces the
    reference implementation bit for bit, to check the model against it. Not for
    indexing (use :func:`load_for_model`): it goes through ``Image.open``, so
    Pillow's own bomb limit and warning apply here, not ``max_pixels``.
    """
    label = os.fspath(path)
    with _reasons(label), Image.open(path) as im:
        rgb = im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def probe(source: SourceType, *, name: str | None = None) -> tuple[str, int, int]:
    """Format and oriented (width, height), from the header only: nothing is decoded.

    Cheap enough to list a folder. No pixel limit is applied (a bomb is still
    described truthfully); only unreadable and non-image files raise.
    """
    label = _label(source, name)
    kind = _raw_kind(source, label)
    if kind is not None:
        with _raw_opened(source, label, kind, None) as img:
            if img is not None:
                width, height = _oriented_size((img.width, img.height), img.orientation)
                return _raw_format(kind, label), width, height
    with _opened(source, label, None) as im:
        fmt = str(im.format)
        # PNG keeps EXIF anywhere in the file: Pillow's getexif() would decode
        # the whole image to find it, so only a header eXIf chunk is used here.
        header_exif = not (fmt == "PNG" and "exif" not in im.info)
        orientation = _orientation(im) if header_exif else 1
        width, height = _oriented_size(im.size, orientation)
    return fmt, width, height


# --------------------------------------------------------------------------- opening


def _label(source: SourceType, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(source, bytes | bytearray | memoryview):
        return "<bytes>"
    return os.fspath(source)


@contextmanager
def _opened(
    source: SourceType, label: str, max_pixels: int | None
) -> Iterator[ImageFile.ImageFile]:
    """Identify ``source`` by content and check its size; the file stays open inside."""
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise ImageError(label, "empty file")
        with io.BytesIO(source) as buffer:
            yield _identify_checked(buffer, label, max_pixels)
        return
    try:
        fp = open(source, "rb")  # noqa: SIM115 - closed below, after decoding
    except OSError as e:
        raise ImageError(label, _os_reason(e, source)) from None
    with fp:
        try:
            empty = os.fstat(fp.fileno()).st_size == 0
        except OSError:  # pragma: no cover - fstat on an open file does not fail
            empty = False
        if empty:
            raise ImageError(label, "empty file")
        yield _identify_checked(fp, label, max_pixels)


def _identify_checked(fp: IO[bytes], label: str, max_pixels: int | None) -> ImageFile.ImageFile:
    with _reasons(label):
        im = _identify(fp, label)
    if im is None:
        fp.seek(0)
        raise ImageError(label, _unrecognised_reason(fp.read(4096)))
    width, height = im.size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageError(label, f"too many pixels ({width}×{height} > {max_pixels})")
    if max_pixels is not None and max(width, height) > MAX_SIDE:
        raise ImageError(label, f"too many pixels ({width}×{height}: a side over {MAX_SIDE})")
    return im


def _identify(fp: IO[bytes], label: str) -> ImageFile.ImageFile | None:
    """Pillow's format detection (what ``Image.open`` does), without its bomb check.

    ``Image.open`` refuses or warns about large images through the global
    ``Image.MAX_IMAGE_PIXELS`` and ``warnings``; neither can be adjusted per call
    from several threads. Walking the same plugin registry ourselves gives the
    same identification and leaves the size check to the caller.
    """
    fp.seek(0)
    prefix = fp.read(16)
    if not prefix:
        return None
    for fmt in tuple(Image.ID):
        factory, accept = Image.OPEN[fmt]
        try:
            if accept is not None:
                verdict = accept(prefix)
                if not verdict or isinstance(verdict, str):
                    continue
            fp.seek(0)
            return factory(fp, label)
        except (SyntaxError, IndexError, TypeError, struct.error):
            continue  # not this format (the same rule as Image.open)
    return None


def _unrecognised_reason(head: bytes) -> str:
    """Name formats we recognise but cannot decode; everything else is 'not an image'."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<svg", b"<?xml", b"<!doctype svg")) and b"<svg" in text:
        return "unsupported format: SVG"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        box_size = int.from_bytes(head[:4], "big")
        brands = {head[8:12]}
        end = min(max(box_size, 16), len(head))
        brands.update(head[i : i + 4] for i in range(16, end - 3, 4))
        if brands & _AVIF_BRANDS and not AVIF_SUPPORTED:
            return "unsupported format: AVIF (this Pillow has no AVIF decoder)"
        if brands & _HEIC_BRANDS and not HEIF_SUPPORTED:
            return "unsupported format: HEIC (pi-heif is not installed)"
        if brands & (_AVIF_BRANDS | _HEIC_BRANDS):
            return "corrupt image"  # a HEIF/AVIF container the decoder refused (cut short?)
    if head.startswith(b"%PDF-"):
        return "unsupported format: PDF"
    return "not an image"


# --------------------------------------------------------------------------- camera RAW


def _raw_kind(source: SourceType, label: str) -> str | None:
    """What :func:`picfind.raw.sniff` makes of the file (None: not RAW)."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = source
        return raw.sniff(lambda offset, n: bytes(data[offset : offset + n]), label)
    try:
        with open(source, "rb") as fp:

            def read(offset: int, n: int) -> bytes:
                fp.seek(offset)
                return fp.read(n)

            return raw.sniff(read, label)
    except OSError:
        return None  # _opened reports it with its reason


def _raw_format(kind: str, label: str) -> str:
    """'DNG', 'CR2', …; a TIFF-based RAW known by its extension is named by it ('NEF')."""
    return os.path.splitext(label)[1][1:].upper() if kind == "RAW?" else kind


@contextmanager
def _raw_opened(
    source: SourceType, label: str, kind: str, max_pixels: int | None
) -> Iterator[raw.RawImage | None]:
    """The RAW file opened by LibRaw, or None for a TIFF LibRaw does not take as RAW."""
    try:
        img = raw.open_raw(bytes(source) if isinstance(source, bytearray | memoryview) else source)
    except raw.RawReadError as e:
        if kind == "RAW?" and (e.reason == "unsupported" or not raw.RAW_SUPPORTED):
            yield None  # only the name said RAW: read it as the TIFF it is
            return
        raise ImageError(
            label, "corrupt image" if e.reason == "unsupported" else e.reason
        ) from None
    try:
        if max_pixels is not None and img.width * img.height > max_pixels:
            raise ImageError(label, f"too many pixels ({img.width}×{img.height} > {max_pixels})")
        yield img
    finally:
        img.close()


def _load_raw(
    source: SourceType, label: str, kind: str, size: int, max_pixels: int, draft: bool
) -> Loaded | None:
    """A RAW file for the model: its embedded preview when large enough, else demosaiced."""
    with _raw_opened(source, label, kind, max_pixels) as img:
        if img is None:
            return None
        rgb = _raw_preview(img, label, size, max_pixels) if draft else None
        if rgb is None:
            rgb = _demosaiced(img, label)
        with _reasons(label):
            resized = rgb.resize((size, size), Image.Resampling.BILINEAR)
        width, height = _oriented_size((img.width, img.height), img.orientation)
    pixels = np.asarray(resized, dtype=np.uint8)
    return Loaded(pixels=pixels, width=width, height=height, format=_raw_format(kind, label))


def _raw_preview(img: raw.RawImage, label: str, size: int, max_pixels: int) -> Image.Image | None:
    """The embedded preview, upright, if it is at least ``size`` on both sides (else None).

    Previews are stored like the raw data (unrotated), so the RAW's orientation
    applies, unless the preview JPEG carries an orientation of its own.
    """
    if img.preview_rgb is not None:
        if min(img.preview_rgb.shape[:2]) < size:
            return None
        method = _TRANSPOSE[img.orientation]
        bitmap = Image.fromarray(np.ascontiguousarray(img.preview_rgb))
        return bitmap.transpose(method) if method is not None else bitmap
    if img.preview is None:
        return None
    try:
        with _opened(img.preview, label, max_pixels) as im:
            if im.format != "JPEG" or min(im.size) < size:
                return None
            own = _orientation(im)
            orientation = own if own != 1 else img.orientation
            with _reasons(label):
                im.draft("RGB", _oriented_size((size, size), orientation))
            rgb, _ = _decode_rgb(im, label, orientation, size)
    except ImageError:
        return None  # a broken preview: the raw data may still be fine
    return rgb


def _demosaiced(img: raw.RawImage, label: str) -> Image.Image:
    try:
        return Image.fromarray(img.demosaic())
    except raw.RawReadError as e:
        raise ImageError(label, e.reason) from None


# --------------------------------------------------------------------------- decoding


@contextmanager
def _reasons(label: str) -> Iterator[None]:
    """Turn whatever Pillow raises for bad data into an ImageError with a reason."""
    try:
        yield
    except ImageError:
        raise
    except _DECODE_ERRORS as e:
        raise ImageError(label, _reason_for(e)) from None


def _reason_for(e: BaseException) -> str:
    if isinstance(e, OSError) and e.errno is not None:
        return _os_reason(e, None)  # the file system failed, not the image
    if isinstance(e, UnidentifiedImageError):
        return "not an image"
    message = str(e).lower()
    if isinstance(e, Image.DecompressionBombError | Image.DecompressionBombWarning):
        # A frame bigger than the header said, or reference_pixels' Image.open.
        found = re.findall(r"\d+", message)
        return (
            f"too many pixels ({found[0]} > {found[1]})" if len(found) >= 2 else "too many pixels"
        )
    if isinstance(e, EOFError) or "truncated" in message or "premature end" in message:
        return "truncated image"
    if isinstance(e, MemoryError):
        return "too large to decode"
    if isinstance(e, ValueError) and "conversion from" in message:
        return f"unsupported image mode ({e})"
    return "corrupt image"


def _os_reason(e: OSError, source: SourceType | None) -> str:
    if isinstance(e, FileNotFoundError):
        return "no such file"
    if isinstance(e, IsADirectoryError):
        return "is a directory"
    if isinstance(e, PermissionError):
        # Windows reports opening a directory as "permission denied".
        is_dir = isinstance(source, str | os.PathLike) and os.path.isdir(source)
        return "is a directory" if is_dir else "permission denied"
    return f"cannot read file: {e.strerror or e}"


def _oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    w, h = size
    return (h, w) if orientation in _SWAPS_AXES else (w, h)


def _orientation(im: Image.Image) -> int:
    """EXIF orientation 1–8; anything missing, unreadable or out of range counts as 1."""
    try:
        value = im.getexif().get(0x0112, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _decode_rgb(
    im: ImageFile.ImageFile, label: str, orientation: int | None, shrink_to: int | None = None
) -> tuple[Image.Image, int]:
    """Force decoding (first frame only), normalise to 8-bit RGB, orient upright.

    ``orientation`` is read here (after loading) unless the caller already had it.
    With ``shrink_to``, an image still larger than twice that on both sides is
    first box-reduced by an integer factor (to no less than twice it): the mode
    conversion, alpha flattening and transpose then work on the small image, so
    no second full-size copy exists (a 12-MP PNG: 36 MB, not 3 × 36 MB).
    """
    with _reasons(label):
        im.load()
        if orientation is None:
            orientation = _orientation(im)
        decoded: Image.Image = im if shrink_to is None else _shrunk(im, shrink_to)
        rgb = _to_rgb(decoded)
        method = _TRANSPOSE[orientation]
        if method is not None:
            rgb = rgb.transpose(method)
    return rgb, orientation


# Modes Image.reduce averages meaningfully (not palette indices, not bilevel, not
# the I;16 variants it refuses).
_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "I", "F"})
_STRIP_ROWS = 256  # rows of a full-size image premultiplied at a time (see _shrunk)


def _shrunk(im: Image.Image, size: int) -> Image.Image:
    """``im`` box-reduced by the largest integer factor that keeps it ≥ 2 × ``size``.

    Pillow reduces RGBA and LA correctly, premultiplying alpha first, which makes
    a full-size premultiplied copy; so those are reduced in horizontal strips
    (row counts a multiple of the factor: the same result), and only one strip
    is ever copied.
    """
    factor = min(im.size) // (2 * size)
    if factor < 2 or im.mode not in _REDUCIBLE or "transparency" in im.info:
        return im
    if im.mode not in ("RGBA", "LA"):
        return im.reduce(factor)
    width, height = im.size
    out = Image.new(im.mode, (-(-width // factor), -(-height // factor)))
    step = max(1, _STRIP_ROWS // factor) * factor
    for top in range(0, height, step):
        strip = im.crop((0, top, width, min(height, top + step))).reduce(factor)
        out.paste(strip, (0, top // factor))
    return out


def _heif_thumbnail(im: ImageFile.ImageFile, size: int, label: str) -> Image.Image | None:
    """The upright RGB of the file's smallest thumbnail ≥ ``size``, or None to decode in full.

    Orientation: libheif applies the items' ``irot``/``imir`` itself and the
    plugin resets the EXIF tag to 1 (HEIF's rule: the EXIF tag is informative
    only), so nothing is rotated here; :mod:`picfind.heif` only picks thumbnails
    with the primary's own transforms.
    """
    fp = im.fp
    if fp is None:
        return None
    try:
        if isinstance(fp, io.BytesIO):  # the bytes the pipeline read: no copy of them
            data = fp.getvalue()
        else:
            fp.seek(0)
            data = fp.read()
    except OSError:
        return None
    for compact in (True, False):  # the compact file libheif refuses: the whole one
        variant = heif.thumbnail_as_primary(data, size, compact=compact)
        if variant is None:
            return None
        try:
            with io.BytesIO(variant) as thumb_fp:
                thumb = _identify_checked(thumb_fp, label, None)
                if thumb.format != "HEIF" or min(thumb.size) < size:
                    return None
                rgb, _ = _decode_rgb(thumb, label, 1)
            return rgb
        except ImageError:
            continue
    return None  # a thumbnail libheif cannot decode: the full image may still be fine


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode → 8-bit RGB, transparency flattened onto white.

    16-bit data is scaled (÷257), never clipped: a clipped 16-bit photo is a white
    sheet. Mode ``I`` (32-bit integers) is read as 16-bit data too: that is where
    Pillow puts 16-bit samples of several formats. Float (``F``) images are taken
    as 0–1 when they fit, else as grey levels 0–255 (clipped).
    """
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode.startswith("I;16") or mode == "I":
        return _gray_to_rgb(_scale_16bit(np.asarray(im)))
    if mode == "F":
        return _gray_to_rgb(_scale_float(np.asarray(im)))
    has_alpha = mode in ("RGBA", "RGBa", "LA", "PA") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return im.convert("RGB")  # L, 1, P, CMYK (incl. Adobe inverted), YCbCr, RGBX, …


def _scale_16bit(values: np.ndarray) -> np.ndarray:
    """16 → 8 bits (÷257); data that never leaves 0–255 is 8-bit data widened
    without scaling (a common tool mistake) and is kept as it is, not blackened."""
    if values.size and int(values.max()) <= 255 and int(values.min()) >= 0:
        narrow: np.ndarray = values.astype(np.uint8)
        return narrow
    wide = np.clip(values, 0, 65535).astype(np.uint32)  # 65535 * 255 fits in 32 bits
    scaled: np.ndarray = ((wide * 255 + 32767) // 65535).astype(np.uint8)
    return scaled


def _scale_float(values: np.ndarray) -> np.ndarray:
    values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
    if values.size and values.min() >= 0.0 and values.max() <= 1.0:
        values = values * 255.0
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2)))


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_SIDE",
    "Loaded",
    "load_for_model",
    "open_image",
    "probe",
    "reference_pixels",
]
