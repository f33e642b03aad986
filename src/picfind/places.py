"""Places, offline: GPS → city, region and country, and place names as search words.

The data is GeoNames' (CC BY 4.0: ``data/GEONAMES-LICENSE.txt``): every place
of 1000 people or more, about 155,000, with its first-level region and its
country, built into ``data/places.npz`` by ``scripts/build_places.py``. Nothing
is downloaded, and nothing is loaded until a coordinate or a word needs it, so
``picfind search dog`` does not pay for it.

The distance rules (GeoNames holds points, not borders, so each is a radius):

* **city**: the nearest place, if within :data:`CITY_KM` (20 km);
* **metro**: the most populous place of :data:`METRO_POPULATION` (100,000) or
  more whose radius covers the photo, the radius growing with the city
  (:func:`metro_radius_km`: 8 km for 100,000 people, 25 km for a million, at
  most 40 km) — so a photo in Versailles or Brooklyn is also "paris" or
  "new york city", as people say;
* **region and country only**: the nearest place is farther than 20 km but
  within :data:`REGION_KM` (100 km): the open sea off a coast, a desert, a
  national park;
* **Antarctica**: south of 60° S (the Antarctic Treaty area), continent only;
* **nothing**: farther than 100 km from any place (mid-ocean).

Search keys are folded by :func:`place_key`: case-folded, accents removed
("São Paulo" ≡ "sao paulo", "Zürich" ≡ "zurich", "ß" → "ss"), apostrophes and
periods dropped ("Xi'an" → "xian", "St. Louis" → "st louis"), hyphens and
other punctuation a space ("Saint-Étienne" → "saint etienne"). A photo's keys
are the folded names of its city, metro, region, country and continent;
country codes and common English names ("usa", "uk", "holland") are resolved
to the country's key on the query side (:mod:`picfind.placenames`), so a photo stores
each place once and an alias can be added without re-indexing.

Thread safety: the data is loaded once, under a lock; lookups only read.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import TypeVar

import numpy as np

DATA_NAME = "places.npz"
EARTH_RADIUS_KM = 6371.0088
CITY_KM = 20.0
REGION_KM = 100.0
METRO_POPULATION = 100_000
METRO_MAX_KM = 40.0
ANTARCTIC_LATITUDE = -60.0

#: The seven continents as GeoNames codes them.
CONTINENTS: dict[str, str] = {
    "AF": "Africa",
    "AN": "Antarctica",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}

T = TypeVar("T")
# Letters that Unicode does not decompose into a base letter and a mark.
_SPECIAL = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "ss",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "ø": "o",
        "Ø": "o",
        "đ": "d",
        "Đ": "d",
        "ð": "d",
        "Ð": "d",
        "ł": "l",
        "Ł": "l",
        "þ": "th",
        "Þ": "th",
        "ı": "i",
        "ħ": "h",
        "Ħ": "h",
    }
)
_DROPPED = re.compile(r"['’‘ʻʼ`´.]")
_SEPARATORS = re.compile(r"[\W_]+")


def place_key(text: str) -> str:
    """Fold a place name or a typed phrase to its search key ("São Paulo" → "sao paulo")."""
    if text.isascii():  # most names and every typed word: nothing to decompose or strip
        stripped = text
    else:
        decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
        stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = _DROPPED.sub("", stripped.casefold())
    return " ".join(_SEPARATORS.sub(" ", folded).split())


def country_key(name: str) -> str:
    """A country's search key: its folded name without a leading "the" ("netherlands")."""
    key = place_key(name)
    return key[4:] if key.startswith("the ") else key


def metro_radius_km(population: int) -> float:
    """How far a big city's name reaches: 8 km at 100,000 people, × √(growth), ≤ 40 km."""
    if population < METRO_POPULATION:
        return 0.0
    return min(METRO_MAX_KM, 8.0 * math.sqrt(population / METRO_POPULATION))


def _chord(km: float) -> float:
    """Straight-line distance between two points of the unit sphere ``km`` apart."""
    return 2.0 * math.sin(km / (2.0 * EARTH_RADIUS_KM))


_CITY_CHORD = _chord(CITY_KM)
_REGION_CHORD = _chord(REGION_KM)


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi = np.radians(lat.astype(np.float64))
    lam = np.radians(lon.astype(np.float64))
    cos_phi = np.cos(phi)
    return np.stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)], axis=1)


