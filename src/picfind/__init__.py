"""picfind: find images by image and by words.

A CNN turns each image into visual words (ImageNet classes, WordNet synsets,
with probabilities) and an embedding; an index answers "more like this" and
keyword queries over them, embedded (SQLite + NumPy) by default.

The names below load their modules on first use, so that ``picfind`` starts
fast and a Ctrl-C during start-up is caught by the CLI, not shown as a traceback.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Index": "picfind.api",
    "Prediction": "picfind.api",
    "default_index_dir": "picfind.api",
    "load_model": "picfind.api",
    "open_index": "picfind.api",
    "predict": "picfind.api",
    "ImageError": "picfind.errors",
    "ModelError": "picfind.errors",
    "ModelMismatchError": "picfind.errors",
    "NotFoundError": "picfind.errors",
    "OcrUnavailableError": "picfind.errors",
    "PicfindError": "picfind.errors",
    "QuerySyntaxError": "picfind.errors",
    "StoreError": "picfind.errors",
    "TextReadError": "picfind.errors",
    "UnknownConceptError": "picfind.errors",
    "UnknownModelError": "picfind.errors",
    "UsageError": "picfind.errors",
    "Progress": "picfind.indexer",
    "IndexReport": "picfind.records",
    "Label": "picfind.records",
    "Result": "picfind.records",
    "SearchResults": "picfind.records",
    "Stats": "picfind.records",
}

__all__ = [
    "ImageError",
    "Index",
    "IndexReport",
    "Label",
    "ModelError",
    "ModelMismatchError",
    "NotFoundError",
    "OcrUnavailableError",
    "PicfindError",
    "Prediction",
    "Progress",
    "QuerySyntaxError",
    "Result",
    "SearchResults",
    "Stats",
    "StoreError",
    "TextReadError",
    "UnknownConceptError",
    "UnknownModelError",
    "UsageError",
    "__version__",
    "default_index_dir",
    "load_model",
    "open_index",
    "predict",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'picfind' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from picfind.api import Index, Prediction, default_index_dir, load_model, open_index, predict
    from picfind.errors import (
        ImageError,
        ModelError,
        ModelMismatchError,
        NotFoundError,
        OcrUnavailableError,
        PicfindError,
        QuerySyntaxError,
        StoreError,
        TextReadError,
        UnknownConceptError,
        UnknownModelError,
        UsageError,
    )
    from picfind.indexer import Progress
    from picfind.records import IndexReport, Label, Result, SearchResults, Stats
