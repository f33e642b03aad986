"""A large synthetic embedded index, built fast and cached: capture facts and read text.

    .venv/bin/python bench/bigindex.py --rows 1000000 [--folder DIR]

One transaction of ``executemany`` over NumPy-made rows in today's schema (what
``EmbeddedStore.write`` would store, without its per-row Python): sparse classes, a
64-d embedding, a capture day in 2010–2024 with one of 20 cities' place keys and one
of 6 cameras (``capture.CITIES``, ``capture.CAMERAS``), and for ``text_fraction`` of
the rows 2–8 words of read text drawn from the Zipf law of ``ocr_search``'s own builder. The
search cache is built at the end. Kept under ``$PICFIND_BENCH_CACHE`` (default
bench/.cache, ignored by git; on a shared machine point it outside the repo):
``bench/capture.py --big`` and ``bench/ocr_search.py
search --big`` reuse it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CACHE = Path(os.environ.get("PICFIND_BENCH_CACHE", HERE / ".cache"))
"""Where the big index is built once (``PICFIND_BENCH_CACHE``: outside the repo on a shared box)."""
DIM = 64


def folder_for(rows: int, text_fraction: float) -> Path:
    return CACHE / f"big-{rows}-{text_fraction:g}"


def build(folder: Path, rows: int, text_fraction: float = 0.2, seed: int = 0) -> Path:
    """The index in ``folder`` (reused when complete)."""
    from capture import CAMERAS
    from capture import CITIES as CITY_ROWS
    from ocr_search import VOCAB, _word

    from picfind import textnorm
    from picfind.store.embedded import EmbeddedStore

    if (folder / "done").exists():
        return folder
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    store = EmbeddedStore(folder, create=True)
    store.set_model("efficientnet-lite0")
    conn = store.db.conn
    rng = np.random.default_rng(seed)
    base = np.datetime64("2010-01-01")
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for start in range(0, rows, 20_000):
        m = min(20_000, rows - start)
        ids = np.argpartition(rng.random((m, 1000), dtype=np.float32), 8, axis=1)[:, :8]
        ids = ids.astype(np.uint16)
        probs = -np.sort(-rng.dirichlet(np.full(8, 0.3), m).astype(np.float32), axis=1)
        emb = rng.standard_normal((m, DIM)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        emb16 = emb.astype(np.float16)
        days = base + rng.integers(0, 15 * 365, m)
        day_text = np.datetime_as_string(days, unit="D")
        cities = rng.integers(0, len(CITY_ROWS), m)
        cams = rng.integers(0, len(CAMERAS), m)
        images = []
        keys = []
        for i in range(m):
            n = start + i
            rowid = n + 1
            day = str(day_text[i])
            number = int(day.replace("-", ""))
            name, lat, lon = CITY_ROWS[int(cities[i])]
            images.append(
                (rowid, f"{n:016x}", f"/synthetic/{n // 1000:05d}/{n:09d}.jpg", f"h{n}",
                 ids[i].tobytes(), probs[i].tobytes(), emb16[i].tobytes(),
                 f"{day}T12:00:00", number, number % 10000, lat, lon, name, CAMERAS[cams[i]])
            )  # fmt: skip
            keys += [
                (rowid, "place", name),
                (rowid, "place", f"country{int(cities[i])}"),
                (rowid, "camera", CAMERAS[int(cams[i])]),
            ]
        conn.executemany(
            "INSERT INTO images (rowid, id, path, content_hash, size, mtime_ns, width, height, "
            "format, model, class_ids, class_probs, embedding, indexed_at, taken, taken_day, "
            "taken_md, lat, lon, city, camera, meta_version) VALUES (?, ?, ?, ?, 1, 1, 640, "
            "480, 'JPEG', 'efficientnet-lite0', ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, 1)",
            images,
        )
        conn.executemany("INSERT INTO image_keys (image_rowid, kind, key) VALUES (?, ?, ?)", keys)
        has_text = np.flatnonzero(rng.random(m) < text_fraction)
        lengths = rng.integers(2, 9, has_text.size)
        ranks = np.minimum(rng.zipf(1.3, int(lengths.sum())) - 1, VOCAB - 1)
        texts, fts = [], []
        at = 0
        for i, k in zip(has_text.tolist(), lengths.tolist(), strict=True):
            rowid = start + i + 1
            text = " ".join(_word(int(r)) for r in ranks[at : at + k])
            at += k
            terms = textnorm.terms(text)
            texts.append((rowid, f"h{start + i}", text))
            fts.append((rowid, terms.words, terms.parts))
        conn.executemany(
            "INSERT INTO texts (image_rowid, content_hash, version, text, record, failure) "
            "VALUES (?, ?, 'synthetic', ?, NULL, NULL)",
            texts,
        )
        conn.executemany("INSERT INTO text_fts (rowid, words, parts) VALUES (?, ?, ?)", fts)
        if start % 200_000 == 0:
            print(f"{start + m} rows, {time.perf_counter() - started:.0f} s", flush=True)
    conn.execute("COMMIT")
    print(f"rows written in {time.perf_counter() - started:.0f} s", flush=True)
    store.refresh()  # builds the search cache
    store.close()
    (folder / "done").write_text(f"{time.perf_counter() - started:.1f}\n")
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--text-fraction", type=float, default=0.2)
    ap.add_argument("--folder", type=Path)
    args = ap.parse_args()
    folder = args.folder or folder_for(args.rows, args.text_fraction)
    build(folder, args.rows, args.text_fraction)
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
