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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from picfind.matchers import ConceptMatch, Matcher
from picfind.resolve import Resolution, Resolver

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


def concept_reading(
    key: str,
    classes: tuple[int, ...],
    resolution: Resolution | None = None,
    words: int | None = None,
) -> Reading:
    """The concept reading of a word: class mass over ``classes``."""
    detail: dict[str, object] = {}
    if resolution is not None:
        detail = {"route": resolution.route, "concepts": list(resolution.concepts)}
    n = words if words is not None else len(key.split())
    return Reading("concept", n, (ConceptMatch(classes),), key, detail, resolution)


@dataclass(frozen=True)
class ConceptReader:
    """Words as WordNet concepts and photo words (:mod:`picfind.resolve`), without spelling.

    Reads the longest known phrase of two or more words at the start, else the first
    word alone. Stop words are the parser's business, spelling too (it runs only when
    no reader reads a word).
    """

    resolver: Resolver
    signal: str = "concept"

    def read(self, words: Sequence[str]) -> list[Reading]:
        found = self.phrase(words)
        if found is None and words:
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
        return concept_reading(resolution.key, typical_classes(resolution), resolution, words)


def default_readers(resolver: Resolver | None = None) -> tuple[TermReader, ...]:
    """Every reader picfind registers, in order: concepts; places, dates and cameras
    (:mod:`picfind.capturewords`); text plugs in here."""
    from picfind.capturewords import capture_readers  # it builds on Reading: imported late

    concepts = ConceptReader(resolver or Resolver.load())

    def is_concept(phrase: str) -> bool:  # the whole phrase, not a word of it
        words = phrase.split()
        return any(r.words == len(words) for r in concepts.read(words))

    return (concepts, *capture_readers(is_concept))


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
    "UNWEIGHTED_FLOOR",
    "ConceptReader",
    "Reading",
    "TermReader",
    "concept_reading",
    "default_readers",
    "read_all",
    "typical_classes",
]
