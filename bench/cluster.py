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

**At scale** (issue 13.5): ``--n`` up to 1M. Each layout is loaded by ``fast_load``
(the documents of ``mapping.document``, built and serialised in a worker process,
several bulk requests at once, bench-only index settings while loading: no refresh,
async translog, one refresh at the end), measured, and with ``--keep`` left on the
node; ``--layouts picfind`` then ``--layouts paper`` measure one at a time (each
one's measurement is kept under ``$PICFIND_BENCH_CACHE/cluster`` and the result
combines them); ``--reuse`` keeps an index that holds N documents and resumes one
that holds fewer — an interrupted load, or a smaller N's: an N of whole
``generate`` chunks (524288 = 64 × 8192) is a prefix of the 1M index. ``--baseline``
(e.g. ``bench/results/cluster.json``, 100k) adds the growth of every measure to it.

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
from collections.abc import Callable
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
from picfind.store.cluster.writes import REFRESH_SECONDS  # noqa: E402
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


LOAD_SETTINGS = {
    "refresh_interval": "-1",
    "number_of_replicas": 0,
    "translog.durability": "async",
    "translog.flush_threshold_size": "2gb",
}
"""Bench-only index settings while a layout is bulk-loaded (then reset and one refresh):
no refreshes (segments only as the indexing buffer fills), no replica, translog fsync
every few seconds instead of per request (a crash of the node loses the last seconds:
the loader's resume reloads them), fewer flushes. Not picfind's defaults: a user's
index must survive a crash without a re-load."""


_TABLE: list[str] = []


def _float16_json() -> list[str]:
    """``json.dumps`` of every float16 value as the store writes it (float32 → float)."""
    if not _TABLE:
        values = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)
        _TABLE.extend(json.dumps(float(v)) if np.isfinite(v) else "null" for v in values)
    return _TABLE


def _bodies(task: tuple[int, np.ndarray, np.ndarray, np.ndarray, str, str, str, int, int]):
    """Bulk request bodies (ndjson bytes, each ≤ max_bytes) of one slice of rows:
    ``mapping.document`` of each record, as ``ClusterStore.load`` writes it. Runs in a
    worker process so that building and serialising overlaps the node's indexing."""
    from synthetic import chunk_records

    from picfind.store.cluster.mapping import document

    start, ids, probs, emb, index, model, layout, now_ms, max_bytes = task
    table = _float16_json()
    out: list[bytes] = []
    part: list[bytes] = []
    size = 0
    for k, rec in enumerate(chunk_records(start, ids, probs, emb)):
        head = json.dumps({"index": {"_index": index, "_id": rec.id}}).encode()
        source = document(rec, model, layout, now_ms)
        vector = source.pop("embedding")
        # the embedding's text from a table of float16 values' JSON (the store keeps
        # float16 precision): the same characters as json.dumps, a fraction of its time
        bits = np.asarray(rec.features.embedding, dtype=np.float16).view(np.uint16)
        text = "[" + ",".join([table[b] for b in bits.tolist()]) + "]"
        if k == 0:
            assert json.loads(text) == vector
        body = json.dumps(source, separators=(",", ":"))
        doc = (body[:-1] + ',"embedding":' + text + "}").encode()
        if part and size + len(head) + len(doc) + 2 > max_bytes:
            out.append(b"".join(part))
            part, size = [], 0
        part += [head, b"\n", doc, b"\n"]
        size += len(head) + len(doc) + 2
    if part:
        out.append(b"".join(part))
    return out


