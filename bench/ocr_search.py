"""Read text as a signal: the OCR pass through the index, and text search latency.

``python bench/ocr_search.py [pass|search ...] [--plain N] [--rendered N]
[--sizes 10000,100000,1000000] [--queries N] [--out FILE]`` merges its parts into
bench/results/ocr_search.json:

* ``pass``: ``Index.read_text`` (the real pass: pipeline, decode threads, committed
  batches) over N catsdogs photos (mostly without text) and over N photos of
  bench/textphotos.py (words rendered at 10–80 px, several fonts, styles, small
  turns), after indexing them once; ``--rounds`` rounds alternating the reader's
  configurations (``CONFIGS``: one photo on two intra-op threads without the small
  first detection, the old way; two photos at once on one thread each, the
  defaults; and that with a first detection at 320) on copies of the text-less index:
  photos/s, CPU seconds per photo, where the CPU went and the photos/s two free
  cores would give (``_timed_pass``); then for each, every rendered word searched
  through the store (``Index.search_text``): recall@10 overall and per text size —
  the read-back a user gets;
* ``search``: synthetic indexes of 10k / 100k / 1M images, a fraction of them
  (``--text-fraction``, default 0.2: most photos show no text) with 2–8 words of
  read text drawn from a Zipf law over 20,000 words, built once under
  bench/.cache; then p50/p99 of ``Store.search`` in a fresh process for: one of
  the 5 commonest words (the worst case: each is in several % of all images), a
  typical word (ranks 50–2,000), a rare word, a phrase, a 3-letter prefix, and
  text AND a concept. ``--big``: the 1M-image index of bench/bigindex.py instead of
  building one here (the same Zipf law and text fraction, made with NumPy and
  ``executemany`` in one transaction, cached under ``$PICFIND_BENCH_CACHE``, default bench/.cache);
  each query's CPU time is given beside its wall time.

Numbers taken on a loaded machine are provisional; CPU seconds are given beside
wall-clock rates because they are less disturbed by other load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import textphotos  # noqa: E402

RESULTS = HERE / "results" / "ocr_search.json"
CACHE = HERE / ".cache"
DIM = 32  # synthetic embeddings: text search never reads them
VOCAB = 20_000


def merge(path: Path, key: str, value: Any) -> None:
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    results[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


# ------------------------------------------------------------------------- the pass


def _timed_pass(idx: Any, folder: Path, reader: Any) -> dict[str, Any]:
    """One pass over ``folder``: wall and CPU time, and where the CPU went.

    The estimate for two free cores: the pass's CPU spread over both, but never
    faster than its serial chain — the reading threads' busiest worker per chunk
    (``critical_cpu_seconds``) plus the main thread's own work (the commits), which
    the reading waits for; with one photo at a time, the main thread's CPU (it reads,
    its ORT pool thread helps). Decoding runs beside both in the decode threads.
    """
    before = reader.counts
    load = os.getloadavg()
    wall, cpu, main = time.perf_counter(), _cpu(), time.thread_time()
    report = idx.read_text([folder], reader=reader)
    wall, cpu, main = time.perf_counter() - wall, _cpu() - cpu, time.thread_time() - main
    after = reader.counts
    photos = max(1, report.updated)
    reading = after.cpu_seconds - before.cpu_seconds
    critical = after.critical_cpu_seconds - before.critical_cpu_seconds
    # With parallel=1 the reading runs in the main thread itself (its ORT pool beside it).
    serial = main + (critical if reader.parallel > 1 else 0.0)
    two_cores = max(cpu / 2, serial)
    return {
        "photos": report.updated,
        "skipped": len(report.skipped),
        "seconds": round(wall, 2),
        "photos_per_second": round(report.updated / wall, 2) if wall else 0.0,
        "cpu_seconds_per_photo": round(cpu / photos, 3),
        "cpu_per_wall": round(cpu / wall, 2) if wall else 0.0,
        "reading_cpu_seconds_per_photo": round(reading / photos, 3),
        "reading_critical_cpu_seconds": round(critical, 2),
        "main_thread_cpu_seconds": round(main, 2),
        "parallel_share": round(1 - serial / cpu, 3) if cpu else 0.0,
        "cores_busy": round(cpu / serial, 2) if serial else 0.0,  # what free cores would be
        "estimated_photos_per_second_2_free_cores": round(report.updated / two_cores, 2)
        if two_cores
        else 0.0,
        "load_average_before": [round(x, 2) for x in load],
        "detector_runs": after.detector_runs - before.detector_runs,
        "recogniser_runs": after.recogniser_runs - before.recogniser_runs,
    }


CONFIGS: dict[str, dict[str, Any]] = {
    # before: one photo at a time on two intra-op threads per session, no gate
    "one_photo_2_threads": {"load": {"threads": 2, "parallel": 1}, "settings": {"gate_side": None}},
    # the defaults: two photos at once, one intra-op thread each (Reader.load's), no gate
    "two_photos": {"load": {"threads": 2, "parallel": 2}, "settings": {"gate_side": None}},
    # that with the small first detection (Settings.gate_side; off by default)
    "two_photos_gate320": {"load": {"threads": 2, "parallel": 2}, "settings": {"gate_side": 320}},
}
CHOSEN = "two_photos"


def _read_back(idx: Any, text_dir: Path, truth: list[Any]) -> dict[str, Any]:
    """Every rendered word searched through the store: recall@10, overall and by size."""
    hits = total = 0
    by_size: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for photo in truth:
        want = str(text_dir / photo.file)
        for item in photo.items:
            for word in item.text.split():
                res = idx.search_text(word, limit=10)
                found = any(r.path == want for r in res.results)
                hits += found
                total += 1
                by_size[item.size][0] += found
                by_size[item.size][1] += 1
    return {
        "words": total,
        "recall_at_10": round(hits / max(1, total), 3),
        "recall_at_10_by_size_px": {
            str(size): round(h / n, 3) for size, (h, n) in sorted(by_size.items())
        },
        "words_by_size_px": {str(size): n for size, (_, n) in sorted(by_size.items())},
    }


def run_pass(plain: int, rendered: int, rounds: int) -> dict[str, Any]:
    """Index both sets once, then per round each configuration in turn (A B C A B C)
    runs the pass on a copy of the text-less index; read-back on each one's last copy."""
    import picfind
    from picfind.ocr import Reader

    base = Reader.load(**CONFIGS[CHOSEN]["load"])
    readers = {
        name: Reader.load(**c["load"]).with_settings(**c["settings"]) for name, c in CONFIGS.items()
    }
    out: dict[str, Any] = {
        "reader": base.version,
        "configs": {name: {**c, "version": readers[name].version} for name, c in CONFIGS.items()},
        "load_average": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain_dir, text_dir = root / "plain", root / "rendered"
        plain_dir.mkdir()
        for path in sorted((textphotos.SHARED / "data" / "catsdogs").glob("*.jpg"))[:plain]:
            shutil.copy2(path, plain_dir / path.name)
        truth = textphotos.generate(text_dir, count=rendered, seed=0)
        (text_dir / "truth.json").unlink()
        with picfind.open_index(root / "indexed", create=True) as idx:
            idx.add([plain_dir, text_dir])
        runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        last: dict[str, Path] = {}
        for r in range(rounds):
            for name, reader in readers.items():
                last[name] = root / f"round{r}-{name}"
                shutil.copytree(root / "indexed", last[name])
                with picfind.open_index(last[name]) as idx:
                    for kind, folder in (("plain", plain_dir), ("rendered", text_dir)):
                        one = _timed_pass(idx, folder, reader)
                        runs[f"{name}/{kind}"].append(one)
                        print(r, name, kind, json.dumps(one), flush=True)
        out["rounds"] = rounds
        out["runs"] = dict(runs)
        for key, seq in runs.items():
            name, kind = key.split("/")
            summary: dict[str, Any] = {
                k: round(statistics.median(x[k] for x in seq), 3)
                for k in (
                    "photos_per_second",
                    "cpu_seconds_per_photo",
                    "cpu_per_wall",
                    "parallel_share",
                    "cores_busy",
                    "estimated_photos_per_second_2_free_cores",
                )
            }
            summary["photos"] = seq[-1]["photos"]
            summary["detector_runs"] = seq[-1]["detector_runs"]
            out.setdefault(name, {})[kind] = summary
        for name in CONFIGS:
            with picfind.open_index(last[name]) as idx:
                out[name]["read_back"] = _read_back(idx, text_dir, truth)
        # the defaults' last round and medians, and their read-back: the published numbers
        out["plain"] = {**runs[f"{CHOSEN}/plain"][-1], "median": out[CHOSEN]["plain"]}
        out["rendered"] = {
            **runs[f"{CHOSEN}/rendered"][-1],
            "median": out[CHOSEN]["rendered"],
            **out[CHOSEN]["read_back"],
        }
    return out


# ------------------------------------------------------------------ search latency


def _words(rng: np.random.Generator, n: int) -> np.ndarray:
    """Word ranks from a Zipf law over VOCAB words (rank 0 the most common)."""
    return np.minimum(rng.zipf(1.3, n) - 1, VOCAB - 1)


def _word(rank: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    s, r = "", rank + 26 * 26  # at least three letters
    while r:
        r, k = divmod(r, 26)
        s = letters[k] + s
    return s


def build(size: int, fraction: float) -> Path:
    """A synthetic embedded index of ``size`` images, ``fraction`` with 2–8 words read."""
    from picfind.records import Features, Fields, ImageRecord, ImageText, SparseClasses
    from picfind.store.base import Update
    from picfind.store.embedded import EmbeddedStore

    folder = CACHE / f"text-{size}-{fraction:g}"
    if (folder / "done").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    store = EmbeddedStore(folder, create=True)
    store.set_model("efficientnet-lite0")
    rng = np.random.default_rng(0)
    for start in range(0, size, 10_000):
        n = min(10_000, size - start)
        records, updates = [], []
        for i in range(start, start + n):
            ids = rng.choice(1000, 8, replace=False).astype(np.uint16)
            probs = np.sort(rng.dirichlet(np.ones(8)).astype(np.float32))[::-1]
            emb = rng.standard_normal(DIM).astype(np.float32)
            emb /= np.linalg.norm(emb)
            image_id = f"t{i:015d}"
            records.append(
                ImageRecord(image_id, f"/synthetic/{i // 1000:05d}/{i:09d}.jpg", f"h{i}", 1, 1,
                            640, 480, "JPEG", Features(SparseClasses(ids, probs), emb))
            )  # fmt: skip
            words = " ".join(_word(int(r)) for r in _words(rng, int(rng.integers(2, 9))))
            if rng.random() < fraction:
                updates.append(Update(image_id, Fields(text=ImageText("synthetic", words, None))))
        store.write(add=records)
        store.write(update=updates)
    store.refresh()
    store.close()
    (folder / "done").write_text("")
    return folder


def measure(folder: Path, n_queries: int) -> dict[str, Any]:
    """In this (fresh) process: p50/p99 of each kind of text query."""
    from picfind.matchers import Clause, ConceptMatch, WordsQuery
    from picfind.store import embedded
    from picfind.store.embedded import EmbeddedStore
    from picfind.textsearch import text_match

    whole = "text_and_concept (whole segment)"

    store = EmbeddedStore(folder, read_only=True)
    rng = np.random.default_rng(1)

    def text(term: str, prefix: bool = False) -> Any:
        m = text_match(term, prefix=prefix)
        assert m is not None
        return m

    kinds = {
        "common_word": lambda: WordsQuery((Clause((text(_word(int(rng.integers(0, 5)))),)),)),
        "typical_word": lambda: WordsQuery((Clause((text(_word(int(rng.integers(50, 2000)))),)),)),
        "rare_word": lambda: WordsQuery((Clause((text(_word(int(rng.integers(2000, VOCAB)))),)),)),
        "phrase": lambda: WordsQuery(
            (Clause((text(f"{_word(0)} {_word(int(rng.integers(0, 20)))}"),)),)
        ),
        "prefix": lambda: WordsQuery((Clause((text(_word(int(rng.integers(0, 50)))[:3], True),)),)),
        "text_and_concept": lambda: WordsQuery(
            (Clause((text(_word(int(rng.integers(0, 20)))),)), Clause((ConceptMatch((207,)),)))
        ),
    }
    store.search(kinds["common_word"](), 10)  # warm: the segment cache
    ms: dict[str, list[float]] = {name: [] for name in kinds}
    cpu_ms: dict[str, list[float]] = {name: [] for name in kinds}
    totals: dict[str, list[int]] = {name: [] for name in kinds}
    # text AND concept again with every row scored (no candidate subset), in the same
    # rounds: what intersecting the text rows with the concept scoring gains
    kinds["text_and_concept (whole segment)"] = kinds["text_and_concept"]
    ms[whole] = []
    cpu_ms[whole] = []
    totals[whole] = []
    default = embedded.SUBSET_FRACTION
    for _ in range(n_queries):  # the kinds alternate, round by round
        for name, make in kinds.items():
            q = make()
            embedded.SUBSET_FRACTION = 0.0 if name == whole else default
            t, c = time.perf_counter(), time.process_time()
            total, _ = store.search(q, 10)
            ms[name].append((time.perf_counter() - t) * 1000)
            cpu_ms[name].append((time.process_time() - c) * 1000)
            totals[name].append(total)
    out: dict[str, Any] = {}
    for name in kinds:
        out[name] = {
            "p50_ms": round(float(np.percentile(ms[name], 50)), 2),
            "p99_ms": round(float(np.percentile(ms[name], 99)), 2),
            "cpu_p50_ms": round(float(np.percentile(cpu_ms[name], 50)), 2),
            "cpu_p99_ms": round(float(np.percentile(cpu_ms[name], 99)), 2),
            "mean_matches": round(float(np.mean(totals[name])), 1),
        }
    embedded.SUBSET_FRACTION = default
    store.close()
    return out


def run_search(
    sizes: list[int], n_queries: int, fraction: float, big: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {"load_average": os.getloadavg(), "text_fraction": fraction}
    for size in sizes:
        started = time.perf_counter()
        if big:
            import bigindex

            folder = bigindex.build(bigindex.folder_for(size, fraction), size, fraction)
        else:
            folder = build(size, fraction)
        built = time.perf_counter() - started
        done = subprocess.run(
            [sys.executable, __file__, "_measure", str(folder), str(n_queries)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        out[str(size)] = {
            "build_seconds": round(built, 1),
            # the big index is built once and cached: the seconds its build took
            **({"cached_build_seconds": float((folder / "done").read_text())} if big else {}),
            "load_average_after": os.getloadavg(),
            **json.loads(done.stdout),
        }
        print(size, out[str(size)], flush=True)
    return out


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "_measure":
        print(json.dumps(measure(Path(sys.argv[2]), int(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help="pass, search (default: both)")
    parser.add_argument("--plain", type=int, default=1000, help="catsdogs photos for the pass")
    parser.add_argument("--rendered", type=int, default=120, help="rendered text photos")
    parser.add_argument("--rounds", type=int, default=2, help="A B rounds of the pass")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--text-fraction", type=float, default=0.2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--big", action="store_true", help="bench/bigindex.py's indexes")
    args = parser.parse_args()
    parts = args.parts or ["pass", "search"]
    for part in parts:
        if part == "pass":
            result = run_pass(args.plain, args.rendered, args.rounds)
        elif part == "search":
            sizes = [int(s) for s in args.sizes.split(",")]
            result = run_search(sizes, args.queries, args.text_fraction, args.big)
            if args.big:  # beside the other sizes' figures, never in their place
                part = "search_big"
        else:
            parser.error(f"unknown part {part!r}")
        result["args"] = {k: str(v) for k, v in vars(args).items()}
        merge(args.out, part, result)
        print(part, json.dumps(result)[:2000], flush=True)


if __name__ == "__main__":
    main()
