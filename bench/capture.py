"""Capture metadata in the index (issue 11): migration, backfill, filter latency.

    .venv/bin/python bench/capture.py [--rows 100000] [--files 1000] [--queries 30]
    .venv/bin/python bench/capture.py --big 1000000 [--queries 100]

writes ``bench/results/capture.json``:

* ``migration``: a synthetic schema-1 index of ``--rows`` rows (made with the schema-1
  DDL of ``store/schema.py``) opened by today's picfind: seconds to migrate to schema 2;
* ``backfill``: ``--files`` real JPEGs with a phone's EXIF (date, offset, GPS near one of
  20 cities, make/model) whose rows lack metadata, filled by ``picfind index`` (header
  reads, reverse geocoding, no model): files per second, once the process has loaded
  what it needs (``backfill_cold``: the first 100 files of a fresh process, imports and
  the geocoder's data included);
* ``latency``: on the migrated index with synthetic capture fields (a day in 2010–2024,
  one of 20 cities' keys, one of 6 cameras), p50/p95/p99 ms of wall and CPU time per
  query (the cases alternating round by round) of a concept words query alone and
  combined with a place, camera or year filter, a place word, a date word and both.

``--big N`` measures only the latency, on the N-row index of ``bench/bigindex.py`` (built
once, cached under ``$PICFIND_BENCH_CACHE``, default bench/.cache), in a fresh process: the cases in
alternating rounds, p50/p99 of wall and CPU time per query, and the first search
(loading the cache and the capture facts), and each filtered case again with every row
scored ("(whole segment)", no candidate subset) in the same rounds; written under
``latency_<N>`` beside the other keys.

Figures taken on the shared 2-core machine are provisional (the lead re-runs them).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import picfind
from picfind import exif
from picfind.matchers import Clause, ConceptMatch, DateMatch, PlaceMatch, WordsQuery
from picfind.store import embedded
from picfind.store.base import Filter
from picfind.store.embedded import EmbeddedStore
from picfind.store.schema import _MIGRATIONS
from picfind.vocabulary import Vocabulary

HERE = Path(__file__).resolve().parent
CITIES = [
    ("paris", 48.8566, 2.3522), ("london", 51.5072, -0.1276), ("new york city", 40.7128, -74.006),
    ("tokyo", 35.6762, 139.6503), ("sydney", -33.8688, 151.2093), ("sao paulo", -23.55, -46.63),
    ("nairobi", -1.2921, 36.8219), ("madrid", 40.4168, -3.7038), ("rome", 41.9028, 12.4964),
    ("berlin", 52.52, 13.405), ("cairo", 30.0444, 31.2357), ("mumbai", 19.076, 72.8777),
    ("mexico city", 19.4326, -99.1332), ("toronto", 43.6532, -79.3832),
    ("buenos aires", -34.6037, -58.3816), ("cape town", -33.9249, 18.4241),
    ("seoul", 37.5665, 126.978), ("lima", -12.0464, -77.0428), ("oslo", 59.9139, 10.7522),
    ("bangkok", 13.7563, 100.5018),
]  # fmt: skip
CAMERAS = ["apple", "iphone", "canon", "nikon", "sony", "samsung"]
DIM = 64


def synthetic_v1(folder: Path, rows: int, seed: int = 0) -> None:
    """A schema-1 index of ``rows`` rows with plausible sparse classes (no metadata)."""
    folder.mkdir(parents=True)
    conn = sqlite3.connect(folder / "picfind.db", isolation_level=None)
    conn.executescript("BEGIN;" + _MIGRATIONS[1] + "PRAGMA user_version = 1; COMMIT;")
    conn.execute("INSERT INTO meta VALUES ('model', 'efficientnet-lite0')")
    rng = np.random.default_rng(seed)
    conn.execute("BEGIN")
    for start in range(0, rows, 10_000):
        m = min(10_000, rows - start)
        ids = np.stack([rng.choice(1000, 8, replace=False) for _ in range(m)]).astype(np.uint16)
        probs = rng.dirichlet(np.full(8, 0.3), m).astype(np.float32)
        probs = -np.sort(-probs, axis=1)
        emb = rng.standard_normal((m, DIM)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        conn.executemany(
            "INSERT INTO images (id, path, content_hash, size, mtime_ns, width, height, format, "
            "model, class_ids, class_probs, embedding, indexed_at) "
            "VALUES (?, ?, ?, 1, 1, 1, 1, 'JPEG', 'efficientnet-lite0', ?, ?, ?, 0)",
            [
                (f"{start + i:016x}", f"/synthetic/{start + i:08d}.jpg", f"h{start + i}",
                 ids[i].tobytes(), probs[i].tobytes(), emb[i].astype(np.float16).tobytes())
                for i in range(m)
            ],
        )  # fmt: skip
    conn.execute("COMMIT")
    conn.close()


def fill_capture(folder: Path, seed: int = 1) -> None:
    """Synthetic capture fields, written as the metadata stage would store them."""
    conn = sqlite3.connect(folder / "picfind.db", isolation_level=None)
    rng = np.random.default_rng(seed)
    rowids = [r[0] for r in conn.execute("SELECT rowid FROM images ORDER BY rowid")]
    days = rng.integers(0, 15 * 365, len(rowids))
    cities = rng.integers(0, len(CITIES), len(rowids))
    cams = rng.integers(0, len(CAMERAS), len(rowids))
    base = np.datetime64("2010-01-01")
    conn.execute("BEGIN")
    updates, keys = [], []
    for rowid, d, c, k in zip(rowids, days, cities, cams, strict=True):
        day = str(base + int(d))
        number = int(day.replace("-", ""))
        name, lat, lon = CITIES[c]
        updates.append((f"{day}T12:00:00", number, number % 10000, lat, lon, 1, rowid))
        keys += [
            (rowid, "place", name),
            (rowid, "place", f"country{c}"),
            (rowid, "camera", CAMERAS[k]),
        ]
    conn.executemany(
        "UPDATE images SET taken = ?, taken_day = ?, taken_md = ?, lat = ?, lon = ?, "
        "meta_version = ? WHERE rowid = ?",
        updates,
    )
    conn.executemany("INSERT INTO image_keys (image_rowid, kind, key) VALUES (?, ?, ?)", keys)
    conn.execute("COMMIT")
    conn.close()


def phone_jpeg(i: int) -> bytes:
    _, lat, lon = CITIES[i % len(CITIES)]
    ex = Image.Exif()
    ex[exif.MAKE], ex[exif.MODEL] = "Apple", "iPhone 12"
    sub = ex.get_ifd(exif.EXIF_IFD)
    sub[exif.DATETIME_ORIGINAL] = f"20{10 + i % 15}:0{1 + i % 9}:1{i % 10} 12:00:00"
    sub[exif.OFFSET_TIME_ORIGINAL] = "+01:00"
    gps = ex.get_ifd(exif.GPS_IFD)
    jitter = (i % 97) / 1000
    for ref_tag, tag, value, refs in (
        (exif.GPS_LATITUDE_REF, exif.GPS_LATITUDE, lat + jitter, "NS"),
        (exif.GPS_LONGITUDE_REF, exif.GPS_LONGITUDE, lon + jitter, "EW"),
    ):
        v = abs(value)
        d, m = int(v), int((v - int(v)) * 60)
        gps[ref_tag] = refs[0] if value >= 0 else refs[1]
        gps[tag] = (float(d), float(m), round(((v - d) * 60 - m) * 60, 3))
    buf = io.BytesIO()
    Image.new("RGB", (96, 64), (i % 256, 80, 160)).save(buf, "JPEG", exif=ex.tobytes())
    return buf.getvalue()


def backfill(folder: Path, files: int) -> dict[str, float]:
    photos = folder / "photos"
    photos.mkdir()
    paths = []
    for i in range(files):
        p = photos / f"{i:05d}.jpg"
        p.write_bytes(phone_jpeg(i))
        paths.append(p)
    index = folder / "index"
    store = EmbeddedStore(index, create=True)
    store.set_model("efficientnet-lite0")
    conn = store.db.conn
    blob = np.zeros(1280, dtype=np.float16)
    blob[0] = 1
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO images (id, path, content_hash, size, mtime_ns, width, height, format, "
        "model, class_ids, class_probs, embedding, indexed_at) "
        "VALUES (?, ?, ?, ?, ?, 96, 64, 'JPEG', 'efficientnet-lite0', ?, ?, ?, 0)",
        [
            (f"{i:016x}", str(p), f"h{i}", p.stat().st_size, p.stat().st_mtime_ns,
             np.array([1], np.uint16).tobytes(), np.array([1.0], np.float32).tobytes(),
             blob.tobytes())
            for i, p in enumerate(paths)
        ],
    )  # fmt: skip
    conn.execute("COMMIT")
    store.close()
    cpu = time.process_time()
    with picfind.open_index(index) as idx:
        report = idx.add([photos])
    cpu = time.process_time() - cpu
    assert report.backfilled == files and report.indexed == 0, report.to_json()
    return {
        "files": files,
        "seconds": round(report.seconds, 3),
        "files_per_second": round(files / report.seconds, 1),
        "cpu_seconds": round(cpu, 3),
        "files_per_cpu_second": round(files / cpu, 1),
    }


def _cases() -> dict[str, tuple[WordsQuery, Filter]]:
    vocab = Vocabulary.load()
    dog = Clause((ConceptMatch(tuple(vocab.concepts["n02084071"].classes)),))
    year = DateMatch(days=((20190101, 20200101),))
    return {
        "dog": (WordsQuery((dog,)), Filter()),
        "dog --place paris": (WordsQuery((dog,)), Filter(places=("paris",))),
        "dog --camera canon": (WordsQuery((dog,)), Filter(cameras=("canon",))),
        "dog --after 2019 --before 2020": (
            WordsQuery((dog,)),
            Filter(after_day=20190101, before_day=20200101),
        ),
        "dog paris (word)": (WordsQuery((dog, Clause((PlaceMatch(("paris",)),)))), Filter()),
        "dog 2019 (word)": (WordsQuery((dog, Clause((year,)))), Filter()),
        "dog paris 2019 (words)": (
            WordsQuery((dog, Clause((PlaceMatch(("paris",)),)), Clause((year,)))),
            Filter(),
        ),
    }


def latency(folder: Path, n_queries: int, whole_segment: bool = False) -> dict[str, object]:
    """p50/p99 wall and CPU ms per case, the cases alternating round by round."""
    cases = _cases()
    store = EmbeddedStore(folder)
    wall, cpu = time.perf_counter(), time.process_time()
    store.search(*cases["dog --place paris"][:1], 10, 0, cases["dog --place paris"][1])
    first = {
        "wall_ms": round((time.perf_counter() - wall) * 1000, 1),
        "cpu_ms": round((time.process_time() - cpu) * 1000, 1),
    }
    # "(whole segment)": the same case with every row scored (no candidate subset,
    # embedded.SUBSET_FRACTION = 0), alternating with it: the subset's gain in one run
    variants = [(name, 0.0) for name in cases if name != "dog"] if whole_segment else []
    runs = [(name, embedded.SUBSET_FRACTION) for name in cases] + variants
    times: dict[str, list[tuple[float, float]]] = {}
    totals: dict[str, int] = {}
    default = embedded.SUBSET_FRACTION
    try:
        for _ in range(n_queries):
            for name, fraction in runs:
                query, where = cases[name]
                key = name if fraction == default else f"{name} (whole segment)"
                embedded.SUBSET_FRACTION = fraction
                wall, cpu = time.perf_counter(), time.process_time()
                total, _ = store.search(query, 10, 0, where)
                times.setdefault(key, []).append(
                    ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
                )
                totals[key] = total
    finally:
        embedded.SUBSET_FRACTION = default
        store.close()
    out: dict[str, object] = {"first_search": first}
    for name, pairs in times.items():
        w = np.array([p[0] for p in pairs])
        c = np.array([p[1] for p in pairs])
        out[name] = {
            "p50_ms": round(float(np.percentile(w, 50)), 2),
            "p95_ms": round(float(np.percentile(w, 95)), 2),
            "p99_ms": round(float(np.percentile(w, 99)), 2),
            "cpu_p50_ms": round(float(np.percentile(c, 50)), 2),
            "cpu_p99_ms": round(float(np.percentile(c, 99)), 2),
            "matches": totals[name],
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--big", type=int, help="only the latency, on bench/bigindex.py's index")
    args = ap.parse_args()
    if args.big:
        return run_big(args.big, args.queries)
    result: dict[str, object] = {"rows": args.rows, "provisional": True}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "v1"
        synthetic_v1(folder, args.rows)
        t = time.perf_counter()
        EmbeddedStore(folder).close()  # migrates
        result["migration"] = {"rows": args.rows, "seconds": round(time.perf_counter() - t, 3)}
        fill_capture(folder)
        result["latency"] = latency(folder, args.queries)
    with tempfile.TemporaryDirectory() as tmp:  # a fresh process: imports, geocoder load
        result["backfill_cold"] = backfill(Path(tmp), min(args.files, 100))
    with tempfile.TemporaryDirectory() as tmp:  # then the steady rate
        result["backfill"] = backfill(Path(tmp), args.files)
    result["load_average"] = os.getloadavg()[0]
    out = HERE / "results" / "capture.json"
    kept = json.loads(out.read_text()) if out.exists() else {}
    big = {k: v for k, v in kept.items() if k.startswith("latency_") and k not in result}
    out.write_text(json.dumps({**result, **big}, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def run_big(rows: int, n_queries: int) -> int:
    import bigindex

    folder = bigindex.build(bigindex.folder_for(rows, 0.2), rows)
    load = os.getloadavg()
    found = latency(folder, n_queries, whole_segment=True)
    out = HERE / "results" / "capture.json"
    result = json.loads(out.read_text()) if out.exists() else {}
    result[f"latency_{rows}"] = {
        "rows": rows,
        "queries_per_case": n_queries,
        "command": f"bench/capture.py --big {rows} --queries {n_queries}",
        "load_average_before": list(load),
        "load_average_after": list(os.getloadavg()),
        **found,
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result[f"latency_{rows}"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
