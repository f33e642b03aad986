"""Large photos decode at the model's size: no full-size copy after decoding, bounded memory."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
import pytest
from PIL import Image
from procmem import run_measured

from picfind.imaging import load_for_model

SIZE = 224


def camera_like(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth content plus per-pixel noise: decodes like a camera file, not a flat field."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height // 64 + 1, width // 64 + 1, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(base).resize((width, height), Image.Resampling.BILINEAR))
    noisy = img.astype(np.int16) + rng.integers(-6, 7, img.shape, dtype=np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def encoded(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


@pytest.fixture
def made_images(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, tuple[int, int]]]]:
    """Every image Pillow makes through its image-to-image operations: (operation, size)."""
    made: list[tuple[str, tuple[int, int]]] = []

    def spy(name: str, original: Callable[..., Image.Image]) -> Callable[..., Image.Image]:
        def wrapper(*args: Any, **kwargs: Any) -> Image.Image:
            out = original(*args, **kwargs)
            made.append((name, out.size))
            return out

        return wrapper

    for name in ("convert", "transpose", "copy", "reduce", "resize", "crop", "rotate"):
        monkeypatch.setattr(Image.Image, name, spy(name, getattr(Image.Image, name)))
    for name in ("new", "fromarray"):
        monkeypatch.setattr(Image, name, spy(name, getattr(Image, name)))
    yield made


def _rgba_png(width: int, height: int) -> bytes:
    img = camera_like(width, height).convert("RGBA")
    alpha = np.full((height, width), 255, np.uint8)
    alpha[: height // 3] = 0
    img.putalpha(Image.fromarray(alpha))
    return encoded(img, "PNG", compress_level=1)


def _rotated_jpeg(width: int, height: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(camera_like(width, height), "JPEG", quality=90, exif=exif.tobytes())


def _heic(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    pillow_heif.from_pillow(camera_like(width, height)).save(
        buf, quality=70, enc_params={"preset": "ultrafast"}
    )
    return buf.getvalue()


@pytest.mark.parametrize(
    ("make", "fmt", "copies_at_full_size"),
    [(_rotated_jpeg, "JPEG", True), (_rgba_png, "PNG", True), (_heic, "HEIF", False)],
    ids=["jpeg-exif-rotated", "png-rgba", "heic-no-thumbnail"],
)
def test_no_full_size_copy_after_decoding(
    make: Callable[[int, int], bytes],
    fmt: str,
    copies_at_full_size: bool,
    made_images: list[tuple[str, tuple[int, int]]],
) -> None:
    width, height = 2400, 1800
    data = make(width, height)
    made_images.clear()
    loaded = load_for_model(data, SIZE)
    assert loaded.format == fmt
    assert {loaded.width, loaded.height} == {width, height}
    # Whatever was made after decoding (transpose, alpha flattening, conversion, the
    # final resize) is at most a quarter of the photo: JPEG's draft is 1/8 per side
    # here, others are box-reduced first.
    largest = max(w * h for _, (w, h) in made_images)
    assert largest <= width * height // 4, made_images
    # Without draft mode the rotation (JPEG) and the alpha flattening (PNG) do run at
    # full size: the check above can fail. (An RGB HEIC needs no operation at all.)
    made_images.clear()
    load_for_model(data, SIZE, draft=False)
    full = max(w * h for _, (w, h) in made_images) >= width * height
    assert full == copies_at_full_size, made_images


def _index_peak_mb(photos: Path, index: Path, expected: int) -> float:
    cmd = [sys.executable, "-m", "picfind", "index", str(photos), "--index", str(index), "--json"]
    code, out, err, peak_mb = run_measured(cmd)
    assert code == 0, err
    report = json.loads(out)
    assert report["indexed"] == expected and not report["skipped"]
    return peak_mb


@pytest.mark.slow
def test_peak_memory_indexing_12_megapixel_photos_does_not_grow_with_the_run(
    tmp_path: Path,
) -> None:
    """picfind index over 12-MP JPEGs (4032×3024, 3–5 MB each) stays under 600 MB, and a
    run of 160 photos peaks no higher than one of 16 plus the read budget's worth.

    160 is past what the pipeline once held by file count (2 chunks of 32 and a read-ahead
    window of 64: 128 files' bytes, with ONNX Runtime's arena sized for batches of 32):
    that run peaked at 631 MB on 80 such photos, 428 MB on 24 (bench/results/library.json)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    few = tmp_path / "few"
    few.mkdir()
    for i in range(160):
        if i % 40 == 0:
            data = encoded(camera_like(4032, 3024, seed=i), "JPEG", quality=92)
        comment = f"copy {i}".encode()  # a COM segment: other bytes, the same pixels
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        (photos / f"img{i:03}.jpg").write_bytes(data[:2] + segment + data[2:])
        if i % 10 == 0:
            os.link(photos / f"img{i:03}.jpg", few / f"img{i:03}.jpg")
    small = _index_peak_mb(few, tmp_path / "index-few", 16)
    large = _index_peak_mb(photos, tmp_path / "index", 160)
    assert large <= 600, (small, large)
    # The read budget (pipeline.READ_BUDGET, 96 MB) is what a longer run may add, and
    # ORT's arena for a fuller batch of images (models.MAX_BATCH): not 10× the files.
    assert large - small <= 200, (small, large)
