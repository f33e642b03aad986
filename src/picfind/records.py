"""Typed records that flow between the pipeline steps and out of the API."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from picfind.scoring import SparseClasses


@dataclass(frozen=True)
class FileState:
    """What the walk saw of a file: enough to tell unchanged from changed."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class StoredFile:
    """A store's view of one indexed file, without its features."""

    id: str
    path: str
    size: int
    mtime_ns: int
    content_hash: str


@dataclass(frozen=True)
class Features:
    """What the model says of one image, as the store keeps it."""

    classes: SparseClasses
    embedding: np.ndarray  # float32 (D,), unit norm


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


@dataclass(frozen=True)
class Label:
    """An ImageNet class (a WordNet synset) with its probability."""

    wnid: str
    name: str
    score: float

    def to_json(self) -> dict[str, object]:
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
        return {
            "mode": self.mode,
            "total": self.total,
            "results": [r.to_json() for r in self.results],
        }


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


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
        return self.indexed / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, object]:
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
class Stats:
    images: int
    model: str
    index_bytes: int
    last_run: dict[str, object] | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "images": self.images,
            "model": self.model,
            "index_bytes": self.index_bytes,
        }
        if self.last_run is not None:
            out["last_run"] = self.last_run
        return out
