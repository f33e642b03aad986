"""Synthetic indexes whose features look like real ones, for the latency benchmark.

Each synthetic image starts from a real photo's features (the shared photo
sets, run through the model once and cached by ``quality.features``): its
embedding is that photo's plus Gaussian noise of the size that separates
neighbouring real photos, renormalised; its class probabilities are the
photo's, perturbed in log space. So the class distributions stay as flat or
peaked as real ones and the embeddings keep real clusters.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from picfind.records import Features, ImageRecord
from picfind.scoring import MIN_STORED_PROB, STORED_CLASSES, SparseClasses
from picfind.store.embedded import DB_NAME, EmbeddedStore

try:
    from quality import features
except ImportError:  # run as bench.synthetic
    from bench.quality import features  # type: ignore[no-redef]

SETS = ("catsdogs", "pets", "imagenet-samples")
MODEL = "efficientnet-lite0"


def real_features() -> tuple[np.ndarray, np.ndarray]:
    probs, emb = [], []
    for name in SETS:
        _, p, e = features(name)
        probs.append(p)
        emb.append(e)
    return np.concatenate(probs), np.concatenate(emb)


def generate(n: int, seed: int, chunk: int = 8192):
    """Yield (top class ids, top probs, embeddings) in chunks, n rows in all."""
    probs, emb = real_features()
    rng = np.random.default_rng(seed)
    log_p = np.log(np.maximum(probs, 1e-9)).astype(np.float32)
    dim = emb.shape[1]
    # Noise such that a synthetic image sits about as far from its source as
    # real near neighbours sit from each other (cosine ≈ 0.8–0.9).
    sigma = 0.45 / np.sqrt(dim)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        src = rng.integers(0, probs.shape[0], m)
        e = emb[src] + rng.standard_normal((m, dim), dtype=np.float32) * sigma
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        logits = log_p[src] + rng.standard_normal((m, probs.shape[1]), dtype=np.float32) * 0.5
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        top = np.argpartition(-p, STORED_CLASSES - 1, axis=1)[:, :STORED_CLASSES]
        top_p = np.take_along_axis(p, top, axis=1)
        order = np.argsort(-top_p, axis=1)
        yield (
            np.take_along_axis(top, order, axis=1).astype(np.uint16),
            np.take_along_axis(top_p, order, axis=1).astype(np.float32),
            e.astype(np.float32),
        )


def records(n: int, seed: int = 0) -> Iterator[ImageRecord]:
    """n synthetic images as store records, with stable ids and paths (the slow,
    store-API path; ``build`` writes the same rows in bulk)."""
    row = 0
    for ids, probs, emb in generate(n, seed):
        yield from chunk_records(row, ids, probs, emb)
        row += ids.shape[0]


def chunk_records(
    start: int, ids: np.ndarray, probs: np.ndarray, emb: np.ndarray
) -> Iterator[ImageRecord]:
    """The records of rows ``start``… of one ``generate`` chunk (or a slice of one): a
    bulk loader can turn chunks into records in other processes, in the same order."""
    for i in range(ids.shape[0]):
        row = start + i
        keep = probs[i] >= MIN_STORED_PROB
        keep[0] = True
        yield ImageRecord(
            f"s{row:09d}",
            f"/synthetic/{row // 1000:05d}/{row:09d}.jpg",
            f"h{row}",
            1,
            1,
            224,
            224,
            "JPEG",
            Features(SparseClasses(ids[i][keep], probs[i][keep]), emb[i]),
        )


_INSERT = (
    "INSERT INTO images (id, path, content_hash, size, mtime_ns, width, height, format, "
    "model, class_ids, class_probs, embedding, indexed_at) "
    "VALUES (?, ?, ?, 1, 1, 224, 224, 'JPEG', ?, ?, ?, ?, ?)"
)


def _rows(
    start: int, ids: np.ndarray, probs: np.ndarray, emb: np.ndarray, model: str, now: float
) -> Iterator[tuple[object, ...]]:
    """One chunk as INSERT parameters: the bytes ``store.write`` would store for
    ``records`` (classes below ``MIN_STORED_PROB`` dropped, the best one always kept),
    cut from one contiguous buffer per column instead of a record per row."""
    keep = probs >= MIN_STORED_PROB  # probabilities are sorted: a prefix of each row
    keep[:, 0] = True
    lengths = keep.sum(axis=1)
    id_bytes = np.ascontiguousarray(ids, dtype=np.uint16).tobytes()
    prob_bytes = np.ascontiguousarray(probs, dtype=np.float32).tobytes()
    emb_bytes = np.ascontiguousarray(emb, dtype=np.float16).tobytes()
    width, dim2 = ids.shape[1], emb.shape[1] * 2
    for i, length in enumerate(lengths.tolist()):
        row = start + i
        at = i * width
        yield (
            f"s{row:09d}",
            f"/synthetic/{row // 1000:05d}/{row:09d}.jpg",
            f"h{row}",
            model,
            id_bytes[2 * at : 2 * (at + length)],
            prob_bytes[4 * at : 4 * (at + length)],
            emb_bytes[i * dim2 : (i + 1) * dim2],
            now,
        )


def build(folder: Path, n: int, seed: int = 0) -> float:
    """Write an embedded index of n synthetic images; returns seconds taken.

    The store makes the database (schema, index id, model); the rows then go in with
    one ``executemany`` per chunk inside a single transaction, unjournalled (a half-built
    benchmark index is simply built again): about 100× faster than ``store.write`` per
    record, and the same rows (``python bench/synthetic.py --check N`` compares the two).
    """
    started = time.perf_counter()
    store = EmbeddedStore(folder, create=True)
    store.set_model(MODEL)
    store.close()
    conn = sqlite3.connect(folder / DB_NAME, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")  # 256 MiB: the unique indexes stay hot
        now = time.time()
        conn.execute("BEGIN")
        row = 0
        for ids, probs, emb in generate(n, seed):
            conn.executemany(_INSERT, _rows(row, ids, probs, emb, MODEL, now))
            row += ids.shape[0]
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")  # as the store keeps it
    finally:
        conn.close()
    return time.perf_counter() - started


def cached(cache: Path, n: int, seed: int = 0) -> tuple[Path, float | None]:
    """The synthetic index of n images under ``cache`` (built when missing or half-built;
    seconds taken, else None). A finished build leaves ``BUILT`` beside the database."""
    folder = cache / f"synthetic-{n}-s{seed}"
    if (folder / "BUILT").exists():
        return folder, None
    shutil.rmtree(folder, ignore_errors=True)
    seconds = build(folder, n, seed)
    (folder / "BUILT").write_text(f"{n} rows, seed {seed}, {seconds:.1f} s\n")
    return folder, seconds


def _slow_build(folder: Path, n: int, seed: int = 0) -> float:
    """The same index through ``store.write`` (what ``build`` did before): the reference."""
    started = time.perf_counter()
    store = EmbeddedStore(folder, create=True)
    store.set_model(MODEL)
    batch: list[ImageRecord] = []
    for record in records(n, seed):
        batch.append(record)
        if len(batch) == 8192:
            store.write(add=batch)
            batch = []
    store.write(add=batch)
    store.close()
    return time.perf_counter() - started


def check(n: int) -> int:
    """Build n rows both ways and compare every stored column but the write time."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        fast_s = build(Path(tmp) / "fast", n)
        slow_s = _slow_build(Path(tmp) / "slow", n)
        tables = []
        for name in ("fast", "slow"):
            conn = sqlite3.connect(Path(tmp) / name / DB_NAME)
            columns = [r[1] for r in conn.execute("PRAGMA table_info(images)")]
            kept = ", ".join(c for c in columns if c != "indexed_at")
            tables.append(
                (
                    conn.execute(f"SELECT rowid, {kept} FROM images ORDER BY rowid").fetchall(),
                    conn.execute("SELECT count(*) FROM image_keys").fetchone(),
                    conn.execute("SELECT key, value FROM meta WHERE key = 'model'").fetchall(),
                )
            )
            conn.close()
    same = tables[0] == tables[1]
    print(f"{n} rows: bulk {fast_s:.2f} s, store.write {slow_s:.2f} s, identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", type=int, metavar="N", required=True)
    sys.exit(check(parser.parse_args().check))
