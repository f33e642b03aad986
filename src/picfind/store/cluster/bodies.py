"""Query bodies of the cluster store: picfind's scoring as OpenSearch/Elasticsearch queries.

The engine picks candidates through its inverted index; the client then
re-scores them exactly from ``_source`` (``rescore``), because ``rank_features``
keep 9 significant bits of each value. Exact formulas: ``picfind.scoring``.

* classes: ``bool.should`` of ``rank_feature`` (``linear``, ``boost`` = η_j) over
  ``classes.<wnid>``; the paper's constant 1 is added to the score.
* keyword: one query clause per matcher (``matcher_clause``, the one place a
  matcher type becomes a query). A concept matcher is a ``script_score`` whose
  inner query sums the mass of its classes (``concepts.<wnid>`` for the broad
  concepts that cover them, ``classes.<wnid>`` for the rest), scored
  ``1 + ln(mass / 0.01)`` with ``min_score`` 1 (the AND threshold). A text
  matcher is a ``constant_score`` phrase query on ``text_words``/``text_parts``
  (``textsearch.cluster_query``) boosted to ``1 + ln(TEXT_SCORE / 0.01)``. A clause is
  its one matcher, or a ``bool.should`` of them (any may match); positive clauses
  are ``must``, so for concept clauses the sum is ``n + Σ ln(mass_c / 0.01)``,
  which orders like the geometric mean. A negated clause is a ``must_not``, its
  concept matchers with ``min_score`` 0.5.
* embedding: a kNN query (HNSW), score (1 + cos) / 2.
* hybrid: kNN candidates, re-scored ``cos + 0.1 · Σ η_j ξ_ij``.
* fused: kNN candidates with the classes query's (``classes_query``), their
  inner products with the query by ``dot_query`` (exact, over those ids only),
  re-scored with ``picfind.scoring.fuse`` before and after the expansion.
* paper layout: ``script_score`` over ``match_all`` in painless.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from picfind.errors import UsageError
from picfind.matchers import (
    CAPTURE_SCORE,
    CameraMatch,
    CaptureMatch,
    Clause,
    ConceptMatch,
    DateMatch,
    DayRanges,
    Matcher,
    PlaceMatch,
    TextMatch,
    WordsQuery,
    YearlyRanges,
)
from picfind.scoring import MATCH_THRESHOLD
from picfind.store.base import Filter
from picfind.store.cluster.mapping import class_wnids, paper_field_names
from picfind.store.codec import concept_columns, encode_path, folder_prefix
from picfind.textsearch import TEXT_SCORE, cluster_query

FEATURE_ERROR = 2.0**-8 + 1e-5
"""Relative error of a ``rank_features`` value: Lucene keeps 9 significant bits,
truncating, so a stored value lies in [x·(1 − 2⁻⁸), x]. A positive clause's engine
threshold is lowered by it, so the engine's matches include every exact one (the client
re-checks them exactly)."""

ES_MAX_CANDIDATES = 10_000
"""Elasticsearch refuses a kNN ``num_candidates`` above this."""

KEYWORD_CLAUSE_SCRIPT = (
    "double m = _score; "
    "return m >= params.t ? 1.0 + Math.log(Math.max(m, params.b) / params.b) : 0.0;"
)
"""A positive concept matcher: 0 below its threshold ``t``, else ``1 + ln(m / b)`` with
the fixed base ``b`` = MATCH_THRESHOLD (at least 1), whatever the threshold."""

PAPER_CLASSES_SCRIPT = """
double s = 1.000;
for (int i = 0; i < params.f.length; ++i) {
  def d = doc[params.f[i]];
  if (!d.isEmpty()) { s += d.value * params.w[i]; }
}
return s;
"""

PAPER_KEYWORD_SCRIPT = """
double prod = 1.0;
for (int c = 0; c < params.pos.length; ++c) {
  double m = 0.0;
  for (int k = 0; k < params.pos[c].length; ++k) {
    def d = doc[params.pos[c][k]]; if (!d.isEmpty()) { m += d.value * params.pw[c][k]; }
  }
  if (m < params.pt[c]) { return 0.0; }
  prod *= m;
}
for (int c = 0; c < params.neg.length; ++c) {
  double m = 0.0;
  for (int k = 0; k < params.neg[c].length; ++k) {
    def d = doc[params.neg[c][k]]; if (!d.isEmpty()) { m += d.value * params.nw[c][k]; }
  }
  if (m >= params.nt[c]) { return 0.0; }
}
return Math.pow(prod, 1.0 / params.pos.length);
"""


def filter_clauses(where: Filter | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(filter, must_not) clauses of a ``Filter`` (the one place it becomes query terms).

    ``under`` is a prefix on the keyword path ending with "/", so "/a/cat"
    never matches "/a/cats/x". Capture days are a range on ``taken_day`` (a
    photo without a date has none, so it never passes); places and cameras are
    ``terms`` on the keyword arrays of folded keys.
    """
    filters: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    if where is not None:
        if where.under is not None:
            filters.append({"prefix": {"path": encode_path(folder_prefix(where.under))}})
        if where.exclude:
            must_not.append({"ids": {"values": list(where.exclude)}})
        if where.dated:
            bounds: dict[str, int] = {}
            if where.after_day is not None:
                bounds["gte"] = where.after_day
            if where.before_day is not None:
                bounds["lt"] = where.before_day
            filters.append({"range": {"taken_day": bounds}})
        if where.places:
            filters.append(capture_filter(PlaceMatch(where.places)))
        if where.cameras:
            filters.append(capture_filter(CameraMatch(where.cameras)))
    return filters, must_not


