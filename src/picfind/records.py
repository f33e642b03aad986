"""Typed records that flow between the pipeline steps and out of the API.

The lowest layer of picfind besides ``errors``: plain data, no behaviour that
needs another module (so every other module may import it, and it imports none).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class SparseClasses:
    """A document's top classes, highest first; ``ids`` uint16, ``probs`` float32."""

    ids: npt.NDArray[np.uint16]
    probs: npt.NDArray[np.float32]


@dataclass(frozen=True)
class Features:
    """What the model says of one image, as the stores keep it."""

    classes: SparseClasses
    embedding: npt.NDArray[np.float32]  # (D,), unit norm

    def finite(self) -> bool:
        """Whether every number is finite as a store keeps it (the embedding in float16):
        NaN or infinity never enter a store."""
        with np.errstate(over="ignore", invalid="ignore"):
            stored = np.asarray(self.embedding, dtype=np.float16)
        return bool(np.isfinite(stored).all() and np.isfinite(self.classes.probs).all())


@dataclass(frozen=True)
class ImageText:
    """The text read in one image, as the stores keep it (docs/ocr.md, "Stored per photo").

    ``record`` is ``picfind.ocr.ReadText.to_dict()`` (lines, confidences, 0–1 boxes;
    None when reading failed, ``failure`` then says why); ``text`` the plain lines
    joined by newlines ('' when the photo shows none); ``version`` the reader's
    (``Reader.version``), so a new reader reads again. Kept with the content it was
    read from: a file whose content changes is a new row, without text.
    """

    version: str
    text: str
    record: dict[str, Any] | None = None
    failure: str | None = None


@dataclass(frozen=True)
class FileState:
    """What the walk saw of a file: enough to tell unchanged from changed."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class StoredFile:
    """A store's row for one indexed file; ``features`` only when they were asked for."""

    id: str
    path: str
    size: int
    mtime_ns: int
    content_hash: str
    width: int = 0
    height: int = 0
    format: str = ""
    features: Features | None = None
    text_version: str | None = None
    """The reader version of the text stored for this row (None: no text read yet)."""


@dataclass
class Fields:
    """Document fields the pipeline's stages write; None means "not written".

    Each stage declares which of these it writes. Every field here is also a field
    of :class:`ImageRecord` (``tests/test_pipeline.py`` checks), so a new signal
    adds its fields to both, and its columns to the stores.
    """

    format: str | None = None
    width: int | None = None
    height: int | None = None
    features: Features | None = None
    text: ImageText | None = None

    def written(self) -> dict[str, object]:
        """The fields a stage has set, by name (what a partial update writes)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }


@dataclass(frozen=True)
class ImageRecord:
    """One indexed image: a file, its metadata and its features."""

    id: str
    path: str
    content_hash: str
    size: int
    mtime_ns: int
    width: int
    height: int
    format: str
    features: Features
    text: ImageText | None = None

    @classmethod
    def build(
        cls, image_id: str, file: FileState, content_hash: str, fields: Fields
    ) -> ImageRecord:
        """A record from what the stages wrote (features are required)."""
        if fields.features is None:
            raise ValueError(f"no features for {file.path}")
        return cls(
            image_id,
            file.path,
            content_hash,
            file.size,
            file.mtime_ns,
            fields.width or 0,
            fields.height or 0,
            fields.format or "",
            fields.features,
            fields.text,
        )


@dataclass(frozen=True)
class Label:
    """An ImageNet class (a WordNet synset) with its probability."""

    wnid: str
    name: str
    score: float

    def to_json(self) -> dict[str, object]:
        """The label as the JSON contract shows it."""
        return {"wnid": self.wnid, "name": self.name, "score": round(float(self.score), 6)}


@dataclass(frozen=True)
class Hit:
    """A store's answer for one document: its id and score."""

    id: str
    score: float


@dataclass(frozen=True)
class Result:
    """One ranked search result, as the CLI's JSON contract shows it."""

    rank: int
    id: str
    path: str
    score: float
    labels: list[Label]

    def to_json(self) -> dict[str, object]:
        """The result as the JSON contract shows it."""
        return {
            "rank": self.rank,
            "id": self.id,
            "path": self.path,
            "score": round(float(self.score), 6),
            "labels": [label.to_json() for label in self.labels],
        }


@dataclass(frozen=True)
class SearchResults:
    """A page of results; ``total`` counts every match, not just this page."""

    mode: str
    total: int
    results: list[Result]
    query: str = ""

    def to_json(self) -> dict[str, object]:
        """The page as the JSON contract shows it."""
        return {
            "mode": self.mode,
            "total": self.total,
            "results": [r.to_json() for r in self.results],
        }


@dataclass(frozen=True)
class Skipped:
    """A path an indexing run did not index, and why.

    ``keep`` marks a failure to *read* (permission denied, an I/O error, a folder
    that could not be listed): the rows the index holds at or under the path are
    kept, because the file may well still be there. Other skips (not an image, too
    large) mean the file's content cannot be indexed, so its old row goes.
    """

    path: str
    reason: str
    keep: bool = False


@dataclass
class IndexReport:
    """The summary of an ``index`` run (the CLI's ``--json`` contract)."""

    indexed: int = 0
    unchanged: int = 0
    moved: int = 0
    removed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def images_per_second(self) -> float:
        """Images indexed per second of the run."""
        return self.indexed / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, object]:
        """The report as the JSON contract shows it."""
        return {
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "moved": self.moved,
            "removed": self.removed,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 2),
        }


@dataclass(frozen=True)
class Progress:
    """How far a pipeline run is: reported after each batch."""

    done: int
    total: int
    indexed: int
    skipped: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Files finished per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far (None before there is a rate)."""
        return (self.total - self.done) / self.rate if self.rate > 0 else None


@dataclass(frozen=True)
class Stats:
    """What ``picfind stats`` shows of an index."""

    images: int
    model: str
    index_bytes: int
    last_run: dict[str, object] | None = None
    texts: int = 0
    """Images with text read in them (the OCR pass)."""

    def to_json(self) -> dict[str, object]:
        """The stats as the JSON contract shows them."""
        out: dict[str, object] = {
            "images": self.images,
            "model": self.model,
            "index_bytes": self.index_bytes,
            "texts": self.texts,
        }
        if self.last_run is not None:
            out["last_run"] = self.last_run
        return out
