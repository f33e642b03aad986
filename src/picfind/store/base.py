"""The store seam: what the indexer, the searcher, eval, duplicates and the web need.

Two peers implement it: the embedded store (SQLite + NumPy, the default) and the
cluster store (OpenSearch/Elasticsearch). Both answer the same queries with the
semantics of ``picfind.scoring`` and ``picfind.matchers``; everything else
(connections, caches, locks, bulk requests) is private to each.

The seam, in one table:

=================  ==========================================================
``rows``           bulk read of stored rows: under a folder, or by ids, paths
                   or content hashes; with features on request
``write``          one atomic change: add, move, touch, update fields, remove
``search``         one scored query → (total, page of hits); ``search_many``
                   runs several at once (eval's leave-one-out)
``summaries``      path and top classes of hits, for results
``texts``          the text read in images (lines with boxes), for ``show``
``browse``         every image newest capture first, a page at a time (the
                   web page's timeline)
``stats``          images, model, size, last run
=================  ==========================================================

plus the lifecycle: ``model``/``set_model``, ``writer_lock``, ``record_run``,
``refresh`` and ``close``.

``Filter`` holds the restrictions every query honours. It is meant to grow (a
date range, a place, a camera, a sort order): each store turns it into its own
terms in one place (``EmbeddedStore._filter_masks``, ``cluster.bodies.filter_clauses``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from picfind.matchers import WordsQuery
from picfind.records import Features, Fields, Hit, ImageRecord, ImageText, Stats, StoredFile
from picfind.scoring import DEFAULT_FUSION, HYBRID_WEIGHT, NUM_CLASSES, Fusion


@dataclass(frozen=True)
class ClassesQuery:
    """The paper's formula: 1 + Σ_j w_j ξ_ij, w = the query's top-k class scores."""

    weights: npt.NDArray[np.float32]  # (1000,)


@dataclass(frozen=True)
class EmbeddingQuery:
    """Cosine of pooled CNN features."""

    vector: npt.NDArray[np.float32]  # (D,), unit norm


@dataclass(frozen=True)
class HybridQuery:
    """cosine + weight · Σ_j w_j ξ_ij."""

    vector: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float32]
    weight: float = HYBRID_WEIGHT


@dataclass(frozen=True)
class FusedQuery:
    """cosine + λ·c/(c + κ), scored twice: the best of a first pass join the query
    (``picfind.scoring.fuse`` and ``expand_query``; issue 16). The expansion spans the
    whole index, so a store takes it over all its candidates, not per part."""

    vector: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float32]
    params: Fusion = DEFAULT_FUSION


StoreQuery = ClassesQuery | EmbeddingQuery | HybridQuery | FusedQuery | WordsQuery
"""Every query a store answers."""


Sort = Literal["relevance", "date"]
SORTS: tuple[Sort, ...] = ("relevance", "date")


@dataclass(frozen=True)
class Filter:
    """Restrictions every query honours — a folder, images left out (the query), a range
    of local capture days, place and camera keys — and the order of the results.

    ``after_day``/``before_day`` are days as numbers (20200601), half-open: on or after
    ``after_day``, before ``before_day``; a photo with no date never passes a date bound.
    ``places``/``cameras``: folded keys, any of which the photo must carry.
    ``sort="date"``: newest capture first (undated photos last, by score), words
    queries only.
    """

    under: str | None = None
    exclude: tuple[str, ...] = field(default_factory=tuple)
    after_day: int | None = None
    before_day: int | None = None
    places: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    sort: Sort = "relevance"

    @property
    def dated(self) -> bool:
        """Whether a capture-day bound applies."""
        return self.after_day is not None or self.before_day is not None


@dataclass(frozen=True)
class DocSummary:
    """What results show of a document: its path and its top classes."""

    id: str
    path: str
    class_ids: npt.NDArray[np.uint16]
    class_probs: npt.NDArray[np.float32]


class Browsed(NamedTuple):
    """One image of the timeline: its id, path and local capture time (ISO, to the
    second: ``2019-07-14T10:00:00``), None when the photo carries no date."""

    id: str
    path: str
    taken: str | None


class Move(NamedTuple):
    """A file moved: the row follows it, keeping its id and features."""

    id: str
    path: str
    size: int
    mtime_ns: int
    content_hash: str = ""
    """The row's new content key for the same content (``hashing``: an old-kind key
    found again takes the current kind); empty: the key stays."""


class Touch(NamedTuple):
    """Same content, new size or mtime (e.g. a copy back in place), or a new key for it."""

    id: str
    size: int
    mtime_ns: int
    content_hash: str = ""
    """As for ``Move``: the row's key in the current kind, or empty to keep it."""


class Update(NamedTuple):
    """Fields a stage wrote for a stored row (a backfill or a second pass).

    Only the fields that are set are written; features cannot be updated (they
    change only with new content, which is a new row).
    """

    id: str
    fields: Fields


