"""The embedded store's scoring: every query type, every matcher type.

``score_query`` is the single place where a query becomes a ranking over the
segments (every query type scores one segment at a time in ``score_segment``,
except ``fused``, whose expansion spans all of them: ``fused_query``), and
``matcher_scores`` the single place where a matcher does (a new signal adds one
case there). A row whose score is not finite (a NaN stored by an older picfind,
say) is never a match: it cannot take a place in a page, nor empty it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

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
    TextMatch,
    WordsQuery,
)
from picfind.records import SparseClasses
from picfind.scoring import (
    NUM_CLASSES,
    Mask,
    clause_scores,
    expand_query,
    query_weights,
    rows_dot,
    top_k,
    words_scores,
)
from picfind.store import vectors
from picfind.store.base import (
    ClassesQuery,
    EmbeddingQuery,
    FusedQuery,
    HybridQuery,
    StoreQuery,
)
from picfind.store.codec import dense_weights
from picfind.textsearch import TEXT_SCORE

Positions = npt.NDArray[np.int64]
Facts = Mapping[CaptureMatch | TextMatch, npt.NDArray[np.int64]]
"""The rowids (sorted) each capture or text matcher of a query matches: the store looks
them up in SQLite (indexed columns and ``image_keys``; the FTS5 index of read text) once
per search, since those fields may be updated in place and so live outside the
append-only segments."""


def capture_matchers(query: WordsQuery) -> list[CaptureMatch]:
    """The capture matchers of a words query, each once."""
    found: list[CaptureMatch] = []
    for clause in query.clauses:
        for m in clause.matchers:
            if isinstance(m, PlaceMatch | DateMatch | CameraMatch) and m not in found:
                found.append(m)
    return found


def text_matchers(query: WordsQuery) -> list[TextMatch]:
    """The text matchers of a words query, each once."""
    found: list[TextMatch] = []
    for clause in query.clauses:
        for m in clause.matchers:
            if isinstance(m, TextMatch) and m not in found:
                found.append(m)
    return found


def membership(seg: vectors.Segment, rowids: npt.NDArray[np.int64]) -> Mask:
    """Which rows of a segment are among ``rowids`` (sorted)."""
    inside = np.zeros(seg.n, dtype=bool)
    inside[seg.positions_of(rowids)] = True
    return inside


Ranked = list[tuple[float, int]]
"""(score, rowid), best first; ties by rowid."""
ClassesOf = Callable[[list[int]], dict[int, SparseClasses]]
"""The stored top classes of some rows, by rowid (rows gone meanwhile are left out)."""


def score_query(
    segments: Sequence[vectors.Segment],
    masks: Sequence[Mask],
    query: StoreQuery,
    want: int,
    classes_of: ClassesOf,
    facts: Facts | None = None,
) -> tuple[int, Ranked]:
    """(matches over every segment, the ``want`` best as (score, rowid)); ``facts``: the
    rows of the query's capture matchers (``capture_matchers``)."""
    if isinstance(query, FusedQuery):
        return fused_query(segments, masks, query, want, classes_of)
    total = 0
    found: Ranked = []
    for seg, mask in zip(segments, masks, strict=True):
        if seg.n == 0:
            continue
        count, scores, positions = score_segment(seg, query, mask, want, facts)
        total += count
        found.extend(zip(scores.tolist(), seg.rowids[positions].tolist(), strict=True))
    return total, _best(found, want)


K = TypeVar("K")


def newest_first(rows: Iterable[tuple[str | None, float, K]]) -> list[tuple[float, K]]:
    """(taken, score, key) rows as (score, key): by local capture time, newest first, then
    by score; undated rows last, by score. Both stores order a ``sort="date"`` page with
    it. The sorts are stable: rows tied on both keep the order they came in (best first,
    ties by the store's own order)."""
    listed = list(rows)
    dated = sorted((r for r in listed if r[0]), key=lambda r: (r[0], r[1]), reverse=True)
    undated = sorted((r for r in listed if not r[0]), key=lambda r: -r[1])
    return [(score, key) for _, score, key in dated + undated]


def _best(found: Ranked, want: int) -> Ranked:
    found.sort(key=lambda t: (-t[0], t[1]))
    return found[:want]


@dataclass
class _Pass:
    """One segment's part of a fused search: its candidates and their first-pass scores.

    Exact segments keep every row in the mask as a candidate (``positions`` None:
    the second pass scores them all, which is ``scoring.fused_block``); a projected
    segment keeps the best of its coarse first pass, with their vectors read once."""

    seg: vectors.Segment
    mask: Mask
    first: np.ndarray  # per candidate (every row when positions is None)
    positions: Positions | None = None
    vectors: np.ndarray | None = None

    def best(self, m: int) -> Ranked:
        if self.positions is None:
            picked = top_k(self.first, m, self.mask)
            rows = picked
        else:
            picked = top_k(self.first, m)
            rows = self.positions[picked]
        return list(zip(self.first[picked].tolist(), self.seg.rowids[rows].tolist(), strict=True))

    def vector_of(self, rowid: int) -> np.ndarray:
        pos = self.seg.positions_of(np.array([rowid], dtype=np.int64))
        if self.positions is None or self.vectors is None:
            out: np.ndarray = self.seg.vectors(pos)[0]
            return out
        row = np.flatnonzero(self.positions == pos[0])[0]
        out = self.vectors[row]
        return out

    def second(
        self, query: FusedQuery, vector: np.ndarray, weights: np.ndarray, want: int
    ) -> Ranked:
        if self.positions is None or self.vectors is None:
            scores = query.params.score(self.seg.class_dot(weights), self.seg.coarse_cosine(vector))
            picked = top_k(scores, want, self.mask & np.isfinite(scores))
            rows = picked
        else:
            cos = rows_dot(self.vectors, vector)
            scores = query.params.score(self.seg.class_dot_rows(weights, self.positions), cos)
            picked = top_k(scores, want)
            picked = picked[np.isfinite(scores[picked])]
            rows = self.positions[picked]
        return list(zip(scores[picked].tolist(), self.seg.rowids[rows].tolist(), strict=True))