def _strings(data: np.ndarray, offsets: np.ndarray) -> list[str]:
    raw = data.tobytes()
    cuts = offsets.tolist()
    return [raw[a:b].decode("utf-8") for a, b in itertools.pairwise(cuts)]


@dataclass(frozen=True)
class Place:
    """Where a photo was taken, in words. Every name may be ``None`` (see the rules above)."""

    city: str | None
    region: str | None
    country: str | None
    country_code: str | None  # ISO 3166-1 alpha-2, e.g. "FR"
    country_code3: str | None  # ISO 3166-1 alpha-3, e.g. "FRA"
    continent: str | None
    metro: str | None = None  # the big city the photo is near, when it is not ``city``
    distance_km: float | None = None  # to the nearest GeoNames place
    central: bool = False  # within a quarter of the metro's reach: the metro names the place

    @property
    def label(self) -> str:
        """For people: "Versailles (Paris), Île-de-France, FR": nearest first, code last.

        In a big city's core the city names it ("Paris", not the nearest
        GeoNames point, which may be a suburb across the city line).
        """
        town = self.city or self.metro
        if self.metro and self.central:
            town = self.metro
        elif self.city and self.metro:
            town = f"{self.city} ({self.metro})"
        return ", ".join(p for p in (town, self.region, self.country_code or self.continent) if p)

    @property
    def keys(self) -> tuple[str, ...]:
        """The folded search keys a photo taken here answers to, without repeats."""
        keys: list[str] = []
        for name in (self.city, self.metro, self.region, self.country, self.continent):
            key = "" if not name else country_key(name) if name == self.country else place_key(name)
            if key and key not in keys:
                keys.append(key)
        return tuple(keys)


def explain(lat: float, lon: float, label: str) -> str:
    """The "why" of a place match: "GPS 48.86, 2.35, Paris, Île-de-France, FR"."""
    return f"GPS {lat:.2f}, {lon:.2f}, {label}" if label else f"GPS {lat:.2f}, {lon:.2f}"


class _LazyArrays(Mapping[str, np.ndarray]):
    """The arrays of an ``.npz``, each decompressed on first use: a words search reads
    the gazetteer's keys, never the 155,000 cities' coordinates and names it does not
    ask for (half the file, and half of a first search's loading time)."""

    def __init__(self, blob: bytes) -> None:
        self._npz = np.load(io.BytesIO(blob), allow_pickle=False)
        self._names = tuple(self._npz.files)
        self._loaded: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> np.ndarray:
        found = self._loaded.get(name)
        if found is None:
            with self._lock:  # one zip member read at a time
                found = self._loaded.get(name)
                if found is None:
                    found = self._npz[name]
                    self._loaded[name] = found
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class PlaceData:
    """The arrays of ``places.npz``, read once; names are decoded on first use (a race at
    first use only decodes twice: the values are the same)."""

    def __init__(self) -> None:
        blob = resources.files("picfind").joinpath("data", DATA_NAME).read_bytes()
        self.arrays: Mapping[str, np.ndarray] = _LazyArrays(blob)

    @cached_property
    def _city_blob(self) -> tuple[bytes, list[int]]:
        return self.arrays["city_names"].tobytes(), self.arrays["city_name_offsets"].tolist()

    def city_name(self, index: int) -> str:
        """One city's name (155,000 of them are not decoded up front)."""
        raw, offsets = self._city_blob
        return raw[offsets[index] : offsets[index + 1]].decode("utf-8")

    @cached_property
    def region_names(self) -> list[str]:
        return _strings(self.arrays["region_names"], self.arrays["region_name_offsets"])

    @cached_property
    def country_names(self) -> list[str]:
        return _strings(self.arrays["country_names"], self.arrays["country_name_offsets"])

    @cached_property
    def iso2(self) -> list[str]:
        raw = self.arrays["country_iso2"].tobytes().decode("ascii")
        return [raw[i : i + 2] for i in range(0, len(raw), 2)]

    @cached_property
    def iso3(self) -> list[str]:
        raw = self.arrays["country_iso3"].tobytes().decode("ascii")
        return [raw[i : i + 3] for i in range(0, len(raw), 3)]

    @cached_property
    def continent(self) -> list[str]:
        raw = self.arrays["country_continent"].tobytes().decode("ascii")
        return [CONTINENTS.get(raw[i : i + 2], "") for i in range(0, len(raw), 2)]


