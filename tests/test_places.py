"""Offline places: reverse geocoding with the bundled GeoNames data, and the gazetteer."""

from __future__ import annotations

import io
import math
import random
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from picfind import placenames, places
from picfind.metadata import read_capture
from picfind.places import CITY_KM, REGION_KM, Place, country_key, explain, place_key

# (lat, lon, ISO-2, a key the photo must carry, region): every inhabited continent.
WHERE = [
    (48.8566, 2.3522, "FR", "paris", "Île-de-France"),
    (40.7128, -74.0060, "US", "new york city", "New York"),
    (-23.5505, -46.6333, "BR", "sao paulo", "São Paulo"),
    (-33.8688, 151.2093, "AU", "sydney", "New South Wales"),
    (35.6762, 139.6503, "JP", "tokyo", "Tokyo"),
    (-1.2921, 36.8219, "KE", "nairobi", "Nairobi County"),
    (64.1466, -21.9426, "IS", "reykjavik", "Capital Region"),
    (-33.9249, 18.4241, "ZA", "cape town", "Western Cape"),
    (-34.6037, -58.3816, "AR", "buenos aires", "Buenos Aires F.D."),
    (37.7749, -122.4194, "US", "san francisco", "California"),
    (-22.9068, -43.1729, "BR", "rio de janeiro", "Rio de Janeiro"),
    (47.3769, 8.5417, "CH", "zurich", "Zurich"),
    (21.3069, -157.8583, "US", "honolulu", "Hawaii"),
]


@pytest.fixture(scope="module")
def geo() -> places.Geocoder:
    return places.geocoder()


@pytest.fixture(scope="module")
def gaz() -> placenames.Gazetteer:
    return placenames.gazetteer()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("São Paulo", "sao paulo"),
        ("Zürich", "zurich"),
        ("Saint-Étienne", "saint etienne"),
        ("Xi'an", "xian"),
        ("St. Louis", "st louis"),
        ("Straße", "strasse"),
        ("Reykjavík", "reykjavik"),
        ("Łódź", "lodz"),
        ("København", "kobenhavn"),
        ("  NEW   York ", "new york"),
        ("Île-de-France", "ile de france"),
        ("Kraków", "krakow"),
    ],
)
def test_place_key_folds_case_accents_and_punctuation(text: str, key: str) -> None:
    assert place_key(text) == key


@given(st.text(max_size=40))
def test_place_key_is_idempotent_and_trimmed(text: str) -> None:
    key = place_key(text)
    assert place_key(key) == key
    assert key == key.strip() and "  " not in key and key == key.casefold()


@pytest.mark.parametrize(("lat", "lon", "cc", "key", "region"), WHERE, ids=[w[3] for w in WHERE])
def test_cities_on_every_continent(
    geo: places.Geocoder, lat: float, lon: float, cc: str, key: str, region: str
) -> None:
    place = geo.lookup(lat, lon)
    assert place is not None
    assert place.country_code == cc
    assert key in place.keys, place
    assert place.region == region
    assert place.distance_km is not None and place.distance_km <= CITY_KM
    assert place.country is not None and country_key(place.country) in place.keys
    assert place.continent is not None and place_key(place.continent) in place.keys


def test_paris_label_and_explanation(geo: places.Geocoder) -> None:
    place = geo.lookup(48.8566, 2.3522)
    assert place is not None
    assert (place.country_code, place.country_code3, place.country) == ("FR", "FRA", "France")
    assert place.label == "Paris, Île-de-France, FR"
    assert explain(48.8566, 2.3522, place.label) == "GPS 48.86, 2.35, Paris, Île-de-France, FR"
    assert place.keys == ("paris", "ile de france", "france", "europe")


def test_suburbs_carry_the_big_city(geo: places.Geocoder) -> None:
    versailles = geo.lookup(48.8049, 2.1204)
    assert versailles is not None and versailles.city == "Versailles"
    assert versailles.metro == "Paris" and "paris" in versailles.keys
    assert versailles.label == "Versailles (Paris), Île-de-France, FR"
    brooklyn = geo.lookup(40.6782, -73.9442)
    assert brooklyn is not None and brooklyn.metro == "New York City"
    # In a big city's core the city names the place, not a suburb's point across the line.
    eiffel = geo.lookup(48.8584, 2.2945)
    assert eiffel is not None and eiffel.central and eiffel.metro == "Paris"
    assert eiffel.label == "Paris, Île-de-France, FR" and "paris" in eiffel.keys
    assert not versailles.central
    # A small town 100 km from Paris is not "paris".
    chartres = geo.lookup(48.4439, 1.4890)
    assert chartres is not None and "paris" not in chartres.keys


