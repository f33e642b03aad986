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

**Unchanged re-run** (issue 13.1, ``--rerun N``): N small files on disk, N documents
with their paths, sizes and mtimes bulk-loaded into a cluster index (and the same
rows written into an embedded index), then ``Index.add`` over the folder, timed: every
file is unchanged, so the run is the walk plus the store's bulk read of what it
holds under the root, and nothing is read, inferred or written. Measured at each N
given (``--rerun 10000 --rerun 30000``), with the per-file cost and the linear
extrapolation to 100k and 1M; the issue's target is 100k in ≤ 15 s.

Run: ``.venv/bin/python bench/cluster.py [--n 100000] [--url URL]``; without
``--url`` (or ``PICFIND_TEST_OPENSEARCH_URL``) a node is started from
``tools/opensearch`` and stopped at the end. Results: ``bench/results/cluster.json``.
``--only rerun --rerun N...`` measures the re-run alone and updates its entry
(``unchanged_rerun``) in that file, keeping the layout results.
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


def fresh(url: str, name: str, layout: str) -> ClusterStore:
    """A new, empty index (a previous run's is deleted first)."""
    store = ClusterStore(
        url, ClusterOptions(name=name, layout=layout, shards=1, replicas=0), create=True
    )
    if store.model is not None:  # a previous run's index: start again
        for index in list(store.client.indices.get(index=f"{name}-*")):
            store.client.indices.delete(index=index)
        store.close()
        store = ClusterStore(
            url, ClusterOptions(name=name, layout=layout, shards=1, replicas=0), create=True
        )
    store.set_model(MODEL)
    return store


def load(url: str, name: str, layout: str, n: int, seed: int) -> tuple[ClusterStore, float]:
    store = fresh(url, name, layout)
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


def rerun(url: str, n: int, seed: int) -> dict:
    """An unchanged re-run of n files on the cluster and on the embedded store."""
    import dataclasses
    import tempfile

    from picfind.store.embedded import EmbeddedStore

    name = f"bench-rerun-{n}"
    with tempfile.TemporaryDirectory(prefix="picfind-rerun-") as tmp:
        folder = Path(tmp) / "photos"
        started = time.perf_counter()
        recs = []
        for rec in records(n, seed):
            sub = folder / rec.path.split("/")[-2]
            sub.mkdir(parents=True, exist_ok=True)
            path = sub / Path(rec.path).name
            path.write_bytes(rec.id.encode())
            st = path.stat()
            recs.append(
                dataclasses.replace(rec, path=str(path), size=st.st_size, mtime_ns=st.st_mtime_ns)
            )
        files_s = time.perf_counter() - started
        print(f"rerun {n}: files written in {files_s:.1f} s", file=sys.stderr)

        store = fresh(url, name, "picfind")
        started = time.perf_counter()
        store.load(iter(recs))
        store.refresh()
        load_s = time.perf_counter() - started
        print(f"rerun {n}: loaded in {load_s:.1f} s", file=sys.stderr)
        embedded = EmbeddedStore(Path(tmp) / "index", create=True)
        embedded.set_model(MODEL)
        for start in range(0, n, 8192):
            embedded.write(add=recs[start : start + 8192])
        del recs

        try:
            return rerun_measure(store, embedded, folder, n)
        finally:  # the shared node's heap is small: never leave the index behind
            for index in list(store.client.indices.get(index=f"{name}-*")):
                store.client.indices.delete(index=index)
            store.close()
            embedded.close()


def rerun_measure(store: ClusterStore, embedded, folder: Path, n: int) -> dict:
    """Two timed ``Index.add`` runs over the unchanged folder on each store."""
    import picfind

    out: dict = {"images": n}
    for label, s in (("cluster", store), ("embedded", embedded)):
        idx = picfind.Index(s)
        times = []
        for _ in range(2):  # the second run is warm (page cache, node caches)
            t = time.perf_counter()
            report = idx.add([folder])
            times.append(time.perf_counter() - t)
            assert report.unchanged == n and report.indexed == 0, report
        t = time.perf_counter()
        held = sum(1 for _ in s.rows(under=str(folder)))
        read_s = time.perf_counter() - t
        assert held == n
        out[label] = {
            "seconds_first": round(times[0], 3),
            "seconds_warm": round(times[1], 3),
            "bulk_read_seconds": round(read_s, 3),
            "ms_per_file_warm": round(1000 * times[1] / n, 4),
        }
        print(f"rerun {n} {label}: {out[label]}", file=sys.stderr)
    t = time.perf_counter()
    walked = sum(1 for _ in walk_files(folder))
    out["walk_seconds"] = round(time.perf_counter() - t, 3)
    assert walked == n
    return out


def walk_files(folder: Path):
    from picfind.walk import walk

    return (item for item in walk(str(folder)) if hasattr(item, "size"))


def rerun_summary(points: list[dict]) -> dict:
    """Per-file cost at the largest N, extrapolated linearly (the read is a scan)."""
    top = max(points, key=lambda p: p["images"])
    per_file = top["cluster"]["seconds_warm"] / top["images"]
    return {
        "points": points,
        "extrapolated_seconds_cluster": {
            "100k": round(per_file * 100_000, 1),
            "1M": round(per_file * 1_000_000, 1),
        },
        "target": "100k unchanged files in <= 15 s (issue 13)",
        "note": "extrapolated linearly from the largest N measured, on a shared 2-core machine; "
        "provisional",
    }


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
    parser.add_argument("--rerun", type=int, action="append", default=[], metavar="N")
    parser.add_argument("--only", choices=["layouts", "rerun"], default=None)
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
        previous = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
        if args.only == "rerun":
            result = {k: v for k, v in previous.items() if k not in ("engine", "node", "machine")}
        else:
            result = measure(url, args.n, args.queries, args.seed)
            if "unchanged_rerun" in previous:
                result["unchanged_rerun"] = previous["unchanged_rerun"]
        if args.only != "layouts" and args.rerun:
            points = [rerun(url, n, args.seed) for n in args.rerun]
            result["unchanged_rerun"] = rerun_summary(points)
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
