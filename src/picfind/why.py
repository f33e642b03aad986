"""Why a result matched, computed from its stored document: one explainer per signal.

The stores only score and filter; the reasons are worked out afterwards, for the page
of results only, from each hit's stored row: ``explain(row, matcher, term)`` gives the
:class:`~picfind.records.Why` records of one matcher (a concept: the classes under it
that the photo carries, "dog" via "boxer" 0.99). A new signal adds one case to
:data:`EXPLAINERS` (its matcher type → its explainer); a matcher without one explains
nothing rather than failing a search.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from picfind.capturewords import explain_camera, explain_date, explain_place
from picfind.matchers import CameraMatch, ConceptMatch, DateMatch, Matcher, PlaceMatch, TextMatch
from picfind.readings import Reading
from picfind.records import StoredFile, Why
from picfind.scoring import MATCH_THRESHOLD
from picfind.textreading import explain_text_row
from picfind.vocabulary import Vocabulary

WHY_CLASSES = 3
"""At most this many classes explain one concept match (the most probable first)."""


def explain_concept(
    row: StoredFile, matcher: ConceptMatch, term: str, vocab: Vocabulary
) -> list[Why]:
    """The stored classes under the matcher whose contribution (weight × probability)
    reaches ``MATCH_THRESHOLD`` (at most ``WHY_CLASSES``, largest first), or the largest
    alone when only their sum reaches it; nothing when the sum is under the matcher's
    threshold (or under ``MATCH_THRESHOLD`` if that is lower)."""
    if row.features is None or not matcher.classes:
        return []
    weight = dict(
        zip(matcher.classes, matcher.weights or (1.0,) * len(matcher.classes), strict=True)
    )
    ids = [int(i) for i in row.features.classes.ids]
    parts = [
        (float(p) * weight[i], i)
        for i, p in zip(ids, row.features.classes.probs, strict=True)
        if i in weight and np.isfinite(p)
    ]
    if not parts or sum(c for c, _ in parts) < min(matcher.at(False), MATCH_THRESHOLD):
        return []
    parts.sort(key=lambda ci: -ci[0])  # stable: the stored order breaks ties
    strong = [ci for ci in parts if ci[0] >= MATCH_THRESHOLD][:WHY_CLASSES]
    return [Why("concept", term, vocab.class_name(i), c) for c, i in strong or parts[:1]]


Explainer = Callable[[StoredFile, Any, str, Vocabulary], list[Why]]
"""(row, matcher, term, vocabulary) → the reasons that matcher matches the row."""
EXPLAINERS: dict[type, Explainer] = {
    ConceptMatch: explain_concept,
    PlaceMatch: explain_place,
    DateMatch: explain_date,
    CameraMatch: explain_camera,
    TextMatch: explain_text_row,
}
"""The explainer of each matcher type: a new signal adds its line here."""


def explain(
    row: StoredFile, matcher: Matcher, term: str = "", vocab: Vocabulary | None = None
) -> list[Why]:
    """The reasons one matcher matches a stored row (``[]`` when it does not)."""
    explainer = EXPLAINERS.get(type(matcher))
    return explainer(row, matcher, term, vocab or Vocabulary.load()) if explainer else []


def explain_readings(
    row: StoredFile,
    clauses: Sequence[Sequence[tuple[str, Sequence[Reading]]]],
    vocab: Vocabulary | None = None,
    floor: float | None = None,
) -> list[Why]:
    """Every reason of every term of every positive clause, clauses and terms in query
    order, best first within each term, each reason once.

    A term explains a row when its own mass reaches ``floor`` (the search's relevance
    floor) or ``MATCH_THRESHOLD``, whichever is lower; a clause that matched only
    through the sum of its terms ("a OR b OR c", each under the floor) gives its single
    largest contribution, so every result of a search says why.
    """
    found: list[Why] = []
    for terms in clauses:
        mine: list[Why] = []
        for text, readings in terms:
            part = [
                w
                for r in readings
                for m in r.matchers
                for w in _explain(row, m, text, vocab, floor)
            ]
            part.sort(key=lambda w: -w.score)
            mine.extend(part)
        if not mine:
            least = [
                w
                for text, readings in terms
                for r in readings
                for m in r.matchers
                for w in _explain(row, m, text, vocab, 1e-12)
            ]
            mine = sorted(least, key=lambda w: -w.score)[:1]
        found.extend(w for w in mine if w not in found)
    return found


def _explain(
    row: StoredFile, matcher: Matcher, term: str, vocab: Vocabulary | None, floor: float | None
) -> list[Why]:
    """``explain`` with a concept matcher at the given threshold."""
    if floor is not None and isinstance(matcher, ConceptMatch):
        matcher = replace(matcher, threshold=floor)
    return explain(row, matcher, term, vocab)


__all__ = [
    "EXPLAINERS",
    "WHY_CLASSES",
    "Explainer",
    "explain",
    "explain_concept",
    "explain_readings",
]
