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
with their paths, sizes and mtimes bulk-loaded into a cluster index (every field
but the embedding, ``lean_load``; the files are made once under
``$PICFIND_BENCH_CACHE``, default bench/.cache) and the same rows written into an embedded
index, then ``Index.add`` over the folder, timed: every file is unchanged, so the
run is the walk plus the store's bulk read of what it holds under the root, and
nothing is read, inferred or written. Measured at each N
given (``--rerun 10000 --rerun 30000``), with the per-file cost and the linear
extrapolation to 100k and 1M; the issue's target is 100k in ≤ 15 s.

**Indexing throughput** (issue 13.3, ``--only throughput``): the photos of
``--photos`` (default: the shared catsdogs set) indexed from scratch into the
embedded store, into OpenSearch with the store's background bulk writes, and
into OpenSearch with every write sent inline, alternated for ``--rounds``
rounds; rates, CPU times and load averages in ``bench/results/cluster_throughput.json``.
The target is OpenSearch ≥ 0.8 × the embedded rate in the same run.

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
CACHE = Path(os.environ.get("PICFIND_BENCH_CACHE", HERE / ".cache"))
"""Where benchmark files too large for the repo are made once and kept."""


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

    from picfind.stages.metadata import META_VERSION
    from picfind.store.embedded import EmbeddedStore

    name = f"bench-rerun-{n}"
    # The files are made once and kept (outside the repo): 100k small files take minutes.
    folder = CACHE / f"rerun-{n}-seed{seed}" / "photos"
    complete = folder.parent / "complete"
    with tempfile.TemporaryDirectory(prefix="picfind-rerun-") as tmp:
        started = time.perf_counter()
        recs = []
        for rec in records(n, seed):
            sub = folder / rec.path.split("/")[-2]
            path = sub / Path(rec.path).name
            if not complete.exists():
                sub.mkdir(parents=True, exist_ok=True)
                path.write_bytes(rec.id.encode())
            st = path.stat()
            # rows of today's schema (meta_version): an older one makes the first run a
            # metadata backfill of every file, not an unchanged re-run
            current = {"meta_version": META_VERSION}
            recs.append(
                dataclasses.replace(
                    rec, path=str(path), size=st.st_size, mtime_ns=st.st_mtime_ns, **current
                )
            )
        complete.touch()
        files_s = time.perf_counter() - started
        print(f"rerun {n}: files ready in {files_s:.1f} s ({folder})", file=sys.stderr)

        store = fresh(url, name, "picfind")
        started = time.perf_counter()
        lean_load(store, recs)
        load_s = time.perf_counter() - started
        print(f"rerun {n}: loaded in {load_s:.1f} s", file=sys.stderr)
        embedded = EmbeddedStore(Path(tmp) / "index", create=True)
        embedded.set_model(MODEL)
        for start in range(0, n, 8192):
            embedded.write(add=recs[start : start + 8192])
        del recs

        try:
            out = rerun_measure(store, embedded, folder, n)
            out["cluster_documents"] = "every field but the embedding (lean_load)"
            out["load_seconds"] = round(load_s, 1)
            return out
        finally:  # the shared node's heap is small: never leave the index behind
            for index in list(store.client.indices.get(index=f"{name}-*")):
                store.client.indices.delete(index=index)
            store.close()
            embedded.close()


def lean_load(store: ClusterStore, recs: list) -> None:
    """Bulk the documents without their embeddings, then refresh.

    The re-run reads only the file fields, from doc values (``IndexHandle.scan``);
    vectors live in files of their own that the read never opens. Without them a
    100k load takes a few minutes on this shared box instead of over half an hour of
    HNSW building (measured ~50 documents/s with vectors at load average 11)."""
    from picfind.store.cluster.mapping import document

    index, now_ms = store.concrete, int(time.time() * 1000)

    def actions():
        for rec in recs:
            source = document(rec, MODEL, "picfind", now_ms)
            del source["embedding"]
            yield {"_op_type": "index", "_index": index, "_id": rec.id, "_source": source}

    failures = list(store.writer.bulk(actions()))
    assert not failures, failures[:3]
    store.writer.refresh()


