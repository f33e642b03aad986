"""Query words as capture facts: the place, date and camera readers and their matchers."""

from __future__ import annotations

import pytest

from picfind.capturewords import (
    MAJOR_CITY,
    CameraReader,
    DateReader,
    PlaceReader,
    date_matcher,
    explain_camera,
    explain_date,
    explain_place,
)
from picfind.dates import date_term
from picfind.matchers import CameraMatch, ConceptMatch, DateMatch, PlaceMatch
from picfind.placenames import gazetteer
from picfind.query import parse_query
from picfind.readings import default_readers
from picfind.records import Fields, StoredFile
from picfind.search import keyword_query
from picfind.vocabulary import Vocabulary


def matchers(text: str) -> list[list[object]]:
    query = keyword_query(parse_query(text, Vocabulary.load()))
    return [list(c.matchers) for c in query.clauses]


def test_default_readers_register_place_date_camera_after_concepts() -> None:
    signals = [r.signal for r in default_readers()]
    # read text comes last: the fallback for words no other signal reads
    assert signals == ["concept", "place", "date", "camera", "text"]


def test_places_multiword_and_everywhere() -> None:
    reader = PlaceReader()
    (ny,) = reader.read(["new", "york", "christmas"])
    assert ny.words == 2 and isinstance(ny.matchers[0], PlaceMatch)
    assert "new york" in ny.matchers[0].keys and ny.signal == "place"
    (sp,) = reader.read(["são", "paulo"])
    assert sp.words == 2 and "sao paulo" in sp.matchers[0].keys  # type: ignore[union-attr]
    (georgia,) = reader.read(["georgia"])
    assert set(georgia.detail["kinds"]) >= {"country", "region"}  # type: ignore[arg-type]
    assert reader.read(["qzxv"]) == []


def test_a_concept_word_is_a_place_only_when_the_place_is_major() -> None:
    # "cat" is a town in Turkey (Çat); read as a place only when no concept reads it
    towns = [r for r in gazetteer().lookup("cat") if r.kind == "city"]
    assert towns and all(r.population < MAJOR_CITY for r in towns)
    assert PlaceReader(lambda phrase: False).read(["cat"])
    assert PlaceReader(lambda phrase: True).read(["cat"]) == []
    # a country stays a reading even when the word is a concept
    (china,) = PlaceReader(lambda phrase: True).read(["china"])
    assert "china" in china.matchers[0].keys  # type: ignore[union-attr]


def test_dates_spans_holidays_and_seasons() -> None:
    (y,) = DateReader().read(["2019", "dog"])
    assert y.words == 1 and y.matchers == (DateMatch(days=((20190101, 20200101),)),)
    (m,) = DateReader().read(["july", "2019"])
    assert m.words == 2 and m.matchers == (DateMatch(days=((20190701, 20190801),)),)
    (xmas,) = DateReader().read(["christmas"])
    assert xmas.matchers == (DateMatch(yearly=((1224, 1226),)),)
    summer = date_matcher(date_term("summer"))  # type: ignore[arg-type]
    assert summer.matches(20190715, 48.0) and not summer.matches(20190715, -33.0)
    assert summer.matches(20191225, -33.0) and not summer.matches(20191225, 48.0)
    assert summer.matches(20190715, None)  # no GPS: northern assumed
    summer19 = date_matcher(date_term("summer 2019"))  # type: ignore[arg-type]
    assert summer19.matches(20190801, 10.0) and not summer19.matches(20200801, 10.0)
    assert summer19.matches(20200115, -20.0) and not summer19.matches(20190801, -20.0)
    assert not DateMatch(days=((20190101, 20200101),)).matches(None, None)
    assert DateReader().read(["dog"]) == []


def test_cameras_makers_families_and_models() -> None:
    (iphone,) = CameraReader().read(["iphone", "12", "beach"])
    assert iphone.words == 2 and iphone.matchers == (CameraMatch(("iphone 12",)),)
    (nikon,) = CameraReader().read(["Nikon", "D750"])
    assert nikon.matchers == (CameraMatch(("nikon d750",)),)
    (canon,) = CameraReader().read(["canon", "dog"])
    assert canon.words == 1
    assert CameraReader().read(["dog"]) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("paris", [[PlaceMatch]]),
        ("paris 2019", [[PlaceMatch], [DateMatch]]),
        ("beach 2019", [[ConceptMatch], [DateMatch]]),
        ("iphone", [[CameraMatch]]),
        ("china", [[ConceptMatch, PlaceMatch]]),  # porcelain OR the country
        ("apple", [[ConceptMatch, CameraMatch]]),  # the fruit OR the phones
        ('"new york" christmas', [[PlaceMatch], [ConceptMatch, DateMatch]]),
    ],
)
def test_the_parser_ors_every_signal_that_reads_the_words(
    text: str, expected: list[list[type]]
) -> None:
    assert [[type(m) for m in c] for c in matchers(text)] == expected


def _row(**meta: object) -> StoredFile:
    return StoredFile("i", "/p.jpg", 1, 1, "h", meta_version=1, metadata=Fields(**meta))  # type: ignore[arg-type]


def test_why_of_each_capture_signal() -> None:
    row = _row(
        taken="2019-07-14T12:34:56", taken_day=20190714, lat=48.8584, lon=2.2945,
        place_label="Paris, Île-de-France, FR", place_keys=("paris", "france"),
        camera="Apple iPhone 12", camera_keys=("apple", "iphone"),
    )  # fmt: skip
    (place,) = explain_place(row, PlaceMatch(("paris",)), "paris", None)
    assert place.signal == "place" and place.via == "GPS 48.86, 2.29, Paris, Île-de-France, FR"
    assert explain_place(row, PlaceMatch(("tokyo",)), "tokyo", None) == []
    (when,) = explain_date(row, DateMatch(days=((20190101, 20200101),)), "2019", None)
    assert when.via == "taken 2019-07-14 12:34:56" and when.score == 1.0
    summer = date_matcher(date_term("summer"))  # type: ignore[arg-type]
    (season,) = explain_date(row, summer, "summer", None)
    assert "northern hemisphere" in season.via
    nogps = _row(taken="2019-07-14T12:34:56", taken_day=20190714)
    assert "assumed" in explain_date(nogps, summer, "summer", None)[0].via
    (cam,) = explain_camera(row, CameraMatch(("iphone",)), "iphone", None)
    assert cam.via == "Apple iPhone 12"
    assert explain_date(_row(), DateMatch(days=((0, 99999999),)), "x", None) == []