def test_far_from_towns_gives_region_or_nothing(geo: places.Geocoder) -> None:
    offshore = geo.lookup(47.0, -3.5)  # the Bay of Biscay, ~45 km off Brittany
    assert offshore is not None and offshore.city is None and offshore.metro is None
    assert (offshore.region, offshore.country_code) == ("Brittany", "FR")
    assert offshore.distance_km is not None and CITY_KM < offshore.distance_km <= REGION_KM
    assert offshore.keys == ("brittany", "france", "europe")
    assert geo.lookup(30.0, -40.0) is None  # the middle of the Atlantic
    assert geo.lookup(-48.9, -123.4) is None  # Point Nemo
    pole = geo.lookup(-90.0, 0.0)
    assert pole == Place(None, None, None, None, None, "Antarctica")
    assert pole.keys == ("antarctica",) and pole.label == "Antarctica"
    assert geo.lookup(-77.85, 166.67) is not None  # McMurdo: Antarctica too


@pytest.mark.parametrize(
    ("lat", "lon"), [(91.0, 0.0), (0.0, 181.0), (math.nan, 2.0), (48.0, math.inf)]
)
def test_impossible_coordinates_have_no_place(geo: places.Geocoder, lat: float, lon: float) -> None:
    assert geo.lookup(lat, lon) is None


def test_grid_finds_the_true_nearest_place(geo: places.Geocoder) -> None:
    """Against brute force over all 155,000 places, near towns and in between."""
    data = geo._data.arrays
    lat = np.radians(data["city_lat"].astype(np.float64))
    lon = np.radians(data["city_lon"].astype(np.float64))
    rng = random.Random(7)
    for _ in range(150):
        i = rng.randrange(len(lat))
        qlat = math.degrees(lat[i]) + rng.uniform(-0.3, 0.3)
        qlon = math.degrees(lon[i]) + rng.uniform(-0.3, 0.3)
        if abs(qlat) > 89:
            continue
        p1, p2 = math.radians(qlat), math.radians(qlon)
        h = np.sin((lat - p1) / 2) ** 2 + np.cos(p1) * np.cos(lat) * np.sin((lon - p2) / 2) ** 2
        km = 2 * places.EARTH_RADIUS_KM * np.arcsin(np.sqrt(h))
        best = float(km.min())
        place = geo.lookup(qlat, qlon)
        if best > REGION_KM:
            assert place is None or place.continent == "Antarctica"
            continue
        assert place is not None and place.distance_km == pytest.approx(best, abs=0.01)
        if best <= CITY_KM:
            names = {geo._data.city_name(int(j)) for j in np.flatnonzero(km <= best + 1e-6)}
            assert place.city in names
        else:
            assert place.city is None


@settings(max_examples=300, deadline=None)
@given(st.floats(-90, 90), st.floats(-180, 180))
def test_any_coordinate_follows_the_distance_rules(lat: float, lon: float) -> None:
    place = places.reverse_geocode(lat, lon)
    if place is None:
        return
    if place.city is not None:
        assert place.distance_km is not None and place.distance_km <= CITY_KM
    if place.distance_km is not None:
        assert place.distance_km <= REGION_KM and place.country_code is not None
    else:
        assert place.continent == "Antarctica" and lat <= places.ANTARCTIC_LATITUDE
    assert all(k == place_key(k) for k in place.keys)


def test_every_photo_key_is_a_gazetteer_word(
    geo: places.Geocoder, gaz: placenames.Gazetteer
) -> None:
    """What a photo stores must be findable by typing it: photo keys ⊆ gazetteer keys."""
    rng = random.Random(3)
    points = [(w[0], w[1]) for w in WHERE] + [
        (rng.uniform(-55, 70), rng.uniform(-180, 180)) for _ in range(400)
    ]
    seen = 0
    for lat, lon in points:
        place = geo.lookup(lat, lon)
        for key in place.keys if place else ():
            seen += 1
            assert key in {r.key for r in gaz.lookup(key)}, (key, place)
    assert seen > 100


