"""Searching a cluster index: the engine picks candidates, the client re-scores them exactly.

``rank_features`` keep 9 significant bits, so engine scores are only close; every
strategy re-scores its candidates from the exact top classes in ``_source`` with
the same pure functions as the embedded store (``picfind.scoring``), and widens
the candidate window until quantisation cannot change the page:

* classes: ``bool.should`` of linear ``rank_feature`` queries boosted by η_j (the
  count of the filtered documents sent beside the first window: one ``_msearch``); the
  window is the page plus ``RESCORE_SLACK``, widened with ``min_score`` to every
  document whose truncated score could still beat the page's last exact one (up
  to ``RESCORE_MAX``); images with none of the query's classes (all scored 1) fill
  short pages;
* words: one query clause per matcher (``bodies.matcher_clause``); the AND and NOT
  thresholds are applied by the engine, the geometric mean re-scored exactly; a query
  of one positive concept matcher (the common case) is ranked by its native
  ``rank_feature`` mass instead, no painless on its positive side (``linear``: native
  counts at the engine's floor and its certain score, the band between them read
  exactly); ``Queries.native = False`` keeps the script plan for every query;
* embedding: kNN (HNSW, k ≥ ``KNN_K``), the engine's cosine;
* hybrid: ``HYBRID_CANDIDATES`` kNN candidates re-scored ``cos + λ·Σ η_j ξ_ij``;
* fused: the ``FUSED_CANDIDATES`` best by kNN with those of the classes query; their
  exact inner products with the query (``bodies.dot_query``) and class terms (from
  ``_source``) scored with ``picfind.scoring.fuse``; the best join the query
  (``expand_query``, their embeddings by one ``mget``) and the expanded query scores
  the same candidates again — the embedded store's formulas on the same candidates,
  so on an index smaller than the candidate lists both give the same answers;
* the paper's layout: ``script_score`` over ``match_all``, as the engine says.

A new matcher type needs its query clause in ``bodies`` and its exact score in
``_matcher_scores`` here; its clause must score ≥ ``1 + ln(s·(1 − ε)/t)`` for a
document whose exact score is s, so the window reasoning below stays sound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from picfind.errors import UsageError
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
from picfind.records import Hit
from picfind.scoring import (
    FUSED_CANDIDATES,
    MATCH_THRESHOLD,
    NUM_CLASSES,
    Mask,
    clause_scores,
    expand_query,
    query_weights,
    top_k,
    words_scores,
)
from picfind.store.base import (
    ClassesQuery,
    EmbeddingQuery,
    Filter,
    FusedQuery,
    HybridQuery,
    StoreQuery,
    search_each,
)
from picfind.store.cluster import bodies, linear
from picfind.store.cluster.bodies import FEATURE_ERROR
from picfind.store.cluster.handle import IndexHandle
from picfind.store.cluster.mapping import source_classes
from picfind.store.codec import dense_weights
from picfind.store.ranking import newest_first
from picfind.textsearch import TEXT_SCORE, matches

KNN_K = 100
"""Neighbours the HNSW search gathers at least (Lucene's ef): recall@10 ≥ 0.95 measured."""
HYBRID_CANDIDATES = 200
"""kNN candidates re-scored with cosine + λ·Σ η_j ξ_ij for a hybrid search."""
RESCORE_SLACK = 20
"""Extra candidates re-scored exactly beyond the page (rank_features keep 9 bits)."""
RESCORE_MAX = 10_000
"""At most this many candidates in the band that quantisation leaves undecided."""

WORDS_SOURCE = ["top", "place_keys", "camera_keys", "taken_day", "location"]
"""What a words query's exact re-scoring reads of each candidate (classes, capture facts)."""

Scored = list[tuple[float, str]]
Sources = list[dict[str, Any]]


class Queries:
    """The search side of one cluster index."""

    def __init__(self, handle: IndexHandle) -> None:
        self.handle = handle
        self.native = True
        """The native plans: a one-concept words query ranked by its ``rank_feature`` mass
        alone (``linear``), a classes query's count sent beside its first window; False:
        the plans before them (the script plan stays for what ``linear`` cannot do)."""

    def search(
        self, query: StoreQuery, limit: int, offset: int = 0, where: Filter | None = None
    ) -> tuple[int, list[Hit]]:
        if not self.handle.exists():
            return 0, []
        want = offset + limit
        if self.handle.layout == "paper":
            total, scored = self._paper(query, want, where)
        elif isinstance(query, ClassesQuery):
            total, scored = self._classes(query, want, where)
        elif isinstance(query, WordsQuery):
            total, scored = self._words(query, want, where)
        elif isinstance(query, EmbeddingQuery):
            total, scored = self._embedding(query, want, where)
        elif isinstance(query, HybridQuery):
            total, scored = self._hybrid(query, want, where)
        elif isinstance(query, FusedQuery):
            total, scored = self._fused(query, want, where)
        else:
            raise TypeError(f"unknown query type {type(query).__name__}")
        return total, [Hit(i, s) for s, i in scored[offset:want]]

    def search_many(
        self, queries: Sequence[StoreQuery], limit: int, where: Sequence[Filter]
    ) -> list[tuple[int, list[Hit]]]:
        return search_each(self, queries, limit, where)

    def _hits(
        self, query: dict[str, Any], size: int, source: Any, total: bool
    ) -> tuple[int, list[dict[str, Any]]]:
        res = self.handle.search(
            {"query": query, "size": size, "_source": source, "track_total_hits": total}
        )
        hits: list[dict[str, Any]] = res["hits"]["hits"]
        n = res["hits"]["total"]["value"] if total else len(hits)
        return int(n), hits

    def _classes(self, query: ClassesQuery, want: int, where: Filter | None) -> tuple[int, Scored]:
        weights = dense_weights(query.weights)
        if want == 0:
            return self.handle.count(where), []
        counting = _fetch(bodies.filter_query(where), 0, None, track_total_hits=True)
        total, scored = self._rescored(
            bodies.classes_query(weights, where),
            want,
            lambda sources: 1.0 + _dense(sources) @ weights.astype(np.float64),
            # engine score = Σ η_j q(ξ_ij) ≥ (1 − ε)·Σ η_j ξ_ij
            lambda kth: (kth - 1.0) * (1.0 - FEATURE_ERROR),
            total=False,
            counted=counting if self.native else None,
        )
        if not self.native:
            total = self.handle.count(where)
        if len(scored) < want:  # images with none of the query's classes score exactly 1
            filters, must_not = bodies.filter_clauses(where)
            should = bodies.class_features(weights)
            if should:
                must_not = [*must_not, {"bool": {"should": should}}]
            rest = {"bool": {"filter": filters, "must_not": must_not}}
            _, more = self._hits(rest, want - len(scored), False, False)
            scored += [(1.0, h["_id"]) for h in more]
        return total, scored

    def _words(self, query: WordsQuery, want: int, where: Filter | None) -> tuple[int, Scored]:
        if not query.positive:
            raise UsageError("a keyword query needs at least one word that is not negated")
        n = len(query.positive)

        def exact(sources: Sources) -> npt.NDArray[np.float64]:
            # The engine's matches are a superset (thresholds lowered by the quantisation
            # error, exclusions only where certain): the exact check decides; -inf: no match.
            dense = _dense(sources)
            positive = [_clause_scores(dense, sources, c) for c in query.positive]
            negative = [_clause_scores(dense, sources, c)[1] for c in query.negative]
            scores, match = words_scores(positive, negative)
            return np.where(match, np.asarray(scores, dtype=np.float64), -np.inf)

        reads_text = any(isinstance(m, TextMatch) for c in query.clauses for m in c.matchers)
        source = [*WORDS_SOURCE, "text_words", "text_parts"] if reads_text else WORDS_SOURCE

        def floor(kth: float) -> float:
            # engine score = n + Σ ln(max(q(m_c), b)/b) ≥ n + n·ln(G/b) + n·ln(1 − ε)
            return float(
                n + n * np.log(max(kth, 1e-300) / MATCH_THRESHOLD) + n * np.log1p(-FEATURE_ERROR)
            )

        single = linear.single_concept(query, where) if self.native else None
        if single is not None:
            return self._linear(query, single, want, where, exact, source)
        body = bodies.keyword_query(query, where)
        if where is not None and where.sort == "date":
            count, scored = self._newest_first(body, want, exact, source)
        else:
            count, scored = self._rescored(body, want, exact, floor, total=True, source=source)
        return count - self._band_misses(query, body, exact, source), scored

    def _linear(
        self,
        query: WordsQuery,
        matcher: ConceptMatch,
        want: int,
        where: Filter | None,
        exact: Callable[[Sources], npt.NDArray[np.float64]],
        source: list[str],
    ) -> tuple[int, Scored]:
        """One positive concept matcher, native scores (``linear``): in one round trip the
        first window of the engine's matches (counted: the one pass over them) and the
        count of its certain matches; when the window holds every match it decides the
        page and the total alone; else the rest of the boundary (documents whose engine
        mass could still beat the page's last exact one) and the quantisation band are
        fetched in a second, and checked exactly."""
        body = linear.ranking(query, matcher, where)
        at = matcher.at(False)
        low, high = linear.floor(matcher, at), linear.certain(at)
        size = want + RESCORE_SLACK if want else 0
        first = _fetch(body, size, source, min_score=low, track_total_hits=True)
        certain = _fetch(body, 0, None, min_score=high, track_total_hits=True)
        window, sure = self.handle.msearch([first, certain])
        hits = window["hits"]["hits"]
        n_engine = int(window["hits"]["total"]["value"])
        scored = _scored(hits, exact)
        if len(hits) >= n_engine:  # every engine match read: the exact check counts them
            misses = sum(1 for s, _ in scored if s == -np.inf)
            return n_engine - misses, sorted((h for h in scored if h[0] > -np.inf), key=_best)
        later: list[dict[str, Any]] = []
        if want and len(hits) == size:
            valid = sorted((s for s, _ in scored if s > -np.inf), reverse=True)
            need = linear.floor(matcher, valid[want - 1]) if len(valid) >= want else low
            if _reaches(hits[-1]["_score"], need):
                seen = {"ids": {"values": [h["_id"] for h in hits]}}
                rest = {"bool": {"must": [body], "must_not": [seen]}}
                later.append(_fetch(rest, RESCORE_MAX, source, min_score=need))
        n_band = min(n_engine - int(sure["hits"]["total"]["value"]), RESCORE_MAX)
        band = []
        if n_band > 0:  # the lowest engine masses: exactly the documents below ``high``
            asc = [{"_score": "asc"}]
            band.append(_fetch(body, n_band, source, min_score=low, sort=asc))
        negated = linear.negated_band(query, where, matcher)
        if negated is not None:
            band.append(_fetch(negated, RESCORE_MAX, source, min_score=low))
        replies = self.handle.msearch(later + band) if later or band else []
        if later:
            scored += _scored(replies[0]["hits"]["hits"], exact)
        near = {h["_id"]: h["_source"] for r in replies[len(later) :] for h in r["hits"]["hits"]}
        misses = int(np.count_nonzero(~np.isfinite(exact(list(near.values()))))) if near else 0
        scored = [t for t in scored if t[0] > -np.inf]  # -inf: not an exact match
        scored.sort(key=_best)  # stable: engine order breaks exact ties
        return n_engine - misses, scored

    def _newest_first(
        self,
        query: dict[str, Any],
        want: int,
        exact: Callable[[Sources], npt.NDArray[np.float64]],
        source: list[str],
    ) -> tuple[int, Scored]:
        """The engine sorts by local capture time (undated last, by score); the page is
        re-scored exactly and ordered (newest, best) as the embedded store orders it."""
        body = {
            "query": query,
            "size": want,
            "_source": [*source, "taken"],
            "track_total_hits": True,
            "track_scores": True,
            "sort": [{"taken": {"order": "desc", "missing": "_last"}}, {"_score": "desc"}],
        }
        res = self.handle.search(body)
        hits = res["hits"]["hits"]
        scores = exact([h["_source"] for h in hits]) if hits else np.zeros(0)
        rows = [
            (h["_source"].get("taken"), float(s), h["_id"])
            for h, s in zip(hits, scores, strict=True)
            if s > -np.inf  # -inf: not an exact match
        ]
        return int(res["hits"]["total"]["value"]), newest_first(rows)

    def _band_misses(
        self,
        query: WordsQuery,
        body: dict[str, Any],
        exact: Callable[[Sources], npt.NDArray[np.float64]],
        source: list[str],
    ) -> int:
        """How many of the engine's matches are no exact match: those a quantised mass
        put within the error of a threshold, fetched (there are few) and checked."""
        band = bodies.band_query(query)
        if band is None:
            return 0
        near = {"bool": {"filter": [body], "should": band, "minimum_should_match": 1}}
        _, hits = self._hits(near, RESCORE_MAX, source, False)
        if not hits:
            return 0
        return int(np.count_nonzero(~np.isfinite(exact([h["_source"] for h in hits]))))

    def _rescored(
        self,
        query: dict[str, Any],
        want: int,
        exact: Callable[[Sources], npt.NDArray[np.float64]],
        floor: Callable[[float], float],
        *,
        total: bool,
        source: list[str] | None = None,
        counted: dict[str, Any] | None = None,
    ) -> tuple[int, Scored]:
        """Candidates by engine score, re-scored exactly from ``_source``.

        The engine's scores are low by at most the quantisation error, so a
        document can only beat the k-th exact score if its engine score reaches
        ``floor(k-th)``; when documents past the first window still do, every
        one of them (up to RESCORE_MAX) is fetched and re-scored too. ``counted``: a
        counting search sent beside the first window (one round trip), whose total is
        the count returned.
        """
        size = want + RESCORE_SLACK if want else 0
        fields = source or ["top"]
        if counted:
            first = _fetch(query, size, fields, track_total_hits=total)
            res, counts = self.handle.msearch([first, counted])
            hits, count = res["hits"]["hits"], int(counts["hits"]["total"]["value"])
        else:
            count, hits = self._hits(query, size, fields, total)
        scored = _scored(hits, exact)
        if want and len(hits) == size:
            valid = sorted((s for s, _ in scored if s > -np.inf), reverse=True)
            need = float(floor(valid[want - 1])) if len(valid) >= want else -np.inf
            if _reaches(hits[-1]["_score"], need):
                body = {
                    "query": query,
                    "size": RESCORE_MAX,
                    "_source": fields,
                    "min_score": need,
                    "track_total_hits": False,
                }
                if need == -np.inf:
                    del body["min_score"]
                scored = _scored(self.handle.search(body)["hits"]["hits"], exact)
        scored = [t for t in scored if t[0] > -np.inf]  # -inf: not an exact match
        scored.sort(key=lambda t: -t[0])  # stable: engine order breaks exact ties
        return count, scored

    def _embedding(
        self, query: EmbeddingQuery, want: int, where: Filter | None
    ) -> tuple[int, Scored]:
        total = self.handle.count(where)
        if want == 0:
            return total, []
        engine = self.handle.engine.distribution
        body = bodies.knn_query(engine, query.vector, max(want, KNN_K), where)
        _, hits = self._hits(body, want, False, False)
        return total, [(2.0 * float(h["_score"]) - 1.0, h["_id"]) for h in hits]

    def _hybrid(self, query: HybridQuery, want: int, where: Filter | None) -> tuple[int, Scored]:
        total = self.handle.count(where)
        if want == 0:
            return total, []
        k = max(HYBRID_CANDIDATES, 2 * want)
        weights = dense_weights(query.weights).astype(np.float64)
        body = bodies.knn_query(self.handle.engine.distribution, query.vector, k, where)
        _, hits = self._hits(body, k, ["top"], False)
        extra = query.weight * (_dense([h["_source"] for h in hits]) @ weights)
        scored = [
            (2.0 * float(h["_score"]) - 1.0 + float(e), h["_id"])
            for h, e in zip(hits, extra, strict=True)
        ]
        scored.sort(key=lambda t: -t[0])
        return total, scored

    def _fused(self, query: FusedQuery, want: int, where: Filter | None) -> tuple[int, Scored]:
        total = self.handle.count(where)
        if want == 0:
            return total, []
        params = query.params
        k = max(FUSED_CANDIDATES, want)
        weights = dense_weights(query.weights)
        engine = self.handle.engine.distribution
        _, near = self._hits(bodies.knn_query(engine, query.vector, k, where), k, ["top"], False)
        _, by_class = self._hits(bodies.classes_query(weights, where), k, ["top"], False)
        sources: dict[str, dict[str, Any]] = {}
        for h in near + by_class:
            sources.setdefault(h["_id"], h["_source"])
        ids = list(sources)
        if not ids:
            return total, []
        dense = _dense([sources[i] for i in ids])
        vector = np.asarray(query.vector, dtype=np.float32)
        scores = params.score(dense @ weights.astype(np.float64), self._dots(ids, vector))
        if params.expansion > 0:
            found = self._vectors([ids[i] for i in top_k(scores, params.expansion)])
            if found:  # (a document removed meanwhile does not join)
                neighbours = np.stack([v for _, v in found])
                own = np.stack(
                    [query_weights(source_classes(sources[i]), params.k) for i, _ in found]
                )
                vector, weights = expand_query(vector, weights, neighbours, own, params.k)
            scores = params.score(dense @ weights.astype(np.float64), self._dots(ids, vector))
        order = top_k(scores, want)  # ties by candidate order (kNN first)
        return total, [(float(scores[i]), ids[i]) for i in order if np.isfinite(scores[i])]

    def _dots(self, ids: list[str], vector: np.ndarray) -> npt.NDArray[np.float64]:
        """q·e of each candidate, computed by the engine over those ids only."""
        engine = self.handle.engine.distribution
        body = {
            "query": bodies.dot_query(engine, ids, vector),
            "size": len(ids),
            "_source": False,
            "track_total_hits": False,
        }
        got = {h["_id"]: float(h["_score"]) for h in self.handle.search(body)["hits"]["hits"]}
        return np.array(
            [bodies.dot_of_score(engine, got[i]) if i in got else -np.inf for i in ids],
            dtype=np.float64,
        )

    def _vectors(self, ids: list[str]) -> list[tuple[str, np.ndarray]]:
        """The stored embeddings of a few documents (one ``mget``)."""
        h = self.handle
        res = h.call(h.client.mget, index=h.alias, body={"ids": ids}, **h.source_kw(["embedding"]))
        return [
            (d["_id"], h.features(d["_source"], d["_id"]).embedding)
            for d in res["docs"]
            if d.get("found")
        ]

    def _paper(self, query: StoreQuery, want: int, where: Filter | None) -> tuple[int, Scored]:
        """The paper's layout: ``script_score`` over ``match_all``, scores as the engine says."""
        if isinstance(query, ClassesQuery):
            body = bodies.paper_classes_query(dense_weights(query.weights), where)
        elif isinstance(query, WordsQuery):
            body = bodies.paper_keyword_query(query, where)
        else:
            raise UsageError(
                "an index with the paper's layout answers keyword and --mode classes searches "
                "only; reindex it with --layout picfind for embedding, hybrid and fused"
            )
        total, hits = self._hits(body, want, False, True)
        return total, [(float(h["_score"]), h["_id"]) for h in hits]


def _best(scored: tuple[float, str]) -> float:
    """Sort key: best exact score first (a stable sort keeps the engine's order in ties)."""
    return -scored[0]


def _reaches(score: float, need: float) -> bool:
    """Whether an engine score reaches ``need``: compared as the float32 the engine
    holds (its JSON prints the shortest repr, which as a double may lie below it)."""
    return bool(np.float32(score) >= np.float32(need))


def _fetch(query: dict[str, Any], size: int, source: Any, **extra: Any) -> dict[str, Any]:
    """A search body: ``size`` hits with ``source``, no total unless ``extra`` asks."""
    return {"query": query, "size": size, "_source": source or False} | {
        "track_total_hits": False,
        **extra,
    }


def _scored(
    hits: list[dict[str, Any]], exact: Callable[[Sources], npt.NDArray[np.float64]]
) -> Scored:
    scores = exact([h["_source"] for h in hits]) if hits else np.zeros(0)
    return [(float(s), h["_id"]) for s, h in zip(scores, hits, strict=True)]


def _dense(sources: Sources) -> npt.NDArray[np.float64]:
    """(n, NUM_CLASSES) exact stored top classes of documents, zero elsewhere."""
    dense = np.zeros((len(sources), NUM_CLASSES), dtype=np.float64)
    for i, src in enumerate(sources):
        classes = source_classes(src)
        dense[i, classes.ids.astype(np.intp)] = classes.probs
    return dense


def _captured(matcher: CaptureMatch, source: dict[str, Any]) -> bool:
    """Whether a document's stored capture fields match (``matchers`` says what that means)."""
    if isinstance(matcher, PlaceMatch):
        return matcher.matches(tuple(source.get("place_keys") or ()))
    if isinstance(matcher, CameraMatch):
        return matcher.matches(tuple(source.get("camera_keys") or ()))
    lat = (source.get("location") or {}).get("lat")
    return matcher.matches(source.get("taken_day"), lat)


def _matcher_scores(
    dense: npt.NDArray[np.float64], sources: Sources, matcher: Matcher, negated: bool
) -> tuple[npt.NDArray[np.float64], Mask]:
    """Exact score per document of one matcher (the embedded store's semantics)."""
    if isinstance(matcher, ConceptMatch):
        unit = np.unique(np.asarray(matcher.unit, dtype=np.intp))
        mass = dense[:, unit].sum(axis=1, dtype=np.float64)
        for index, weight in matcher.weighted:
            mass = mass + weight * dense[:, index]
        return mass, mass >= matcher.at(negated)
    if isinstance(matcher, PlaceMatch | DateMatch | CameraMatch):
        inside = np.array([_captured(matcher, s) for s in sources], dtype=bool)
        return np.where(inside, CAPTURE_SCORE, 0.0), inside
    if isinstance(matcher, TextMatch):
        terms = [(s.get("text_words") or "", s.get("text_parts") or "") for s in sources]
        hit = np.array([matches(matcher, w, p) for w, p in terms], dtype=bool)
        return np.where(hit, TEXT_SCORE, 0.0), hit
    raise TypeError(f"the cluster store has no scoring for {type(matcher).__name__}")


def _clause_scores(
    dense: npt.NDArray[np.float64], sources: Sources, clause: Clause
) -> tuple[np.ndarray, Mask]:
    return clause_scores(
        [_matcher_scores(dense, sources, m, clause.negated) for m in clause.matchers]
    )
