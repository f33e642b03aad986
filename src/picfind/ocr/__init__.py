"""Reading the text in photos, offline: PP-OCR models on ONNX Runtime (``picfind[ocr]``).

::

    from picfind.ocr import Reader
    reader = Reader.load()                  # OcrUnavailableError without the extra
    found = reader.read_file("receipt.jpg")  # or reader.read(rgb_array_or_pillow_image)
    found.text                              # "CAFE DU MONDE\\nTotal 12.50"
    found.lines[0].box                      # 4 corners, 0–1, reading order
    found.to_dict()                         # what a store keeps per photo

Importing this package is cheap and needs nothing beyond picfind's own
dependencies: OpenCV and ONNX Runtime are loaded by :meth:`Reader.load`.
Modules: ``bundle`` (the model files), ``detect`` (where text is),
``recognise`` (what it says), ``reader`` (the two in order), ``result`` (the
records). Text normalisation for search lives in :mod:`picfind.textnorm`.
"""

from __future__ import annotations

from picfind.ocr.bundle import INSTALL_HINT, ModelFiles
from picfind.ocr.reader import Reader, Settings, StepCounts
from picfind.ocr.result import Box, ReadText, TextLine, Word

OcrSettings = Settings
"""``Settings`` under the name ``picfind`` exports it by (``picfind.OcrSettings``)."""
OcrModelFiles = ModelFiles
"""``bundle.ModelFiles`` under the name ``picfind`` exports it by."""

__all__ = [
    "INSTALL_HINT",
    "Box",
    "ModelFiles",
    "OcrModelFiles",
    "OcrSettings",
    "ReadText",
    "Reader",
    "Settings",
    "StepCounts",
    "TextLine",
    "Word",
    "available",
]


def available() -> bool:
    """Whether ``picfind[ocr]`` is installed (models and OpenCV), without loading them."""
    import importlib.util

    from picfind.errors import OcrUnavailableError
    from picfind.ocr.bundle import model_files

    try:
        model_files()
        return importlib.util.find_spec("cv2") is not None
    except (OcrUnavailableError, ImportError, ValueError):
        return False
