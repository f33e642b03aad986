"""Tests for picfind.imaging: every odd file gets an explicit outcome, every mode a check.

Shared data (../shared/data, or $PICFIND_SHARED) is optional: tests needing it skip
with a reason; the format and mode coverage uses images generated in tmp_path.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import threading
import tracemalloc
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from picfind import imaging
from picfind.errors import ImageError
from picfind.imaging import (
    DEFAULT_MAX_PIXELS,
    Loaded,
    load_for_model,
    open_image,
    probe,
    reference_pixels,
)

SIZE = 224


def _shared_root() -> Path:
    env = os.environ.get("PICFIND_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


SHARED = _shared_root()
DATA = SHARED / "data"
ODD = DATA / "odd-images"
PETS = DATA / "pets" / "images"
CATSDOGS = DATA / "catsdogs"
GENERATED = ODD / "generated"


@pytest.fixture
def odd() -> Path:
    if not ODD.is_dir():
        pytest.skip(f"shared data not found at {ODD} (set PICFIND_SHARED to the shared/ folder)")
    return ODD


@pytest.fixture
def catsdogs_dir() -> Path:
    if not CATSDOGS.is_dir():
        pytest.skip(f"shared data not found at {CATSDOGS} (set PICFIND_SHARED)")
    return CATSDOGS


def mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images, in grey levels."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# --------------------------------------------------------------------------- outcome table

# Every file under odd-images: a Pillow format name (it loads) or "!reason" (ImageError).
# A file that is not in this table fails test_every_odd_file_has_a_decision.
ODD_OUTCOMES: dict[str, str] = {
    "alpha_channel_image.png": "PNG",
    "base_images/ukbench00120.jpg": "JPEG",
    "base_images/ukbench01380.jpg": "JPEG",
    "base_images/ukbench08976.jpg": "JPEG",
    "base_images/ukbench08996.jpg": "JPEG",
    "base_images/ukbench09012.jpg": "JPEG",
    "base_images/ukbench09040.jpg": "JPEG",
    "base_images/ukbench09060.jpg": "JPEG",
    "base_images/ukbench09268.jpg": "JPEG",
    "base_images/ukbench09348.jpg": "JPEG",
    "base_images/ukbench09380.jpg": "JPEG",
    "formats_images/Iggy.1024.ppm": "PPM",
    "formats_images/baboon.pgm": "PPM",
    "formats_images/copyleft.tiff": "TIFF",
    "formats_images/giphy.gif": "GIF",
    "formats_images/marbles.pbm": "PPM",
    # These four are the same JPEG under other extensions: content wins.
    "formats_images/ukbench09380.bmp": "JPEG",
    "formats_images/ukbench09380.jpeg": "JPEG",
    "formats_images/ukbench09380.png": "JPEG",
    "formats_images/ukbench09380.svg": "JPEG",
    "formats_images/ukbench09380.webp": "WEBP",
    "generated/bomb-40000x40000.png": f"!too many pixels (40000×40000 > {DEFAULT_MAX_PIXELS})",
    "generated/cat.7.cmyk.jpg": "JPEG",
    "generated/cat.7.exif-orientation-6.jpg": "JPEG",
    "generated/cat.7.gray16.png": "PNG",
    "generated/cat.7.palette.gif": "GIF",
    "generated/empty.jpg": "!empty file",
    "generated/not-an-image.jpg": "!not an image",
    "generated/truncated.jpg": "!truncated image",
    "mixed_images/ukbench00120.jpg": "JPEG",
    "mixed_images/ukbench00120_hflip.jpg": "JPEG",
    "mixed_images/ukbench00120_resize.jpg": "JPEG",
    "mixed_images/ukbench00120_rotation.jpg": "JPEG",
    "mixed_images/ukbench09268.jpg": "JPEG",
    # Random bytes from the first byte on: no image signature at all, so nothing
    # distinguishes it from any other binary file.
    "mixed_images/ukbench09268_corrupt.jpg": "!not an image",
    "mixed_nested_images/lvl1/lvl2a/ukbench00120_rotation.jpg": "JPEG",
    "mixed_nested_images/lvl1/lvl2b/ukbench00120_resize.jpg": "JPEG",
    "mixed_nested_images/lvl1/lvl2b/ukbench09268.jpg": "JPEG",
    "mixed_nested_images/lvl1/ukbench00120.jpg": "JPEG",
    "mixed_nested_images/ukbench00120_hflip.jpg": "JPEG",
    "mixed_nested_images/ukbench09268_corrupt.jpg": "!not an image",
    "ukbench00120_gray.jpg": "JPEG",
}


def _odd_files() -> list[str]:
    if not ODD.is_dir():
        return []
    return sorted(p.relative_to(ODD).as_posix() for p in ODD.rglob("*") if p.is_file())


def check_outcome(path: Path, expected: str) -> None:
    """Assert that ``path`` loads as ``expected`` format, or fails with ``expected`` reason."""
    if expected.startswith("!"):
        with pytest.raises(ImageError) as info:
            load_for_model(path, SIZE)
        assert info.value.reason == expected[1:]
        assert info.value.path == str(path)
        return
    loaded = load_for_model(path, SIZE)
    assert isinstance(loaded, Loaded)
    assert loaded.format == expected
    assert loaded.pixels.shape == (SIZE, SIZE, 3)
    assert loaded.pixels.dtype == np.uint8
    assert loaded.width > 0
    assert loaded.height > 0


@pytest.mark.shared_data
def test_every_odd_file_has_a_decision(odd: Path) -> None:
    on_disk = set(_odd_files())
    assert on_disk - ODD_OUTCOMES.keys() == set(), "new files need an entry in ODD_OUTCOMES"
    assert ODD_OUTCOMES.keys() - on_disk == set(), "entries for files that no longer exist"


@pytest.mark.shared_data
@pytest.mark.parametrize("relative", sorted(ODD_OUTCOMES))
def test_odd_file_outcome(odd: Path, relative: str) -> None:
    path = odd / relative
    if not path.exists():
        pytest.skip(f"{relative} is not in this copy of the shared data")
    check_outcome(path, ODD_OUTCOMES[relative])


def _sniff(path: Path) -> str:
    head = path.read_bytes()[:8]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG"):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    return "other"


@pytest.mark.shared_data
def test_pets_mat_files_and_format_liars() -> None:
    if not PETS.is_dir():
        pytest.skip(f"shared data not found at {PETS} (set PICFIND_SHARED)")
    mats = sorted(PETS.glob("*.mat"))
    liars = sorted(p for p in PETS.glob("*.jpg") if _sniff(p) != "JPEG")
    assert mats, "the pets set is expected to hold .mat files"
    assert {_sniff(p) for p in liars} == {"GIF", "PNG"}
    for path in mats:
        check_outcome(path, "!not an image")
    for path in liars:
        check_outcome(path, _sniff(path))


@pytest.mark.shared_data
def test_bytes_and_path_give_identical_pixels(odd: Path) -> None:
    for relative, expected in ODD_OUTCOMES.items():
        path = odd / relative
        if expected.startswith("!") or not path.exists():
            continue
        from_path = load_for_model(path, SIZE)
        from_bytes = load_for_model(path.read_bytes(), SIZE, name=str(path))
        assert np.array_equal(from_bytes.pixels, from_path.pixels), relative
        facts = (from_bytes.width, from_bytes.height, from_bytes.format)
        assert facts == (from_path.width, from_path.height, from_path.format), relative


def test_bytes_error_uses_the_given_name() -> None:
    with pytest.raises(ImageError) as info:
        load_for_model(b"hello, world", SIZE, name="some/file.jpg")
    assert (info.value.path, info.value.reason) == ("some/file.jpg", "not an image")
    with pytest.raises(ImageError) as info:
        load_for_model(b"", SIZE)
    assert (info.value.path, info.value.reason) == ("<bytes>", "empty file")


# --------------------------------------------------------------------------- shared photos


@pytest.mark.shared_data
def test_exif_rotated_photo_decodes_upright(odd: Path, catsdogs_dir: Path) -> None:
    rotated = GENERATED / "cat.7.exif-orientation-6.jpg"
    upright = load_for_model(catsdogs_dir / "cat.7.jpg", SIZE)
    loaded = load_for_model(rotated, SIZE)
    ignoring_exif = reference_pixels(rotated, SIZE)
    assert (loaded.width, loaded.height) == (upright.width, upright.height) == (495, 499)
    with Image.open(rotated) as stored:
        assert stored.size == (499, 495)  # stored sideways; the EXIF tag rotates it
    assert mad(loaded.pixels, upright.pixels) < 5  # measured 2.99
    assert mad(ignoring_exif, upright.pixels) > 30  # measured 60.8
    full = open_image(rotated)
    assert full.size == (495, 499)
    assert full.mode == "RGB"


@pytest.mark.shared_data
def test_cmyk_jpeg_colours_match_the_rgb_original(odd: Path, catsdogs_dir: Path) -> None:
    original = load_for_model(catsdogs_dir / "cat.7.jpg", SIZE).pixels
    cmyk = load_for_model(GENERATED / "cat.7.cmyk.jpg", SIZE).pixels
    assert mad(cmyk, original) < 3  # measured 0.39
    # Per channel too: an inverted or swapped CMYK would keep the mean grey level.
    for channel in range(3):
        assert abs(float(cmyk[..., channel].mean()) - float(original[..., channel].mean())) < 3


@pytest.mark.shared_data
def test_gray16_file_with_8bit_values_looks_like_its_original(odd: Path) -> None:
    """The shared 16-bit file stores 8-bit values (max 255) in a 16-bit container.

    Scaled as 16-bit data (÷257) it would be almost black; values that never
    leave 0–255 are read as the 8-bit data they are. Real 16-bit data is scaled,
    never clipped (test_sixteen_bit_modes_are_scaled).
    """
    path = GENERATED / "cat.7.gray16.png"
    with Image.open(path) as im:
        assert im.mode == "I;16"
        assert int(np.asarray(im).max()) <= 255
    loaded = load_for_model(path, SIZE)
    assert loaded.format == "PNG"
    original = load_for_model(odd.parent / "catsdogs" / "cat.7.jpg", SIZE).pixels
    gray = original.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert abs(float(loaded.pixels.mean()) - float(gray.mean())) < 5


@pytest.mark.shared_data
def test_palette_transparency_flattened_on_white(odd: Path) -> None:
    path = GENERATED / "cat.7.palette.gif"
    with Image.open(path) as im:
        assert im.mode == "P"
        transparent = np.asarray(im) == im.info["transparency"]
    assert transparent.any()
    pixels = np.asarray(open_image(path))
    assert (pixels[transparent] == 255).all()
    assert (pixels[~transparent] < 255).any()


@pytest.mark.shared_data
def test_bomb_is_refused_before_decoding(odd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = (GENERATED / "bomb-40000x40000.png").read_bytes()

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("the bomb was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    tracemalloc.start()
    try:
        with pytest.raises(ImageError) as info:
            load_for_model(data, SIZE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason == f"too many pixels (40000×40000 > {DEFAULT_MAX_PIXELS})"
    assert peak < 4 * len(data) + 1_000_000
    assert probe(data) == ("PNG", 40000, 40000)


@pytest.mark.shared_data
def test_draft_is_close_to_full_decode(odd: Path) -> None:
    path = ODD / "base_images/ukbench00120.jpg"  # 640×480: draft decodes at 1/2
    with Image.open(path) as im:
        assert im.draft("RGB", (SIZE, SIZE)) is not None
        assert im.size == (320, 240)
    drafted = load_for_model(path, SIZE)
    full = load_for_model(path, SIZE, draft=False)
    assert (drafted.width, drafted.height) == (full.width, full.height) == (640, 480)
    assert mad(drafted.pixels, full.pixels) < 3  # measured 1.52


@pytest.mark.shared_data
def test_reference_pixels_match_the_golden_recipe(catsdogs_dir: Path) -> None:
    path = catsdogs_dir / "dog.3.jpg"
    with Image.open(path) as im:
        expected = np.asarray(im.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR))
    got = reference_pixels(path, SIZE)
    assert got.dtype == np.uint8
    assert np.array_equal(got, expected)
    # An upright RGB JPEG too small for draft: the model path gives the same pixels.
    assert np.array_equal(load_for_model(path, SIZE).pixels, expected)


@pytest.mark.shared_data
def test_concurrent_decoding_matches_serial(odd: Path) -> None:
    paths = [odd / r for r, e in sorted(ODD_OUTCOMES.items()) if not e.startswith("!")]
    serial = [load_for_model(p, SIZE).pixels for p in paths]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda p: load_for_model(p, SIZE).pixels, paths * 3))
    for i, pixels in enumerate(parallel):
        assert np.array_equal(pixels, serial[i % len(paths)])


# --------------------------------------------------------------------------- generated images


def photo(width: int = 64, height: int = 48) -> Image.Image:
    """A smooth, asymmetric RGB test picture (orientation mistakes are visible)."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    g = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    b = ((x + 2 * y) % 256).astype(np.uint8)
    return Image.fromarray(np.stack([r, g, b], axis=2))