def fast_load(
    store: ClusterStore,
    n: int,
    seed: int,
    start: int = 0,
    workers: int = 1,
    senders: int = 2,
    max_bytes: int = 8 << 20,
    slice_rows: int = 1024,
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Bulk-load rows ``start``…``n`` of ``synthetic.generate(n, seed)`` into the store's
    index: the same documents as ``store.load(records(n, seed))`` (ids, fields), built
    and serialised in ``workers`` processes and sent by ``senders`` threads at once (the
    node indexes one request per write thread). Returns wall/CPU seconds."""
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    from opensearchpy.exceptions import TransportError
    from synthetic import generate

    index, client = store.concrete, store.client
    model = str(store.model)
    now_ms = int(time.time() * 1000)
    client.indices.put_settings(index=index, body={"index": LOAD_SETTINGS})
    failures: list[str] = []
    sent = [0]

    def stats(wall: float, refresh_s: float, docs: int, interrupted: bool = False) -> dict:
        out = {
            "documents": docs,
            "first_row": start,
            "seconds": round(wall + refresh_s, 1),
            "refresh_seconds": round(refresh_s, 1),
            "docs_per_second": round(docs / (wall + refresh_s)),
            "client_cpu_seconds_main": round(time.process_time() - c0, 1),
            "node_cpu_seconds": round(node_cpu(store.url) - node0, 1),
            "workers": workers,
            "senders": senders,
            "request_bytes_max": max_bytes,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        }
        return out | ({"interrupted": True} if interrupted else {})

    def send(body: bytes) -> None:
        # a 429 (the node's circuit breaker or a full write queue) is sent again after a
        # pause, as the client's bulk helper does: each action is an idempotent index by id
        for attempt in range(12):
            try:
                res = client.bulk(body=body, request_timeout=600)
            except TransportError as exc:
                if exc.status_code != 429 or attempt == 11:
                    raise
                time.sleep(min(30, 2**attempt))
                continue
            items = [next(iter(item.values())) for item in res["items"]]
            if res.get("errors") and any(i.get("status") == 429 for i in items):
                time.sleep(min(30, 2**attempt))
                continue
            failures.extend(f"{i.get('_id')}: {i.get('error')}" for i in items
                            if i.get("status", 500) >= 300)  # fmt: skip
            break
        sent[0] += body.count(b"\n") // 2

    t0, c0, node0 = time.perf_counter(), time.process_time(), node_cpu(store.url)
    last = t0
    pending: deque = deque()
    sending: deque = deque()
    with (
        ProcessPoolExecutor(workers) as pool,
        ThreadPoolExecutor(senders) as out,
    ):

        def drain(keep: int) -> None:
            nonlocal last
            while len(pending) > keep:
                for body in pending.popleft().result():
                    sending.append(out.submit(send, body))
                    while len(sending) > 2 * senders:
                        sending.popleft().result()
            if time.perf_counter() - last > 60:
                last = time.perf_counter()
                rate = sent[0] / (last - t0)
                print(f"  {start + sent[0]} / {n} ({rate:.0f} docs/s)", file=sys.stderr)
                if progress is not None:
                    progress(stats(last - t0, 0.0, sent[0], interrupted=True))

        row = 0
        for ids, probs, emb in generate(n, seed):
            for a in range(0, ids.shape[0], slice_rows):
                first = row + a
                if first + slice_rows <= start:
                    continue  # loaded by an earlier run (resume)
                b = a + slice_rows
                task = (first, ids[a:b], probs[a:b], emb[a:b], index, model, store.layout,
                        now_ms, max_bytes)  # fmt: skip
                pending.append(pool.submit(_bodies, task))
                drain(2 * workers)
            row += ids.shape[0]
        drain(0)
        for f in sending:
            f.result()
    wall = time.perf_counter() - t0
    # back to a new index's settings (not those read before: a resumed load's were these)
    reset = {"refresh_interval": f"{REFRESH_SECONDS:g}s", "number_of_replicas": 0}
    reset |= {"translog.durability": None, "translog.flush_threshold_size": None}
    client.indices.put_settings(index=index, body={"index": reset})
    t = time.perf_counter()
    client.indices.refresh(index=index)
    refresh_s = time.perf_counter() - t
    assert not failures, failures[:3]
    return stats(wall, refresh_s, n - start)


CHUNK = 8192
"""Rows per ``synthetic.generate`` chunk (its default)."""
RESUME_MARGIN = 2 * 8192
"""Rows reloaded before an interrupted load's count (requests in flight, unfsynced
translog): writes are idempotent by id, so reloading some twice is harmless."""


def load_record_path(name: str, seed: int) -> Path:
    """Where a layout's load is recorded (rate, CPU), for a later ``--reuse`` run."""
    return CACHE / "cluster" / f"{name}-seed{seed}.json"


