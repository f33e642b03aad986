"""Uploaded query photos, kept in memory by content hash so a search by photo has a URL.

A search by an uploaded photo is addressed as ``/?upload=<hash>&mode=…``: Back,
reload and a shared link find the same results without uploading again. What is
kept is what a search needs — the model's features (about 10 KB) and a small
JPEG preview (at most ``PREVIEW`` pixels a side) — never the uploaded bytes, and
at most ``MAX_UPLOADS`` of them, least recently used first out. They live as
long as the server process; an address whose photo has been dropped answers
404 ``upload_expired`` (upload it again).
"""

from __future__ import annotations

import io
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PIL import Image

from picfind.errors import NotFoundError
from picfind.records import Features

MAX_UPLOADS = 64
"""Photos kept at once: about 64 × 25 KB, whatever was uploaded."""
PREVIEW = 256
"""Longest side of the kept preview, in pixels."""
KEY_PATTERN = re.compile(r"^[0-9a-f]{32}$")
"""An upload's key: the BLAKE3-128 digest of its bytes, hex (``hashing.digest``: the
index's content key without its kind prefix)."""


class UploadGoneError(NotFoundError):
    """An upload key that is not (or no longer) kept by this server."""


@dataclass(frozen=True)
class Upload:
    """What is kept of one uploaded photo."""

    key: str
    name: str
    features: Features
    preview: bytes  # JPEG


class Uploads:
    """A bounded, thread-safe, least-recently-used map of upload key → :class:`Upload`."""

    def __init__(self, max_items: int = MAX_UPLOADS) -> None:
        self.max_items = max_items
        self._items: OrderedDict[str, Upload] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, upload: Upload) -> None:
        with self._lock:
            self._items[upload.key] = upload
            self._items.move_to_end(upload.key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def find(self, key: str) -> Upload | None:
        """The upload, or None; a well-formed key is required before any look-up."""
        if not KEY_PATTERN.match(key):
            return None
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def get(self, key: str) -> Upload:
        found = self.find(key)
        if found is None:
            raise UploadGoneError(
                "this uploaded photo is no longer kept by the server; upload it again"
            )
        return found

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def preview_jpeg(pixels: np.ndarray, width: int, height: int) -> bytes:
    """A small upright preview from the model's square pixels, back to the photo's shape."""
    scale = PREVIEW / max(width, height, 1)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    return buf.getvalue()