def saved(im: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mode", "params"),
    [
        ("PNG", "RGB", {}),
        ("PNG", "RGBA", {}),
        ("PNG", "LA", {}),
        ("PNG", "L", {}),
        ("PNG", "1", {}),
        ("PNG", "P", {}),
        ("JPEG", "RGB", {"quality": 95}),
        ("JPEG", "L", {"quality": 95}),
        ("JPEG", "CMYK", {"quality": 95}),
        ("GIF", "P", {}),
        ("BMP", "RGB", {}),
        ("TIFF", "RGB", {}),
        ("TIFF", "CMYK", {}),
        ("TIFF", "RGBA", {"compression": "tiff_deflate"}),
        ("WEBP", "RGB", {"lossless": True}),
        ("WEBP", "RGBA", {"lossless": True}),
        ("PPM", "RGB", {}),
        ("ICO", "RGBA", {"sizes": [(64, 64)]}),
    ],
)
def test_generated_formats_and_modes_load(fmt: str, mode: str, params: dict[str, object]) -> None:
    source = photo(64, 64).convert(mode)
    data = saved(source, fmt, **params)
    loaded = load_for_model(data, 32)
    assert loaded.format == fmt
    assert loaded.pixels.shape == (32, 32, 3)
    assert loaded.pixels.dtype == np.uint8
    assert (loaded.width, loaded.height) == (64, 64)
    assert probe(data) == (fmt, 64, 64)
    full = open_image(data)
    assert (full.mode, full.size) == ("RGB", (64, 64))
    if mode in ("RGB", "RGBA", "CMYK") and fmt != "GIF":
        # Opaque colour images keep their colours, whatever the container.
        assert mad(np.asarray(full), np.asarray(photo(64, 64))) < 4


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_sixteen_bit_modes_are_scaled(fmt: str) -> None:
    gray8 = np.asarray(photo(64, 48).convert("L"))
    gray16 = gray8.astype(np.uint16) * 257  # full 16-bit range
    data = saved(Image.fromarray(gray16), fmt)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode.startswith("I;16")
    pixels = np.asarray(open_image(data))
    assert pixels.shape == (48, 64, 3)
    assert np.array_equal(pixels[..., 0], gray8)
    assert np.array_equal(pixels[..., 0], pixels[..., 2])


