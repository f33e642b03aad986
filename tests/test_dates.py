"""Date words and --after/--before bounds: pure functions, checked day by day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from picfind.dates import (
    HOLIDAYS,
    DateSpan,
    Season,
    Yearly,
    date_range,
    date_term,
    longest_date,
    parse_bound,
)
from picfind.errors import UsageError

years = st.integers(1826, 2199)
days = st.dates(date(1826, 1, 1), date(2199, 12, 31))


def span(phrase: str) -> DateSpan:
    term = date_term(phrase)
    assert isinstance(term, DateSpan), (phrase, term)
    return term


# Each span and the ways people type it.
SPANS = {
    ("2019", "2019-01-01", "2020-01-01"): ["2019"],
    ("the 1990s", "1990-01-01", "2000-01-01"): ["1990s"],
    ("July 2019", "2019-07-01", "2019-08-01"): ["july 2019", "Jul 2019", "2019 july", "2019-07"],
    ("May 2020", "2020-05-01", "2020-06-01"): ["may 2020", "2020-5"],
    ("December 2019", "2019-12-01", "2020-01-01"): ["december 2019", "dec 2019"],
    ("February 2020", "2020-02-01", "2020-03-01"): ["feb 2020", "2020/02"],
    ("2019-07-14", "2019-07-14", "2019-07-15"): [
        "2019-07-14",
        "14 july 2019",
        "july 14th 2019",
        "14th Jul 2019",
    ],
    ("2020-02-29", "2020-02-29", "2020-03-01"): ["2020-02-29", "29 feb 2020"],
}


@pytest.mark.parametrize(("label", "start", "end"), list(SPANS))
def test_absolute_spans(label: str, start: str, end: str) -> None:
    expected = DateSpan(date.fromisoformat(start), date.fromisoformat(end), label)
    for phrase in SPANS[(label, start, end)]:
        assert span(phrase) == expected, phrase


@pytest.mark.parametrize(
    "phrase",
    [
        "1700",
        "2300",
        "2019-13",
        "2019-02-30",
        "2019-00",
        "2021-02-29",
        "30 february 2020",
        "july 32",
    ],
)
def test_impossible_dates_are_not_dates(phrase: str) -> None:
    assert date_term(phrase) is None


@pytest.mark.parametrize(
    "word", ["dog", "paris", "", "   ", "12", "123", "may", "19999", "2019-07-14-1"]
)
def test_words_that_are_not_dates(word: str) -> None:
    assert date_term(word) is None


@pytest.mark.parametrize(
    ("phrase", "inside", "outside"),
    [
        (
            "christmas",
            [date(2019, 12, 24), date(1999, 12, 25), date(2030, 12, 26)],
            [date(2019, 12, 23), date(2019, 12, 27)],
        ),
        ("Xmas", [date(2019, 12, 25)], [date(2019, 12, 27)]),
        ("christmas eve", [date(2019, 12, 24)], [date(2019, 12, 25)]),
        (
            "new year",
            [date(2019, 12, 31), date(2020, 1, 1)],
            [date(2020, 1, 2), date(2019, 12, 30)],
        ),
        ("New Year's Eve", [date(2019, 12, 31)], [date(2020, 1, 1)]),
        ("halloween", [date(2018, 10, 31)], [date(2018, 11, 1)]),
        ("valentine's day", [date(2021, 2, 14)], [date(2021, 2, 15)]),
        ("july", [date(2019, 7, 1), date(1990, 7, 31)], [date(2019, 8, 1), date(2019, 6, 30)]),
        ("july 14", [date(1989, 7, 14), date(2024, 7, 14)], [date(2024, 7, 15)]),
        ("14 july", [date(2024, 7, 14)], [date(2024, 7, 13)]),
        ("29 feb", [date(2020, 2, 29)], [date(2021, 3, 1)]),
    ],
)
def test_yearly_days(phrase: str, inside: list[date], outside: list[date]) -> None:
    term = date_term(phrase)
    assert isinstance(term, Yearly)
    assert all(term.contains(d) for d in inside)
    assert not any(term.contains(d) for d in outside)


def test_every_holiday_is_a_few_fixed_days() -> None:
    for name in HOLIDAYS:
        term = date_term(name)
        assert isinstance(term, Yearly) and term.label
        count = sum(term.contains(date(2021, 1, 1) + timedelta(days=i)) for i in range(365))
        assert 1 <= count <= 3, name


def test_seasons_depend_on_the_hemisphere() -> None:
    summer = date_term("summer")
    assert isinstance(summer, Season) and summer.year is None
    july, january = date(2019, 7, 15), date(2019, 1, 15)
    assert summer.contains(july, 48.8) and not summer.contains(january, 48.8)  # Paris
    assert summer.contains(january, -33.9) and not summer.contains(july, -33.9)  # Sydney
    assert summer.contains(july, None)  # no GPS: northern, as documented
    fall = date_term("fall")
    assert isinstance(fall, Season) and fall.name == "autumn"
    assert fall.months(southern=False) == (9, 10, 11) and fall.months(southern=True) == (3, 4, 5)


def test_a_season_of_one_year_starts_in_that_year() -> None:
    winter = date_term("winter 2019")
    assert isinstance(winter, Season)
    assert winter.span(southern=False) == DateSpan(
        date(2019, 12, 1), date(2020, 3, 1), "winter 2019"
    )
    assert winter.span(southern=True) == DateSpan(date(2019, 6, 1), date(2019, 9, 1), "winter 2019")
    summer = date_term("summer 2019")
    assert isinstance(summer, Season)
    assert summer.contains(date(2020, 1, 10), -33.9) and not summer.contains(
        date(2019, 1, 10), -33.9
    )
    assert summer.contains(date(2019, 7, 1), 40.0) and not summer.contains(date(2020, 7, 1), 40.0)


def test_longest_date_phrase() -> None:
    assert longest_date(["14", "july", "2019", "paris"]) == (3, span("2019-07-14"))
    assert longest_date(["new", "year's", "eve", "party"])[0] == 3
    assert longest_date(["christmas", "dog"])[0] == 1
    assert longest_date(["dog", "2019"]) == (0, None)


@given(years, st.integers(1, 12))
def test_month_spans_hold_exactly_that_month(year: int, month: int) -> None:
    term = span(f"{year}-{month:02d}")
    assert term.start == date(year, month, 1)
    last = term.end - timedelta(days=1)
    assert (last.year, last.month) == (year, month) and term.end.day == 1
    abbreviation = date(2000, month, 1).strftime("%b").lower()  # "jan", "feb", …
    assert span(f"{abbreviation} {year}") == term


@given(days)
def test_a_day_is_in_its_own_year_month_and_day(day: date) -> None:
    for phrase in (str(day.year), f"{day.year}-{day.month:02d}", day.isoformat()):
        assert span(phrase).contains(day)
    assert not span(day.isoformat()).contains(day + timedelta(days=1))
    yearly = date_term(f"{day.day} {day.strftime('%B')}")
    assert isinstance(yearly, Yearly) and yearly.contains(day)


@given(st.text(max_size=30))
def test_any_text_is_a_date_or_none_never_an_error(text: str) -> None:
    term = date_term(text)
    assert term is None or isinstance(term, DateSpan | Yearly | Season)


# --------------------------------------------------------------------------- --after/--before


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2019", date(2019, 1, 1)),
        ("2020-06", date(2020, 6, 1)),
        ("2020-06-15", date(2020, 6, 15)),
        (" 2024-02-29 ", date(2024, 2, 29)),
    ],
)
def test_parse_bound(text: str, day: date) -> None:
    assert parse_bound(text) == day


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2020-13", "there is no month 13"),
        ("2020-00", "there is no month 0"),
        ("2021-02-29", "February 2021 has 28 days"),
        ("2020-06-31", "June 2020 has 30 days"),
        ("0000", "year 0 out of range"),
        ("yesterday", "expected YYYY, YYYY-MM or YYYY-MM-DD"),
        ("2020/06", "expected YYYY"),
        ("20-06-2020", "expected YYYY"),
        ("2020-6", "expected YYYY"),
        ("", "expected YYYY"),
    ],
)
def test_bad_bounds_say_why_in_one_line(text: str, reason: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_bound(text)
    assert reason in str(info.value) and "\n" not in str(info.value)


def test_date_range_is_half_open() -> None:
    r = date_range("2020-06", "2021-01")
    assert r is not None and (r.start, r.end) == (date(2020, 6, 1), date(2021, 1, 1))
    assert r.contains(date(2020, 6, 1)) and r.contains(date(2020, 12, 31))
    assert not r.contains(date(2020, 5, 31)) and not r.contains(date(2021, 1, 1))
    assert date_range() is None
    after = date_range(after="2020")
    assert (
        after is not None
        and after.contains(date(9999, 12, 30))
        and not after.contains(date(2019, 12, 31))
    )
    before = date_range(before="2020")
    assert (
        before is not None
        and before.contains(date(1900, 1, 1))
        and not before.contains(date(2020, 1, 1))
    )
    with pytest.raises(UsageError, match="empty date range"):
        date_range("2021", "2020-06")
    with pytest.raises(UsageError, match="empty date range"):
        date_range("2020", "2020")


@given(days, days)
def test_range_contains_exactly_the_days_between(a: date, b: date) -> None:
    if a >= b:
        with pytest.raises(UsageError):
            date_range(a.isoformat(), b.isoformat())
        return
    r = date_range(a.isoformat(), b.isoformat())
    assert r is not None
    assert r.contains(a) and not r.contains(b) and r.contains(b - timedelta(days=1))
    assert not r.contains(a - timedelta(days=1))
