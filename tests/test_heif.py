"""HEIC/HEIF and AVIF: files made here (pillow-heif writes HEIC, Pillow writes AVIF),
through ``imaging.load_for_model`` and through a real index and search."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image

import picfind
from picfind import heif, imaging
from picfind.errors import ImageError
from picfind.imaging import load_for_model

SIZE = 224
RED = (255, 0, 0)


def marked(width: int, height: int, seed: int = 0) -> Image.Image:
    """A textured picture with a red block in its top-left corner (to see orientation)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 40 + 1, width // 40 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    img.paste(RED, (0, 0, width // 4, height // 4))
    return img


def heic(img: Image.Image, *, orientation: int = 1, thumbnails: tuple[int, ...] = ()) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    pillow_heif.from_pillow(img).save(
        buf,
        quality=85,
        exif=exif.tobytes(),
        thumbnails=list(thumbnails),
        enc_params={"preset": "ultrafast"},  # x265's default preset takes seconds a photo
    )
    return buf.getvalue()


def avif(img: Image.Image, *, orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "AVIF", quality=85, speed=10, exif=exif.tobytes())
    return buf.getvalue()


def red_corner(pixels: np.ndarray) -> str:
    """Which corner of the model's input is red: 'tl', 'tr', 'bl' or 'br'."""
    n = pixels.shape[0]
    corners = {"tl": (5, 5), "tr": (5, n - 6), "bl": (n - 6, 5), "br": (n - 6, n - 6)}
    red = [k for k, (y, x) in corners.items() if _is_red(pixels[y, x])]
    assert len(red) == 1, f"red corners: {red}"
    return red[0]


def _is_red(px: np.ndarray) -> bool:
    r, g, b = (int(v) for v in px)
    return r > 200 and g < 60 and b < 60


def test_heif_and_avif_are_supported() -> None:
    assert imaging.HEIF_SUPPORTED
    assert imaging.AVIF_SUPPORTED


@pytest.mark.parametrize("thumbnails", [(), (256, 400, 800)])
@pytest.mark.parametrize(
    ("orientation", "corner", "size"),
    [(1, "tl", (1600, 1200)), (6, "tr", (1200, 1600)), (3, "br", (1600, 1200))],
)
def test_heic_orientation_and_size(
    thumbnails: tuple[int, ...], orientation: int, corner: str, size: tuple[int, int]
) -> None:
    data = heic(marked(1600, 1200), orientation=orientation, thumbnails=thumbnails)
    loaded = load_for_model(data, SIZE)
    assert loaded.format == "HEIF"
    assert (loaded.width, loaded.height) == size  # the original's, not the thumbnail's
    assert loaded.pixels.shape == (SIZE, SIZE, 3)
    assert red_corner(loaded.pixels) == corner
    full = load_for_model(data, SIZE, draft=False)
    assert (full.width, full.height) == size
    assert red_corner(full.pixels) == corner
    assert np.abs(full.pixels.astype(int) - loaded.pixels).mean() < 6


def test_heic_uses_the_smallest_thumbnail_that_is_large_enough() -> None:
    data = heic(marked(1600, 1200), thumbnails=(256, 400, 800))
    variant = heif.thumbnail_as_primary(data, SIZE)
    assert variant is not None and len(variant) < len(data) / 2  # meta + the thumbnail's data
    thumb = load_for_model(variant, SIZE, draft=False)
    assert (thumb.width, thumb.height) == (400, 300)  # 256 is 256×192: too small
    # The model's pixels are exactly the thumbnail's.
    assert np.array_equal(load_for_model(data, SIZE).pixels, thumb.pixels)
    # A larger input needs the 800 one; larger still, the full image.
    big = heif.thumbnail_as_primary(data, 500)
    assert big is not None
    assert load_for_model(big, 500, draft=False).width == 800
    assert heif.thumbnail_as_primary(data, 700) is None
    assert load_for_model(data, 700).width == 1600


def test_the_compact_thumbnail_file_decodes_as_the_whole_patched_file() -> None:
    """The small file (meta + the thumbnail's extents, iloc rewritten) decodes to exactly
    the pixels of the whole file with the same two patches (the layout it replaces)."""
    data = heic(marked(1600, 1200), orientation=6, thumbnails=(256, 400))
    meta = heif._read_meta(data)
    assert meta is not None
    chosen = next(i for i in meta.thumbs if meta.items[i].width == 400)
    item_id = chosen.to_bytes(4 if meta.pitm_wide else 2, "big")
    patches = [(meta.pitm_at, item_id), (meta.thumbs[chosen], heif._IGNORED_REFERENCE)]
    whole = heif._patched(data, sorted(patches))
    compact = heif._compact(data, meta, chosen, patches)
    assert compact is not None and len(compact) < len(whole) / 2 and len(whole) == len(data)
    a = load_for_model(whole, SIZE, draft=False)
    b = load_for_model(compact, SIZE, draft=False)
    assert (a.width, a.height) == (b.width, b.height) == (300, 400)  # the thumbnail, upright
    assert np.array_equal(a.pixels, b.pixels)
    # data that is not where the file says: no compact file (the whole one is used)
    meta.locations[chosen].extents = [(0, 4, len(data), 10)]
    assert heif._compact(data, meta, chosen, patches) is None


