"""Queries on one cluster index: the plans before (``Queries.native = False``: the
script plan for words) against the native ones (``picfind.store.cluster.linear`` for
a one-concept words query, the classes count beside its first window), and the
paper's layout, interleaved in one run.

Both plans must give the same answers: for every query the totals, the pages
(ids) and the scores are compared, at the bench's limit 10 and on an offset page,
at thresholds on the quantisation edge (a document's own mass) and with a filter;
``classes`` (by image: ``cluster.queries``'s) at limit 10 and an offset page. Then
each of ``query.WORDS`` is timed ``--rounds`` times per plan and each by-image query
``--image-rounds`` times, the plans in turn (their order turned every query), end to
end through ``ClusterStore.search``; p50/p99 of wall and client CPU per plan, the
ratios to the native plan, the load average before and after.

The index is ``bench/cluster.py``'s, e.g. the 131072-document one made with
``ensure_loaded(url, "picfind", 131072, 0, reuse=True, prefix="kw")``::

    PYTHONPATH=src .venv/bin/python bench/cluster_plans.py --index kw-picfind \\
        --paper kw-paper --out bench/results/cluster_plans-131k.json
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

from cluster import queries as bench_queries  # noqa: E402
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


def classes_checks(old: ClusterStore, new: ClusterStore, qs: list) -> list[dict]:
    """Every by-image ``classes`` query both ways, page 1 and an offset page."""
    out = []
    for i, q in enumerate(qs):
        for offset in (0, 25):
            a, b = answer(old, q, 10, offset), answer(new, q, 10, offset)
            out.append({"query": i, "offset": offset, "same": same(a, b), "total": [a[0], b[0]]})
    return out


def timings(stores: dict[str, ClusterStore], qs: list, rounds: int) -> dict:
    """Each query ``rounds`` times per plan, the plans in turn, their order turned each
    query (every plan goes first equally often): p50/p99 of wall and client CPU."""
    names = list(stores)
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    per_query: list[dict[str, list[float]]] = [{k: [] for k in names} for _ in qs]
    i = 0
    for _ in range(rounds):
        for j, q in enumerate(qs):
            order = names[i % len(names) :] + names[: i % len(names)]
            for name in order if i % 2 == 0 else order[::-1]:
                t, c = time.perf_counter(), time.process_time()
                stores[name].search(q, 10)
                ms, cms = (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000
                wall[name].append(ms)
                cpu[name].append(cms)
                per_query[j][name].append(ms)
            i += 1
    plans = {k: percentiles(wall[k], cpu[k]) for k in names}
    ratios = {
        f"{k}_over_native_{p}": round(plans[k][f"{p}_ms"] / plans["native"][f"{p}_ms"], 2)
        for k in names
        if k != "native"
        for p in ("p50", "p99")
    }
    return {"plans": plans, **ratios, "p50_ms_by_query": [
        {k: round(float(np.median(v)), 1) for k, v in d.items()} for d in per_query
    ]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PICFIND_TEST_OPENSEARCH_URL"))
    parser.add_argument("--index", default="kw-picfind")
    parser.add_argument("--paper", default=None, help="the paper layout's index, timed too")
    parser.add_argument("--rounds", type=int, default=5, help="keyword rounds")
    parser.add_argument("--queries", type=int, default=30, help="by-image queries")
    parser.add_argument("--image-rounds", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results" / "cluster_plans.json"))
    args = parser.parse_args()
    stores = {"script": ClusterStore(args.url, ClusterOptions(name=args.index))}
    stores["native"] = ClusterStore(args.url, ClusterOptions(name=args.index))
    stores["script"].queries.native = False
    if args.paper:
        stores["paper"] = ClusterStore(args.url, ClusterOptions(name=args.paper, layout="paper"))
    old, new = stores["script"], stores["native"]
    vocab = Vocabulary.load()
    words = {w: keyword_query(parse_query(w, vocab)) for w in WORDS}
    images = bench_queries(new, new.count(), args.queries, 0)["classes"]
    before = [round(x, 2) for x in os.getloadavg()]
    for store in stores.values():  # warm: scripts compiled, caches
        for q in [*list(words.values())[:3], *images[:3]]:
            store.search(q, 10)
    checked = checks(old, new, words) + classes_checks(old, new, images)
    result = {
        "index": args.index,
        "paper_index": args.paper,
        "documents": new.count(),
        "command": " ".join(["bench/cluster_plans.py", *sys.argv[1:]]),
        "loadavg_before": before,
        "all_answers_same": all(c["same"] for c in checked),
        "answers_compared": len(checked),
        "keyword": timings(stores, list(words.values()), args.rounds)
        | {"queries": list(words), "queries_per_plan": len(words) * args.rounds},
        "classes": timings(stores, images, args.image_rounds)
        | {"queries_per_plan": len(images) * args.image_rounds},
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "checks": checked,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "checks"}, indent=1))
    return 0 if result["all_answers_same"] else 1


if __name__ == "__main__":
    sys.exit(main())