def ensure_loaded(
    url: str,
    layout: str,
    n: int,
    seed: int,
    reuse: bool,
    workers: int = 1,
    senders: int = 2,
    prefix: str = "bench",
) -> tuple[ClusterStore, dict]:
    """The layout's bench index holding rows 0…n-1, loaded with ``fast_load``.

    With ``reuse``, an index already holding n documents is kept (its load as recorded);
    one holding fewer is extended: an interrupted load from a little before its count, a
    complete load of a smaller N from its last whole ``generate`` chunk — rows of whole
    chunks are the same for every N (so an N of whole chunks, e.g. 524288 = 64 × 8192,
    is a prefix of the 1M index: a bench grows from one to the other)."""
    name = f"{prefix}-{layout}"
    record = load_record_path(name, seed)
    start = 0
    runs: list[dict] = []
    if reuse:
        store = ClusterStore(
            url, ClusterOptions(name=name, layout=layout, shards=1, replicas=0), create=True
        )
        if store.model is None:
            store.set_model(MODEL)
        store.client.indices.refresh(index=store.concrete)
        held = store.count()
        runs = json.loads(record.read_text())["runs"] if record.exists() and held else []
        if held == n and runs and not runs[-1].get("interrupted"):
            print(f"{layout}: reusing {held} documents", file=sys.stderr)
            return store, summarise_load(runs, n)
        if runs and held <= n:
            margin = RESUME_MARGIN if runs[-1].get("interrupted") else 0
            start = max(0, held - margin) // CHUNK * CHUNK
            print(f"{layout}: {held} documents held, loading from row {start}", file=sys.stderr)
        else:  # a larger index, or one with no load record: start again
            store.close()
            store, runs = fresh(url, name, layout), []
    else:
        store = fresh(url, name, layout)
    record.parent.mkdir(parents=True, exist_ok=True)

    def save(run: dict) -> None:
        record.write_text(json.dumps({"layout": layout, "runs": [*runs, run]}, indent=1))

    save({"documents": 0, "first_row": start, "seconds": 0.0, "interrupted": True,
          "client_cpu_seconds_main": 0.0, "node_cpu_seconds": 0.0})  # fmt: skip
    run = fast_load(store, n, seed, start=start, workers=workers, senders=senders, progress=save)
    save(run | {"images": n})
    runs.append(run | {"images": n})
    held = store.count()
    assert held == n, (held, n)
    return store, summarise_load(runs, n)


def summarise_load(runs: list[dict], n: int) -> dict:
    """One load's rate from its runs (a resumed load: the rows each run sent over the
    seconds of all runs, the reloaded margin counted once)."""
    seconds = sum(r["seconds"] for r in runs)
    return {
        "docs_per_second": round(n / seconds),
        "seconds": round(seconds, 1),
        "client_cpu_seconds_main": round(sum(r["client_cpu_seconds_main"] for r in runs), 1),
        "node_cpu_seconds": round(sum(r["node_cpu_seconds"] for r in runs), 1),
        "runs": runs,
    }


KINDS = {"picfind": ("classes", "keyword", "embedding", "hybrid"), "paper": ("classes", "keyword")}
"""Query modes measured per layout (the paper's layout has no embedding search)."""


def queries(store: ClusterStore, n: int, n_queries: int, seed: int) -> dict[str, list]:
    """The bench's queries: by image, the features of ``n_queries`` indexed images drawn
    with ``seed + 1`` (read back from the store, in the order drawn); by keyword, the
    ``query.WORDS`` three times over. Either layout's index gives the same ones."""
    vocab = Vocabulary.load()
    rng = np.random.default_rng(seed + 1)
    query_ids = [f"s{int(i):09d}" for i in rng.choice(n, n_queries, replace=False)]
    by_id = {r.id: r.features for r in store.rows(ids=query_ids, features=True)}
    feats = [by_id[i] for i in query_ids]
    out: dict[str, list] = {
        m: [image_query(f, m) for f in feats] for m in ("classes", "embedding", "hybrid")
    }
    out["keyword"] = [keyword_query(parse_query(w, vocab)) for w in WORDS] * 3
    return out


