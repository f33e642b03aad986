"""The embedded store's scoring of one segment: every query type, every matcher type.

``score_segment`` is the single place where a query becomes per-row scores, and
``matcher_scores`` the single place where a matcher does (a new signal adds one
case there). A row whose score is not finite (a NaN stored by an older picfind,
say) is never a match: it cannot take a place in a page, nor empty it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from picfind.matchers import (
    CAPTURE_SCORE,
    CameraMatch,
    CaptureMatch,
    Clause,
    ConceptMatch,
    DateMatch,
    Matcher,
    PlaceMatch,
    WordsQuery,
)
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

Positions = npt.NDArray[np.int64]
Facts = Mapping[CaptureMatch, npt.NDArray[np.int64]]
"""The rowids (sorted) each capture matcher of a query matches: the store looks them up
in SQLite (indexed columns and ``image_keys``) once per search, since capture fields
may be updated in place and so live outside the append-only segments."""


def capture_matchers(query: WordsQuery) -> list[CaptureMatch]:
    """The capture matchers of a words query, each once."""
    found: list[CaptureMatch] = []
    for clause in query.clauses:
        for m in clause.matchers:
            if isinstance(m, PlaceMatch | DateMatch | CameraMatch) and m not in found:
                found.append(m)
    return found


def membership(seg: vectors.Segment, rowids: npt.NDArray[np.int64]) -> Mask:
    """Which rows of a segment are among ``rowids`` (sorted)."""
    inside = np.zeros(seg.n, dtype=bool)
    inside[seg.positions_of(rowids)] = True
    return inside


def matcher_scores(
    seg: vectors.Segment, matcher: Matcher, negated: bool, facts: Facts | None = None
) -> tuple[npt.NDArray[np.float64], Mask]:
    """(score per row, whether the row matches) of one matcher; see ``picfind.matchers``."""
    if isinstance(matcher, ConceptMatch):
        mass = np.asarray(seg.concept_mass(matcher.classes), dtype=np.float64)
        return mass, mass >= (NOT_THRESHOLD if negated else MATCH_THRESHOLD)
    if isinstance(matcher, PlaceMatch | DateMatch | CameraMatch):
        if facts is None or matcher not in facts:
            raise ValueError(f"no rows looked up for {matcher}")
        inside = membership(seg, facts[matcher])
        return np.where(inside, CAPTURE_SCORE, 0.0), inside
    raise TypeError(f"the embedded store has no scoring for {type(matcher).__name__}")


def _clause(seg: vectors.Segment, clause: Clause, facts: Facts | None) -> tuple[np.ndarray, Mask]:
    return clause_scores([matcher_scores(seg, m, clause.negated, facts) for m in clause.matchers])


def _words(
    seg: vectors.Segment, query: WordsQuery, mask: Mask, want: int, facts: Facts | None
) -> tuple[int, np.ndarray, Positions]:
    positive = [_clause(seg, c, facts) for c in query.positive]
    negative = [_clause(seg, c, facts)[1] for c in query.negative]
    scores, match = words_scores(positive, negative)
    match &= mask & np.isfinite(scores)
    best = top_k(scores, want, match)
    return int(match.sum()), scores[best], best


def score_segment(
    seg: vectors.Segment, query: StoreQuery, mask: Mask, want: int, facts: Facts | None = None
) -> tuple[int, np.ndarray, Positions]:
    """(matches in this segment, their best scores, their positions) — at most ``want``.
    ``facts``: the rows of the query's capture matchers (``capture_matchers``)."""
    if isinstance(query, WordsQuery):
        return _words(seg, query, mask, want, facts)
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