def filter_query(where: Filter | None) -> dict[str, Any]:
    filters, must_not = filter_clauses(where)
    if not filters and not must_not:
        return {"match_all": {}}
    return {"bool": {"filter": filters, "must_not": must_not}}


def class_features(weights: np.ndarray) -> list[dict[str, Any]]:
    """``rank_feature`` linear clauses with boost w_j for the non-zero weights."""
    wnids = class_wnids()
    return [
        {"rank_feature": {"field": f"classes.{wnids[j]}", "linear": {}, "boost": float(weights[j])}}
        for j in np.flatnonzero(weights > 0)
    ]


def classes_query(weights: np.ndarray, where: Filter | None) -> dict[str, Any]:
    filters, must_not = filter_clauses(where)
    should = class_features(weights)
    return {
        "bool": {
            "should": should,
            "minimum_should_match": 1,
            "filter": filters,
            "must_not": must_not,
        }
    }


def mass_query(matcher: ConceptMatch) -> dict[str, Any]:
    """A query whose score is the (weighted) probability mass of the matcher's classes in
    a document: concept columns where they cover its weight-1 classes, class features
    (boosted by their weights) for the rest."""
    cols = concept_columns()
    wnids = class_wnids()
    columns, rest = cols.cover(tuple(sorted(set(matcher.unit))))
    should: list[dict[str, Any]] = [
        {"rank_feature": {"field": f"concepts.{cols.wnids[j]}", "linear": {}}} for j in columns
    ]
    should += [{"rank_feature": {"field": f"classes.{wnids[j]}", "linear": {}}} for j in rest]
    should += [
        {"rank_feature": {"field": f"classes.{wnids[j]}", "linear": {}, "boost": float(w)}}
        for j, w in matcher.weighted
        if w > 0
    ]
    return {"bool": {"should": should, "minimum_should_match": 1}}


CAPTURE_BOOST = 1.0 + math.log(CAPTURE_SCORE / MATCH_THRESHOLD)
"""What a capture matcher's clause scores: ``1 + ln(s/t)`` for its exact score s, like a
concept clause, so the window reasoning of ``queries`` holds for every clause."""
_SOUTH_BOX = {
    "top_left": {"lat": -1e-9, "lon": -180.0},
    "bottom_right": {"lat": -90.0, "lon": 180.0},
}
SOUTH = {"geo_bounding_box": {"location": _SOUTH_BOX}}
"""Photos south of the equator (for seasons: summer is December–February there)."""


