"""Where the OCR models come from: the ``rapidocr`` wheel, installed by ``picfind[ocr]``.

The wheel carries PP-OCRv6's detector and recogniser and PP-OCR's text
direction classifier as ONNX files (Apache-2.0, Baidu's PaddleOCR; see
docs/ocr.md). picfind uses only those files: the wheel's Python code is never
imported (it would log to stderr, read YAML configs and can download models),
so nothing here touches the network. The files are located with
``importlib.util.find_spec``, which finds a package without running it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from picfind.errors import OcrUnavailableError

__all__ = ["INSTALL_HINT", "ModelFiles", "model_files", "require_cv2"]

INSTALL_HINT = "pip install 'picfind[ocr]'"

_DETECTOR = "PP-OCRv6_det_small.onnx"
_RECOGNISER = "PP-OCRv6_rec_small.onnx"
_CLASSIFIER = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"


@dataclass(frozen=True)
class ModelFiles:
    """The three ONNX files of the pipeline."""

    detector: Path
    recogniser: Path
    classifier: Path


def model_files() -> ModelFiles:
    """The bundled model files, or OcrUnavailableError saying how to install them."""
    spec = importlib.util.find_spec("rapidocr")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise OcrUnavailableError(
            f"reading text needs the ocr extra: {INSTALL_HINT} (package rapidocr is not installed)"
        )
    folder = Path(locations[0]) / "models"
    files = ModelFiles(folder / _DETECTOR, folder / _RECOGNISER, folder / _CLASSIFIER)
    for path in (files.detector, files.recogniser, files.classifier):
        if not path.is_file():
            raise OcrUnavailableError(
                f"OCR model {path.name} is missing from {folder}; reinstall: {INSTALL_HINT}"
            )
    return files


def require_cv2() -> ModuleType:
    """OpenCV (``opencv-python-headless``), or OcrUnavailableError saying how to get it."""
    try:
        import cv2
    except ImportError as e:
        raise OcrUnavailableError(
            f"reading text needs the ocr extra: {INSTALL_HINT} ({e})"
        ) from None
    return cv2
