"""What a keyword query asks of a store: clauses of matchers, one matcher per signal.

A query is a conjunction of clauses; a clause matches an image when *any* of its
matchers does (a word may reach the image through several signals), and a negated
clause excludes the images it matches. Each matcher is a small frozen dataclass
naming what to look for in one signal; each store scores every matcher type in one
place (the embedded store: a per-row score array; the cluster store: one query
clause), so a new signal adds a matcher type here and one case per store, and
neither the parser nor the stores' plumbing changes.

Today there is one matcher, :class:`ConceptMatch` (class mass). Its semantics,
identical in both stores: the score of an image is the (weighted) probability mass of
the classes, Σ_j w_j ξ_ij over its stored probabilities; it matches a clause at mass ≥
its ``threshold`` (default ``scoring.MATCH_THRESHOLD``) and a negated clause excludes
the image at mass ≥ its ``threshold`` (default ``scoring.NOT_THRESHOLD``). A clause
scores the highest score among its matching matchers; a query scores the geometric
mean of its positive clauses.
"""

from __future__ import annotations

from dataclasses import dataclass

from picfind.scoring import MATCH_THRESHOLD, NOT_THRESHOLD


@dataclass(frozen=True)
class ConceptMatch:
    """Images whose stored classes under the given class indices carry enough mass.

    ``weights`` (one per class, same order; empty: all 1) make it the weighted mass
    Σ w_j ξ_ij; ``threshold`` is the mass at which it matches (None: the default of a
    positive or a negated clause).
    """

    classes: tuple[int, ...]
    weights: tuple[float, ...] = ()
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.weights and len(self.weights) != len(self.classes):
            raise ValueError("a concept matcher needs one weight per class, or none")
        if self.threshold is not None and not self.threshold > 0:
            raise ValueError("a concept matcher's threshold must be above 0")

    def at(self, negated: bool) -> float:
        """The mass at which it matches (a negated clause: at which it excludes)."""
        if self.threshold is not None:
            return self.threshold
        return NOT_THRESHOLD if negated else MATCH_THRESHOLD

    @property
    def unit(self) -> tuple[int, ...]:
        """Its classes of weight 1 (every class when unweighted)."""
        if not self.weights:
            return self.classes
        return tuple(c for c, w in zip(self.classes, self.weights, strict=True) if w == 1.0)

    @property
    def weighted(self) -> tuple[tuple[int, float], ...]:
        """Its classes of another weight, with the weight (none when unweighted)."""
        if not self.weights:
            return ()
        return tuple((c, w) for c, w in zip(self.classes, self.weights, strict=True) if w != 1.0)


Matcher = ConceptMatch
"""Every matcher type (a union once other signals add theirs)."""


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


__all__ = ["Clause", "ConceptMatch", "Matcher", "WordsQuery"]
