"""Thumbnails: made on first request, upright (EXIF), cached on disk by content.

The cache file is named by the indexed content hash and size
(``<index>/thumbs/<size>/<hash>.jpg``), so a file that changes gets a new
thumbnail, copies share one, and a cached thumbnail is served without opening
the original again. Writes go through a temporary file and ``os.replace``:
two requests racing for the same thumbnail both succeed.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from PIL import Image

from picfind import imaging
from picfind.errors import ChangedFileError, ImageError
from picfind.records import StoredFile
from picfind.web.service import thumbnail_source

SIZES = (128, 256, 384, 512, 1024)
"""Longest side in pixels; only these, so the cache stays bounded per image. 384 is a
tile on a 2× screen (a 190 px tile; 24 of them at 512 came to 645 KB a page)."""

QUALITY = 85
DENSE_QUALITY = 75
"""JPEG quality from 384 px on: what a 2× screen shows at half size, where the loss does
not show; a page of 24 tiles at 2× came to 587 KB at 85 (the target is 500 KB)."""


class Thumbnails:
    """A folder of JPEG thumbnails keyed by content hash."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, stored: StoredFile, size: int) -> Path:
        return self.folder / str(size) / f"{stored.content_hash}.jpg"

    def get(self, stored: StoredFile, size: int) -> Path:
        """The cached thumbnail's path, made now if it is not there yet."""
        if size not in SIZES:
            raise ValueError(f"thumbnail size must be one of {SIZES}")
        out = self.path(stored, size)
        if out.is_file():
            return out
        data = thumbnail_source(stored)
        try:
            image = imaging.open_image(data, name=stored.path)
        except ImageError as exc:
            raise ChangedFileError(f"image {stored.id}: {exc.reason}") from None
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        quality = QUALITY if size < 384 else DENSE_QUALITY
        image.save(buf, "JPEG", quality=quality, optimize=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-", suffix=".jpg")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(buf.getvalue())
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return out