class _Grid:
    """Points of the unit sphere hashed into cubes of side ``cell`` (a chord).

    Every point within ``cell`` of a query lies in the query's cube or one of
    its 26 neighbours, so 27 cube lookups find all of them: no tree, no SciPy.
    Points are sorted by cube key, and the three cubes that differ only in z
    are neighbours in that order, so the 27 cubes are 9 slices at most; the
    slice of each column of three cubes is precomputed (``columns``).
    """

    def __init__(self, xyz: np.ndarray, cell: float, ids: np.ndarray | None = None) -> None:
        self.cell = cell
        self.side = math.ceil(2.0 / cell) + 3
        ijk = np.floor((xyz + 1.0) / cell).astype(np.int64) + 1
        k = self.side
        keys = (ijk[:, 0] * k + ijk[:, 1]) * k + ijk[:, 2]
        order = np.argsort(keys, kind="stable")
        self.order = order if ids is None else ids[order]
        self.xyz = np.ascontiguousarray(xyz[order], dtype=np.float64)
        cells, starts = np.unique(keys[order], return_index=True)
        bounds = np.append(starts, len(keys))
        middles = np.unique(np.concatenate([cells - 1, cells, cells + 1]))
        lo = np.searchsorted(cells, middles - 1, side="left")
        hi = np.searchsorted(cells, middles + 1, side="right")
        self.columns = dict(
            zip(
                middles.tolist(),
                zip(bounds[lo].tolist(), bounds[hi].tolist(), strict=True),
                strict=True,
            )
        )

    def near(self, q: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
        """Indices (into the original points) of the 27 cubes around ``q``, and squared chords.

        Every point within ``cell`` of ``q`` is among them; farther ones may be
        too, and the caller compares the distances it needs.
        """
        k, cell, columns = self.side, self.cell, self.columns
        i, j, m = (math.floor((c + 1.0) / cell) + 1 for c in q)
        points: list[np.ndarray] = []
        ids: list[np.ndarray] = []
        for di in (i - 1, i, i + 1):
            for dj in (j - 1, j, j + 1):
                found = columns.get((di * k + dj) * k + m)
                if found:
                    points.append(self.xyz[found[0] : found[1]])
                    ids.append(self.order[found[0] : found[1]])
        if not points:
            return np.empty(0, dtype=np.int64), np.empty(0)
        index = np.concatenate(ids) if len(ids) > 1 else ids[0]
        diff = (np.concatenate(points) if len(points) > 1 else points[0]) - q
        return index, np.einsum("ij,ij->i", diff, diff)


class Geocoder:
    """Reverse geocoding from the bundled GeoNames data; build once (≈0.1 s), share freely."""

    def __init__(self, data: PlaceData | None = None) -> None:
        self._data = data or PlaceData()
        a = self._data.arrays
        self._population = a["city_population"].astype(np.int64)
        self._city_region = a["city_region"].astype(np.int64)
        self._region_country = a["region_country"].astype(np.int64)
        xyz = _unit_vectors(a["city_lat"], a["city_lon"])
        # Three grids, each with cubes as small as its question allows: the
        # nearest place (20 km), the big cities whose radius may cover a point
        # (40 km, 100,000 people or more only) and, for points with no place
        # within 20 km, the nearest place within 100 km (built on first need).
        self._near = _Grid(xyz, _chord(CITY_KM))
        self._xyz = xyz
        self._far: _Grid | None = None
        self._far_lock = threading.Lock()
        big = np.flatnonzero(self._population >= METRO_POPULATION)
        self._metro = _Grid(xyz[big], _chord(METRO_MAX_KM), ids=big)
        radius_km = np.minimum(METRO_MAX_KM, 8.0 * np.sqrt(self._population / METRO_POPULATION))
        reach2 = (2.0 * np.sin(radius_km / (2.0 * EARTH_RADIUS_KM))) ** 2
        # As dicts of the big cities only: read per candidate in plain Python.
        self._metro_reach2 = dict(zip(big.tolist(), reach2[big].tolist(), strict=True))
        self._city_pop = dict(zip(big.tolist(), self._population[big].tolist(), strict=True))

    def lookup(self, lat: float, lon: float) -> Place | None:
        """The place of a WGS 84 coordinate, or ``None`` when it is far from everything."""
        if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
            return None
        phi, lam = math.radians(lat), math.radians(lon)
        q = (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))

        index, d2 = self._near.near(q)
        best = int(d2.argmin()) if len(d2) else -1
        if best < 0 or d2[best] > _CITY_CHORD**2:
            index, d2 = self._far_grid().near(q)
            best = int(d2.argmin()) if len(d2) else -1
            if best < 0 or d2[best] > _REGION_CHORD**2:
                return self._antarctic(lat)
        nearest = int(index[best])
        distance = self._km(float(d2[best]))
        city = self._data.city_name(nearest) if distance <= CITY_KM else None
        metro, central = self._metro_of(q)
        if metro == city:
            metro, central = None, False
        return self._place(nearest, city, metro, distance, central)

    def _metro_of(self, q: tuple[float, float, float]) -> tuple[str | None, bool]:
        """The most populous big city whose reach covers ``q``, and whether ``q`` is central.

        A handful of candidates: plain Python beats NumPy's per-call cost here.
        """
        big, big_d2 = self._metro.near(q)
        best, best_pop, best_d2 = -1, -1, 0.0
        for m, d2 in zip(big.tolist(), big_d2.tolist(), strict=True):
            if d2 <= self._metro_reach2[m] and self._city_pop[m] > best_pop:
                best, best_pop, best_d2 = m, self._city_pop[m], d2
        if best < 0:
            return None, False
        central = self._km(best_d2) <= metro_radius_km(best_pop) / 4
        return self._data.city_name(best), central

    def _far_grid(self) -> _Grid:
        """Built on first need: most photos have a place within 20 km."""
        with self._far_lock:
            if self._far is None:
                self._far = _Grid(self._xyz, _REGION_CHORD)
            return self._far

    def lookup_many(self, coordinates: Iterable[tuple[float, float]]) -> list[Place | None]:
        return [self.lookup(lat, lon) for lat, lon in coordinates]

    def _place(
        self, index: int, city: str | None, metro: str | None, km: float, central: bool
    ) -> Place:
        d = self._data
        region = int(self._city_region[index])
        country = int(self._region_country[region])
        return Place(
            city=city,
            region=d.region_names[region] or None,
            country=d.country_names[country],
            country_code=d.iso2[country],
            country_code3=d.iso3[country],
            continent=d.continent[country] or None,
            metro=metro,
            distance_km=round(km, 3),
            central=central,
        )

    @staticmethod
    def _antarctic(lat: float) -> Place | None:
        if lat > ANTARCTIC_LATITUDE:
            return None
        return Place(None, None, None, None, None, CONTINENTS["AN"])

    @staticmethod
    def _km(chord2: float) -> float:
        return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(chord2) / 2.0))


_lock = threading.Lock()
_data_singleton: list[PlaceData] = []
_geocoder_singleton: list[Geocoder] = []


def _once(slot: list[T], make: Callable[[], T]) -> T:
    """The one value kept in ``slot``, made under the lock on first call."""
    with _lock:
        if not slot:
            slot.append(make())
        return slot[0]


def shared_data() -> PlaceData:
    """The bundled data, read once (thread-safe); the geocoder and the gazetteer share it."""
    return _once(_data_singleton, PlaceData)


def geocoder() -> Geocoder:
    """The shared :class:`Geocoder`, built on first call (thread-safe)."""
    data = shared_data()
    return _once(_geocoder_singleton, lambda: Geocoder(data))


def reverse_geocode(lat: float, lon: float) -> Place | None:
    """:meth:`Geocoder.lookup` on the shared geocoder."""
    return geocoder().lookup(lat, lon)


__all__ = [
    "ANTARCTIC_LATITUDE",
    "CITY_KM",
    "CONTINENTS",
    "METRO_POPULATION",
    "REGION_KM",
    "Geocoder",
    "Place",
    "PlaceData",
    "country_key",
    "explain",
    "geocoder",
    "metro_radius_km",
    "place_key",
    "reverse_geocode",
    "shared_data",
]