def test_big_endian_16bit_and_32bit_int_modes() -> None:
    gray8 = np.asarray(photo(64, 48).convert("L"))
    big = Image.frombytes("I;16B", (64, 48), (gray8.astype(">u2") * 257).tobytes())
    assert np.array_equal(imaging._to_rgb(big).getchannel(0), Image.fromarray(gray8))
    as_int = Image.fromarray(gray8.astype(np.int32) * 257)
    assert as_int.mode == "I"
    assert np.array_equal(np.asarray(open_image(saved(as_int, "TIFF")))[..., 1], gray8)


def test_float_images_in_unit_range_and_in_grey_levels() -> None:
    gray8 = np.asarray(photo(64, 48).convert("L"))
    unit = Image.fromarray(gray8.astype(np.float32) / 255)
    levels = Image.fromarray(gray8.astype(np.float32))
    assert unit.mode == levels.mode == "F"
    for im in (unit, levels):
        pixels = np.asarray(open_image(saved(im, "TIFF")))
        assert np.abs(pixels[..., 0].astype(int) - gray8).max() <= 1


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA"])
def test_alpha_is_flattened_on_white(mode: str) -> None:
    im = photo(32, 32).convert("RGBA")
    alpha = np.zeros((32, 32), np.uint8)
    alpha[:, 16:] = 255
    im.putalpha(Image.fromarray(alpha))
    im = im.convert(mode)
    if mode == "PA":  # no common format stores PA: check the conversion itself
        pixels = np.asarray(imaging._to_rgb(im))
    else:
        pixels = np.asarray(open_image(saved(im, "PNG")))
    assert (pixels[:, :16] == 255).all()
    assert (pixels[:, 16:] < 255).any()


