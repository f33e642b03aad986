"""The store interface: what the indexer and the searcher need from an index.

Two peers implement it: the embedded store (SQLite + NumPy, the default) and,
later, the cluster store (OpenSearch/Elasticsearch). Both answer the same four
kinds of scored query with the semantics of ``picfind.scoring``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from picfind.records import Features, Hit, ImageRecord, Stats, StoredFile
from picfind.scoring import HYBRID_WEIGHT


@dataclass(frozen=True)
class ClassesQuery:
    """The paper's formula: 1 + Σ_j w_j ξ_ij, w = the query's top-k class scores."""

    weights: np.ndarray  # float32 (1000,)


@dataclass(frozen=True)
class EmbeddingQuery:
    """Cosine of pooled CNN features."""

    vector: np.ndarray  # float32 (D,), unit norm


@dataclass(frozen=True)
class HybridQuery:
    """cosine + weight · Σ_j w_j ξ_ij."""

    vector: np.ndarray
    weights: np.ndarray
    weight: float = HYBRID_WEIGHT


@dataclass(frozen=True)
class KeywordQuery:
    """Per clause the class indices under its concepts; negated clauses exclude."""

    positive: tuple[tuple[int, ...], ...]
    negative: tuple[tuple[int, ...], ...] = ()


StoreQuery = ClassesQuery | EmbeddingQuery | HybridQuery | KeywordQuery


@dataclass(frozen=True)
class Filter:
    """Restrictions every mode honours: a folder, and an image left out (the query)."""

    under: str | None = None
    exclude: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class DocSummary:
    """What results show of a document: its path and its top classes."""

    id: str
    path: str
    class_ids: np.ndarray
    class_probs: np.ndarray


class Store(Protocol):
    """An index of images. Writes are atomic per call; reads see committed data."""

    @property
    def model(self) -> str | None:
        """The model whose features the index holds (None while empty and new)."""
        ...

    def set_model(self, name: str) -> None: ...

    # -- the indexer's side ---------------------------------------------------------
    def get_file(self, path: str) -> StoredFile | None: ...

    def files_with_hash(self, content_hash: str) -> list[StoredFile]: ...

    def iter_files(self, under: str | None = None) -> Iterator[StoredFile]: ...

    def write(
        self,
        add: Sequence[ImageRecord] = (),
        moves: Sequence[tuple[str, str, int, int]] = (),
        touch: Sequence[tuple[str, int, int]] = (),
        remove: Sequence[str] = (),
    ) -> None:
        """One atomic change: add/replace records, moves (id, path, size, mtime_ns),
        touches (id, size, mtime_ns) and removals by id."""
        ...

    def features(self, image_id: str) -> Features | None: ...

    def id_in_use(self, image_id: str) -> bool: ...

    def writer_lock(self) -> AbstractContextManager[None]:
        """Held by an indexing run; a second concurrent run fails fast."""
        ...

    def record_run(self, summary: dict[str, object]) -> None: ...

    # -- the searcher's side --------------------------------------------------------
    def search(
        self, query: StoreQuery, limit: int, offset: int = 0, where: Filter | None = None
    ) -> tuple[int, list[Hit]]:
        """(total matches, the page of hits best first)."""
        ...

    def summaries(self, ids: Sequence[str]) -> dict[str, DocSummary]: ...

    def find_id(self, path: str) -> str | None: ...

    def stats(self) -> Stats: ...

    def refresh(self) -> None:
        """Bring derived search structures up to date (after an indexing run)."""
        ...

    def close(self) -> None: ...
