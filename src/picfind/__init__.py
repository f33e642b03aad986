"""picfind: find images by image and by words.

A CNN turns each image into visual words (ImageNet classes, WordNet synsets,
with probabilities) and an embedding; an index answers "more like this" and
keyword queries over them, embedded (SQLite + NumPy) by default.

Every name below is public (docs/api.md lists them): the API (``open_index``,
``Index``, ``predict``…), the records it returns, the errors it raises, and the
types of its signatures — including the store seam (``Store`` and its queries)
and the pipeline's stage interface (``Stage``, ``Item``, ``Source``), which
other code builds on. They load their modules on first use, so that ``picfind``
starts fast and a Ctrl-C during start-up is caught by the CLI, not shown as a
traceback.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    # the API
    "Index": "picfind.api",
    "Prediction": "picfind.api",
    "default_index_dir": "picfind.api",
    "load_model": "picfind.api",
    "open_index": "picfind.api",
    "predict": "picfind.api",
    # errors
    "ChangedFileError": "picfind.errors",
    "ClusterConnectionError": "picfind.errors",
    "EmptyIndexError": "picfind.errors",
    "ImageError": "picfind.errors",
    "BusyError": "picfind.errors",
    "JobBusyError": "picfind.errors",
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
    # records
    "Capture": "picfind.records",
    "Features": "picfind.records",
    "Fields": "picfind.records",
    "FileState": "picfind.records",
    "Hit": "picfind.records",
    "ImageDetails": "picfind.records",
    "ImageRecord": "picfind.records",
    "IndexReport": "picfind.records",
    "MetadataCoverage": "picfind.records",
    "Label": "picfind.records",
    "Progress": "picfind.records",
    "Result": "picfind.records",
    "SearchResults": "picfind.records",
    "Skipped": "picfind.records",
    "SparseClasses": "picfind.records",
    "Stats": "picfind.records",
    "StoredFile": "picfind.records",
    "Why": "picfind.records",
    "ImageText": "picfind.records",
    # reading text in photos (picfind[ocr]; importing these loads no OCR dependency)
    "Reader": "picfind.ocr",
    "ReadText": "picfind.ocr",
    "TextLine": "picfind.ocr",
    "Word": "picfind.ocr",
    "StepCounts": "picfind.ocr",
    "OcrSettings": "picfind.ocr",
    "OcrModelFiles": "picfind.ocr",
    # search by image and by words
    "Mode": "picfind.search",
    "CameraMatch": "picfind.matchers",
    "Clause": "picfind.matchers",
    "ConceptMatch": "picfind.matchers",
    "DateMatch": "picfind.matchers",
    "TextMatch": "picfind.matchers",
    "Matcher": "picfind.matchers",
    "PlaceMatch": "picfind.matchers",
    "WordsQuery": "picfind.matchers",
    # the store seam
    "Browsed": "picfind.store.base",
    "ClassesQuery": "picfind.store.base",
    "DocSummary": "picfind.store.base",
    "EmbeddingQuery": "picfind.store.base",
    "Filter": "picfind.store.base",
    "FusedQuery": "picfind.store.base",
    "Fusion": "picfind.scoring",
    "HybridQuery": "picfind.store.base",
    "Move": "picfind.store.base",
    "Store": "picfind.store.base",
    "StoreQuery": "picfind.store.base",
    "Touch": "picfind.store.base",
    "Update": "picfind.store.base",
    "ClusterOptions": "picfind.store.cluster.connection",
    # the pipeline's stages
    "Item": "picfind.pipeline",
    "Source": "picfind.pipeline",
    "Stage": "picfind.pipeline",
    "PassReport": "picfind.passes",
    # models
    "Model": "picfind.models",
    "ModelOutput": "picfind.models",
    "ModelSpec": "picfind.models",
}

__all__ = [
    "Browsed",
    "BusyError",
    "CameraMatch",
    "Capture",
    "ChangedFileError",
    "ClassesQuery",
    "Clause",
    "ClusterConnectionError",
    "ClusterOptions",
    "ConceptMatch",
    "DateMatch",
    "DocSummary",
    "EmbeddingQuery",
    "EmptyIndexError",
    "Features",
    "Fields",
    "FileState",
    "Filter",
    "FusedQuery",
    "Fusion",
    "Hit",
    "HybridQuery",
    "ImageDetails",
    "ImageError",
    "ImageRecord",
    "ImageText",
    "Index",
    "IndexReport",
    "Item",
    "JobBusyError",
    "Label",
    "Matcher",
    "MetadataCoverage",
    "Mode",
    "Model",
    "ModelError",
    "ModelMismatchError",
    "ModelOutput",
    "ModelSpec",
    "Move",
    "NotFoundError",
    "OcrModelFiles",
    "OcrSettings",
    "OcrUnavailableError",
    "PassReport",
    "PicfindError",
    "PlaceMatch",
    "Prediction",
    "Progress",
    "QuerySyntaxError",
    "ReadText",
    "Reader",
    "Result",
    "SearchResults",
    "Skipped",
    "Source",
    "SparseClasses",
    "Stage",
    "Stats",
    "StepCounts",
    "Store",
    "StoreError",
    "StoreQuery",
    "StoredFile",
    "TextLine",
    "TextMatch",
    "TextReadError",
    "Touch",
    "UnknownConceptError",
    "UnknownModelError",
    "Update",
    "UsageError",
    "Why",
    "Word",
    "WordsQuery",
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
        BusyError,
        ChangedFileError,
        ClusterConnectionError,
        EmptyIndexError,
        ImageError,
        JobBusyError,
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
    from picfind.matchers import (
        CameraMatch,
        Clause,
        ConceptMatch,
        DateMatch,
        Matcher,
        PlaceMatch,
        TextMatch,
        WordsQuery,
    )
    from picfind.models import Model, ModelOutput, ModelSpec
    from picfind.ocr import (
        OcrModelFiles,
        OcrSettings,
        Reader,
        ReadText,
        StepCounts,
        TextLine,
        Word,
    )
    from picfind.passes import PassReport
    from picfind.pipeline import Item, Source, Stage
    from picfind.records import (
        Capture,
        Features,
        Fields,
        FileState,
        Hit,
        ImageDetails,
        ImageRecord,
        ImageText,
        IndexReport,
        Label,
        MetadataCoverage,
        Progress,
        Result,
        SearchResults,
        Skipped,
        SparseClasses,
        Stats,
        StoredFile,
        Why,
    )
    from picfind.scoring import Fusion
    from picfind.search import Mode
    from picfind.store.base import (
        Browsed,
        ClassesQuery,
        DocSummary,
        EmbeddingQuery,
        Filter,
        FusedQuery,
        HybridQuery,
        Move,
        Store,
        StoreQuery,
        Touch,
        Update,
    )
    from picfind.store.cluster.connection import ClusterOptions
