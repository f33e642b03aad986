"""What a first words search costs before it scores anything: loading the vocabularies.

Each round is a fresh process that imports picfind, then times each load a first
search performs, in the order it performs them — the core vocabulary, the photo
vocabulary, the WordNet noun table, the gazetteer (the place reader reads every
word) — and then the first ``parse_query`` of a word, which resolves it through
every reader. Wall and CPU time (``time.process_time``) per step; medians over the
rounds. ``first_search_ms`` is everything after the import: what a user waits for on
the first search of a fresh process, beyond the store. Issue 10: vocabulary load
≤ 100 ms. Run::

    .venv/bin/python bench/vocabulary_load.py [--rounds 7] [--src DIR --label NAME]

``--src`` measures another checkout's ``src`` (a baseline) under ``--label``; results
are merged into bench/results/vocabulary_load.json by label.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "vocabulary_load.json"

ROUND = r"""
import json, time
marks = {}
def step(name, run):
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    marks[name] = (time.perf_counter() - wall, time.process_time() - cpu)
step("import", lambda: __import__("picfind.query"))
from picfind.nouns import NounTable
from picfind.placenames import gazetteer
from picfind.query import parse_query
from picfind.resolve import Resolver
from picfind.vocabulary import Vocabulary
start_wall, start_cpu = time.perf_counter(), time.process_time()
step("vocabulary", Vocabulary.load)
step("photo_words", Resolver.load)
step("noun_table", NounTable.load)
step("gazetteer", gazetteer)
step("first_parse", lambda: parse_query("puppy", Vocabulary.load()))
marks["first_search"] = (time.perf_counter() - start_wall, time.process_time() - start_cpu)
print(json.dumps(marks))
"""


def rounds(n: int, src: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", ROUND], check=True, capture_output=True, text=True, env=env
            ).stdout
        )
        for _ in range(n)
    ]
    out: dict[str, float] = {}
    for name in runs[0]:
        out[f"{name}_ms"] = round(statistics.median(r[name][0] for r in runs) * 1000, 1)
        out[f"cpu_{name}_ms"] = round(statistics.median(r[name][1] for r in runs) * 1000, 1)
    out["rounds"] = n
    out["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]  # type: ignore[assignment]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--src", type=Path, default=HERE.parent / "src")
    parser.add_argument("--label", default="current")
    args = parser.parse_args()
    result = rounds(args.rounds, args.src.resolve())
    print(json.dumps(result))
    report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    report[args.label] = result
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
