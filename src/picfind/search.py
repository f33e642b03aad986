"""The query model: search by image and by words, independent of the store.

Turns what a user gives (an image file, an indexed image's id, words) into a
store query with picfind's scoring semantics, and the store's hits into result
records with paths and top labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from picfind.errors import UsageError
from picfind.query import ConceptQuery, parse_query
from picfind.records import Features, Label, Result, SearchResults
from picfind.scoring import HYBRID_WEIGHT, QUERY_TOP_K, query_weights
from picfind.store.base import (
    ClassesQuery,
    EmbeddingQuery,
    Filter,
    HybridQuery,
    KeywordQuery,
    Store,
    StoreQuery,
)
from picfind.vocabulary import Vocabulary

Mode = Literal["hybrid", "classes", "embedding"]
MODES: tuple[Mode, ...] = ("hybrid", "classes", "embedding")
RESULT_LABELS = 3
"""How many top classes each result shows."""


def image_query(features: Features, mode: Mode, k: int = QUERY_TOP_K) -> StoreQuery:
    """The store query for search by image in one of the three modes."""
    if mode == "classes":
        return ClassesQuery(query_weights(features.classes, k))
    if mode == "embedding":
        return EmbeddingQuery(features.embedding)
    if mode == "hybrid":
        return HybridQuery(features.embedding, query_weights(features.classes, k), HYBRID_WEIGHT)
    raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")


def keyword_query(concepts: ConceptQuery) -> KeywordQuery:
    return KeywordQuery(
        positive=tuple(c.class_indices for c in concepts.positive),
        negative=tuple(c.class_indices for c in concepts.negative),
    )


def labels_of(class_ids: Sequence[int], probs: Sequence[float], vocab: Vocabulary) -> list[Label]:
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
    ) -> SearchResults:
        if limit < 0 or offset < 0:
            raise UsageError("--limit and --offset must not be negative")
        total, hits = self.store.search(query, limit, offset, Filter(under, tuple(exclude)))
        docs = self.store.summaries([h.id for h in hits])
        results = []
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
        mode: Mode = "hybrid",
        *,
        exclude: Sequence[str] = (),
        **kwargs: object,
    ) -> SearchResults:
        return self.run(image_query(features, mode), mode, exclude=exclude, **kwargs)  # type: ignore[arg-type]

    def by_words(self, words: str | Sequence[str], **kwargs: object) -> SearchResults:
        concepts = parse_query(words, self.vocab)
        return self.run(keyword_query(concepts), "keyword", text=str(concepts), **kwargs)  # type: ignore[arg-type]
