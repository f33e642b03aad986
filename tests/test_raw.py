"""Camera RAW through LibRaw: DNGs built here (tests/dngfile.py), with and without an
embedded JPEG preview, through ``imaging`` and a real index; format detection."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import rawpy
from dngfile import dng_bytes, jpeg_bytes, write_dng
from PIL import Image
from test_heif import marked, red_corner

import picfind
from picfind import imaging, raw
from picfind.duplicates import DEFAULT_THRESHOLD, duplicates_in_index
from picfind.errors import ImageError
from picfind.imaging import load_for_model, probe

SIZE = 224


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int32) - b.astype(np.int32)).mean())


def test_rawpy_is_installed_and_reads_our_dng(tmp_path: Path) -> None:
    assert raw.RAW_SUPPORTED
    path = write_dng(tmp_path / "a.dng", marked(600, 400), with_preview=True)
    with rawpy.imread(str(path)) as r:
        assert (r.sizes.width, r.sizes.height) == (600, 400)
        assert r.extract_thumb().format == rawpy.ThumbFormat.JPEG


@pytest.mark.parametrize(
    ("orientation", "corner", "size"),
    [(1, "tl", (600, 400)), (6, "tr", (400, 600)), (8, "bl", (400, 600))],
)
@pytest.mark.parametrize("with_preview", [True, False])
def test_dng_orientation_and_size(
    tmp_path: Path, with_preview: bool, orientation: int, corner: str, size: tuple[int, int]
) -> None:
    path = write_dng(
        tmp_path / "a.dng", marked(600, 400), with_preview=with_preview, orientation=orientation
    )
    loaded = load_for_model(path, SIZE)
    assert loaded.format == "DNG"
    assert (loaded.width, loaded.height) == size
    assert red_corner(loaded.pixels) == corner
    assert probe(path) == ("DNG", *size)
    full = imaging.open_image(path)
    assert full.size == (size[0] // 2, size[1] // 2)  # half-size demosaic


def test_dng_preview_is_used_when_large_enough(tmp_path: Path) -> None:
    photo = marked(600, 400)
    rgb = np.asarray(photo)
    preview = jpeg_bytes(photo, 85)
    with_preview = dng_bytes(rgb, preview=preview, orientation=6)
    without = dng_bytes(rgb, orientation=6)
    tiny = dng_bytes(rgb, preview=jpeg_bytes(photo.resize((150, 100)), 85), orientation=6)
    # The preview path gives exactly what the preview JPEG gives, rotated by the DNG's tag.
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated_jpeg = load_for_model(_with_exif(preview, exif.tobytes()), SIZE)
    assert np.array_equal(load_for_model(with_preview, SIZE).pixels, rotated_jpeg.pixels)
    # Too small a preview: the raw data is demosaiced, as with no preview at all.
    demosaiced = load_for_model(without, SIZE).pixels
    assert np.array_equal(load_for_model(tiny, SIZE).pixels, demosaiced)
    # draft=False always demosaics; preview and demosaic agree on the picture.
    assert np.array_equal(load_for_model(with_preview, SIZE, draft=False).pixels, demosaiced)
    assert mad(rotated_jpeg.pixels, demosaiced) < 25


def _with_exif(jpeg: bytes, exif: bytes) -> bytes:
    """``jpeg`` with an APP1 EXIF segment (``exif`` starts ``Exif\\0\\0``) after SOI."""
    segment = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    return jpeg[:2] + segment + jpeg[2:]


def sniff(data: bytes, name: str | None) -> str | None:
    return raw.sniff(lambda offset, n: data[offset : offset + n], name)


def test_detection_is_by_content_and_the_extension_only_a_hint(tmp_path: Path) -> None:
    dng = dng_bytes(np.asarray(marked(64, 48)), orientation=1)
    assert sniff(dng, None) == "DNG"
    # A DNG is one whatever its name.
    (tmp_path / "photo.jpg").write_bytes(dng)
    assert load_for_model(tmp_path / "photo.jpg", 32).format == "DNG"
    # A plain TIFF named like a RAW is tried as RAW, then read as the TIFF it is.
    tiff = io.BytesIO()
    marked(64, 48).save(tiff, "TIFF")
    (tmp_path / "photo.nef").write_bytes(tiff.getvalue())
    assert sniff(tiff.getvalue(), "photo.nef") == "RAW?"
    assert sniff(tiff.getvalue(), "photo.tif") is None
    loaded = load_for_model(tmp_path / "photo.nef", 32)
    assert (loaded.format, loaded.width, loaded.height) == ("TIFF", 64, 48)
    # Magic numbers of RAW formats that are not plain TIFF.
    assert sniff(b"II*\0\x10\0\0\0CR\x02\0" + bytes(20), None) == "CR2"
    assert sniff(b"IIRO\x08\0\0\0" + bytes(20), None) == "ORF"
    assert sniff(b"IIU\0\x08\0\0\0" + bytes(20), None) == "RW2"
    assert sniff(b"FUJIFILMCCD-RAW 0201", None) == "RAF"
    assert sniff(b"\0\0\0\x18ftypcrx \0\0\0\x01", None) == "CR3"
    assert sniff(b"\xff\xd8\xff\xe0", "x.nef") is None  # a JPEG named .nef is a JPEG


def test_bad_raw_files_have_reasons(tmp_path: Path) -> None:
    dng = dng_bytes(np.asarray(marked(600, 400)))
    with pytest.raises(ImageError) as info:
        load_for_model(dng[: len(dng) // 3], SIZE)
    assert info.value.reason in ("truncated image", "corrupt image")
    fake = b"IIRO\x08\0\0\0" + bytes(200)  # ORF magic, nothing behind it
    with pytest.raises(ImageError) as info:
        load_for_model(fake, SIZE)
    assert info.value.reason == "corrupt image"
    with pytest.raises(ImageError) as info:
        load_for_model(dng, SIZE, max_pixels=1000)
    assert info.value.reason == "too many pixels (600×400 > 1000)"


@pytest.mark.slow
def test_raw_and_its_jpeg_twin_are_indexed_both_and_grouped(catsdogs: Path, tmp_path: Path) -> None:
    """A camera's RAW+JPEG pair: two entries, near-duplicates (cosine > the 0.85 threshold)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    names = ["cat.3", "dog.5"]
    for name in names:
        photo = Image.open(catsdogs / f"{name}.jpg").convert("RGB")
        (photos / f"{name}.jpg").write_bytes(jpeg_bytes(photo, 95))  # the camera's JPEG
        write_dng(photos / f"{name}.dng", photo, with_preview=True)
        write_dng(photos / f"{name}.nopreview.dng", photo, with_preview=False)
    with picfind.open_index(tmp_path / "index", create=True) as index:
        report = index.add([photos])
        assert report.indexed == 6 and not report.skipped
        for name in names:
            twin = index.resolve_image(photos / f"{name}.jpg")[0].embedding
            for raw_name in (f"{name}.dng", f"{name}.nopreview.dng"):
                emb = index.resolve_image(photos / raw_name)[0].embedding
                cosine = float(np.dot(emb, twin))
                assert cosine > DEFAULT_THRESHOLD, (raw_name, cosine)
    with picfind.open_index(tmp_path / "index", read_only=True) as idx:
        groups = duplicates_in_index(idx.store, rotations=())
    near = sorted(sorted(Path(p).name for p in g.paths) for g in groups if g.kind == "near")
    assert near == [sorted([f"{n}.jpg", f"{n}.dng", f"{n}.nopreview.dng"]) for n in names]
