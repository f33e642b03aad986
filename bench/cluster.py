"""The cluster backend on one OpenSearch node: the paper's layout against picfind's.

On the same node, N synthetic images (``synthetic.generate``: features drawn
around real photos' features) are bulk-loaded twice from precomputed features:

* ``picfind`` layout: ``rank_features`` classes and concept masses, ``knn_vector``
  (Lucene HNSW); queries are ``rank_feature`` disjunctions through the inverted
  index, re-scored exactly on the client;
* ``paper`` layout: ``synset.<words>.{wnid,words,score}`` objects and painless
  ``script_score`` over ``match_all`` (a scan of every document).

Measured: bulk indexing rate (documents/s, refresh included), p50/p99 latency
of search by image (``classes``) and by keyword in both layouts and their
ratio, top-10 agreement between the layouts, and for picfind's layout also
``embedding``/``hybrid`` latency. Latency is end to end from the Python client
(``ClusterStore.search``), warm, one query at a time.

Run: ``.venv/bin/python bench/cluster.py [--n 100000] [--url URL]``; without
``--url`` (or ``PICFIND_TEST_OPENSEARCH_URL``) a node is started from
``tools/opensearch`` and stopped at the end. Results: ``bench/results/cluster.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from query import WORDS, percentiles  # noqa: E402
from synthetic import records  # noqa: E402

from picfind.query import parse_query  # noqa: E402
from picfind.search import image_query, keyword_query  # noqa: E402
from picfind.store.cluster import ClusterOptions, ClusterStore  # noqa: E402
from picfind.vocabulary import Vocabulary  # noqa: E402

MODEL = "efficientnet-lite0"


def timed(store: ClusterStore, query, repeat: int = 1) -> tuple[float, list[str]]:
    best = float("inf")
    ids: list[str] = []
    for _ in range(repeat):
        t = time.perf_counter()
        _, hits = store.search(query, 10)
        best = min(best, (time.perf_counter() - t) * 1000)
        ids = [h.id for h in hits]
    return best, ids


def load(url: str, name: str, layout: str, n: int, seed: int) -> tuple[ClusterStore, float]:
    store = ClusterStore(
        url, ClusterOptions(name=name, layout=layout, shards=1, replicas=0), create=True
    )
    if store.model is not None:  # a previous run's index: start again
        for index in list(store.client.indices.get(index=f"{name}-*")):
            store.client.indices.delete(index=index)
        store = ClusterStore(
            url, ClusterOptions(name=name, layout=layout, shards=1, replicas=0), create=True
        )
    store.set_model(MODEL)
    started = time.perf_counter()
    count = store.load(records(n, seed))
    store.refresh()
    seconds = time.perf_counter() - started
    assert store.count() == count == n, (store.count(), count, n)
    return store, n / seconds


def measure(url: str, n: int, n_queries: int, seed: int) -> dict:
    vocab = Vocabulary.load()
    out: dict = {"images": n}
    picfind_store, rate_p = load(url, "bench-picfind", "picfind", n, seed)
    print(f"picfind layout: {rate_p:.0f} docs/s", file=sys.stderr)
    paper_store, rate_paper = load(url, "bench-paper", "paper", n, seed)
    print(f"paper layout: {rate_paper:.0f} docs/s", file=sys.stderr)
    out["bulk_docs_per_second"] = {"picfind": round(rate_p), "paper": round(rate_paper)}
    sizes = {}
    for s in (picfind_store, paper_store):
        st = s.client.indices.stats(index=s.alias, metric="store")
        sizes[s.layout] = int(st["_all"]["total"]["store"]["size_in_bytes"])
    out["index_bytes"] = sizes

    rng = np.random.default_rng(seed + 1)
    query_ids = [f"s{int(i):09d}" for i in rng.choice(n, n_queries, replace=False)]
    feats = [r.features for r in picfind_store.rows(ids=query_ids, features=True)]
    image_queries = {
        m: [image_query(f, m) for f in feats] for m in ("classes", "embedding", "hybrid")
    }
    kw = [keyword_query(parse_query(w, vocab)) for w in WORDS]

    # warm both (script compilation, caches)
    for qq in image_queries["classes"][:3] + kw[:3]:
        picfind_store.search(qq, 10)
        paper_store.search(qq, 10)

    lat: dict[str, dict[str, list[float]]] = {"picfind": {}, "paper": {}}
    agree: dict[str, list[int]] = {"classes": [], "keyword": []}
    overlap: dict[str, list[int]] = {"classes": [], "keyword": []}
    for kind, queries in (("classes", image_queries["classes"]), ("keyword", kw * 3)):
        for qq in queries:
            tp, ip = timed(picfind_store, qq)
            tq, iq = timed(paper_store, qq)
            lat["picfind"].setdefault(kind, []).append(tp)
            lat["paper"].setdefault(kind, []).append(tq)
            agree[kind].append(sum(a == b for a, b in zip(ip, iq, strict=False)))
            overlap[kind].append(len(set(ip) & set(iq)))
    for kind in ("embedding", "hybrid"):
        for qq in image_queries[kind]:
            tp, _ = timed(picfind_store, qq)
            lat["picfind"].setdefault(kind, []).append(tp)
    out["latency"] = {
        layout: {kind: percentiles(v) for kind, v in kinds.items()} for layout, kinds in lat.items()
    }
    out["paper_over_picfind_p50"] = {
        kind: round(
            out["latency"]["paper"][kind]["p50_ms"] / out["latency"]["picfind"][kind]["p50_ms"], 1
        )
        for kind in ("classes", "keyword")
    }
    out["top10_same_place"] = {k: round(float(np.mean(v)), 2) for k, v in agree.items()}
    out["top10_overlap"] = {k: round(float(np.mean(v)), 2) for k, v in overlap.items()}
    out["queries"] = {"image": n_queries, "keyword": len(kw) * 3}
    for s in (picfind_store, paper_store):
        for index in list(s.client.indices.get(index=f"{s.alias}-*")):
            s.client.indices.delete(index=index)
        s.close()
    return out


def node_module():
    spec = importlib.util.spec_from_file_location("node", REPO / "tools" / "opensearch" / "node.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", default=os.environ.get("PICFIND_TEST_OPENSEARCH_URL"))
    parser.add_argument("--out", default=str(HERE / "results" / "cluster.json"))
    args = parser.parse_args()
    cluster = None
    url = args.url
    if not url:
        os.environ.setdefault("PICFIND_OPENSEARCH_HEAP", "2g")
        cluster = node_module().start_cluster(1, control=False)
        url = cluster.url
    try:
        probe = ClusterStore(url, ClusterOptions(name="bench-probe"), create=True)
        engine = f"{probe.engine.distribution} {probe.engine.version}"
        probe.close()
        result = measure(url, args.n, args.queries, args.seed)
    finally:
        if cluster is not None:
            cluster.close()
    result = {
        "engine": engine,
        "node": "one node, one shard, no replica, "
        + f"heap {os.environ.get('PICFIND_OPENSEARCH_HEAP', 'external')}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        **result,
    }
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
