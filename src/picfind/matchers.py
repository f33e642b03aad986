"""What a keyword query asks of a store: clauses of matchers, one matcher per signal.

A query is a conjunction of clauses; a clause matches an image when *any* of its
matchers does (a word may reach the image through several signals), and a negated
clause excludes the images it matches. Each matcher is a small frozen dataclass
naming what to look for in one signal; each store scores every matcher type in one
place (the embedded store: a per-row score array; the cluster store: one query
clause), so a new signal adds a matcher type here and one case per store, and
neither the parser nor the stores' plumbing changes.

Capture matchers (:class:`PlaceMatch`, :class:`DateMatch`, :class:`CameraMatch`) are
facts of the stored metadata: they score ``CAPTURE_SCORE`` where they match and never
otherwise, in both stores; ``matches`` is their meaning, one place for the stores' exact
checks and for "why".

The concept matcher, :class:`ConceptMatch` (class mass). Its semantics,
identical in both stores: the score of an image is the probability mass of the
classes (the sum of their stored probabilities); it matches a clause at mass ≥
``scoring.MATCH_THRESHOLD`` and is excluded by a negated clause at mass ≥
``scoring.NOT_THRESHOLD``. A clause scores the highest score among its matching
matchers; a query scores the geometric mean of its positive clauses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConceptMatch:
    """Images whose stored classes under the given class indices carry enough mass."""

    classes: tuple[int, ...]


CAPTURE_SCORE = 1.0
"""The score of a capture matcher (place, date, camera) where it matches: a fact, not a
degree — so "beach 2019" ranks the 2019 photos by their beach mass alone."""

DayRanges = tuple[tuple[int, int], ...]
"""Half-open ranges of local days as numbers: ((20190101, 20200101),)."""
YearlyRanges = tuple[tuple[int, int], ...]
"""Inclusive ranges of month × 100 + day, every year: ((1224, 1226),)."""


@dataclass(frozen=True)
class PlaceMatch:
    """Photos whose GPS position lies in or near a place: any of the folded ``keys``
    (``places.Place.keys``: city, metro, region, country, continent)."""

    keys: tuple[str, ...]

    def matches(self, keys: tuple[str, ...] | None) -> bool:
        return bool(keys) and any(k in self.keys for k in keys or ())


@dataclass(frozen=True)
class CameraMatch:
    """Photos taken with a camera: any of the folded ``keys`` (``cameras.camera_keys``)."""

    keys: tuple[str, ...]

    def matches(self, keys: tuple[str, ...] | None) -> bool:
        return bool(keys) and any(k in self.keys for k in keys or ())


@dataclass(frozen=True)
class DateMatch:
    """Photos taken on a local calendar day in ``days`` or, every year, in ``yearly``.

    ``south_days``/``south_yearly``, when set, replace them for photos taken south of the
    equator (seasons: summer is December–February there); a photo without GPS counts as
    northern. A photo without a date never matches.
    """

    days: DayRanges = ()
    yearly: YearlyRanges = ()
    south_days: DayRanges | None = None
    south_yearly: YearlyRanges | None = None

    def ranges(self, south: bool) -> tuple[DayRanges, YearlyRanges]:
        """(days, yearly) for a photo of that hemisphere."""
        if south and (self.south_days is not None or self.south_yearly is not None):
            return self.south_days or (), self.south_yearly or ()
        return self.days, self.yearly

    def matches(self, day: int | None, lat: float | None) -> bool:
        if day is None:
            return False
        days, yearly = self.ranges(lat is not None and lat < 0)
        md = day % 10000
        return any(a <= day < b for a, b in days) or any(a <= md <= b for a, b in yearly)


Matcher = ConceptMatch | PlaceMatch | DateMatch | CameraMatch
"""Every matcher type."""
CaptureMatch = PlaceMatch | DateMatch | CameraMatch
"""The matchers of capture metadata (stored fields, not classes)."""


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


__all__ = [
    "CAPTURE_SCORE",
    "CameraMatch",
    "CaptureMatch",
    "Clause",
    "ConceptMatch",
    "DateMatch",
    "Matcher",
    "PlaceMatch",
    "WordsQuery",
]