@pytest.mark.parametrize("mode", ["P", "L", "RGB"])
def test_png_transparency_key_flattened_on_white(mode: str) -> None:
    im = photo(32, 32).convert(mode)
    key = im.getpixel((0, 0))
    data = saved(im, "PNG", transparency=key)
    with Image.open(io.BytesIO(data)) as opened:
        assert "transparency" in opened.info
        assert opened.mode == mode
    pixels = np.asarray(open_image(data))
    assert (pixels[0, 0] == 255).all()


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF", "PNG"])
def test_multi_frame_files_give_the_first_frame(fmt: str) -> None:
    red = Image.new("RGB", (40, 30), (220, 20, 20))
    blue = Image.new("RGB", (40, 30), (20, 20, 220))
    params: dict[str, object] = {"save_all": True, "append_images": [blue]}
    if fmt == "WEBP":
        params["lossless"] = True
    data = saved(red, fmt, **params)
    with Image.open(io.BytesIO(data)) as im:
        assert getattr(im, "n_frames", 1) == 2
    pixels = load_for_model(data, 16).pixels
    assert abs(int(pixels[..., 0].mean()) - 220) <= 6
    assert int(pixels[..., 2].mean()) <= 30


# Orientation → how to store an upright image so that the tag brings it back.
_STORE_FOR_ORIENTATION: dict[int, Callable[[Image.Image], Image.Image]] = {
    1: lambda im: im,
    2: lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    3: lambda im: im.transpose(Image.Transpose.ROTATE_180),
    4: lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    5: lambda im: im.transpose(Image.Transpose.TRANSPOSE),
    6: lambda im: im.transpose(Image.Transpose.ROTATE_90),
    7: lambda im: im.transpose(Image.Transpose.TRANSVERSE),
    8: lambda im: im.transpose(Image.Transpose.ROTATE_270),
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation(orientation: int) -> None:
    upright = photo(60, 40)
    stored = _STORE_FOR_ORIENTATION[orientation](upright)
    exif = Image.Exif()
    exif[0x0112] = orientation
    png = saved(stored, "PNG", exif=exif.tobytes())
    assert np.array_equal(np.asarray(open_image(png)), np.asarray(upright))
    loaded = load_for_model(png, 20)
    assert (loaded.width, loaded.height) == (60, 40)
    assert probe(png) == ("PNG", 60, 40)
    # JPEG, large enough for draft to act (scale 1/4), through the model path.
    big = photo(600, 400)
    jpeg = saved(_STORE_FOR_ORIENTATION[orientation](big), "JPEG", quality=95, exif=exif)
    drafted = load_for_model(jpeg, 100)
    assert (drafted.width, drafted.height) == (600, 400)
    expected = np.asarray(big.resize((100, 100), Image.Resampling.BILINEAR))
    assert mad(drafted.pixels, expected) < 3


def test_invalid_orientation_is_ignored() -> None:
    exif = Image.Exif()
    exif[0x0112] = 42
    data = saved(photo(30, 20), "JPEG", exif=exif)
    assert load_for_model(data, 10).width == 30


def test_truncated_and_corrupt_files() -> None:
    jpeg = saved(photo(200, 150), "JPEG", quality=90)
    png = saved(photo(200, 150), "PNG")
    for cut in (jpeg[: len(jpeg) // 2], png[: len(png) // 2]):
        with pytest.raises(ImageError) as info:
            load_for_model(cut, SIZE)
        assert info.value.reason == "truncated image"
    # A PNG whose compressed data was overwritten: corrupt, not cut short.
    start = png.index(b"IDAT") + 4
    garbled = png[:start] + bytes(200) + png[start + 200 :]
    with pytest.raises(ImageError) as info:
        load_for_model(garbled, SIZE)
    assert info.value.reason == "corrupt image"
    # A JPEG cut inside its header: identified, but the header does not parse.
    with pytest.raises(ImageError) as info:
        load_for_model(jpeg[:300], SIZE)
    assert info.value.reason in ("truncated image", "not an image")


def test_gif_frame_larger_than_its_screen() -> None:
    """The header says 24×16, the first frame 60000×60000: Pillow's own check fires."""
    screen = struct.pack("<HHBBB", 24, 16, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, 60000, 60000, 0)
    gif = b"GIF87a" + screen + frame + b"\x08\x01\x00\x00;"
    with pytest.raises(ImageError) as info:
        load_for_model(gif, SIZE, max_pixels=10**12)
    assert info.value.reason.startswith("too many pixels (3600000000 > ")


def test_default_limit_is_below_pillows_own() -> None:
    """So Pillow's global re-checks (GIF, TIFF, ICO frames) never fire by default."""
    assert Image.MAX_IMAGE_PIXELS is not None
    assert DEFAULT_MAX_PIXELS <= Image.MAX_IMAGE_PIXELS


def test_pillow_log_records_are_not_printed(caplog: pytest.LogCaptureFixture) -> None:
    """A TIFF claiming 60000 samples per pixel: Pillow logs an ERROR, we only raise.

    pytest captures log records itself, so this checks that the record exists and
    that the PIL logger has the NullHandler which keeps Python's last-resort
    handler from printing it when an application configured no logging.
    """
    data = bytearray(saved(photo(8, 8), "TIFF"))
    tag = struct.pack("<HHI", 277, 3, 1)  # SamplesPerPixel, SHORT, count 1
    at = data.index(tag)
    data[at + 8 : at + 10] = struct.pack("<H", 60000)
    with pytest.raises(ImageError) as info:
        load_for_model(bytes(data), 8)
    assert info.value.reason == "not an image"  # the TIFF plugin rejects its header
    assert any("samples per pixel" in r.getMessage() for r in caplog.records)
    handlers = logging.getLogger("PIL").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_truncation_setting_is_left_alone() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert Image.MAX_IMAGE_PIXELS == (1024 * 1024 * 1024 // 4 // 3)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming width×height 1-bit pixels with a few bytes of data: a bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(bytes(1 + (width + 7) // 8) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_bomb_limits_without_shared_data() -> None:
    bomb = _png_header_only(9_000, 9_000)  # 81 MP: above the default limit
    with pytest.raises(ImageError) as info:
        load_for_model(bomb, SIZE)
    assert info.value.reason == f"too many pixels (9000×9000 > {DEFAULT_MAX_PIXELS})"
    with pytest.raises(ImageError) as info:
        open_image(bomb)
    assert info.value.reason.startswith("too many pixels")
    # Between Pillow's warning (89 MP) and error (179 MP) thresholds: pytest runs
    # with warnings as errors, so a DecompressionBombWarning would fail this.
    assert probe(_png_header_only(10_000, 10_000)) == ("PNG", 10_000, 10_000)
    assert probe(_png_header_only(20_000, 20_000)) == ("PNG", 20_000, 20_000)
    # The caller's limit applies, in both directions.
    small = saved(photo(20, 20), "PNG")
    with pytest.raises(ImageError) as info:
        load_for_model(small, 8, max_pixels=399)
    assert info.value.reason == "too many pixels (20×20 > 399)"
    assert load_for_model(small, 8, max_pixels=400).width == 20


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (b'\xef\xbb\xbf  <svg width="10" height="10"></svg>', "SVG"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), "HEIC"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(64), "PDF"),
    ],
)
def test_recognised_but_unsupported_formats(data: bytes, reason: str) -> None:
    with pytest.raises(ImageError) as info:
        load_for_model(data, SIZE)
    if reason == "HEIC" and imaging.HEIF_SUPPORTED:
        # pi-heif is a core dependency: HEIC is read, and a broken one is corrupt.
        assert info.value.reason == "corrupt image"
        return
    assert info.value.reason.startswith(f"unsupported format: {reason}")
    if reason == "HEIC":
        assert info.value.reason == "unsupported format: HEIC (pi-heif is not installed)"


@pytest.mark.parametrize(
    "data",
    [b"this is a text file\n", b"MATLAB 5.0 MAT-file" + bytes(200), bytes(range(256)) * 4, b"\x00"],
)
def test_non_images(data: bytes) -> None:
    with pytest.raises(ImageError) as info:
        load_for_model(data, SIZE)
    assert info.value.reason == "not an image"


def test_file_system_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as info:
        load_for_model(tmp_path / "missing.jpg", SIZE)
    assert info.value.reason == "no such file"
    with pytest.raises(ImageError) as info:
        load_for_model(tmp_path, SIZE)
    assert info.value.reason == "is a directory"
    empty = tmp_path / "empty.png"
    empty.touch()
    with pytest.raises(ImageError) as info:
        probe(empty)
    assert info.value.reason == "empty file"


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode"
)
def test_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    path.write_bytes(saved(photo(), "PNG"))
    path.chmod(0)
    try:
        with pytest.raises(ImageError) as info:
            load_for_model(path, SIZE)
        assert info.value.reason == "permission denied"
    finally:
        path.chmod(0o600)


