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
from typing import Any

import numpy as np

from picfind.capturewords import explain_camera, explain_date, explain_place
from picfind.matchers import CameraMatch, ConceptMatch, DateMatch, Matcher, PlaceMatch
from picfind.readings import Reading
from picfind.records import StoredFile, Why
from picfind.scoring import MATCH_THRESHOLD
from picfind.vocabulary import Vocabulary

WHY_CLASSES = 3
"""At most this many classes explain one concept match (the most probable first)."""


def explain_concept(
    row: StoredFile, matcher: ConceptMatch, term: str, vocab: Vocabulary
) -> list[Why]:
    """The stored classes under the matcher that carry at least the match threshold (at
    most ``WHY_CLASSES``, most probable first), or the most probable one alone when only
    their sum reaches it; nothing when the concept does not match the row."""
    if row.features is None or not matcher.classes:
        return []
    ids = np.asarray(row.features.classes.ids, dtype=np.int64)
    probs = np.asarray(row.features.classes.probs, dtype=np.float64)
    inside = np.isin(ids, np.asarray(matcher.classes, dtype=np.int64)) & np.isfinite(probs)
    if not inside.any() or probs[inside].sum() < MATCH_THRESHOLD:
        return []
    order = np.flatnonzero(inside)[np.argsort(-probs[inside], kind="stable")]
    strong = [int(j) for j in order if probs[j] >= MATCH_THRESHOLD][:WHY_CLASSES]
    chosen = strong or [int(order[0])]
    return [Why("concept", term, vocab.class_name(int(ids[j])), float(probs[j])) for j in chosen]


Explainer = Callable[[StoredFile, Any, str, Vocabulary], list[Why]]
"""(row, matcher, term, vocabulary) → the reasons that matcher matches the row."""
EXPLAINERS: dict[type, Explainer] = {
    ConceptMatch: explain_concept,
    PlaceMatch: explain_place,
    DateMatch: explain_date,
    CameraMatch: explain_camera,
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
    terms: Sequence[tuple[str, Sequence[Reading]]],
    vocab: Vocabulary | None = None,
) -> list[Why]:
    """Every reason of every term's readings, best first within each term, terms in
    query order, each reason once."""
    found: list[Why] = []
    for text, readings in terms:
        mine = [w for r in readings for m in r.matchers for w in explain(row, m, text, vocab)]
        mine.sort(key=lambda w: -w.score)
        found.extend(w for w in mine if w not in found)
    return found


__all__ = [
    "EXPLAINERS",
    "WHY_CLASSES",
    "Explainer",
    "explain",
    "explain_concept",
    "explain_readings",
]