def capture_filter(matcher: CaptureMatch) -> dict[str, Any]:
    """The filter of documents a capture matcher matches (``matchers`` has the meaning)."""
    if isinstance(matcher, PlaceMatch):
        return {"terms": {"place_keys": list(matcher.keys)}}
    if isinstance(matcher, CameraMatch):
        return {"terms": {"camera_keys": list(matcher.keys)}}

    def any_day(days: DayRanges, yearly: YearlyRanges) -> dict[str, Any]:
        should: list[dict[str, Any]] = [
            {"range": {"taken_day": {"gte": a, "lt": b}}} for a, b in days
        ]
        should += [{"range": {"taken_md": {"gte": a, "lte": b}}} for a, b in yearly]
        return {"bool": {"should": should, "minimum_should_match": 1}}

    if matcher.south_days is None and matcher.south_yearly is None:
        return any_day(matcher.days, matcher.yearly)
    north = {"bool": {"filter": [any_day(*matcher.ranges(False))], "must_not": [SOUTH]}}
    south = {"bool": {"filter": [any_day(*matcher.ranges(True)), SOUTH]}}
    return {"bool": {"should": [north, south], "minimum_should_match": 1}}


def matcher_clause(matcher: Matcher, negated: bool) -> dict[str, Any]:
    """The query clause of one matcher: present (and scored) where the matcher matches."""
    if isinstance(matcher, PlaceMatch | DateMatch | CameraMatch):
        return {"constant_score": {"filter": capture_filter(matcher), "boost": CAPTURE_BOOST}}
    if isinstance(matcher, ConceptMatch):
        if negated:
            script: dict[str, Any] = {"source": "_score"}
            return {
                "script_score": {
                    "query": mass_query(matcher),
                    "script": script,
                    "min_score": matcher.at(negated=True),
                }
            }
        params = {"t": matcher.at(negated=False) * (1.0 - FEATURE_ERROR), "b": MATCH_THRESHOLD}
        return {
            "script_score": {
                "query": mass_query(matcher),
                "script": {"source": KEYWORD_CLAUSE_SCRIPT, "params": params},
                "min_score": 1.0,
            }
        }
    if isinstance(matcher, TextMatch):
        # exactly 1 + ln(TEXT_SCORE / t): a concept clause's score for the same exact score
        boost = 1.0 + float(np.log(TEXT_SCORE / MATCH_THRESHOLD))
        return {"constant_score": {"filter": cluster_query(matcher), "boost": boost}}
    raise TypeError(f"the cluster store has no query for {type(matcher).__name__}")


def clause_query(clause: Clause) -> dict[str, Any]:
    """A clause: its one matcher's query, or any of several."""
    parts = [matcher_clause(m, clause.negated) for m in clause.matchers]
    if len(parts) == 1:
        return parts[0]
    return {"bool": {"should": parts, "minimum_should_match": 1}}


def keyword_query(query: WordsQuery, where: Filter | None) -> dict[str, Any]:
    filters, must_not = filter_clauses(where)
    must = [clause_query(c) for c in query.positive]
    must_not = must_not + [clause_query(c) for c in query.negative]
    return {"bool": {"must": must, "must_not": must_not, "filter": filters}}


BAND_SCRIPT = "double m = _score; return m >= params.lo && m < params.hi ? 1.0 : 0.0;"


def band_query(query: WordsQuery) -> list[dict[str, Any]] | None:
    """Clauses matching the documents whose quantised mass of some concept matcher lies
    within the quantisation error below its threshold: where the engine's superset of
    matches may hold a document that is no exact match (None: no concept matcher)."""
    return band_of(query.clauses)


def band_of(clauses: tuple[Clause, ...]) -> list[dict[str, Any]] | None:
    """``band_query``'s clauses for some of a query's clauses."""
    band = []
    for clause in clauses:
        for m in clause.matchers:
            if isinstance(m, ConceptMatch):
                t = m.at(clause.negated)
                script = {
                    "source": BAND_SCRIPT,
                    "params": {"lo": t * (1.0 - FEATURE_ERROR), "hi": t},
                }
                band.append(
                    {"script_score": {"query": mass_query(m), "script": script, "min_score": 1.0}}
                )
    return band or None


def keyword_score(engine_score: float, n_positive: int) -> float:
    """The geometric mean back from ``n + Σ ln(m_c / t)``."""
    return float(MATCH_THRESHOLD * np.exp((engine_score - n_positive) / n_positive))


