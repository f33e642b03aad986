"""Keyword queries on one cluster index: the script plan against the linear plan
(``picfind.store.cluster.linear``), interleaved in one run.

Both plans must give the same answers: for every query the totals, the pages
(ids) and the scores are compared, at the bench's limit 10 and on an offset page,
and at thresholds on the quantisation edge (a document's own mass). Then each of
``query.WORDS`` is timed ``--rounds`` times per plan, the plans alternating (the
order turned every query), end to end through ``ClusterStore.search``; p50/p99 of
wall and client CPU per plan, their ratio, the load average before and after.

The index is ``bench/cluster.py``'s, e.g. the 131072-document one made with
``ensure_loaded(url, "picfind", 131072, 0, reuse=True, prefix="kw")``::

    PYTHONPATH=src .venv/bin/python bench/keyword_plans.py --index kw-picfind \\
        --out bench/results/keyword_plans-131k.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from query import WORDS, percentiles  # noqa: E402

from picfind.matchers import ConceptMatch, WordsQuery  # noqa: E402
from picfind.query import parse_query  # noqa: E402
from picfind.search import keyword_query  # noqa: E402
from picfind.store.base import Filter  # noqa: E402
from picfind.store.cluster import ClusterOptions, ClusterStore  # noqa: E402
from picfind.vocabulary import Vocabulary  # noqa: E402


def answer(
    store: ClusterStore, query: WordsQuery, limit: int, offset: int = 0, where: Filter | None = None
) -> tuple:
    total, hits = store.search(query, limit, offset, where)
    return total, [h.id for h in hits], [h.score for h in hits]


def same(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and a[1] == b[1] and np.allclose(a[2], b[2], rtol=1e-9, atol=0)


def at_threshold(query: WordsQuery, threshold: float) -> WordsQuery:
    """The query with its positive concept matcher's threshold set."""
    clauses = tuple(
        replace(c, matchers=tuple(replace(m, threshold=threshold) for m in c.matchers))
        if not c.negated and isinstance(c.matchers[0], ConceptMatch)
        else c
        for c in query.clauses
    )
    return WordsQuery(clauses)


def checks(old: ClusterStore, new: ClusterStore, qs: dict[str, WordsQuery]) -> list[dict]:
    """Every query both ways: page 1, an offset page, and thresholds at the edge (the
    10th and 200th hit's exact score: a document exactly at the threshold)."""
    out = []
    for word, q in qs.items():
        _, ids, scores = answer(old, q, 200)
        cases = [(q, 10, 0, None), (q, 10, 25, None), (q, 10, 0, Filter(exclude=tuple(ids[:3])))]
        for s in (scores[9], scores[-1]) if len(scores) >= 200 else ():
            cases.append((at_threshold(q, s), 10, 0, None))
        for query, limit, offset, where in cases:
            a = answer(old, query, limit, offset, where)
            b = answer(new, query, limit, offset, where)
            out.append({"word": word, "limit": limit, "offset": offset, "same": same(a, b),
                        "total": [a[0], b[0]]})  # fmt: skip
            if not same(a, b):
                print(f"DIFFERENT {word} {limit} {offset}: {a} vs {b}", file=sys.stderr)
    return out


def timings(old: ClusterStore, new: ClusterStore, qs: dict[str, WordsQuery], rounds: int) -> dict:
    """Each query ``rounds`` times per plan, alternating, the first plan turned each time."""
    wall: dict[str, list[float]] = {"script": [], "linear": []}
    cpu: dict[str, list[float]] = {"script": [], "linear": []}
    per_word: dict[str, dict[str, list[float]]] = {}
    i = 0
    for _ in range(rounds):
        for word, q in qs.items():
            pair = [("script", old), ("linear", new)]
            for name, store in pair if i % 2 == 0 else pair[::-1]:
                t, c = time.perf_counter(), time.process_time()
                store.search(q, 10)
                ms, cms = (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000
                wall[name].append(ms)
                cpu[name].append(cms)
                per_word.setdefault(word, {"script": [], "linear": []})[name].append(ms)
            i += 1
    plans = {k: percentiles(wall[k], cpu[k]) for k in wall}
    return {
        "plans": plans,
        "script_over_linear_p50": round(plans["script"]["p50_ms"] / plans["linear"]["p50_ms"], 2),
        "script_over_linear_p99": round(plans["script"]["p99_ms"] / plans["linear"]["p99_ms"], 2),
        "p50_ms_by_word": {
            w: {k: round(float(np.median(v)), 1) for k, v in d.items()} for w, d in per_word.items()
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PICFIND_TEST_OPENSEARCH_URL"))
    parser.add_argument("--index", default="kw-picfind")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(HERE / "results" / "keyword_plans.json"))
    args = parser.parse_args()
    old = ClusterStore(args.url, ClusterOptions(name=args.index))
    new = ClusterStore(args.url, ClusterOptions(name=args.index))
    old.queries.native = False
    vocab = Vocabulary.load()
    qs = {w: keyword_query(parse_query(w, vocab)) for w in WORDS}
    before = [round(x, 2) for x in os.getloadavg()]
    for q in list(qs.values())[:3]:  # warm: scripts compiled, caches
        old.search(q, 10)
        new.search(q, 10)
    checked = checks(old, new, qs)
    measured = timings(old, new, qs, args.rounds)
    result = {
        "index": args.index,
        "documents": old.count(),
        "command": " ".join(["bench/keyword_plans.py", *sys.argv[1:]]),
        "loadavg_before": before,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "queries_per_plan": len(qs) * args.rounds,
        "all_answers_same": all(c["same"] for c in checked),
        "checks": checked,
        **measured,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "checks"}, indent=2))
    return 0 if result["all_answers_same"] else 1


if __name__ == "__main__":
    sys.exit(main())