def measure_layouts(stores: list[ClusterStore], n: int, n_queries: int, seed: int) -> dict:
    """Loaded layouts, measured in one run: each one's size and segments, and each
    mode's latency, one query at a time after a warm-up (script compilation, caches),
    end to end through ``ClusterStore.search``, every query sent to each layout in turn
    (so the load of the shared machine weighs on both alike); with the top-10 ids of
    every query, for the agreement."""
    qs = queries(stores[0], n, n_queries, seed)
    for store in stores:  # warm
        for kind in KINDS[store.layout]:
            for qq in qs[kind][:3]:
                store.search(qq, 10)
    out: dict = {s.layout: {"latency": {}, "ids": {}} for s in stores}
    for kind in KINDS["picfind"]:
        which = [s for s in stores if kind in KINDS[s.layout]]
        ms: dict[str, list[float]] = {s.layout: [] for s in which}
        for qq in qs[kind]:
            for store in which:
                t, top = timed(store, qq)
                ms[store.layout].append(t)
                out[store.layout]["ids"].setdefault(kind, []).append(top)
        for layout, v in ms.items():
            out[layout]["latency"][kind] = percentiles(v)
            print(f"{layout} {kind}: {out[layout]['latency'][kind]}", file=sys.stderr)
    for store in stores:
        st = store.client.indices.stats(index=store.alias, metric="store,segments")
        total = st["_all"]["total"]
        # the segments' own bytes: the store's size also counts an unfinished merge's
        # output (a large HNSW merge runs for many minutes after a load)
        rows = store.client.cat.segments(index=store.concrete, h="size", bytes="b", format="json")
        merges = store.client.indices.stats(index=store.alias, metric="merge")["_all"]["total"]
        out[store.layout] |= {
            "index_bytes": int(total["store"]["size_in_bytes"]),
            "segment_bytes": sum(int(r["size"]) for r in rows),
            "segments": int(total["segments"]["count"]),
            "merging_docs": int(merges["merges"]["current_docs"]),
            "queries": {"image": n_queries, "keyword": len(qs["keyword"])},
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "measured_with": [s.layout for s in stores],
        }
    return out


def combine(n: int, layouts: dict[str, dict], baseline: dict | None) -> dict:
    """The result file's layout entries from each layout's measurement (and load), the
    ratios and agreement where both layouts are measured, and the growth from the
    ``baseline`` result (another N's, e.g. cluster.json's 100k) where one is given."""
    out: dict = {"images": n}
    out["bulk_docs_per_second"] = {k: v["load"]["docs_per_second"] for k, v in layouts.items()}
    out["index_bytes"] = {k: v["index_bytes"] for k, v in layouts.items()}
    out["segment_bytes"] = {k: v.get("segment_bytes") for k, v in layouts.items()}
    out["index_bytes_per_image"] = {
        k: round(v.get("segment_bytes", v["index_bytes"]) / n) for k, v in layouts.items()
    }
    out["segments"] = {k: v["segments"] for k, v in layouts.items()}
    out["merging_docs"] = {k: v.get("merging_docs") for k, v in layouts.items()}
    out["latency"] = {k: v["latency"] for k, v in layouts.items()}
    if {"picfind", "paper"} <= layouts.keys():
        lat, ids = out["latency"], {k: v["ids"] for k, v in layouts.items()}
        out["paper_over_picfind_p50"] = {
            kind: round(lat["paper"][kind]["p50_ms"] / lat["picfind"][kind]["p50_ms"], 1)
            for kind in KINDS["paper"]
        }
        pairs = {kind: list(zip(ids["picfind"][kind], ids["paper"][kind], strict=True))
                 for kind in KINDS["paper"]}  # fmt: skip
        out["top10_same_place"] = {
            k: round(float(np.mean([sum(a == b for a, b in zip(x, y, strict=False))
                                    for x, y in v])), 2)
            for k, v in pairs.items()
        }  # fmt: skip
        out["top10_overlap"] = {
            k: round(float(np.mean([len(set(x) & set(y)) for x, y in v])), 2)
            for k, v in pairs.items()
        }
    out["queries"] = next(iter(layouts.values()))["queries"]
    out["load"] = {k: v["load"] for k, v in layouts.items()}
    out["measured_loadavg_after"] = {k: v["loadavg_after"] for k, v in layouts.items()}
    if baseline:
        out["growth"] = growth(baseline, out)
    return out


