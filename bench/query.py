"""Query latency and memory on synthetic indexes of 10k, 100k and 1M images.

For each size: build the index (once; cached under ``--cache``, by default
``$PICFIND_BENCH_CACHE`` or bench/.cache — keep it outside the repo on a shared
machine), then in a fresh process open it, run every query kind, and report
p50/p99 per mode of wall time and of CPU time (``time.process_time``: what a quiet
machine would take), recall@10 of embedding and hybrid against exact brute force,
resident memory per image and the load average. The by-image modes are timed
interleaved (each query in every mode in turn, the order rotated so that every
mode goes first and follows every other equally often), so a load that changes
during the run weighs on all of them alike, after the stored embeddings have been
read once into the page cache (a warm server; each mode re-scores ~1,000 rows
whose vectors it reads from disk, and the first mode to touch a row paid for it);
``fused_over_hybrid_p50`` is the cost of the fused mode against hybrid (issue 16:
at most 1.2 at 1M images). Results are merged into ``--out`` by size. Run::

    PICFIND_BENCH_CACHE=/work/bench-cache/p3query \
        .venv/bin/python bench/query.py [--sizes 10000,100000,1000000] [--out FILE]

A 1M-image index builds in a few minutes (``synthetic.build``: bulk inserts).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

WORDS = [
    "dog",
    "cat",
    "bird",
    "vehicle",
    "food",
    "golden retriever",
    "sports car",
    "espresso",
    "dog OR cat",
    "dog -poodle",
    "seashore",
    "terrier",
]


def rss_kb() -> tuple[int, int]:
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def percentiles(ms: list[float], cpu: list[float] | None = None) -> dict[str, float]:
    out = {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }
    if cpu is not None:
        out["cpu_p50_ms"] = round(float(np.percentile(cpu, 50)), 2)
        out["cpu_p99_ms"] = round(float(np.percentile(cpu, 99)), 2)
    return out


def timed(run: object) -> tuple[float, float]:
    """(wall ms, CPU ms of this process, every thread) of one call."""
    t, c = time.perf_counter(), time.process_time()
    run()  # type: ignore[operator]
    return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000


def rotation(modes: tuple[str, ...], i: int) -> tuple[str, ...]:
    """The modes' order for the i-th query: every mode goes first, and follows every
    other, equally often. (Reversing on odd queries alone put ``fused`` first whenever
    it ran first, so it alone read the candidates' vectors before anyone else had.)"""
    shift = (i // 2) % len(modes)
    turned = modes[shift:] + modes[:shift]
    return turned if i % 2 == 0 else turned[::-1]


def warm_page_cache(folder: Path) -> int:
    """Read the stored embeddings once, as a server's page cache holds them after a
    while: a query then costs its computing, not which mode first read a candidate's
    vector from disk (each re-scores ~1,000 rows read from ``embeddings.f16``)."""
    total = 0
    for path in sorted(folder.glob("cache/*/embeddings.f16")):
        with path.open("rb") as f:
            while chunk := f.read(1 << 24):
                total += len(chunk)
    return total


def exact_top10(folder: Path, queries: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Brute force over every stored embedding (and classes for hybrid)."""
    import picfind
    from picfind.scoring import HYBRID_WEIGHT, STORED_CLASSES
    from picfind.store.codec import padded_classes

    idx = picfind.open_index(folder)
    conn = idx.store.db.conn
    best_s = np.full((queries.shape[0], 10), -np.inf)
    best_r = np.zeros((queries.shape[0], 10), dtype=np.int64)
    cur = conn.execute("SELECT rowid, embedding, class_ids, class_probs FROM images")
    while rows := cur.fetchmany(20000):
        rowids = np.array([r[0] for r in rows])
        emb = np.stack([np.frombuffer(r[1], dtype=np.float16) for r in rows]).astype(np.float32)
        scores = emb @ queries.T  # (m, q)
        if weights is not None:  # Σ_j η_j ξ_ij over each row's stored classes, all queries
            ids, probs, _ = padded_classes([(r[2], r[3]) for r in rows], STORED_CLASSES)
            for q in range(weights.shape[0]):
                scores[:, q] += HYBRID_WEIGHT * (weights[q][ids.astype(np.intp)] * probs).sum(1)
        both_s = np.concatenate([best_s, scores.T], axis=1)
        both_r = np.concatenate(
            [best_r, np.broadcast_to(rowids, (queries.shape[0], rowids.size))], 1
        )
        top = np.argsort(-both_s, axis=1)[:, :10]
        best_s = np.take_along_axis(both_s, top, 1)
        best_r = np.take_along_axis(both_r, top, 1)
    idx.close()
    return best_r


def measure(folder: Path, n_queries: int, recall: bool = True) -> dict:
    """In this (fresh) process: open, query, time, measure memory."""
    import picfind
    import picfind.api  # imported before the baseline: not counted per image
    from picfind.scoring import query_weights
    from picfind.search import image_query

    base_rss, _ = rss_kb()
    t0 = time.perf_counter()
    idx = picfind.open_index(folder)
    images = idx.stats().images
    idx.search_words("dog", limit=10)  # loads (or builds) the NumPy side
    open_s = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    conn = idx.store.db.conn
    max_rowid = conn.execute("SELECT max(rowid) FROM images").fetchone()[0]
    qids = [
        conn.execute("SELECT id FROM images WHERE rowid = ?", (int(r),)).fetchone()[0]
        for r in rng.integers(1, max_rowid + 1, n_queries)
    ]
    out: dict = {"images": images, "open_seconds": open_s}
    modes = ("classes", "embedding", "hybrid", "fused")
    out["page_cache_warmed_bytes"] = warm_page_cache(folder)
    for _ in range(2):  # warm up
        for mode in modes:
            idx.search_image(qids[0], mode=mode)
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    for i, q in enumerate(qids):  # interleaved: every mode sees the same load
        for mode in rotation(modes, i):
            wall, used = timed(lambda q=q, mode=mode: idx.search_image(q, mode=mode, limit=10))
            times[mode].append(wall)
            cpu[mode].append(used)
    for mode in modes:
        out[mode] = percentiles(times[mode], cpu[mode])
    out["fused_over_hybrid_p50"] = round(out["fused"]["p50_ms"] / out["hybrid"]["p50_ms"], 3)
    out["fused_over_hybrid_p99"] = round(out["fused"]["p99_ms"] / out["hybrid"]["p99_ms"], 3)
    out["fused_over_hybrid_cpu_p50"] = round(
        out["fused"]["cpu_p50_ms"] / out["hybrid"]["cpu_p50_ms"], 3
    )
    ms, cpu_ms = [], []
    for _ in range(max(1, n_queries // len(WORDS))):
        for w in WORDS:
            wall, used = timed(lambda w=w: idx.search_words(w, limit=10))
            ms.append(wall)
            cpu_ms.append(used)
    out["keyword"] = percentiles(ms, cpu_ms)
    out["load_average"] = os.getloadavg()[0]
    out["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    rss, hwm = rss_kb()
    out["rss_mb"] = rss / 1024
    out["peak_rss_mb"] = hwm / 1024
    out["baseline_rss_mb"] = base_rss / 1024
    out["rss_bytes_per_image"] = rss * 1024 / images
    out["rss_above_baseline_bytes_per_image"] = (rss - base_rss) * 1024 / images
    if not recall:
        idx.close()
        return out
    # recall@10 of embedding and hybrid against brute force, on 30 queries
    by_id = {r.id: r.features for r in idx.store.rows(ids=qids[:30], features=True)}
    feats = [by_id[q] for q in qids[:30]]
    vecs = np.stack([f.embedding for f in feats])
    weights = np.stack([query_weights(f.classes) for f in feats])
    got = {"embedding": [], "hybrid": []}
    for f in feats:
        for mode in got:
            hits = idx.store.search(image_query(f, mode), 10)[1]  # type: ignore[arg-type]
            got[mode].append([h.id for h in hits])
    idx.close()
    id_of = {}
    for mode, w in (("embedding", None), ("hybrid", weights)):
        exact = exact_top10(folder, vecs, w)
        import sqlite3

        conn = sqlite3.connect(folder / "picfind.db")
        recall = []
        for i, row in enumerate(exact):
            ids = set()
            for r in row:
                if int(r) not in id_of:
                    id_of[int(r)] = conn.execute(
                        "SELECT id FROM images WHERE rowid = ?", (int(r),)
                    ).fetchone()[0]
                ids.add(id_of[int(r)])
            recall.append(len(ids & set(got[mode][i])) / 10)
        conn.close()
        out[f"recall_at_10_{mode}"] = float(np.mean(recall))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", default=str(HERE / "results" / "query.json"))
    parser.add_argument(
        "--cache", default=os.environ.get("PICFIND_BENCH_CACHE", str(HERE / ".cache"))
    )
    parser.add_argument("--measure", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--no-recall", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.queries, not args.no_recall)))
        return 0
    from synthetic import cached

    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    for n in [int(s) for s in args.sizes.split(",")]:
        folder, built = cached(Path(args.cache), n)
        # The first process builds the NumPy cache; the second measures a steady state.
        first = None
        for queries, extra in ((2, ["--no-recall"]), (args.queries, [])):
            started = time.perf_counter()
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--measure",
                    str(folder),
                    "--queries",
                    str(queries),
                    *extra,
                ],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")},
            )
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            first = time.perf_counter() - started if first is None else first
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        if built is not None:
            res["build_seconds"] = round(built, 1)
        res["first_process_seconds"] = round(first or 0.0, 1)
        results[str(n)] = {**results.get(str(n), {}), **res}
        print(f"{n}: {json.dumps(res)}", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
