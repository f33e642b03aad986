"""Embedding (and hybrid) recall@10 of the embedded store against brute force, on real photos.

Above ``vectors.EXACT_LIMIT`` (8,192 rows) the store takes its candidates from a
128-d PCA projection and re-scores them exactly; this measures how often the
true top 10 (brute force over the same stored float16 vectors) survives that:

* ``augmented``: 8,202 real photos (bench/augment.py: the shared catsdogs,
  imagenette and imagenet-samples photos, as they are, mirrored, and cropped
  with a colour shift) — the store's own path at its own threshold, with the
  default 1,000 candidates and with fewer, to show the margin;
* each shared set at its own size (below the threshold: exact, so 1.00 by
  construction — measured anyway), and with the projection forced on it
  (``EXACT_LIMIT`` 0) and candidates scaled to the same share of the rows as
  1,000 of 8,202.

    .venv/bin/python bench/recall.py [--queries 200]   →  bench/results/recall.json

Queries are indexed images (their stored features), evenly spread; each leaves
itself out, as ``picfind search --image ID`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import augment  # noqa: E402

import picfind  # noqa: E402
from picfind.scoring import HYBRID_WEIGHT, query_weights  # noqa: E402
from picfind.search import image_query  # noqa: E402
from picfind.store import vectors  # noqa: E402
from picfind.store.base import Filter, Table  # noqa: E402

SHARED = Path(os.environ.get("PICFIND_SHARED", HERE.parents[1] / "shared"))
SETS = ("catsdogs", "imagenette", "imagenet-samples", "pets")


def recall(index: Path, n_queries: int) -> dict[str, object]:
    """recall@10 of embedding and hybrid search against brute force, over the index."""
    with picfind.open_index(index) as idx:
        store = idx.store
        table = Table.of(store.rows(features=True))
        n = len(table)
        main = vectors.load_main(index / "cache")
        asked = np.linspace(0, n - 1, min(n_queries, n)).round().astype(int)
        classes = table.classes.astype(np.float64)
        row = {i: r for r, i in enumerate(table.ids)}
        out: dict[str, object] = {
            "rows": n,
            "queries": int(asked.size),
            "projected": bool(main is not None and main.approximate and main.n == n),
            "candidates": vectors.RERANK,
        }
        for mode in ("embedding", "hybrid"):
            found = []
            searching = 0.0
            for q in asked:
                features = table.features[q]
                exact = table.embeddings @ table.embeddings[q]
                if mode == "hybrid":
                    exact = exact + HYBRID_WEIGHT * (classes @ query_weights(features.classes))
                exact[q] = -np.inf
                truth = set(np.argsort(-exact, kind="stable")[:10].tolist())
                query = image_query(features, mode)
                started = time.perf_counter()
                _, hits = store.search(query, 10, where=Filter(exclude=(table.ids[q],)))
                searching += time.perf_counter() - started
                found.append(len(truth & {row[h.id] for h in hits}) / 10)
            out[mode] = {
                "recall_at_10": round(float(np.mean(found)), 4),
                "min": round(float(np.min(found)), 2),
                "queries_below_1": int(sum(f < 1 for f in found)),
                "search_ms_per_query": round(1000 * searching / asked.size, 2),
            }
    return out


def rebuild(index: Path, exact_limit: int, min_main: int, rerank: int) -> None:
    """Rebuild the cache with these thresholds (this process only)."""
    vectors.EXACT_LIMIT, vectors.MIN_MAIN, vectors.RERANK = exact_limit, min_main, rerank
    shutil.rmtree(index / "cache", ignore_errors=True)
    with picfind.open_index(index) as idx:
        idx.store.refresh()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    if not (SHARED / "data").is_dir():
        print(f"recall: shared data not found at {SHARED}", file=sys.stderr)
        return 2
    defaults = (vectors.EXACT_LIMIT, vectors.MIN_MAIN, vectors.RERANK)
    out: dict[str, object] = {"exact_limit": defaults[0], "pca_dim": vectors.PCA_DIM}
    with tempfile.TemporaryDirectory(prefix="picfind-recall-") as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "augmented"
        rows = augment.write_set(SHARED, folder)
        with picfind.open_index(tmp / "augmented-index", create=True) as idx:
            idx.add([folder], batch_size=64)
        augmented: dict[str, object] = {"default": recall(tmp / "augmented-index", args.queries)}
        for rerank in (500, 250, 100):
            rebuild(tmp / "augmented-index", defaults[0], defaults[1], rerank)
            augmented[f"candidates_{rerank}"] = recall(tmp / "augmented-index", args.queries)
        rebuild(tmp / "augmented-index", *defaults)
        out["augmented"] = {"photos": rows, **augmented}
        shared: dict[str, object] = {}
        for name in SETS:
            index = tmp / f"{name}-index"
            with picfind.open_index(index, create=True) as idx:
                idx.add([SHARED / "data" / name])
            at_size = recall(index, args.queries)
            share = max(10, round(defaults[2] * at_size["rows"] / rows))  # type: ignore[operator]
            rebuild(index, 0, 0, share)
            forced = recall(index, args.queries)
            rebuild(index, *defaults)
            shared[name] = {"at_its_size": at_size, "projection_forced": forced}
        out["shared"] = shared
    results = HERE / "results" / "recall.json"
    results.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
