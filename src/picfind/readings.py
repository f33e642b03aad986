"""How query words are read: every signal that understands a run of words says so.

The parser (:mod:`picfind.query`) asks every registered :class:`TermReader` what it
reads at the start of the remaining words, takes the longest span any reader gives,
and makes the clause the OR of every reading of that span: a concept reading and a
place reading of "paris" both count. Spelling is tried only when no reader reads a
word. A new signal (a place, a date, a camera, text read in the photo) is one reader
class and one matcher type; the parser and the stores' plumbing do not change.

Readers are given *normalised* words (casefolded, hyphens and underscores as spaces:
"Sports-Car" is ``["sports", "car"]``) and return readings of a prefix of them, each
saying how many words it consumes. A reader returns ``[]`` when it reads nothing there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from picfind.matchers import ConceptMatch, Matcher
from picfind.resolve import Resolution, Resolver

STOP_WORDS: frozenset[str] = frozenset(
    {"a", "an", "the", "on", "in", "of", "with", "at", "by", "near", "and", "for", "from"}
    | {"my", "our", "your", "his", "her", "their", "some", "this", "that", "these", "those"}
    | {"photo", "photos", "picture", "pictures", "pic", "pics", "image", "images"}
)
"""Words ignored unless part of a key ("photo booth", "bird of prey")."""
UNWEIGHTED_FLOOR = 0.7
"""An unweighted class-mass search uses a word's classes of at least this weight
("typical"), or its heaviest ones if none is that typical: adding every weaker class at
full weight ranked "church" organs and "restaurant" plates above churches and menus
(mean AP on the development words: 0.82 with every class, 0.92 with these; a store that
weighs every class by :meth:`picfind.query.Clause.weight_vector` measured 0.92 too)."""


@dataclass(frozen=True)
class Reading:
    """One way a signal reads the first ``words`` query words.

    ``matchers`` are OR-ed inside the clause; ``label`` is how the words were understood
    (for "why" and the JSON ``query``); ``detail`` holds JSON-safe extras (a place's keys,
    a date range, a concept's route). ``source`` is the reader's own record (the concept
    reader's :class:`~picfind.resolve.Resolution`), for callers that explain more.
    Readings compare by signal, matchers and label: what they match.
    """

    signal: str
    words: int = field(compare=False)
    matchers: tuple[Matcher, ...]
    label: str
    detail: dict[str, object] = field(default_factory=dict, compare=False)
    source: object = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, object]:
        return {"signal": self.signal, "label": self.label, **self.detail}


class TermReader(Protocol):
    """A signal's reader of query words (see the module doc)."""

    @property
    def signal(self) -> str:
        """The signal its readings are of ("concept", "place", "date", "camera", "text")."""
        ...

    def read(self, words: Sequence[str]) -> list[Reading]:
        """Readings of a prefix of ``words`` (normalised), each with its ``words`` count."""
        ...


def typical_classes(resolution: Resolution) -> tuple[int, ...]:
    """The classes an unweighted search sums for a word (see :data:`UNWEIGHTED_FLOOR`)."""
    floor = min(UNWEIGHTED_FLOOR, max(resolution.weights, default=1.0))
    return tuple(
        i for i, w in zip(resolution.classes, resolution.weights, strict=True) if w >= floor
    )


def concept_match(pairs: Iterable[tuple[int, float]]) -> ConceptMatch:
    """The weighted concept matcher of (class, weight) pairs, the highest weight of a
    class winning; unweighted when every weight is 1."""
    best: dict[int, float] = {}
    for index, weight in pairs:
        if weight > 0:
            best[index] = max(best.get(index, 0.0), float(weight))
    classes = tuple(sorted(best))
    weights = tuple(best[i] for i in classes)
    return ConceptMatch(classes, () if all(w == 1.0 for w in weights) else weights)


def concept_reading(
    key: str,
    classes: tuple[int, ...],
    resolution: Resolution | None = None,
    words: int | None = None,
) -> Reading:
    """The concept reading of a word: the weighted mass of every class of its resolution
    (without one: the unweighted mass of ``classes``, which is ignored otherwise)."""
    detail: dict[str, object] = {}
    if resolution is not None:
        detail = {"route": resolution.route, "concepts": list(resolution.concepts)}
        unit = all(w == 1.0 for w in resolution.weights)  # classes: sorted, unique
        match = ConceptMatch(resolution.classes, () if unit else resolution.weights)
    else:
        match = ConceptMatch(classes)
    n = words if words is not None else len(key.split())
    return Reading("concept", n, (match,), key, detail, resolution)


@dataclass(frozen=True)
class ConceptReader:
    """Words as WordNet concepts and photo words (:mod:`picfind.resolve`), without spelling.

    Reads the longest known phrase of two or more words at the start, else the first
    word alone unless it is a stop word (the parser drops those). Spelling is the
    parser's business (it runs only when no reader reads a word).
    """

    resolver: Resolver
    signal: str = "concept"

    def read(self, words: Sequence[str]) -> list[Reading]:
        found = self.phrase(words)
        if found is None and words and words[0] not in STOP_WORDS:  # alone, never a term
            single = self.resolver.lookup(words[0])
            found = (single, 1) if single is not None else None
        if found is None:
            return []
        resolution, size = found
        return [self.reading(resolution, size)]

    def phrase(self, words: Sequence[str]) -> tuple[Resolution, int] | None:
        """The longest known phrase (2+ words) at the start of ``words``, with its size."""
        longest = min(self.resolver.max_phrase_words, len(words))
        for size in range(longest, 1, -1):
            window = list(words[:size])
            if self.resolver.is_phrase_prefix(window[:-1]):
                found = self.resolver.lookup(" ".join(window))
                if found is not None:
                    return found, size
        return None

    @staticmethod
    def reading(resolution: Resolution, words: int) -> Reading:
        """The concept reading of a resolution that consumed ``words`` query words."""
        return concept_reading(resolution.key, resolution.classes, resolution, words)


def default_readers(
    resolver: Resolver | None = None, *, holds_text: bool = False
) -> tuple[TermReader, ...]:
    """Every reader picfind registers, in order: concepts; places, dates and cameras
    (:mod:`picfind.capturewords`); then read text, the fallback for words no other reader
    reads (``holds_text``: the index holds read text; ``text:`` words are read as text
    either way)."""
    from picfind.capturewords import capture_readers  # it builds on Reading: imported late
    from picfind.textreading import TextFallback, TextReader

    concepts = ConceptReader(resolver or Resolver.load())

    def is_concept(phrase: str) -> bool:  # the whole phrase, not a word of it
        words = phrase.split()
        return any(r.words == len(words) for r in concepts.read(words))

    others: tuple[TermReader, ...] = (concepts, *capture_readers(is_concept))
    return (*others, TextFallback(others, TextReader(holds_text=holds_text)))


def read_all(readers: Sequence[TermReader], words: Sequence[str]) -> list[Reading]:
    """The readings of the longest span any reader gives at the start of ``words``.

    Every reader's readings of that span, in reader order, duplicates dropped; ``[]``
    when no reader reads the first word.
    """
    found = [r for reader in readers for r in reader.read(words) if 0 < r.words <= len(words)]
    if not found:
        return []
    longest = max(r.words for r in found)
    return list(dict.fromkeys(r for r in found if r.words == longest))


__all__ = [
    "STOP_WORDS",
    "UNWEIGHTED_FLOOR",
    "ConceptReader",
    "Reading",
    "TermReader",
    "concept_match",
    "concept_reading",
    "default_readers",
    "read_all",
    "typical_classes",
]
