"""Place names as search words: the gazetteer the query engine asks "is this a place?".

Every key a photo can carry (:attr:`picfind.places.Place.keys`: folded city,
metro, region, country and continent names) is a key this answers, plus what
people type for countries that GeoNames names otherwise ("usa", "uk",
"holland") and, on request, ISO 3166 codes. A phrase has up to four words;
every reading is returned (country, continent, region, city), each with the
population of the largest place of that name, so that the query engine can
weigh a place against a concept of the same name ("china", "turkey",
"jersey"). Loads in tens of milliseconds, on first use.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from picfind.places import CONTINENTS, PlaceData, country_key, place_key, shared_data

#: Common English names of countries that GeoNames names otherwise (query side
#: only: each maps to the ISO 3166-1 alpha-2 code whose country key a photo
#: carries). "america" is the United States, as most people who type it mean;
#: England, Scotland, Wales and Northern Ireland are regions of GB in GeoNames.
COUNTRY_ALIASES: dict[str, str] = {
    "america": "US",
    "usa": "US",
    "united states of america": "US",
    "uk": "GB",
    "britain": "GB",
    "great britain": "GB",
    "holland": "NL",
    "netherlands": "NL",
    "uae": "AE",
    "emirates": "AE",
    "czech republic": "CZ",
    "russian federation": "RU",
    "korea": "KR",
    "republic of korea": "KR",
    "cote divoire": "CI",
    "burma": "MM",
    "macedonia": "MK",
    "swaziland": "SZ",
    "cape verde": "CV",
    "east timor": "TL",
    "vatican city": "VA",
    "holy see": "VA",
    "turkiye": "TR",
    "viet nam": "VN",
    "dr congo": "CD",
    "drc": "CD",
    "congo kinshasa": "CD",
    "congo brazzaville": "CG",
    "palestine": "PS",
    "bosnia": "BA",
}

Kind = Literal["country", "continent", "region", "city"]
_KIND_ORDER: dict[str, int] = {"country": 0, "continent": 1, "region": 2, "city": 3}


@dataclass(frozen=True)
class PlaceName:
    """One reading of a typed place name: what to match, and how to explain it."""

    key: str  # the photo place key to match ("united states" for "usa")
    kind: Kind
    name: str  # as GeoNames writes it: "São Paulo", "United States"
    population: int  # of the most populous place of that name (0 when unknown)
    example: str  # "Paris, Île-de-France, FR": the most populous place of that name


class Gazetteer:
    """Tells whether a word or phrase (up to :data:`MAX_WORDS` words) names a known place.

    Answers with every reading (country, continent, region, city), so that the
    query engine can weigh a place against a concept of the same name ("china",
    "turkey", "jersey") by kind and population. Loads in tens of milliseconds.
    """

    MAX_WORDS = 4

    def __init__(self, data: PlaceData | None = None) -> None:
        d = self._data = data or PlaceData()
        a = d.arrays
        self._keys = a["key_text"].tobytes().decode("utf-8").split("\n")
        self._key_city = a["key_city"]
        self._population = a["city_population"]
        self._city_region = a["city_region"]
        self._region_country = a["region_country"]
        region_pop = np.bincount(
            self._city_region.astype(np.int64),
            weights=self._population.astype(np.float64),
            minlength=len(self._region_country),
        )
        self._names: dict[str, list[PlaceName]] = {}
        self._codes: dict[str, PlaceName] = {}
        for c, name in enumerate(d.country_names):
            reading = PlaceName(
                country_key(name),
                "country",
                name,
                int(a["country_population"][c]),
                name,
            )
            self._add(reading.key, reading)
            self._add(place_key(name), reading)  # "the netherlands" as well as "netherlands"
            self._codes[d.iso2[c].lower()] = reading
            self._codes[d.iso3[c].lower()] = reading
        by_code = {d.iso2[c]: self._codes[d.iso2[c].lower()] for c in range(len(d.iso2))}
        for alias, code in COUNTRY_ALIASES.items():
            if code in by_code:
                self._add(alias, by_code[code])
        for name in CONTINENTS.values():
            self._add(place_key(name), PlaceName(place_key(name), "continent", name, 0, name))
        for r, name in enumerate(d.region_names):
            if not name:
                continue
            country = int(self._region_country[r])
            reading = PlaceName(
                place_key(name), "region", name, int(region_pop[r]), f"{name}, {d.iso2[country]}"
            )
            self._add(reading.key, reading)

    def _add(self, typed: str, reading: PlaceName) -> None:
        readings = self._names.setdefault(typed, [])
        same = [r for r in readings if r.kind == reading.kind and r.key == reading.key]
        if not same:
            readings.append(reading)
        elif reading.population > same[0].population:
            readings[readings.index(same[0])] = reading

    def lookup(self, phrase: str, *, codes: bool = False) -> tuple[PlaceName, ...]:
        """Every reading of ``phrase`` as a place, most general first; empty if none.

        ``codes=True`` also accepts ISO 3166 codes ("fr", "fra"): off by default,
        since many are words ("can", "pan", "arm", "fin").
        """
        key = place_key(phrase)
        if not key or key.count(" ") >= self.MAX_WORDS:
            return ()
        readings = list(self._names.get(key, ()))
        if codes and key in self._codes and self._codes[key] not in readings:
            readings.append(self._codes[key])
        city = self._city(key)
        if city is not None:
            readings.append(city)
        return tuple(sorted(readings, key=lambda r: _KIND_ORDER[r.kind]))

    def longest_match(
        self, words: Sequence[str], *, codes: bool = False
    ) -> tuple[int, tuple[PlaceName, ...]]:
        """The longest place name that ``words`` starts with: (number of words, readings)."""
        for n in range(min(self.MAX_WORDS, len(words)), 0, -1):
            readings = self.lookup(" ".join(words[:n]), codes=codes)
            if readings:
                return n, readings
        return 0, ()

    def is_place(self, phrase: str) -> bool:
        return bool(self.lookup(phrase))

    def _city(self, key: str) -> PlaceName | None:
        i = bisect.bisect_left(self._keys, key)
        if i == len(self._keys) or self._keys[i] != key:
            return None
        d = self._data
        city = int(self._key_city[i])
        region = int(self._city_region[city])
        country = int(self._region_country[region])
        name = d.city_name(city)
        label = ", ".join(p for p in (name, d.region_names[region], d.iso2[country]) if p)
        return PlaceName(key, "city", name, int(self._population[city]), label)


_lock = threading.Lock()
_singleton: list[Gazetteer] = []


def gazetteer() -> Gazetteer:
    """The shared :class:`Gazetteer`, built on first call (thread-safe)."""
    data = shared_data()
    with _lock:
        if not _singleton:
            _singleton.append(Gazetteer(data))
        return _singleton[0]


__all__ = ["COUNTRY_ALIASES", "Gazetteer", "Kind", "PlaceName", "gazetteer"]
