"""The query model: search by image and by words, independent of the store.

Turns what a user gives (an image file, an indexed image's id, words) into a
store query with picfind's scoring semantics, and the store's hits into result
records with paths and top labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Literal

import numpy as np
import numpy.typing as npt

from picfind.cameras import camera_key
from picfind.capturewords import day_number
from picfind.dates import date_range
from picfind.errors import ImageError, UsageError
from picfind.matchers import Clause, WordsQuery
from picfind.placenames import gazetteer
from picfind.query import ConceptQuery, parse_query
from picfind.records import Features, Label, Result, SearchResults
from picfind.scoring import DEFAULT_FUSION, HYBRID_WEIGHT, QUERY_TOP_K, query_weights
from picfind.store.base import (
    SORTS,
    ClassesQuery,
    EmbeddingQuery,
    Filter,
    FusedQuery,
    HybridQuery,
    Store,
    StoreQuery,
)
from picfind.vocabulary import Vocabulary
from picfind.why import explain_readings

Mode = Literal["hybrid", "classes", "embedding", "fused"]
"""How search by image compares images."""
MODES: tuple[Mode, ...] = ("fused", "hybrid", "classes", "embedding")
"""Every mode, the default first (the one list the CLI, the API, the web and eval use)."""
DEFAULT_MODE: Mode = MODES[0]
"""The mode of search by image when none is named: ``fused``, within 0.005 P@10 and
0.01 mAP of the better of ``classes`` and ``embedding`` on every shared set when
measured with ``picfind eval`` through the store (docs/evaluation.md)."""
RESULT_LABELS = 3
"""How many top classes each result shows."""


def check_mode(mode: str) -> Mode:
    """``mode`` if it is one of ``MODES``, else a UsageError naming them."""
    for m in MODES:
        if mode == m:
            return m
    raise UsageError(f"unknown mode {mode!r}; choose {', '.join(MODES[:-1])} or {MODES[-1]}")


def image_query(features: Features, mode: Mode, k: int = QUERY_TOP_K) -> StoreQuery:
    """The store query for search by image in one of the modes."""
    if not features.finite():
        raise ImageError("<query>", "its features are not finite (NaN or infinity)")
    if mode == "classes":
        return ClassesQuery(query_weights(features.classes, k))
    if mode == "embedding":
        return EmbeddingQuery(features.embedding)
    if mode == "hybrid":
        return HybridQuery(features.embedding, query_weights(features.classes, k), HYBRID_WEIGHT)
    if mode == "fused":
        return FusedQuery(features.embedding, query_weights(features.classes, k), DEFAULT_FUSION)
    raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")


def keyword_query(concepts: ConceptQuery) -> WordsQuery:
    """The store query of a parsed keyword query: per clause, one concept matcher over
    the union of its terms' classes (the mass of "dog OR cat" is that of both), and the
    matchers of the other signals that read its words (``query.Clause.matchers``)."""
    return WordsQuery(tuple(Clause(c.matchers, c.negated) for c in concepts.clauses))


def capture_filter(
    *,
    after: str | None = None,
    before: str | None = None,
    place: str | None = None,
    camera: str | None = None,
    sort: str = "relevance",
) -> Filter:
    """What a user restricts by capture (``--after``/``--before``/``--place``/``--camera``)
    and how results are ordered (``--sort``), as a store ``Filter``.

    A place is any reading the gazetteer has of it ("paris": the city; "georgia": the
    country and the US state), ISO codes included; a camera is matched on its folded
    keys ("iphone", "canon eos r5"). Raises ``UsageError`` with one line for a bad date,
    an unknown place, an empty camera or an unknown sort.
    """
    span = date_range(after, before)
    places: tuple[str, ...] = ()
    if place is not None:
        readings = gazetteer().lookup(place, codes=True)
        if not readings:
            raise UsageError(f"unknown place: {place!r} (try a city, region or country name)")
        places = tuple(dict.fromkeys(r.key for r in readings))
    cameras: tuple[str, ...] = ()
    if camera is not None:
        key = camera_key(camera)
        if not key:
            raise UsageError(f"not a camera name: {camera!r}")
        cameras = (key,)
    for s in SORTS:
        if sort == s:
            return Filter(
                after_day=day_number(span.start) if span and span.start > date.min else None,
                before_day=day_number(span.end) if span and span.end < date.max else None,
                places=places,
                cameras=cameras,
                sort=s,
            )
    raise UsageError(f"unknown sort {sort!r}; choose {' or '.join(SORTS)}")


def labels_of(class_ids: npt.ArrayLike, probs: npt.ArrayLike, vocab: Vocabulary) -> list[Label]:
    """Labels (wnid, words, probability) of class indices, in the given order."""
    class_ids, probs = np.asarray(class_ids), np.asarray(probs)
    return [
        Label(vocab.classes[int(i)].wnid, vocab.classes[int(i)].name, float(p))
        for i, p in zip(class_ids, probs, strict=False)
    ]


class Searcher:
    """Runs queries against a store and dresses the hits as results."""

    def __init__(self, store: Store, vocab: Vocabulary | None = None) -> None:
        self.store = store
        self.vocab = vocab or Vocabulary.load()

    def run(
        self,
        query: StoreQuery,
        mode: str,
        *,
        limit: int = 10,
        offset: int = 0,
        under: str | None = None,
        exclude: Sequence[str] = (),
        text: str = "",
        where: Filter | None = None,
    ) -> SearchResults:
        if limit < 0 or offset < 0:
            raise UsageError("--limit and --offset must not be negative")
        where = replace(where or Filter(), under=under, exclude=tuple(exclude))
        if where.sort == "date" and not isinstance(query, WordsQuery):
            raise UsageError("--sort date orders a words search; search by image ranks by likeness")
        total, hits = self.store.search(query, limit, offset, where)
        docs = self.store.summaries([h.id for h in hits])
        results: list[Result] = []
        for hit in hits:
            doc = docs.get(hit.id)
            if doc is None:  # removed between scoring and fetching
                continue
            labels = labels_of(
                doc.class_ids[:RESULT_LABELS], doc.class_probs[:RESULT_LABELS], self.vocab
            )
            results.append(Result(offset + len(results) + 1, hit.id, doc.path, hit.score, labels))
        return SearchResults(mode, total, results, text)

    def by_features(
        self,
        features: Features,
        mode: Mode = DEFAULT_MODE,
        *,
        limit: int = 10,
        offset: int = 0,
        under: str | None = None,
        exclude: Sequence[str] = (),
        where: Filter | None = None,
    ) -> SearchResults:
        query = image_query(features, check_mode(mode))
        return self.run(
            query, mode, limit=limit, offset=offset, under=under, exclude=exclude, where=where
        )

    def by_words(
        self,
        words: str | Sequence[str],
        *,
        limit: int = 10,
        offset: int = 0,
        under: str | None = None,
        where: Filter | None = None,
    ) -> SearchResults:
        concepts = parse_query(words, self.vocab)
        query = keyword_query(concepts)
        text = str(concepts)
        results = self.run(
            query, "keyword", limit=limit, offset=offset, under=under, text=text, where=where
        )
        return self.explained(results, concepts)

    def explained(self, results: SearchResults, concepts: ConceptQuery) -> SearchResults:
        """A words search's page with why each result matched (from its stored row), how
        the words were read, and the spelling corrections."""
        ids = [r.id for r in results.results]
        found = self.store.rows(ids=ids, features=True, metadata=True) if ids else iter(())
        rows = {row.id: row for row in found}
        terms = [(t.text, t.readings) for c in concepts.positive for t in c.terms]
        dressed = [
            replace(r, why=explain_readings(rows[r.id], terms, self.vocab) if r.id in rows else [])
            for r in results.results
        ]
        corrections = [c.to_json() for c in concepts.corrections]
        return replace(results, results=dressed, parsed=concepts.to_json(), corrections=corrections)
