"""The embedded store's scoring of one segment: every query type, every matcher type.

``score_segment`` is the single place where a query becomes per-row scores, and
``matcher_scores`` the single place where a matcher does (a new signal adds one
case there). A row whose score is not finite (a NaN stored by an older picfind,
say) is never a match: it cannot take a place in a page, nor empty it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from picfind.matchers import Clause, ConceptMatch, Matcher, TextMatch, WordsQuery
from picfind.scoring import (
    MATCH_THRESHOLD,
    NOT_THRESHOLD,
    Mask,
    clause_scores,
    top_k,
    words_scores,
)
from picfind.store import vectors
from picfind.store.base import ClassesQuery, EmbeddingQuery, HybridQuery, StoreQuery
from picfind.store.codec import dense_weights
from picfind.textsearch import TEXT_SCORE

Positions = npt.NDArray[np.int64]
Found = Mapping[TextMatch, npt.NDArray[np.int64]]
"""Sorted rowids each text matcher finds, looked up once per search (the FTS index)."""


def matcher_scores(
    seg: vectors.Segment, matcher: Matcher, negated: bool, found: Found | None = None
) -> tuple[npt.NDArray[np.float64], Mask]:
    """(score per row, whether the row matches) of one matcher; see ``picfind.matchers``."""
    if isinstance(matcher, ConceptMatch):
        mass = np.asarray(seg.concept_mass(matcher.classes), dtype=np.float64)
        return mass, mass >= (NOT_THRESHOLD if negated else MATCH_THRESHOLD)
    if isinstance(matcher, TextMatch):
        hit = np.zeros(seg.n, dtype=bool)
        if found is not None and matcher in found:
            hit[seg.positions_of(found[matcher])] = True
        return np.where(hit, TEXT_SCORE, 0.0), hit
    raise TypeError(f"the embedded store has no scoring for {type(matcher).__name__}")


def text_matchers(queries: Sequence[object]) -> Iterator[TextMatch]:
    """Every text matcher of these queries (their rows are looked up before scoring)."""
    for q in queries:
        if isinstance(q, WordsQuery):
            for clause in q.clauses:
                yield from (m for m in clause.matchers if isinstance(m, TextMatch))


def _clause(seg: vectors.Segment, clause: Clause, found: Found | None) -> tuple[np.ndarray, Mask]:
    return clause_scores([matcher_scores(seg, m, clause.negated, found) for m in clause.matchers])


def _words(
    seg: vectors.Segment, query: WordsQuery, mask: Mask, want: int, found: Found | None
) -> tuple[int, np.ndarray, Positions]:
    positive = [_clause(seg, c, found) for c in query.positive]
    negative = [_clause(seg, c, found)[1] for c in query.negative]
    scores, match = words_scores(positive, negative)
    match &= mask & np.isfinite(scores)
    best = top_k(scores, want, match)
    return int(match.sum()), scores[best], best


def score_segment(
    seg: vectors.Segment, query: StoreQuery, mask: Mask, want: int, found: Found | None = None
) -> tuple[int, np.ndarray, Positions]:
    """(matches in this segment, their best scores, their positions) — at most ``want``;
    ``found``: the rows of the query's text matchers (``text_matchers``)."""
    if isinstance(query, WordsQuery):
        return _words(seg, query, mask, want, found)
    if isinstance(query, ClassesQuery):
        scores = 1.0 + seg.class_dot(dense_weights(query.weights))
        mask = mask & np.isfinite(scores)
        best = top_k(scores, want, mask)
        return int(mask.sum()), scores[best], best
    if isinstance(query, EmbeddingQuery | HybridQuery):
        vector = np.asarray(query.vector, dtype=np.float32)
        extra = (
            query.weight * seg.class_dot(dense_weights(query.weights))
            if isinstance(query, HybridQuery)
            else 0.0
        )
        coarse = np.asarray(seg.coarse_cosine(vector) + extra)
        mask = mask & np.isfinite(coarse)
        if not seg.approximate:
            best = top_k(coarse, want, mask)
            return int(mask.sum()), coarse[best], best
        # Candidates from the projection, re-scored exactly.
        candidates = top_k(coarse, max(want, vectors.RERANK), mask)
        exact = seg.exact_cosine(candidates, vector)
        if isinstance(query, HybridQuery):
            exact = exact + np.asarray(extra)[candidates]
        order = top_k(exact, want)
        order = order[np.isfinite(exact[order])]
        return int(mask.sum()), exact[order], candidates[order]
    raise TypeError(f"unknown query type {type(query).__name__}")
