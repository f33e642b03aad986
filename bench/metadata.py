"""What the when/where/camera signal costs: metadata per photo, the geocoder, the gazetteer.

One run, rounds alternated so that every figure is taken under the same load:

1. on ../shared/data/catsdogs (1000 JPEGs, almost no EXIF) and on the same
   photos with a phone's EXIF block spliced in (DateTimeOriginal, offset,
   GPS near a different random town for each photo, make/model/lens and a
   16 KB maker note; pixels untouched): CPU time per
   photo of ``load_for_model`` (decode for the model) alone, of decode +
   ``read_capture`` (+ reverse geocoding of the GPS), and of ``read_capture``
   alone; compared with the end-to-end indexing CPU time per photo of the same
   folder (``Index.add``, model and every thread included), which is what the
   ≤ 5% target is of;
2. the geocoder's and the gazetteer's load time, each in a fresh process;
3. reverse geocoding lookups per second (near towns, and anywhere on Earth),
   and gazetteer lookups per second.

    .venv/bin/python bench/metadata.py [--rounds 3] [--no-index]
    # writes bench/results/metadata.json

Times are CPU seconds of this process (``time.process_time``): on a shared
machine they move less than wall time; the lead re-runs this on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("PICFIND_SHARED", HERE.parents[1] / "shared"))
SIZE = 224


def dms(value: float) -> tuple[float, float, float]:
    v = abs(value)
    d, m = int(v), int((v - int(v)) * 60)
    return float(d), float(m), round(((v - d) * 60 - m) * 60, 2)


def phone_exif(lat: float = 48.8566, lon: float = 2.3522) -> bytes:
    """An APP1 EXIF payload like a phone's, with a 16 KB maker note to skip over."""
    ex = Image.Exif()
    ex[0x010F], ex[0x0110], ex[0x0132] = "Apple", "iPhone 12", "2021:08:01 10:11:12"
    sub = ex.get_ifd(0x8769)
    sub[0x9003], sub[0x9004] = "2021:08:01 10:11:12", "2021:08:01 10:11:12"
    sub[0x9011], sub[0x9291] = "+02:00", "123"
    sub[0xA433], sub[0xA434] = "Apple", "iPhone 12 back dual wide camera 4.2mm f/1.6"
    sub[0x927C] = bytes(range(256)) * 64  # MakerNote
    gps = ex.get_ifd(0x8825)
    gps[1], gps[2] = "N" if lat >= 0 else "S", dms(lat)
    gps[3], gps[4] = "E" if lon >= 0 else "W", dms(lon)
    gps[7], gps[29] = (8.0, 11.0, 12.0), "2021:08:01"
    return ex.tobytes()


def with_exif(jpeg: bytes, payload: bytes) -> bytes:
    """The same JPEG with an APP1 segment right after SOI (no re-encoding)."""
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def cpu_per_item(fn: Callable[[bytes], object], blobs: list[bytes]) -> float:
    start = time.process_time()
    for blob in blobs:
        fn(blob)
    return (time.process_time() - start) / len(blobs)