def test_metadata_gps_to_place_end_to_end() -> None:
    """A photo written by Pillow with São Paulo's GPS → CaptureInfo → Place."""
    ex = Image.Exif()
    gps = ex.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "S", (23.0, 33.0, 1.8), "W", (46.0, 37.0, 59.88)
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "JPEG", exif=ex.tobytes())
    info = read_capture(buf.getvalue())
    assert info.latitude is not None and info.longitude is not None
    place = places.reverse_geocode(info.latitude, info.longitude)
    assert place is not None and place.country_code == "BR" and "sao paulo" in place.keys
    assert place.continent == "South America"


# --------------------------------------------------------------------------- the gazetteer


def kinds(gaz: placenames.Gazetteer, phrase: str, **kw: bool) -> dict[str, str]:
    return {r.kind: r.key for r in gaz.lookup(phrase, **kw)}


def test_gazetteer_cities_regions_countries_continents(gaz: placenames.Gazetteer) -> None:
    paris = gaz.lookup("Paris")
    assert paris[0].kind == "city" and paris[0].key == "paris"
    assert paris[0].example == "Paris, Île-de-France, FR" and paris[0].population > 2_000_000
    assert kinds(gaz, "new york") == {"region": "new york"}
    assert kinds(gaz, "new york city")["city"] == "new york city"
    assert kinds(gaz, "england")["region"] == "england"
    assert kinds(gaz, "europe") == {"continent": "europe"}
    assert kinds(gaz, "south america") == {"continent": "south america"}
    assert kinds(gaz, "rio de janeiro") == {"region": "rio de janeiro", "city": "rio de janeiro"}
    assert kinds(gaz, "san francisco")["city"] == "san francisco"


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("usa", "united states"),
        ("USA", "united states"),
        ("america", "united states"),
        ("united states", "united states"),
        ("uk", "united kingdom"),
        ("Britain", "united kingdom"),
        ("great britain", "united kingdom"),
        ("holland", "netherlands"),
        ("the netherlands", "netherlands"),
        ("netherlands", "netherlands"),
        ("türkiye", "turkey"),
        ("czech republic", "czechia"),
        ("Côte d'Ivoire", "ivory coast"),
    ],
)
def test_common_english_country_names(gaz: placenames.Gazetteer, typed: str, key: str) -> None:
    assert kinds(gaz, typed)["country"] == key


@pytest.mark.parametrize(
    ("a", "b"), [("são paulo", "sao paulo"), ("zürich", "zurich"), ("Reykjavík", "reykjavik")]
)
def test_accents_fold_on_the_query_side(gaz: placenames.Gazetteer, a: str, b: str) -> None:
    assert gaz.lookup(a) == gaz.lookup(b) != ()


def test_ambiguous_words_say_they_are_places(gaz: placenames.Gazetteer) -> None:
    for word in ("china", "turkey", "jersey", "georgia"):
        assert "country" in kinds(gaz, word), word
    assert {"country", "region"} <= set(kinds(gaz, "georgia"))  # the country and the US state
    assert not gaz.is_place("dog") and not gaz.is_place("") and not gaz.is_place("1 2 3 4 5")
    # Small towns with everyday names are places too; their population says how much.
    beach = gaz.lookup("beach")
    assert beach and beach[0].kind == "city" and beach[0].population < 10_000


def test_codes_only_when_asked(gaz: placenames.Gazetteer) -> None:
    assert "country" not in kinds(gaz, "fr") and "country" not in kinds(gaz, "can")
    assert kinds(gaz, "fr", codes=True)["country"] == "france"
    assert kinds(gaz, "FRA", codes=True)["country"] == "france"
    assert kinds(gaz, "can", codes=True)["country"] == "canada"


def test_longest_match(gaz: placenames.Gazetteer) -> None:
    n, readings = gaz.longest_match(["new", "york", "city", "dog"])
    assert n == 3 and readings[0].key == "new york city"
    assert gaz.longest_match(["rio", "de", "janeiro", "beach"])[0] == 3
    assert gaz.longest_match(["dog", "paris"]) == (0, ())


def test_nothing_is_loaded_at_import() -> None:
    """``picfind search dog`` must not pay for 155,000 places: the data loads on first use."""
    code = (
        "import picfind.places as p, picfind.placenames as n\n"
        "assert not (p._data_singleton or p._geocoder_singleton or n._singleton)\n"
        "n.gazetteer()\n"
        "assert p._data_singleton and not p._geocoder_singleton\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
