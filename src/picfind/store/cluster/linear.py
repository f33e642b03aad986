"""The keyword plan of a query whose one positive clause is one concept matcher, in
native Lucene scoring (no painless on the positive side).

The engine score of ``mass_query`` is the matcher's quantised mass S ≈ m, and
``1 + ln(m / b)`` orders like m, so the ranking is the bare ``rank_feature``
disjunction and the threshold is checked exactly on the client. The exact total
is the native count of the first window itself (a top-level ``min_score`` at the
engine's floor: every document whose S could reach the threshold; the count
visits every match, so Lucene skips no block, but scores each natively), less the
documents of the quantisation band (below the certain score) that are no exact
match: read exactly, the lowest engine masses first.

Bounds (δ = ``NOISE``: the index computed each mass in float32, the client in
float64): a sum of clauses has S ∈ [m(1 − ε), m(1 + δ)] (ε = ``FEATURE_ERROR``);
a single unboosted feature is Lucene's truncation of float32(m) to 9 significant
bits (``truncated``), so S ≥ truncated(m(1 − 2δ)): a tighter floor, the
boundary bucket only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from picfind.matchers import ConceptMatch, WordsQuery
from picfind.store.base import Filter
from picfind.store.cluster import bodies
from picfind.store.cluster.bodies import FEATURE_ERROR

NOISE = 1e-5
"""Relative difference allowed between a mass as indexed and as the client computes it."""


def single_concept(query: WordsQuery, where: Filter | None) -> ConceptMatch | None:
    """The concept matcher whose mass alone ranks the query (None: the script plan).

    Several positive clauses rank by a product, text and capture matchers by constant
    scores, newest-first by date: those keep ``bodies.keyword_query``."""
    if (where is not None and where.sort == "date") or len(query.positive) != 1:
        return None
    matchers = query.positive[0].matchers
    if len(matchers) != 1 or not isinstance(matchers[0], ConceptMatch):
        return None
    return matchers[0]


def one_feature(matcher: ConceptMatch) -> bool:
    """Whether ``mass_query`` is one unboosted ``rank_feature`` (S is m truncated)."""
    should = bodies.mass_query(matcher)["bool"]["should"]
    return len(should) == 1 and "boost" not in should[0]["rank_feature"]


def truncated(x: float) -> float:
    """What Lucene's ``FeatureField`` keeps of x: float32, truncated to 9 significant bits."""
    bits = np.array([x], dtype=np.float32).view(np.uint32)
    return float((bits >> np.uint32(15) << np.uint32(15)).view(np.float32)[0])


def floor(matcher: ConceptMatch, mass: float) -> float:
    """The lowest engine score of a document whose exact mass is at least ``mass``."""
    if one_feature(matcher):
        return truncated(mass * (1.0 - 2 * NOISE))
    return mass * (1.0 - FEATURE_ERROR)


def certain(mass: float) -> float:
    """The engine score from which a document's exact mass is surely ``mass`` or more."""
    return float(np.nextafter(np.float32(mass * (1.0 + 2 * NOISE)), np.float32(np.inf)))


def ranking(query: WordsQuery, matcher: ConceptMatch, where: Filter | None) -> dict[str, Any]:
    """The matcher's mass over the filtered documents, negated clauses excluded as in
    ``bodies.keyword_query`` (where certain): its score is the engine mass S."""
    filters, must_not = bodies.filter_clauses(where)
    must_not = must_not + [bodies.clause_query(c) for c in query.negative]
    return {"bool": {"must": [bodies.mass_query(matcher)], "filter": filters, "must_not": must_not}}


def negated_band(
    query: WordsQuery, where: Filter | None, matcher: ConceptMatch
) -> dict[str, Any] | None:
    """``ranking`` restricted to the documents whose negated masses lie within the error
    below their thresholds (None: no negated concept matcher); scored by S still, so a
    top-level ``min_score`` keeps the engine's matches."""
    band = bodies.band_of(query.negative)
    if band is None:
        return None
    body = ranking(query, matcher, where)
    near = {"bool": {"should": band, "minimum_should_match": 1}}
    return {"bool": {**body["bool"], "filter": [*body["bool"]["filter"], near]}}