def test_permission_denied_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Works as root too: the module's open() fails as it would for an unreadable file."""
    path = tmp_path / "secret.png"
    path.write_bytes(saved(photo(), "PNG"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(imaging, "open", refuse, raising=False)
    with pytest.raises(ImageError) as info:
        load_for_model(path, SIZE)
    assert info.value.reason == "permission denied"


def test_path_and_bytes_and_pathlike_agree(tmp_path: Path) -> None:
    path = tmp_path / "picture.webp"
    data = saved(photo(90, 70), "PNG")  # a PNG named .webp
    path.write_bytes(data)
    results = [load_for_model(src, 33) for src in (path, str(path), data)]
    assert all(r.format == "PNG" for r in results)
    assert all(np.array_equal(r.pixels, results[0].pixels) for r in results)


def test_open_image_is_detached_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(saved(photo(), "PNG"))
    im = open_image(path)
    path.unlink()
    assert im.mode == "RGB"
    assert im.copy().size == (64, 48)


def test_decode_threads_do_not_interfere() -> None:
    sources = [saved(photo(200 + i, 150), fmt) for i, fmt in enumerate(["JPEG", "PNG", "GIF"])]
    serial = [load_for_model(s, 50).pixels for s in sources]
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work(k: int) -> None:
        barrier.wait()
        try:
            for _ in range(20):
                assert np.array_equal(load_for_model(sources[k % 3], 50).pixels, serial[k % 3])
        except BaseException as e:  # collected for the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="size"):
        load_for_model(saved(photo(), "PNG"), 0)


def _samples() -> list[bytes]:
    small = photo(24, 16)
    return [
        saved(small, "PNG"),
        saved(small.convert("P"), "PNG", transparency=0),
        saved(small, "JPEG", quality=80),
        saved(small.convert("CMYK"), "JPEG"),
        saved(small.convert("P"), "GIF"),
        saved(small, "BMP"),
        saved(small, "TIFF"),
        saved(small.convert("RGBA"), "WEBP"),
        saved(small, "PPM"),
        saved(Image.fromarray(np.asarray(small.convert("L")).astype(np.uint16) * 257), "PNG"),
    ]


SAMPLES = _samples()


@settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    sample=st.sampled_from(SAMPLES),
    cut=st.integers(min_value=1, max_value=4000),
    edits=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=8),
)
def test_damaged_files_raise_only_image_error(
    sample: bytes, cut: int, edits: list[tuple[int, int]]
) -> None:
    """Truncated and byte-flipped files of every format: a result or an ImageError."""
    blob = bytearray(sample[:cut])
    for position, value in edits:
        if blob:
            blob[position % len(blob)] = value
    try:
        loaded = load_for_model(bytes(blob), 8, max_pixels=1_000_000)
    except ImageError as e:
        assert e.reason
    else:
        assert loaded.pixels.shape == (8, 8, 3)
        assert loaded.pixels.dtype == np.uint8