def knn_query(
    engine: str, vector: np.ndarray, k: int, where: Filter | None, field: str = "embedding"
) -> dict[str, Any]:
    """A kNN query with the filter applied inside the graph search."""
    filt = filter_query(where)
    vec = [float(x) for x in vector]
    if engine == "opensearch":
        body: dict[str, Any] = {"vector": vec, "k": k}
        if "match_all" not in filt:
            body["filter"] = filt
        return {"knn": {field: body}}
    # Elasticsearch's knn query takes its k from the search's size (``k`` only exists
    # from 8.15 on); num_candidates is the HNSW search's breadth per shard, at most
    # 10,000 (more is a 400, where OpenSearch takes a k of up to 10,000).
    breadth = min(max(k, 100) * 2, ES_MAX_CANDIDATES)
    es: dict[str, Any] = {"field": field, "query_vector": vec, "num_candidates": breadth}
    if "match_all" not in filt:
        es["filter"] = filt
    return {"knn": es}


ES_DOT_SCRIPT = "Math.max(0.0, 1.0 + dotProduct(params.q, params.f))"


def dot_query(
    engine: str, ids: list[str], vector: np.ndarray, field: str = "embedding"
) -> dict[str, Any]:
    """A ``script_score`` over ``ids`` scoring 1 + q·e, e as stored (no renormalising,
    like the embedded store): OpenSearch's exact k-NN script in ``innerproduct`` space
    (its score is 1 + d for d ≥ 0, 1 / (1 − d) below; see ``dot_of_score``)."""
    vec = [float(x) for x in vector]
    only = {"ids": {"values": ids}}
    if engine == "opensearch":
        script: dict[str, Any] = {
            "source": "knn_score",
            "lang": "knn",
            "params": {"field": field, "query_value": vec, "space_type": "innerproduct"},
        }
    else:
        script = {"source": ES_DOT_SCRIPT, "params": {"q": vec, "f": field}}
    return {"script_score": {"query": only, "script": script}}


def dot_of_score(engine: str, score: float) -> float:
    """q·e back from a ``dot_query`` score."""
    if engine == "opensearch" and score < 1.0:
        return 1.0 - 1.0 / score if score > 0 else -1.0
    return score - 1.0


def paper_classes_query(weights: np.ndarray, where: Filter | None) -> dict[str, Any]:
    """The paper's ``script_score`` over ``match_all``: 1 + Σ doc['synset.X.score'] · η_X."""
    names = paper_field_names()
    nz = np.flatnonzero(weights > 0)
    return {
        "script_score": {
            "query": filter_query(where),
            "script": {
                "source": PAPER_CLASSES_SCRIPT,
                "params": {
                    "f": [f"synset.{names[j]}.score" for j in nz],
                    "w": [float(weights[j]) for j in nz],
                },
            },
        }
    }


def paper_keyword_query(query: WordsQuery, where: Filter | None) -> dict[str, Any]:
    """Keyword semantics over the paper's layout: a scan computing the same (weighted)
    masses, each clause at its threshold."""
    names = paper_field_names()

    def fields(c: Clause) -> tuple[list[str], list[float], float]:
        weights: dict[int, float] = {}
        thresholds = []
        for m in c.matchers:
            if not isinstance(m, ConceptMatch):
                raise UsageError(
                    "an index with the paper's layout answers concept words only; "
                    "reindex it with --layout picfind"
                )
            for j, w in zip(m.classes, m.weights or (1.0,) * len(m.classes), strict=True):
                weights[j] = max(weights.get(j, 0.0), w)
            thresholds.append(m.at(c.negated))
        order = sorted(weights)
        return (
            [f"synset.{names[j]}.score" for j in order],
            [weights[j] for j in order],
            min(thresholds),
        )

    pos = [fields(c) for c in query.positive]
    neg = [fields(c) for c in query.negative]
    return {
        "script_score": {
            "query": filter_query(where),
            "script": {
                "source": PAPER_KEYWORD_SCRIPT,
                "params": {
                    "pos": [f for f, _, _ in pos],
                    "pw": [w for _, w, _ in pos],
                    "pt": [t for _, _, t in pos],
                    "neg": [f for f, _, _ in neg],
                    "nw": [w for _, w, _ in neg],
                    "nt": [t for _, _, t in neg],
                },
            },
            "min_score": min((t for _, _, t in pos), default=MATCH_THRESHOLD) / 2,
        }
    }
