"""Keyword search by everyday words: mean average precision before and after the word work.

    .venv/bin/python bench/words.py            # writes bench/results/words.json

Two word lists judged by hand (bench/words_dev.tsv, tuned on; bench/words_heldout.tsv,
judged before any result was seen and never tuned on) name, for each word, the
ImageNet classes whose photos a person searching that word wants. Over
../shared/data/imagenet-samples (1000 photos, one per class, named WNID_name.JPEG) a
photo is relevant to a word when its class is among the word's judged classes, and
the average precision of the word is that of the ranking the product returns
(``Index.search_words``, through ``parse_query``; photos not returned count as
missed, a refused word is AP 0).

* **after**: the product as it is (photo vocabulary, WordNet nouns, spelling; weighted
  class mass, the relevance floor ``scoring.KEYWORD_FLOOR``);
* **before**: the same index and store, with words resolved as picfind did before
  (class names and WordNet concepts above the classes only, no spelling):
  ``Resolver(vocab, spelling=False)``, matching at 1% of mass.

Also measured: keyword AP of "dog" and "cat" on ../shared/data/catsdogs (must stay
≥ 0.95); query parse + resolution latency (warm, every list word and some phrases
and misspellings, p50/p99); and the vocabulary's load times in a fresh process (the
core vocabulary, the photo vocabulary, the WordNet noun table, the speller).

The indexes are built once with ``picfind index`` (embedded) and kept in bench/.cache.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import picfind
from picfind.errors import PicfindError
from picfind.evaluate import average_precision
from picfind.query import parse_query
from picfind.resolve import Resolver
from picfind.scoring import KEYWORD_FLOOR, KEYWORD_NOT, MATCH_THRESHOLD
from picfind.search import Searcher, keyword_query
from picfind.vocabulary import Vocabulary

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("PICFIND_SHARED", HERE.parents[1] / "shared"))
CACHE = HERE / ".cache"
RESULTS = HERE / "results" / "words.json"
LISTS = {"dev": HERE / "words_dev.tsv", "heldout": HERE / "words_heldout.tsv"}
EXTRA_QUERIES = (
    "sports car on a seashore",
    "golden retriever OR beagle -poodle",
    "dog beach",
    "photos of my kitchen",
    "labrador retreiver",
    "birthday cake",
    "living room",
    "kitten OR puppy",
)
TIMING_ROUNDS = 30


@dataclass(frozen=True)
class Judged:
    word: str
    relevant: frozenset[int]


def read_list(path: Path, vocab: Vocabulary) -> list[Judged]:
    """A judged word list: class names, class wnids, or concept wnids (every class under)."""
    by_name: dict[str, list[int]] = {}
    for info in vocab.classes:
        by_name.setdefault(info.name, []).append(info.index)
    judged = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        word, classes = line.split("\t")
        relevant: set[int] = set()
        for ref in (c.strip() for c in classes.split(",")):
            if ref in vocab.concepts:
                relevant.update(int(i) for i in vocab.concepts[ref].classes)
            elif len(by_name.get(ref, [])) == 1:
                relevant.add(by_name[ref][0])
            else:
                raise ValueError(f"{path.name}: {word}: {ref!r} is not one class or concept")
        judged.append(Judged(word, frozenset(relevant)))
    return judged


def build_index(folder: Path, name: str) -> Path:
    """``picfind index FOLDER`` into bench/.cache/NAME (a re-run only checks the files)."""
    index = CACHE / name
    CACHE.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "picfind", "index", str(folder), "--index", str(index)]
    subprocess.run([*cmd, "--quiet", "--json"], check=True, capture_output=True)
    return index


def ranking(idx: picfind.Index, word: str, resolver: Resolver | None) -> list[str] | None:
    """Paths in rank order for a word, or None if the word is refused."""
    try:
        if resolver is None:
            results = idx.search_words(word, limit=1000)
        else:
            # picfind before: unweighted classes, matches at 1% of mass
            query = keyword_query(parse_query(word, resolver=resolver), floor=MATCH_THRESHOLD)
            results = Searcher(idx.store).run(query, "keyword", limit=1000)
    except PicfindError:
        return None
    return [r.path for r in results.results]


def word_row(
    judged: Judged, idx: picfind.Index, class_of: dict[str, int], before: Resolver
) -> dict[str, object]:
    present = sum(1 for c in class_of.values() if c in judged.relevant)
    row: dict[str, object] = {"word": judged.word, "relevant": present}
    for label, resolver in (("before", before), ("after", None)):
        paths = ranking(idx, judged.word, resolver)
        if paths is None:
            row[f"ap_{label}"] = 0.0
            row[f"returned_{label}"] = None
            continue
        hits = np.array([class_of[Path(p).name] in judged.relevant for p in paths], dtype=bool)
        row[f"ap_{label}"] = round(average_precision(hits, present), 4)
        row[f"returned_{label}"] = len(paths)
    try:
        query = parse_query(judged.word)
        term = query.terms[0]
        res = term.resolution
        row["route"] = "+".join(res.routes) if res else None
        row["searched"] = str(query)
        row["classes"] = len(query.positive[0].class_indices)
    except PicfindError as exc:
        row["route"] = None
        row["error"] = str(exc)
    return row


def summarise(rows: list[dict[str, object]]) -> dict[str, object]:
    before = [float(r["ap_before"]) for r in rows]  # type: ignore[arg-type]
    after = [float(r["ap_after"]) for r in rows]  # type: ignore[arg-type]
    return {
        "words": len(rows),
        "mean_ap_before": round(statistics.fmean(before), 4),
        "mean_ap_after": round(statistics.fmean(after), 4),
        "answered_before": sum(r["returned_before"] is not None for r in rows),
        "answered_after": sum(r["returned_after"] is not None for r in rows),
        "ap_after_below_0.5": sorted(str(r["word"]) for r in rows if float(r["ap_after"]) < 0.5),  # type: ignore[arg-type]
    }


def catsdogs_ap() -> dict[str, float]:
    folder = SHARED / "data" / "catsdogs"
    index = build_index(folder, "catsdogs-index")
    out = {}
    with picfind.open_index(index) as idx:
        for word in ("dog", "cat"):
            paths = [r.path for r in idx.search_words(word, limit=10000).results]
            total = sum(1 for p in folder.iterdir() if p.name.startswith(f"{word}."))
            hits = np.array([Path(p).name.startswith(f"{word}.") for p in paths], dtype=bool)
            out[word] = round(average_precision(hits, total), 4)
    return out


def parse_latency(words: list[str]) -> dict[str, object]:
    """Warm parse + resolution time per query (every route and the speller loaded first)."""
    queries = [*words, *EXTRA_QUERIES]
    for q in queries:  # warm: load the noun table and the speller, fill caches
        with contextlib.suppress(PicfindError):
            parse_query(q)
    wall, cpu = [], []
    for _ in range(TIMING_ROUNDS):
        for q in queries:
            started, started_cpu = time.perf_counter(), time.process_time()
            with contextlib.suppress(PicfindError):
                parse_query(q)
            cpu.append(time.process_time() - started_cpu)
            wall.append(time.perf_counter() - started)
    out: dict[str, object] = {"queries": len(queries), "samples": len(wall)}
    for name, samples in (("", wall), ("cpu_", cpu)):
        ms = np.array(samples) * 1000
        out[f"{name}p50_ms"] = round(float(np.percentile(ms, 50)), 3)
        out[f"{name}p99_ms"] = round(float(np.percentile(ms, 99)), 3)
    return out


LOAD_SCRIPT = """
import json, time
from picfind.vocabulary import Vocabulary
from picfind.resolve import Resolver
from picfind.scoring import KEYWORD_FLOOR, KEYWORD_NOT, MATCH_THRESHOLD
steps = [("vocabulary", Vocabulary.load), ("photo_words", Resolver.load),
         ("noun_table", lambda: Resolver.load().nouns),
         ("speller", lambda: Resolver.load().speller)]