def rerun_measure(store: ClusterStore, embedded, folder: Path, n: int) -> dict:
    """Two timed ``Index.add`` runs over the unchanged folder on each store."""
    import picfind

    out: dict = {"images": n}
    for label, s in (("cluster", store), ("embedded", embedded)):
        idx = picfind.Index(s)
        times = []
        cpu = []
        for _ in range(2):  # the second run is warm (page cache, node caches)
            t, c = time.perf_counter(), time.process_time()
            report = idx.add([folder])
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            assert report.unchanged == n and report.indexed == 0, report
            assert report.backfilled == 0, report  # nothing but the walk and the read
        t = time.perf_counter()
        held = sum(1 for _ in s.rows(under=str(folder)))
        read_s = time.perf_counter() - t
        assert held == n
        out[label] = {
            "seconds_first": round(times[0], 3),
            "seconds_warm": round(times[1], 3),
            "bulk_read_seconds": round(read_s, 3),
            "ms_per_file_warm": round(1000 * times[1] / n, 4),
            "client_cpu_seconds_warm": round(cpu[1], 3),
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
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


def rerun_summary(points: list[dict], previous: dict | None = None) -> dict:
    """The points measured (earlier runs' at other N kept), and the cost per file at the
    largest N extrapolated linearly (the read is a scan) where 100k was not measured."""
    measured = {p["images"] for p in points}
    kept = [p for p in (previous or {}).get("points", []) if p["images"] not in measured]
    points = sorted(kept + points, key=lambda p: p["images"])
    top = points[-1]
    per_file = top["cluster"]["seconds_warm"] / top["images"]
    at_100k = next((p for p in points if p["images"] == 100_000), None)
    out: dict = {"points": points}
    if at_100k is not None:
        out["measured_seconds_cluster_100k"] = {
            "first": at_100k["cluster"]["seconds_first"],
            "warm": at_100k["cluster"]["seconds_warm"],
        }
    out["extrapolated_seconds_cluster"] = {
        "100k": round(per_file * 100_000, 1),
        "1M": round(per_file * 1_000_000, 1),
    }
    out["target"] = "100k unchanged files in <= 15 s (issue 13)"
    out["note"] = (
        f"largest N measured: {top['images']}; extrapolation is linear from it; "
        "a shared 2-core machine (load average per point): provisional"
    )
    return out


def throughput(url: str, folder: Path, rounds: int) -> dict:
    """Index the same photos into the embedded store and into OpenSearch, alternated.

    Arms, in this order each round: ``embedded``; ``opensearch`` (picfind's default:
    bulk writes sent by the store's background thread while the next batch is
    inferred); ``opensearch_inline`` (every write sent before the run goes on: the
    behaviour before the overlap). Each round indexes ``folder`` from scratch into a
    fresh index (deleted after) with the model already loaded. Recorded per round:
    wall seconds, this process's CPU seconds (all threads), the node's CPU seconds
    (the whole shared node: other users' requests included) and the load average."""
    import resource
    import tempfile

    import picfind
    from picfind.store.embedded import EmbeddedStore

    with tempfile.TemporaryDirectory(prefix="picfind-tp-") as tmp:  # load the model once
        warm = Path(tmp) / "warm"
        warm.mkdir()
        for p in sorted(folder.iterdir())[:32]:
            (warm / p.name).write_bytes(p.read_bytes())
        with picfind.Index(EmbeddedStore(Path(tmp) / "i", create=True)) as idx:
            idx.add([warm])

    arms = ("embedded", "opensearch", "opensearch_inline")
    out: dict = {"photos": str(folder), "arms": list(arms), "rounds": []}
    for r in range(rounds):
        for arm in arms:
            with tempfile.TemporaryDirectory(prefix="picfind-tp-") as tmp:
                if arm == "embedded":
                    store = EmbeddedStore(Path(tmp) / "index", create=True)
                else:
                    store = fresh(url, f"bench-tp-{arm.replace('_', '-')}", "picfind")
                    store.writer.background = arm == "opensearch"
                node0 = node_cpu(url)
                load0 = os.getloadavg()
                wall, cpu = time.perf_counter(), time.process_time()
                rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                idx = picfind.Index(store)
                report = idx.add([folder])
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                row = {
                    "round": r,
                    "arm": arm,
                    "indexed": report.indexed,
                    "seconds": round(wall, 2),
                    "images_per_second": round(report.indexed / wall, 1),
                    "client_cpu_seconds": round(cpu, 2),
                    "node_cpu_seconds": round(node_cpu(url) - node0, 2),
                    "loadavg_before": [round(x, 2) for x in load0],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                    "max_rss_mib": round(
                        max(rss0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024
                    ),
                }
                if arm != "embedded":
                    assert isinstance(store, ClusterStore)
                    row["bulk_jobs"] = store.writer.sender.sent
                    row["refreshes"] = store.writer.refreshes
                    assert store.count() == report.indexed
                    for index in list(store.client.indices.get(index=f"{store.alias}-*")):
                        store.client.indices.delete(index=index)
                idx.close()
                assert report.indexed > 0 and not report.skipped, report
                print(f"throughput {row}", file=sys.stderr)
                out["rounds"].append(row)
    rates = {a: [x["images_per_second"] for x in out["rounds"] if x["arm"] == a] for a in arms}
    out["images_per_second_median"] = {a: float(np.median(v)) for a, v in rates.items()}
    pairs = [
        (
            x["images_per_second"] / e["images_per_second"],
            y["images_per_second"] / e["images_per_second"],
        )
        for e, x, y in zip(*(iter(out["rounds"]),) * 3, strict=True)
    ]
    out["ratio_to_embedded_per_round"] = {
        "opensearch": [round(a, 3) for a, _ in pairs],
        "opensearch_inline": [round(b, 3) for _, b in pairs],
    }
    out["ratio_to_embedded_median"] = {
        "opensearch": round(float(np.median([a for a, _ in pairs])), 3),
        "opensearch_inline": round(float(np.median([b for _, b in pairs])), 3),
    }
    out["target"] = "opensearch >= 0.8 x embedded in the same run (issue 13.3)"
    out["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def node_cpu(url: str) -> float:
    """CPU seconds the node's process has used so far."""
    import urllib.request

    with urllib.request.urlopen(f"{url}/_nodes/_local/stats/process", timeout=30) as r:
        nodes = json.load(r)["nodes"]
    return sum(n["process"]["cpu"]["total_in_millis"] for n in nodes.values()) / 1000


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
    parser.add_argument("--only", choices=["layouts", "rerun", "throughput"], default=None)
    parser.add_argument("--photos", default=str(REPO.parent / "shared" / "data" / "catsdogs"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--throughput-out", default=str(HERE / "results" / "cluster_throughput.json")
    )
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
        if args.only == "throughput":
            result = {"engine": engine, "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
            result |= throughput(url, Path(args.photos), args.rounds)
            Path(args.throughput_out).write_text(json.dumps(result, indent=2) + "\n")
            print(json.dumps(result, indent=2))
            return 0
        previous = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
        if args.only == "rerun":
            result = {k: v for k, v in previous.items() if k not in ("engine", "node", "machine")}
        else:
            result = measure(url, args.n, args.queries, args.seed)
            if "unchanged_rerun" in previous:
                result["unchanged_rerun"] = previous["unchanged_rerun"]
        if args.only != "layouts" and args.rerun:
            points = [rerun(url, n, args.seed) for n in args.rerun]
            result["unchanged_rerun"] = rerun_summary(points, previous.get("unchanged_rerun"))
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