def fused_query(
    segments: Sequence[vectors.Segment],
    masks: Sequence[Mask],
    query: FusedQuery,
    want: int,
    classes_of: ClassesOf,
) -> tuple[int, Ranked]:
    """The fused ranking over every segment (docs/evaluation.md, "Integration").

    1. per segment, the first pass ``fuse(c, cos)`` over every row in the mask
       (the coarse cosine above ``EXACT_LIMIT``: there the ``max(want, RERANK)``
       best are the candidates, re-scored with exact cosines);
    2. over **all** segments, the m best by the exact first pass join the query
       (``expand_query``: their vectors, their stored top classes);
    3. per segment, the expanded query scores the candidates; the best win.
    """
    params = query.params
    vector = np.asarray(query.vector, dtype=np.float32)
    weights = dense_weights(query.weights)
    total = 0
    passes: list[_Pass] = []
    for seg, mask in zip(segments, masks, strict=True):
        if seg.n == 0:
            continue
        classes = seg.class_dot(weights)
        if not seg.approximate:
            first = params.score(classes, seg.coarse_cosine(vector))
            mask = mask & np.isfinite(first)
            total += int(mask.sum())
            passes.append(_Pass(seg, mask, first))
            continue
        order = params.order(classes, seg.coarse_cosine(vector))
        mask = mask & np.isfinite(order)
        total += int(mask.sum())
        positions = top_k(order, max(want, vectors.RERANK), mask)
        vecs = seg.vectors(positions)
        exact = params.score(classes[positions], rows_dot(vecs, vector))
        keep = np.isfinite(exact)
        if not keep.all():  # (a copy of the candidates' vectors only when one is poisoned)
            exact, positions, vecs = exact[keep], positions[keep], vecs[keep]
        passes.append(_Pass(seg, mask, exact, positions, vecs))
    if want <= 0:
        return total, []
    if params.expansion <= 0:
        return total, _best([t for p in passes for t in p.best(want)], want)
    where: dict[int, _Pass] = {}
    ranked: Ranked = []
    for p in passes:
        for score, rowid in p.best(params.expansion):
            ranked.append((score, rowid))
            where[rowid] = p
    best = [rowid for _, rowid in _best(ranked, params.expansion)]
    stored = classes_of(best)
    best = [r for r in best if r in stored]  # a row removed meanwhile does not join
    if best:
        neighbours = np.stack([where[r].vector_of(r) for r in best])
        own = np.stack([query_weights(stored[r], params.k) for r in best])
        vector, weights = expand_query(vector, weights, neighbours, own, params.k)
    found = [t for p in passes for t in p.second(query, vector, weights, want)]
    return total, _best(found, want)


def matcher_scores(
    seg: vectors.Segment, matcher: Matcher, negated: bool, facts: Facts | None = None
) -> tuple[npt.NDArray[np.float64], Mask]:
    """(score per row, whether the row matches) of one matcher; see ``picfind.matchers``."""
    if isinstance(matcher, ConceptMatch):
        mass = concept_mass(seg, matcher)
        return mass, mass >= matcher.at(negated)
    if isinstance(matcher, PlaceMatch | DateMatch | CameraMatch):
        if facts is None or matcher not in facts:
            raise ValueError(f"no rows looked up for {matcher}")
        inside = membership(seg, facts[matcher])
        return np.where(inside, CAPTURE_SCORE, 0.0), inside
    if isinstance(matcher, TextMatch):
        if facts is None or matcher not in facts:
            raise ValueError(f"no rows looked up for {matcher}")
        inside = membership(seg, facts[matcher])
        return np.where(inside, TEXT_SCORE, 0.0), inside
    raise TypeError(f"the embedded store has no scoring for {type(matcher).__name__}")


def concept_mass(seg: vectors.Segment, matcher: ConceptMatch) -> npt.NDArray[np.float64]:
    """Σ_j w_j ξ_ij per row: the weight-1 classes through the concept columns where they
    cover them, the others by their weights through the postings."""
    unit = matcher.unit
    mass = np.asarray(seg.concept_mass(unit), dtype=np.float64) if unit else np.zeros(seg.n)
    if matcher.weighted:
        vector = np.zeros(NUM_CLASSES, dtype=np.float32)
        for index, weight in matcher.weighted:
            vector[index] = weight
        mass = mass + np.asarray(seg.class_dot(vector), dtype=np.float64)
    return mass


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