def indexing_per_photo(folder: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all threads) per photo of ``Index.add`` on ``folder``.

    The CPU figure is what the ≤ 5% target is compared with: on a quiet
    machine indexing keeps both cores busy, so wall and CPU ratios agree, and
    on a shared one the CPU time is not inflated by waiting.
    """
    import picfind

    with tempfile.TemporaryDirectory() as tmp:
        with picfind.open_index(Path(tmp) / "index", create=True, threads=2) as idx:
            cpu = time.process_time()
            report = idx.add([folder])
            cpu = time.process_time() - cpu
        n = max(1, report.indexed)
        return report.seconds / n, cpu / n


def fresh_process_seconds(statement: str) -> float:
    """CPU seconds ``statement`` takes in a fresh interpreter that imported the modules."""
    code = (
        "import time, picfind.places as p, picfind.placenames as n\n"
        f"t = time.process_time(); {statement}; print(time.process_time() - t)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return float(out.stdout.strip())


def reference_loop_seconds() -> float:
    """CPU seconds of a fixed pure-Python loop: how slow this machine is right now.

    About 0.02 s on an idle 2020s core; the ratio to that says how much a
    shared machine inflates the other figures (they are all CPU-bound Python).
    """
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        total = 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.process_time() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-index", action="store_true", help="skip the end-to-end runs")
    args = parser.parse_args()
    folder = SHARED / "data" / "catsdogs"
    if not folder.is_dir():
        print(f"bench: shared data not found at {SHARED}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(HERE.parent / "src"))
    from picfind import placenames, places
    from picfind.imaging import load_for_model
    from picfind.metadata import read_capture

    plain = [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]
    geo = places.geocoder()
    # Each photo somewhere else: near a random GeoNames place (dense and sparse
    # regions alike), so no lookup is a repeat of the previous one.
    rng = random.Random(1)
    towns = geo._data.arrays
    spots = [rng.randrange(len(towns["city_lat"])) for _ in plain]
    phone = [
        with_exif(
            b,
            phone_exif(
                float(towns["city_lat"][i]) + rng.uniform(-0.05, 0.05),
                float(towns["city_lon"][i]) + rng.uniform(-0.05, 0.05),
            ),
        )
        for b, i in zip(plain, spots, strict=True)
    ]
    assert read_capture(phone[0]).latitude is not None

    def stage(blob: bytes) -> None:
        info = read_capture(blob)
        if info.latitude is not None and info.longitude is not None:
            geo.lookup(info.latitude, info.longitude)

    def decode(blob: bytes) -> None:
        load_for_model(blob, SIZE)

    def decode_and_stage(blob: bytes) -> None:
        load_for_model(blob, SIZE)
        stage(blob)

    sets = {"catsdogs": plain, "catsdogs_with_phone_exif": phone}
    rounds: dict[str, dict[str, list[float]]] = {
        name: {"decode": [], "decode_and_metadata": [], "metadata_alone": []} for name in sets
    }
    indexing: list[tuple[float, float]] = []
    for _ in range(args.rounds):
        for name, blobs in sets.items():
            rounds[name]["decode"].append(cpu_per_item(decode, blobs))
            rounds[name]["decode_and_metadata"].append(cpu_per_item(decode_and_stage, blobs))
            rounds[name]["metadata_alone"].append(cpu_per_item(stage, blobs))
        if not args.no_index:
            indexing.append(indexing_per_photo(folder))

    result: dict[str, object] = {
        "provisional": True,
        "loadavg_1min": os.getloadavg()[0],
        "reference_loop_cpu_seconds": round(reference_loop_seconds(), 4),
    }
    index_s = statistics.median(cpu for _, cpu in indexing) if indexing else None
    result["indexing_cpu_seconds_per_photo"] = index_s
    result["indexing_wall_seconds_per_photo"] = (
        statistics.median(wall for wall, _ in indexing) if indexing else None
    )
    for name in sets:
        med = {k: statistics.median(v) for k, v in rounds[name].items()}
        entry: dict[str, object] = {f"{k}_us": round(v * 1e6, 2) for k, v in med.items()}
        entry["added_us"] = round((med["decode_and_metadata"] - med["decode"]) * 1e6, 2)
        entry["metadata_to_decode"] = round(med["metadata_alone"] / med["decode"], 4)
        if index_s:
            entry["metadata_to_indexing"] = round(med["metadata_alone"] / index_s, 4)
        entry["rounds"] = rounds[name]
        result[name] = entry

    rng = random.Random(0)
    arrays = geo._data.arrays
    lat, lon = arrays["city_lat"], arrays["city_lon"]
    near = [
        (float(lat[i]) + rng.uniform(-0.2, 0.2), float(lon[i]) + rng.uniform(-0.2, 0.2))
        for i in (rng.randrange(len(lat)) for _ in range(20_000))
    ]
    anywhere = [(rng.uniform(-90, 90), rng.uniform(-180, 180)) for _ in range(20_000)]
    gaz = placenames.gazetteer()
    words = ["paris", "new york", "dog", "usa", "sao paulo", "beach", "tokyo", "england"] * 2500
    for label, points in (("near_towns", near), ("anywhere", anywhere)):
        start = time.process_time()
        geo.lookup_many(points)
        result[f"lookups_per_second_{label}"] = round(len(points) / (time.process_time() - start))
    start = time.process_time()
    for w in words:
        gaz.lookup(w)
    result["gazetteer_lookups_per_second"] = round(len(words) / (time.process_time() - start))
    result["geocoder_load_seconds"] = round(fresh_process_seconds("p.geocoder()"), 3)
    result["gazetteer_load_seconds"] = round(fresh_process_seconds("n.gazetteer()"), 3)
    out = HERE / "results" / "metadata.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: v for k, v in result.items() if not isinstance(v, dict)}
    for name in sets:
        shown = result[name]
        assert isinstance(shown, dict)
        summary[name] = {k: v for k, v in shown.items() if k != "rounds"}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