class Store(Protocol):
    """An index of images. Writes are atomic per call; reads see committed data."""

    @property
    def model(self) -> str | None:
        """The model whose features the index holds (None while empty and new)."""
        ...

    def set_model(self, name: str) -> None:
        """Record the model of a new index (refused when it holds another one's)."""
        ...

    def rows(
        self,
        *,
        under: str | None = None,
        ids: Sequence[str] | None = None,
        paths: Sequence[str] | None = None,
        hashes: Sequence[str] | None = None,
        sizes: Sequence[int] | None = None,
        features: bool = False,
        metadata: bool = False,
    ) -> Iterator[StoredFile]:
        """Stored rows in bulk: every row, or those inside a folder, or with the given
        ids, paths, content hashes or file sizes (the selectors combine with AND; sizes
        find rows keyed by an older hash kind, ``hashing``). Materialised
        before the first row is returned: callers may write while iterating.
        ``metadata``: with the capture fields (``StoredFile.metadata``)."""
        ...

    def write(
        self,
        add: Sequence[ImageRecord] = (),
        moves: Sequence[Move] = (),
        touch: Sequence[Touch] = (),
        remove: Sequence[str] = (),
        update: Sequence[Update] = (),
    ) -> None:
        """One atomic change. Added records replace any row at their path and keep
        its id; records whose features are not finite are refused (StoreError)."""
        ...

    def search(
        self, query: StoreQuery, limit: int, offset: int = 0, where: Filter | None = None
    ) -> tuple[int, list[Hit]]:
        """(total matches, the page of hits best first)."""
        ...

    def search_many(
        self, queries: Sequence[StoreQuery], limit: int, where: Sequence[Filter]
    ) -> list[tuple[int, list[Hit]]]:
        """``search`` for several queries at once (one filter each): the same answers,
        with what the queries share (snapshots, filters) done once."""
        ...

    def summaries(self, ids: Sequence[str]) -> dict[str, DocSummary]:
        """Path and top classes of each id that exists."""
        ...

    def stats(self) -> Stats:
        """Images, model, size on disk and the last run's summary."""
        ...

    def browse(
        self, limit: int, offset: int = 0, where: Filter | None = None
    ) -> tuple[int, list[Browsed]]:
        """(images the filter allows, one page of them): newest local capture first,
        ties and undated photos (last) by path then id — no scoring, the same order in
        every store. ``where.sort`` is ignored (this is the date order)."""
        ...

    def texts(self, ids: Sequence[str]) -> dict[str, ImageText]:
        """The text read in each of these images that has been read (the OCR pass)."""
        ...

    def writer_lock(self, roots: Sequence[str] = ()) -> AbstractContextManager[None]:
        """Held by a run over ``roots`` (none: the whole index); a concurrent run that
        overlaps fails fast (the embedded store: any second run; the cluster store:
        one whose roots share files with it — other roots proceed)."""
        ...

    def record_run(self, summary: dict[str, object]) -> None:
        """Keep the summary of an indexing run (``stats`` shows it)."""
        ...

    def refresh(self) -> None:
        """Bring derived search structures up to date (after an indexing run)."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@dataclass(frozen=True)
class Table:
    """Stored rows as arrays, for whole-index analyses (eval, duplicates).

    ``embeddings`` as the store keeps them (float16 precision, as float32);
    ``classes`` dense (n, 1000): the stored top classes, zero elsewhere.
    """

    ids: list[str]
    paths: list[str]
    hashes: list[str]
    embeddings: npt.NDArray[np.float32]
    classes: npt.NDArray[np.float32]
    features: list[Features]
    """Each row's features as stored (its top classes in the stored order)."""

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, rows: Iterable[StoredFile]) -> Table:
        """From rows read with ``features=True``."""
        rows = list(rows)
        ids = [r.id for r in rows]
        paths = [r.path for r in rows]
        hashes = [r.content_hash for r in rows]
        feats = [r.features for r in rows if r.features is not None]
        if len(feats) != len(rows):
            raise ValueError("Table.of needs rows read with features=True")
        dim = feats[0].embedding.shape[0] if feats else 0
        embeddings = np.zeros((len(rows), dim), dtype=np.float32)
        classes = np.zeros((len(rows), NUM_CLASSES), dtype=np.float32)
        for i, f in enumerate(feats):
            embeddings[i] = f.embedding
            classes[i, f.classes.ids.astype(np.intp)] = f.classes.probs
        return cls(ids, paths, hashes, embeddings, classes, feats)


class Searches(Protocol):
    """Anything with the store's ``search``."""

    def search(
        self, query: StoreQuery, limit: int, offset: int = 0, where: Filter | None = None
    ) -> tuple[int, list[Hit]]: ...


def search_each(
    store: Searches, queries: Sequence[StoreQuery], limit: int, where: Sequence[Filter]
) -> list[tuple[int, list[Hit]]]:
    """``search_many`` by one ``search`` per query (a store with nothing to share)."""
    if len(where) != len(queries):
        raise ValueError("search_many needs one filter per query")
    return [store.search(q, limit, 0, w) for q, w in zip(queries, where, strict=True)]
