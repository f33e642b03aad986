"""Query words as capture facts: places, dates and cameras (the readers of issue 11).

Each reader follows ``readings.TermReader``: given the remaining (normalised) words
it returns readings of a prefix of them, each with the one capture matcher it stands
for. The parser ORs them with the concept reading of the same words, so "china"
finds porcelain and photos taken in China, and "apple" the fruit and Apple's phones.

* :class:`PlaceReader`: the gazetteer's longest place name (up to four words: "new
  york", "san francisco"); every reading of it (country, region, city of that name)
  is one :class:`~picfind.matchers.PlaceMatch` over all their keys. A word the
  concept vocabulary also knows ("beach", "nice", "cat" — towns somewhere) is read
  as a place only when it is a country, a continent, a region or a city of at least
  ``MAJOR_CITY`` people, as docs/metadata.md suggests; ISO codes are not read (too
  many are words: "can", "fin").
* :class:`DateReader`: ``dates.longest_date``: years, months, days, decades,
  fixed-date holidays, seasons (by the photo's hemisphere).
* :class:`CameraReader`: a maker or a camera family ("nikon", "iphone", "eos"), with
  the model words after it that carry a digit ("iphone 12", "nikon d750").

Explainers for "why" (``why.EXPLAINERS``) are here too: they read the stored row's
capture fields, never the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from picfind.cameras import MAKERS, camera_key
from picfind.dates import DateSpan, DateTerm, Season, Yearly, longest_date
from picfind.matchers import CAPTURE_SCORE, CameraMatch, DateMatch, PlaceMatch
from picfind.placenames import gazetteer
from picfind.places import explain
from picfind.readings import Reading
from picfind.records import StoredFile, Why

MAJOR_CITY = 100_000
"""A city this populous is a place reading even of a word that is also a concept."""

CAMERA_FAMILIES = frozenset(
    {"iphone", "ipad", "pixel", "galaxy", "eos", "powershot", "coolpix", "lumix", "cybershot",
     "alpha", "finepix", "xperia", "gopro", "hero", "mavic", "lumia", "oneplus", "redmi"}
)  # fmt: skip
"""Model families people search by (``cameras.camera_keys`` keeps them as keys)."""
CAMERA_WORDS = frozenset({camera_key(m) for m in MAKERS.values()}) | CAMERA_FAMILIES
"""Single words that start a camera name."""
MAX_MODEL_WORDS = 3


def day_number(day: date) -> int:
    """A local calendar day as the stores compare it: 2020-06-01 → 20200601."""
    return day.year * 10000 + day.month * 100 + day.day


@dataclass(frozen=True)
class PlaceReader:
    """Place names, from the bundled GeoNames gazetteer (see the module doc)."""

    is_concept: Callable[[str], bool] = field(default=lambda phrase: False)
    """Whether the concept vocabulary also reads a phrase (then only major places count)."""
    signal: str = "place"

    def read(self, words: Sequence[str]) -> list[Reading]:
        n, readings = gazetteer().longest_match(words)
        while n and readings:
            phrase = " ".join(words[:n])
            if self.is_concept(phrase):
                readings = tuple(
                    r for r in readings if r.kind != "city" or r.population >= MAJOR_CITY
                )
            if readings:
                keys = tuple(dict.fromkeys(r.key for r in readings))
                best = max(readings, key=lambda r: r.population)
                detail: dict[str, object] = {
                    "keys": list(keys),
                    "kinds": [r.kind for r in readings],
                }
                return [Reading(self.signal, n, (PlaceMatch(keys),), best.example, detail)]
            n, readings = gazetteer().longest_match(words[: n - 1]) if n > 1 else (0, ())
        return []


def date_matcher(term: DateTerm) -> DateMatch:
    """The matcher of a date term: its days, or its days every year, by hemisphere."""
    if isinstance(term, DateSpan):
        return DateMatch(days=((day_number(term.start), day_number(term.end)),))
    if isinstance(term, Yearly):
        return DateMatch(yearly=term.ranges)
    return _season_matcher(term)


def _season_matcher(term: Season) -> DateMatch:
    spans = [term.span(south) for south in (False, True)]
    if spans[0] is not None and spans[1] is not None:
        north, south = (date_matcher(s).days for s in spans if s is not None)
        return DateMatch(days=north, south_days=south)

    def months(south: bool) -> tuple[tuple[int, int], ...]:
        return tuple((m * 100 + 1, m * 100 + 31) for m in term.months(south))

    return DateMatch(yearly=months(False), south_yearly=months(True))


@dataclass(frozen=True)
class DateReader:
    """Years, months, days, holidays and seasons (``picfind.dates``)."""

    signal: str = "date"

    def read(self, words: Sequence[str]) -> list[Reading]:
        n, term = longest_date(words)
        if term is None:
            return []
        detail: dict[str, object] = {}
        if isinstance(term, DateSpan):
            detail = {"from": term.start.isoformat(), "before": term.end.isoformat()}
        elif isinstance(term, Season):
            detail = {"season": term.name, "year": term.year}
        return [Reading(self.signal, n, (date_matcher(term),), term.label, detail)]


@dataclass(frozen=True)
class CameraReader:
    """Camera makers and families, with the model words after them."""

    signal: str = "camera"

    def read(self, words: Sequence[str]) -> list[Reading]:
        if not words or camera_key(words[0]) not in CAMERA_WORDS:
            return []
        n = 1
        while n < min(len(words), 1 + MAX_MODEL_WORDS) and any(c.isdigit() for c in words[n]):
            n += 1
        key = camera_key(" ".join(words[:n]))
        return [Reading(self.signal, n, (CameraMatch((key,)),), key, {"keys": [key]})]


def capture_readers(is_concept: Callable[[str], bool]) -> tuple[Any, ...]:
    """The three readers, in order: place, date, camera (``readings.default_readers``)."""
    return (PlaceReader(is_concept), DateReader(), CameraReader())


# --------------------------------------------------------------------------- why


def explain_place(row: StoredFile, matcher: PlaceMatch, term: str, vocab: object) -> list[Why]:
    """ "paris" ← "GPS 48.86, 2.29, Paris, Île-de-France, FR"."""
    m = row.metadata
    if m is None or not matcher.matches(m.place_keys):
        return []
    label = m.place_label or ""
    via = explain(m.lat, m.lon, label) if m.lat is not None and m.lon is not None else label
    return [Why("place", term, via, CAPTURE_SCORE)]


def explain_date(row: StoredFile, matcher: DateMatch, term: str, vocab: object) -> list[Why]:
    """ "2019" ← "taken 2019-07-14 12:34:56"; a season says which hemisphere was assumed."""
    m = row.metadata
    if m is None or m.taken is None or not matcher.matches(m.taken_day, m.lat):
        return []
    via = f"taken {m.taken.replace('T', ' ')}"
    if matcher.south_days is not None or matcher.south_yearly is not None:
        if m.lat is None:
            via += " (northern hemisphere assumed: no GPS)"
        else:
            via += f" ({'southern' if m.lat < 0 else 'northern'} hemisphere)"
    return [Why("date", term, via, CAPTURE_SCORE)]


def explain_camera(row: StoredFile, matcher: CameraMatch, term: str, vocab: object) -> list[Why]:
    """ "iphone" ← "Apple iPhone 12"."""
    m = row.metadata
    if m is None or not matcher.matches(m.camera_keys):
        return []
    return [Why("camera", term, m.camera or m.make or "", CAPTURE_SCORE)]


__all__ = [
    "CAMERA_WORDS",
    "MAJOR_CITY",
    "CameraReader",
    "DateReader",
    "PlaceReader",
    "capture_readers",
    "date_matcher",
    "day_number",
    "explain_camera",
    "explain_date",
    "explain_place",
]