def growth(small: dict, large: dict) -> dict:
    """Each measure at the larger N over the same at the smaller (latency: p50 and p99;
    size: bytes per image; rate: documents per second)."""
    rows: dict = {"from_images": small["images"], "to_images": large["images"]}
    ratio = large["images"] / small["images"]
    for layout in large["latency"]:
        if layout not in small.get("latency", {}):
            continue
        row: dict = {}
        for kind, v in large["latency"][layout].items():
            if kind in small["latency"][layout]:
                was = small["latency"][layout][kind]
                row[kind] = {
                    p: {"from": was[p], "to": v[p], "x": round(v[p] / was[p], 2)}
                    for p in ("p50_ms", "p99_ms")
                }
        per = small["index_bytes"][layout] / small["images"]
        row["index_bytes_per_image"] = {
            "from": round(per), "to": round(large["index_bytes"][layout] / large["images"]),
        }  # fmt: skip
        rate = small["bulk_docs_per_second"][layout]
        row["bulk_docs_per_second"] = {
            "from": rate, "to": large["bulk_docs_per_second"][layout],
        }  # fmt: skip
        rows[layout] = row
    rows["documents_x"] = round(ratio, 1)
    return rows


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


def node_jvm(store: ClusterStore) -> str:
    """The node's JVM and the options that change Lucene's speed (the Vector API:
    ``tools/opensearch/node.py``'s ``PICFIND_OPENSEARCH_JAVA_OPTS``)."""
    info = store.client.nodes.info(node_id="_local", metric="jvm")["nodes"]
    jvm = next(iter(info.values()))["jvm"]
    flags = [a for a in jvm.get("input_arguments", []) if "vector" in a or a.startswith("-Xm")]
    return " ".join([str(jvm.get("version")), *flags])


def node_module():
    spec = importlib.util.spec_from_file_location("node", REPO / "tools" / "opensearch" / "node.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def layouts(url: str, args: argparse.Namespace, previous: dict) -> dict:
    """Load each layout in turn, then measure them together (deleted after unless
    ``--keep``); each one's measurement is kept under ``$PICFIND_BENCH_CACHE`` so that
    layouts measured by separate runs at the same N combine into one result."""
    measured: dict[str, dict] = {}
    stores, loads = [], {}
    for layout in args.layouts.split(","):
        store, loads[layout] = ensure_loaded(
            url, layout, args.n, args.seed, args.reuse, args.workers, args.senders
        )
        print(f"{layout}: {loads[layout]['docs_per_second']} docs/s", file=sys.stderr)
        stores.append(store)
    for layout, m in measure_layouts(stores, args.n, args.queries, args.seed).items():
        measured[layout] = m | {"load": loads[layout]}
        measured_path(layout, args.n, args.seed).write_text(json.dumps(measured[layout]))
    for store in stores:
        if not args.keep:
            for index in list(store.client.indices.get(index=f"{store.alias}-*")):
                store.client.indices.delete(index=index)
            load_record_path(store.alias, args.seed).unlink(missing_ok=True)
        store.close()
    for layout in KINDS:
        path = measured_path(layout, args.n, args.seed)
        if layout not in measured and path.exists():
            measured[layout] = json.loads(path.read_text())
    measured = {k: measured[k] for k in KINDS if k in measured}
    baseline = json.loads(Path(args.baseline).read_text()) if args.baseline else None
    result = combine(args.n, measured, baseline)
    if baseline:
        result["baseline"] = {
            k: v for k, v in baseline.items() if k not in ("unchanged_rerun", "growth")
        } | {"file": str(Path(args.baseline).resolve().relative_to(REPO))}
    if "unchanged_rerun" in previous:
        result["unchanged_rerun"] = previous["unchanged_rerun"]
    return result


def measured_path(layout: str, n: int, seed: int) -> Path:
    return CACHE / "cluster" / f"measured-{layout}-{n}-seed{seed}.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", default=os.environ.get("PICFIND_TEST_OPENSEARCH_URL"))
    parser.add_argument("--out", default=str(HERE / "results" / "cluster.json"))
    parser.add_argument("--layouts", default="picfind,paper", help="measured in this order")
    parser.add_argument("--reuse", action="store_true", help="keep (or resume) a loaded index")
    parser.add_argument("--keep", action="store_true", help="leave the indexes on the node")
    parser.add_argument("--workers", type=int, default=1, help="processes building documents")
    parser.add_argument("--senders", type=int, default=2, help="bulk requests at once")
    parser.add_argument("--baseline", default=None, help="result file of another N to grow from")
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
        jvm = node_jvm(probe)
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
            result = layouts(url, args, previous)
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
        **({"jvm": jvm} if args.only != "rerun" else {}),
        **result,
    }
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