out = {}
for name, step in steps:
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    out[name] = time.perf_counter() - wall
    out["cpu_" + name] = time.process_time() - cpu
print(json.dumps(out))
"""


def load_times(rounds: int = 5) -> dict[str, float]:
    """Median ms of each load in a fresh process (imports excluded), wall and CPU time."""
    runs = [
        json.loads(subprocess.run([sys.executable, "-c", LOAD_SCRIPT], check=True,
                                  capture_output=True, text=True).stdout)
        for _ in range(rounds)
    ]  # fmt: skip
    return {f"{k}_ms": round(statistics.median(r[k] for r in runs) * 1000, 1) for k in runs[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lists", nargs="+", choices=sorted(LISTS), default=sorted(LISTS),
        help="word lists to measure (default: both); only a full run writes the results",
    )  # fmt: skip
    args = parser.parse_args(argv)
    vocab = Vocabulary.load()
    folder = SHARED / "data" / "imagenet-samples"
    class_of = {}
    for path in folder.iterdir():
        index = vocab.index_of(path.name.split("_", 1)[0])
        if index is not None:
            class_of[path.name] = index
    before = Resolver(vocab, spelling=False)
    report: dict[str, object] = {
        "photos": len(class_of),
        "after": {"floor": KEYWORD_FLOOR, "not": KEYWORD_NOT, "weighted": True},
    }
    lists = {name: read_list(LISTS[name], vocab) for name in args.lists}
    with picfind.open_index(build_index(folder, "imagenet-samples-index")) as idx:
        for name, judged in lists.items():
            rows = [word_row(j, idx, class_of, before) for j in judged]
            report[name] = {"summary": summarise(rows), "words": rows}
            print(name, json.dumps(report[name]["summary"]), file=sys.stderr)  # type: ignore[index]
    if set(lists) != set(LISTS):
        for row in report["dev"]["words"] if "dev" in report else []:  # type: ignore[index]
            print(json.dumps(row, ensure_ascii=False), file=sys.stderr)
        return 0
    report["catsdogs_keyword_ap"] = catsdogs_ap()
    report["parse_latency"] = parse_latency([j.word for js in lists.values() for j in js])
    report["load"] = load_times()
    for key in ("catsdogs_keyword_ap", "parse_latency", "load"):
        print(key, json.dumps(report[key]), file=sys.stderr)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