def test_a_compact_file_libheif_refuses_falls_back_to_the_whole_patched_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = heic(marked(1600, 1200), thumbnails=(400,))
    whole = heif.thumbnail_as_primary(data, SIZE, compact=False)
    assert whole is not None and len(whole) == len(data)
    expected = load_for_model(whole, SIZE, draft=False).pixels  # the thumbnail's pixels
    assert not np.array_equal(expected, load_for_model(data, SIZE, draft=False).pixels)
    broken = b"\x00\x00\x00\x10ftypheic\x00\x00\x00\x00" + bytes(64)
    monkeypatch.setattr(heif, "_compact", lambda *args: broken)
    loaded = load_for_model(data, SIZE)
    assert (loaded.width, loaded.height) == (1600, 1200)
    assert np.array_equal(loaded.pixels, expected)  # the thumbnail, not a full decode


def test_heic_without_a_large_enough_thumbnail_decodes_in_full() -> None:
    data = heic(marked(1600, 1200), thumbnails=(200,))
    assert heif.thumbnail_as_primary(data, SIZE) is None
    loaded = load_for_model(data, SIZE)
    assert (loaded.width, loaded.height) == (1600, 1200)
    assert red_corner(loaded.pixels) == "tl"


def test_heif_boxes_that_are_not_as_expected_mean_no_thumbnail() -> None:
    data = heic(marked(800, 600), thumbnails=(300,))
    assert heif.thumbnail_as_primary(data, SIZE) is not None
    assert heif.thumbnail_as_primary(data[:200], SIZE) is None  # cut inside the meta box
    assert heif.thumbnail_as_primary(b"\x00\x00\x00\x08ftyp", SIZE) is None
    assert heif.thumbnail_as_primary(bytes(100), SIZE) is None


@pytest.mark.parametrize(
    ("orientation", "corner", "size"), [(1, "tl", (800, 600)), (6, "tr", (600, 800))]
)
def test_avif_orientation_and_size(orientation: int, corner: str, size: tuple[int, int]) -> None:
    data = avif(marked(800, 600), orientation=orientation)
    loaded = load_for_model(data, SIZE)
    assert loaded.format == "AVIF"
    assert (loaded.width, loaded.height) == size
    assert red_corner(loaded.pixels) == corner


def test_truncated_heic_has_a_reason() -> None:
    data = heic(marked(800, 600))
    with pytest.raises(ImageError) as info:
        load_for_model(data[: len(data) // 2], SIZE)
    assert info.value.reason in ("truncated image", "corrupt image")


@pytest.mark.slow
def test_heic_and_avif_through_index_and_search(catsdogs: Path, tmp_path: Path) -> None:
    """A phone's HEIC and an AVIF of the same photos find their JPEG twins first."""
    photos = tmp_path / "photos"
    photos.mkdir()
    names = [f"{kind}.{i}" for kind in ("cat", "dog") for i in range(4)]
    for name in names:
        img = Image.open(catsdogs / f"{name}.jpg").convert("RGB")
        (photos / f"{name}.jpg").write_bytes((catsdogs / f"{name}.jpg").read_bytes())
        big = img.resize((img.width * 2, img.height * 2), Image.Resampling.BICUBIC)
        (tmp_path / f"{name}.heic").write_bytes(heic(big, thumbnails=(320,)))
        (tmp_path / f"{name}.avif").write_bytes(avif(img))
    # The HEIC and AVIF copies are indexed beside the JPEGs (named .jpg: format by content).
    for name in names[:2]:
        (photos / f"{name}.heic.jpg").write_bytes((tmp_path / f"{name}.heic").read_bytes())
        (photos / f"{name}.avif").write_bytes((tmp_path / f"{name}.avif").read_bytes())
    with picfind.open_index(tmp_path / "index", create=True) as index:
        report = index.add([photos])
        assert report.indexed == len(names) + 4 and not report.skipped
        for name in names[2:]:
            for ext in ("heic", "avif"):
                results = index.search_image(tmp_path / f"{name}.{ext}", mode="embedding")
                top = results.results[0]
                assert Path(top.path).name == f"{name}.jpg", (ext, name, top.path)
                assert top.score > 0.85
        # An indexed HEIC is found from its JPEG twin.
        results = index.search_image(photos / f"{names[0]}.jpg", mode="embedding", limit=3)
        assert f"{names[0]}.heic.jpg" in [Path(r.path).name for r in results.results]
