"""What a keyword query asks of a store: clauses of matchers, one matcher per signal.

A query is a conjunction of clauses; a clause matches an image when *any* of its
matchers does (a word may reach the image through several signals), and a negated
clause excludes the images it matches. Each matcher is a small frozen dataclass
naming what to look for in one signal; each store scores every matcher type in one
place (the embedded store: a per-row score array; the cluster store: one query
clause), so a new signal adds a matcher type here and one case per store, and
neither the parser nor the stores' plumbing changes.

:class:`ConceptMatch` (class mass), identical in both stores: the score of an
image is the probability mass of the classes (the sum of their stored
probabilities); it matches a clause at mass ≥ ``scoring.MATCH_THRESHOLD`` and is
excluded by a negated clause at mass ≥ ``scoring.NOT_THRESHOLD``. A clause scores
the highest score among its matching matchers; a query scores the geometric mean
of its positive clauses. :class:`TextMatch` (a phrase read in the image) matches
where the phrase is found, scoring ``textsearch.TEXT_SCORE`` there (the same in
both stores: they index the same terms, ``picfind.textnorm``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConceptMatch:
    """Images whose stored classes under the given class indices carry enough mass."""

    classes: tuple[int, ...]


@dataclass(frozen=True)
class TextMatch:
    """Images whose read text holds the phrase ``words`` (docs/ocr.md, ``picfind.textsearch``).

    ``words`` are folded query words (``textnorm.query_words``), matched as consecutive
    words of the text's words or of its parts; ``prefix``: the last one may also be the
    start of a longer word. A match scores ``textsearch.TEXT_SCORE``.
    """

    words: tuple[str, ...]
    prefix: bool = False


Matcher = ConceptMatch | TextMatch
"""Every matcher type."""


@dataclass(frozen=True)
class Clause:
    """Matches an image when any matcher does; ``negated`` turns it into an exclusion."""

    matchers: tuple[Matcher, ...]
    negated: bool = False


@dataclass(frozen=True)
class WordsQuery:
    """Every positive clause must match and no negated one may."""

    clauses: tuple[Clause, ...]

    @property
    def positive(self) -> tuple[Clause, ...]:
        """The clauses an image must match."""
        return tuple(c for c in self.clauses if not c.negated)

    @property
    def negative(self) -> tuple[Clause, ...]:
        """The clauses an image must not match."""
        return tuple(c for c in self.clauses if c.negated)

    @classmethod
    def of_classes(
        cls,
        positive: tuple[tuple[int, ...], ...],
        negative: tuple[tuple[int, ...], ...] = (),
    ) -> WordsQuery:
        """One concept matcher per clause, from class-index tuples (tests, benchmarks)."""
        return cls(
            tuple(Clause((ConceptMatch(c),)) for c in positive)
            + tuple(Clause((ConceptMatch(c),), negated=True) for c in negative)
        )


__all__ = ["Clause", "ConceptMatch", "Matcher", "TextMatch", "WordsQuery"]
