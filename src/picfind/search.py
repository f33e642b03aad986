"""The query model: search by image and by words, independent of the store.

Turns what a user gives (an image file, an indexed image's id, words) into a
store query with picfind's scoring semantics, and the store's hits into result
records with paths and top labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from picfind.errors import ImageError, UsageError
from picfind.matchers import Clause, ConceptMatch, Matcher, WordsQuery
from picfind.query import ConceptQuery, parse_query
from picfind.records import Features, Label, Result, SearchResults
from picfind.scoring import HYBRID_WEIGHT, KEYWORD_FLOOR, KEYWORD_NOT, QUERY_TOP_K, query_weights
from picfind.store.base import ClassesQuery, EmbeddingQuery, Filter, HybridQuery, Store, StoreQuery
from picfind.vocabulary import Vocabulary
from picfind.why import explain_readings

Mode = Literal["hybrid", "classes", "embedding"]
"""How search by image compares images."""
MODES: tuple[Mode, ...] = ("hybrid", "classes", "embedding")
"""Every mode, the default first (the one list the CLI, the API and the web use)."""
RESULT_LABELS = 3
"""How many top classes each result shows."""


def check_mode(mode: str) -> Mode:
    """``mode`` if it is one of ``MODES``, else a UsageError naming them."""
    for m in MODES:
        if mode == m:
            return m
    raise UsageError(f"unknown mode {mode!r}; choose {', '.join(MODES[:-1])} or {MODES[-1]}")


def image_query(features: Features, mode: Mode, k: int = QUERY_TOP_K) -> StoreQuery:
    """The store query for search by image in one of the three modes."""
    if not features.finite():
        raise ImageError("<query>", "its features are not finite (NaN or infinity)")
    if mode == "classes":
        return ClassesQuery(query_weights(features.classes, k))
    if mode == "embedding":
        return EmbeddingQuery(features.embedding)
    if mode == "hybrid":
        return HybridQuery(features.embedding, query_weights(features.classes, k), HYBRID_WEIGHT)
    raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")


def keyword_query(
    concepts: ConceptQuery, floor: float = KEYWORD_FLOOR, exclude: float = KEYWORD_NOT
) -> WordsQuery:
    """The store query of a parsed keyword query: per clause, one concept matcher, the
    weighted mass over the union of its terms' classes (the mass of "dog OR cat" is that
    of both), and the matchers of the other signals that read its words
    (``query.Clause.matchers``). A positive clause's concept matches at mass ≥ ``floor``
    (the relevance floor); a negated one excludes at mass ≥ ``exclude``."""
    if not 0 < floor <= 1 or not 0 < exclude <= 1:
        raise UsageError("--min-score must be above 0 and at most 1")
    return WordsQuery(
        tuple(
            Clause(tuple(_at(m, exclude if c.negated else floor) for m in c.matchers), c.negated)
            for c in concepts.clauses
        )
    )


def _at(matcher: Matcher, threshold: float) -> Matcher:
    """A concept matcher with its threshold set (other matchers as they are)."""
    return replace(matcher, threshold=threshold) if isinstance(matcher, ConceptMatch) else matcher


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
    ) -> SearchResults:
        if limit < 0 or offset < 0:
            raise UsageError("--limit and --offset must not be negative")
        total, hits = self.store.search(query, limit, offset, Filter(under, tuple(exclude)))
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
        mode: Mode = "hybrid",
        *,
        limit: int = 10,
        offset: int = 0,
        under: str | None = None,
        exclude: Sequence[str] = (),
    ) -> SearchResults:
        query = image_query(features, check_mode(mode))
        return self.run(query, mode, limit=limit, offset=offset, under=under, exclude=exclude)

    def by_words(
        self,
        words: str | Sequence[str],
        *,
        limit: int = 10,
        offset: int = 0,
        under: str | None = None,
        min_score: float | None = None,
    ) -> SearchResults:
        """Images the words describe; ``min_score``: the relevance floor each word must
        reach (default ``scoring.KEYWORD_FLOOR``)."""
        concepts = parse_query(words, self.vocab)
        query = keyword_query(concepts, KEYWORD_FLOOR if min_score is None else min_score)
        text = str(concepts)
        results = self.run(query, "keyword", limit=limit, offset=offset, under=under, text=text)
        return self.explained(results, concepts, KEYWORD_FLOOR if min_score is None else min_score)

    def explained(
        self, results: SearchResults, concepts: ConceptQuery, floor: float = KEYWORD_FLOOR
    ) -> SearchResults:
        """A words search's page with why each result matched (from its stored row), how
        the words were read, and the spelling corrections."""
        ids = [r.id for r in results.results]
        rows = {row.id: row for row in self.store.rows(ids=ids, features=True)} if ids else {}
        clauses = [[(t.text, t.readings) for t in c.terms] for c in concepts.positive]
        dressed = [
            replace(
                r,
                why=explain_readings(rows[r.id], clauses, self.vocab, floor)
                if r.id in rows
                else [],
            )
            for r in results.results
        ]
        corrections = [c.to_json() for c in concepts.corrections]
        return replace(results, results=dressed, parsed=concepts.to_json(), corrections=corrections)
