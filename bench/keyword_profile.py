"""Where a keyword query's time goes on a cluster index, per plan: every request the
plan sends (traced through ``IndexHandle.search``/``msearch``) re-sent with
``"profile": true``, split into the query phase (scoring and matching: painless runs
there), the collector (top hits, totals) and the rest of ``took`` (mostly the fetch
phase: reading and filtering ``_source``), with the hits each request fetched.

    PYTHONPATH=src .venv/bin/python bench/keyword_profile.py --index kw-picfind \\
        --out bench/results/keyword_profile-131k.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from query import WORDS  # noqa: E402

from picfind.query import parse_query  # noqa: E402
from picfind.search import keyword_query  # noqa: E402
from picfind.store.cluster import ClusterOptions, ClusterStore  # noqa: E402
from picfind.vocabulary import Vocabulary  # noqa: E402


def traced(store: ClusterStore, query: Any) -> list[dict[str, Any]]:
    """The bodies one ``search`` sends, in order."""
    sent: list[dict[str, Any]] = []
    handle = store.handle
    search, msearch = handle.search, handle.msearch

    def one(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        sent.append(body)
        return search(body, **kw)

    def many(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        sent.extend(bodies)
        return msearch(bodies)

    handle.search, handle.msearch = one, many  # type: ignore[method-assign]
    try:
        store.search(query, 10)
    finally:
        handle.search, handle.msearch = search, msearch  # type: ignore[method-assign]
    return sent


def profiled(store: ClusterStore, body: dict[str, Any]) -> dict[str, Any]:
    """One request's ``took`` split by its profile (ms), and what it fetched."""
    res = store.handle.search({**body, "profile": True})
    shard = res["profile"]["shards"][0]["searches"][0]
    query_ms = sum(q["time_in_nanos"] for q in shard["query"]) / 1e6
    collect_ms = sum(c["time_in_nanos"] for c in shard["collector"]) / 1e6
    breakdown = shard["query"][0]["breakdown"]
    return {
        "kind": shard["query"][0]["type"],
        "size": body.get("size"),
        "min_score": body.get("min_score"),
        "total": body.get("track_total_hits"),
        "hits": len(res["hits"]["hits"]),
        "took_ms": res["took"],
        "query_ms": round(query_ms, 2),
        "score_ms": round(breakdown.get("score", 0) / 1e6, 2),
        "collector_ms": round(collect_ms, 2),
        "rest_ms": round(res["took"] - query_ms - collect_ms, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PICFIND_TEST_OPENSEARCH_URL"))
    parser.add_argument("--index", default="kw-picfind")
    parser.add_argument("--out", default=str(HERE / "results" / "keyword_profile.json"))
    args = parser.parse_args()
    store = ClusterStore(args.url, ClusterOptions(name=args.index))
    vocab = Vocabulary.load()
    out: dict[str, Any] = {"index": args.index, "documents": store.count()}
    out["loadavg_before"] = [round(x, 2) for x in os.getloadavg()]
    for native in (False, True):
        store.queries.native = native
        plan = "native" if native else "script"
        out[plan] = {}
        for word in WORDS:
            q = keyword_query(parse_query(word, vocab))
            store.search(q, 10)  # warm
            out[plan][word] = [profiled(store, b) for b in traced(store, q)]
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    for plan in ("script", "native"):
        rows = [r for word in WORDS for r in out[plan][word]]
        out[f"{plan}_sum_ms"] = {
            k: round(sum(r[k] for r in rows), 1)
            for k in ("took_ms", "query_ms", "score_ms", "collector_ms", "rest_ms", "hits")
        }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k.endswith("_ms") or "load" in k}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
