"""Real photos, augmented past the embedded store's PCA threshold (8,192 rows).

Each source photo (the shared catsdogs, imagenette and imagenet-samples sets) is
written three times at the model's input size (224 px, so decoding costs
little): as it is, mirrored, and cropped with a colour shift. The labels are
folder names: ``cat``/``dog``, the imagenette and imagenet-samples WordNet ids.
Used by ``tests/test_evaluate.py`` (eval through the store above the threshold)
and ``bench/recall.py`` (embedding recall@10 against brute force).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

SIZE = 224
VARIANTS = ("orig", "flip", "crop")
DEFAULT_ROWS = 8202
"""Just past ``vectors.EXACT_LIMIT`` (8,192): 2,734 sources × 3 variants."""


def sources(shared: Path) -> Iterator[tuple[str, Path]]:
    """(label, photo) of the shared sets, in a fixed order: catsdogs, imagenette, samples."""
    data = shared / "data"
    for p in sorted((data / "catsdogs").glob("*.jpg")):
        yield p.name.split(".")[0], p
    for p in sorted((data / "imagenette").glob("*.JPEG")):
        yield p.name.split("_")[0], p
    for p in sorted((data / "imagenet-samples").glob("*.JPEG")):
        yield p.name.split("_")[0], p


def variant(im: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """One augmentation of an RGB image, at SIZE × SIZE."""
    if kind == "flip":
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    elif kind == "crop":
        w, h = im.size
        f = rng.uniform(0.75, 0.9)
        cw, ch = int(w * f), int(h * f)
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        im = im.crop((x, y, x + cw, y + ch))
        im = ImageEnhance.Color(im).enhance(rng.uniform(0.6, 1.4))
        im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.8, 1.2))
    return im.resize((SIZE, SIZE), Image.Resampling.BILINEAR)


def write_set(shared: Path, out: Path, rows: int = DEFAULT_ROWS, seed: int = 0) -> int:
    """Write ``rows`` augmented photos under ``out/<label>/``; returns how many."""
    rng = np.random.default_rng(seed)
    written = 0
    for label, path in sources(shared):
        if written >= rows:
            break
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as src:
            im = src.convert("RGB")
        for kind in VARIANTS:
            if written >= rows:
                break
            stem = os.path.splitext(path.name)[0]
            variant(im, kind, rng).save(folder / f"{stem}.{kind}.jpg", quality=90)
            written += 1
    return written
