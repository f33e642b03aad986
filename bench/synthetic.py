"""Synthetic indexes whose features look like real ones, for the latency benchmark.

Each synthetic image starts from a real photo's features (the shared photo
sets, run through the model once and cached by ``quality.features``): its
embedding is that photo's plus Gaussian noise of the size that separates
neighbouring real photos, renormalised; its class probabilities are the
photo's, perturbed in log space. So the class distributions stay as flat or
peaked as real ones and the embeddings keep real clusters.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from picfind.records import Features, ImageRecord
from picfind.scoring import STORED_CLASSES, SparseClasses
from picfind.store.embedded import EmbeddedStore

try:
    from quality import features
except ImportError:  # run as bench.synthetic
    from bench.quality import features  # type: ignore[no-redef]

SETS = ("catsdogs", "pets", "imagenet-samples")


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
    """n synthetic images as store records, with stable ids and paths."""
    row = 0
    for ids, probs, emb in generate(n, seed):
        for i in range(ids.shape[0]):
            keep = probs[i] >= 1e-4
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
            row += 1


def build(folder: Path, n: int, seed: int = 0) -> float:
    """Write an embedded index of n synthetic images; returns seconds taken."""
    started = time.perf_counter()
    store = EmbeddedStore(folder, create=True)
    store.set_model("efficientnet-lite0")
    batch: list[ImageRecord] = []
    for record in records(n, seed):
        batch.append(record)
        if len(batch) == 8192:
            store.write(add=batch)
            batch = []
    store.write(add=batch)
    store.close()
    return time.perf_counter() - started
