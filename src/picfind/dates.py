"""Words and bounds → ranges of local capture dates. Pure functions, no clock, no data.

Dates compare on the **local calendar day** a photo was taken (what its camera
wrote, :attr:`picfind.metadata.CaptureInfo.taken_date`): a photo of New
Year's Eve in Sydney is on 31 December even though it was still the 31st's
morning in UTC. Three kinds of term:

* :class:`DateSpan`, days from ``start`` up to ``end`` (exclusive): years
  ("2019"), decades ("1990s"), months ("july 2019", "jul 2019", "2019-07"),
  days ("2019-07-14", "14 july 2019", "july 14 2019"), and a season of one
  year (see below);
* :class:`Yearly`, the same days every year: a month name alone ("july";
  "may" alone is not a date, the word is too common), a day ("july 14",
  "14 july"), and the fixed-date holidays in :data:`HOLIDAYS`;
* :class:`Season`, meteorological seasons, which depend on the hemisphere:
  winter is December–February in the north and June–August in the south. The
  photo's GPS latitude says which; a photo without GPS is taken as northern
  (where nine people in ten live), and the explanation says it was assumed.
  "summer 2019" is the summer that *starts* in 2019 (in the south, December
  2019 to February 2020).

Holidays are only those with a fixed date (movable ones — Easter, Thanksgiving,
Diwali, Lunar New Year — need per-year tables; not supported). Christmas is
24–26 December (eve, day and Boxing Day: when the photos are taken); New Year
is 31 December and 1 January.

``--after`` and ``--before`` take ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` and
make a half-open range: ``--after X`` keeps photos taken on or after the
first day of X, ``--before X`` those taken before the first day of X, so
``--after 2020-06 --before 2021-01`` is June to December 2020.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from picfind.errors import UsageError

MIN_YEAR = 1826
"""The first photograph; smaller four-digit numbers are not taken as years."""
MAX_YEAR = 2199
MAX_WORDS = 4

MONTHS: dict[str, int] = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}
MONTH_ABBREVIATIONS: dict[str, int] = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH_NAMES = [""] + [m.capitalize() for m in MONTHS]
#: Month words that alone are too common to mean a date ("may"); with a year or a day they are.
NOT_ALONE = frozenset({"may"})

#: Fixed-date holidays: name → (label, inclusive (month, day) ranges). Keys are
#: folded like :func:`date_key` ("new year's eve" → "new years eve").
HOLIDAYS: dict[str, tuple[str, tuple[tuple[tuple[int, int], tuple[int, int]], ...]]] = {
    "christmas": ("Christmas (24–26 Dec)", (((12, 24), (12, 26)),)),
    "xmas": ("Christmas (24–26 Dec)", (((12, 24), (12, 26)),)),
    "christmas eve": ("Christmas Eve (24 Dec)", (((12, 24), (12, 24)),)),
    "christmas day": ("Christmas Day (25 Dec)", (((12, 25), (12, 25)),)),
    "boxing day": ("Boxing Day (26 Dec)", (((12, 26), (12, 26)),)),
    "new year": ("New Year (31 Dec–1 Jan)", (((12, 31), (12, 31)), ((1, 1), (1, 1)))),
    "new years": ("New Year (31 Dec–1 Jan)", (((12, 31), (12, 31)), ((1, 1), (1, 1)))),
    "new years eve": ("New Year's Eve (31 Dec)", (((12, 31), (12, 31)),)),
    "nye": ("New Year's Eve (31 Dec)", (((12, 31), (12, 31)),)),
    "new years day": ("New Year's Day (1 Jan)", (((1, 1), (1, 1)),)),
    "valentines": ("Valentine's Day (14 Feb)", (((2, 14), (2, 14)),)),
    "valentines day": ("Valentine's Day (14 Feb)", (((2, 14), (2, 14)),)),
    "st patricks day": ("St Patrick's Day (17 Mar)", (((3, 17), (3, 17)),)),
    "saint patricks day": ("St Patrick's Day (17 Mar)", (((3, 17), (3, 17)),)),
    "april fools": ("April Fools' Day (1 Apr)", (((4, 1), (4, 1)),)),
    "april fools day": ("April Fools' Day (1 Apr)", (((4, 1), (4, 1)),)),
    "fourth of july": ("Fourth of July (4 Jul)", (((7, 4), (7, 4)),)),
    "4th of july": ("Fourth of July (4 Jul)", (((7, 4), (7, 4)),)),
    "bastille day": ("Bastille Day (14 Jul)", (((7, 14), (7, 14)),)),
    "halloween": ("Halloween (31 Oct)", (((10, 31), (10, 31)),)),
    "guy fawkes": ("Guy Fawkes Night (5 Nov)", (((11, 5), (11, 5)),)),
    "bonfire night": ("Guy Fawkes Night (5 Nov)", (((11, 5), (11, 5)),)),
}

#: Meteorological seasons: northern-hemisphere months; the south is six months on.
SEASONS: dict[str, tuple[str, tuple[int, int, int]]] = {
    "spring": ("spring", (3, 4, 5)),
    "summer": ("summer", (6, 7, 8)),
    "autumn": ("autumn", (9, 10, 11)),
    "fall": ("autumn", (9, 10, 11)),
    "winter": ("winter", (12, 1, 2)),
}

_SEPARATORS = re.compile(r"[\s_]+")
_DROPPED = re.compile(r"['’.,]")
_ORDINAL = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?$")
_ISO = re.compile(r"^(\d{4})(?:[-/](\d{1,2})(?:[-/](\d{1,2}))?)?$")
_DECADE = re.compile(r"^(\d{3})0s$")


@dataclass(frozen=True)
class DateSpan:
    """Local capture days from ``start`` (inclusive) to ``end`` (exclusive)."""

    start: date
    end: date
    label: str

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end


@dataclass(frozen=True)
class Yearly:
    """The same days every year, as inclusive (month × 100 + day) ranges: 1224–1226."""

    ranges: tuple[tuple[int, int], ...]
    label: str

    def contains(self, day: date) -> bool:
        md = day.month * 100 + day.day
        return any(a <= md <= b for a, b in self.ranges)


@dataclass(frozen=True)
class Season:
    """A meteorological season, every year or of one ``year`` (the year it starts)."""

    name: str  # "spring", "summer", "autumn", "winter"
    year: int | None
    label: str

    def months(self, southern: bool) -> tuple[int, int, int]:
        north = SEASONS[self.name][1]
        if not southern:
            return north
        m0, m1, m2 = ((m + 5) % 12 + 1 for m in north)
        return m0, m1, m2

    def span(self, southern: bool) -> DateSpan | None:
        """The days of this season in its year, or ``None`` for a season of every year."""
        if self.year is None:
            return None
        first = self.months(southern)[0]
        start = date(self.year, first, 1)
        end = _add_months(start, 3)
        return DateSpan(start, end, self.label)

    def contains(self, day: date, latitude: float | None) -> bool:
        """Whether ``day`` is in this season where the photo was (north without GPS)."""
        southern = latitude is not None and latitude < 0
        span = self.span(southern)
        if span is not None:
            return span.contains(day)
        return day.month in self.months(southern)


DateTerm = DateSpan | Yearly | Season


def date_key(text: str) -> str:
    """Fold a typed phrase: case, apostrophes and periods ("New Year's Eve" → "new years eve")."""
    return " ".join(_SEPARATORS.sub(" ", _DROPPED.sub("", text.casefold())).split())


def date_term(phrase: str) -> DateTerm | None:
    """The date a phrase names, or ``None``; never raises (any text may be tried)."""
    key = date_key(phrase)
    words = key.split()
    if not words or len(words) > MAX_WORDS:
        return None
    if key in HOLIDAYS:
        label, ranges = HOLIDAYS[key]
        return Yearly(tuple((m0 * 100 + d0, m1 * 100 + d1) for (m0, d0), (m1, d1) in ranges), label)
    if len(words) == 1:
        return _one_word(words[0])
    if len(words) == 2:
        return _two_words(*words)
    if len(words) == 3:
        return _three_words(*words)
    return None


def longest_date(words: Sequence[str]) -> tuple[int, DateTerm | None]:
    """The longest date phrase ``words`` starts with: (number of words, term); (0, None) if none."""
    for n in range(min(MAX_WORDS, len(words)), 0, -1):
        term = date_term(" ".join(words[:n]))
        if term is not None:
            return n, term
    return 0, None


def _one_word(word: str) -> DateTerm | None:
    iso = _ISO.match(word)
    if iso:
        y, m, d = (int(g) if g else None for g in iso.groups())
        return _span(y, m, d) if y is not None else None
    decade = _DECADE.match(word)
    if decade:
        start = int(decade.group(1)) * 10
        if MIN_YEAR - 9 <= start <= MAX_YEAR:
            return DateSpan(date(max(start, 1), 1, 1), date(start + 10, 1, 1), f"the {start}s")
    if word in SEASONS:
        return Season(SEASONS[word][0], None, SEASONS[word][0])
    month = _month(word)
    if month and word not in NOT_ALONE:
        return Yearly(
            ((month * 100 + 1, month * 100 + _days_in(month, 2000)),), _MONTH_NAMES[month]
        )
    return None


def _two_words(a: str, b: str) -> DateTerm | None:
    year_b, year_a = _year(b), _year(a)
    if a in SEASONS and year_b is not None:
        name = SEASONS[a][0]
        return Season(name, year_b, f"{name} {year_b}")
    if _month(a) and year_b is not None:  # july 2019
        return _span(year_b, _month(a), None)
    if _month(b) and year_a is not None:  # 2019 july
        return _span(year_a, _month(b), None)
    day_a, day_b = _day(a), _day(b)
    if _month(a) and day_b:  # july 14
        return _yearly_day(_month(a), day_b)
    if _month(b) and day_a:  # 14 july
        return _yearly_day(_month(b), day_a)
    return None


def _three_words(a: str, b: str, c: str) -> DateTerm | None:
    year = _year(c)
    if year is None:
        return None
    if _month(b) and _day(a):  # 14 july 2019
        return _span(year, _month(b), _day(a))
    if _month(a) and _day(b):  # july 14 2019
        return _span(year, _month(a), _day(b))
    return None


def _span(year: int, month: int | None, day: int | None) -> DateSpan | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    if month is None:
        return DateSpan(date(year, 1, 1), date(year + 1, 1, 1), str(year))
    if not 1 <= month <= 12:
        return None
    first = date(year, month, 1)
    if day is None:
        return DateSpan(first, _add_months(first, 1), f"{_MONTH_NAMES[month]} {year}")
    if not 1 <= day <= _days_in(month, year):
        return None
    start = date(year, month, day)
    return DateSpan(start, start + timedelta(days=1), start.isoformat())


def _yearly_day(month: int, day: int) -> Yearly | None:
    if not 1 <= day <= _days_in(month, 2000):  # 2000: a leap year, so 29 February exists
        return None
    return Yearly(((month * 100 + day, month * 100 + day),), f"{day} {_MONTH_NAMES[month]}")


def _month(word: str) -> int:
    return MONTHS.get(word) or MONTH_ABBREVIATIONS.get(word) or 0


def _year(word: str) -> int | None:
    if len(word) == 4 and word.isdigit() and MIN_YEAR <= int(word) <= MAX_YEAR:
        return int(word)
    return None


def _day(word: str) -> int:
    m = _ORDINAL.match(word)
    return int(m.group(1)) if m and 1 <= int(m.group(1)) <= 31 else 0


def _days_in(month: int, year: int) -> int:
    return (_add_months(date(year, month, 1), 1) - timedelta(days=1)).day


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


# --------------------------------------------------------------------------- --after/--before


def parse_bound(text: str) -> date:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` → the first day it names.

    Raises :class:`~picfind.errors.UsageError` with a one-line reason for
    anything else ("2020-13": month 13; "2021-02-30": day 30 of February).
    """
    value = text.strip()
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", value)
    if not m:
        raise UsageError(f"not a date: {text!r} (expected YYYY, YYYY-MM or YYYY-MM-DD)")
    year, month, day = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
    if not 1 <= year <= 9998:
        raise UsageError(f"not a date: {text!r} (year {year} out of range)")
    if not 1 <= month <= 12:
        raise UsageError(f"not a date: {text!r} (there is no month {month})")
    if not 1 <= day <= _days_in(month, year):
        raise UsageError(
            f"not a date: {text!r} ({_MONTH_NAMES[month]} {year} has {_days_in(month, year)} days)"
        )
    return date(year, month, day)


def date_range(after: str | None = None, before: str | None = None) -> DateSpan | None:
    """The half-open range of ``--after``/``--before``; ``None`` when both are missing.

    Raises :class:`~picfind.errors.UsageError` for a bad bound or an empty range.
    """
    if after is None and before is None:
        return None
    start = parse_bound(after) if after is not None else date.min
    end = parse_bound(before) if before is not None else date.max
    if start >= end:
        raise UsageError(f"empty date range: --after {after} is not before --before {before}")
    parts = [
        f"from {start.isoformat()}" if after else "",
        f"before {end.isoformat()}" if before else "",
    ]
    return DateSpan(start, end, " ".join(p for p in parts if p))


__all__ = [
    "HOLIDAYS",
    "MONTHS",
    "SEASONS",
    "DateSpan",
    "DateTerm",
    "Season",
    "Yearly",
    "date_key",
    "date_range",
    "date_term",
    "longest_date",
    "parse_bound",
]
