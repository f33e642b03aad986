"""The cluster store: the Store protocol on OpenSearch or Elasticsearch.

Documents are keyed by picfind's stable image id, so re-indexing replaces and
never duplicates. An alias (``ClusterOptions.name``, default ``picfind``)
points at one concrete index ``<name>-v<N>`` whose mapping ``_meta`` records
picfind's schema version, the model and the layout; ``reindex`` builds the next
``-v<N+1>`` and swaps the alias in one atomic request. A small ``<name>-meta``
index holds the writer lock and the last run's summary.

Writes are streaming bulk requests (bounded chunks) with the client's retries
and backoff on 429/5xx; documents that still fail are named by path in a
``StoreError`` raised after the rest is committed and refreshed, so the indexer
never counts them as indexed and the next run retries them. Every write ends
with a refresh: the indexer reads its own writes (paths, hashes) back, and a
finished run is searchable at once.

Searching: see ``cluster_queries`` — the engine picks candidates through its
inverted index or HNSW graph, the client re-scores them exactly.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from picfind.errors import ModelMismatchError, NotFoundError, StoreError, UsageError
from picfind.models import MODELS
from picfind.records import Features, Hit, ImageRecord, Stats, StoredFile
from picfind.scoring import MATCH_THRESHOLD, NUM_CLASSES, SparseClasses
from picfind.store import cluster_queries as q
from picfind.store.base import (
    ClassesQuery,
    DocSummary,
    EmbeddingQuery,
    Filter,
    HybridQuery,
    KeywordQuery,
    StoreQuery,
)
from picfind.store.cluster_conn import ClusterOptions, Engine, connect, guard, translate
from picfind.store.mapping import LAYOUTS, SCHEMA_VERSION, document, mapping, source_classes

KNN_K = 100
"""Neighbours the HNSW search gathers at least (Lucene's ef): recall@10 ≥ 0.95 measured."""
HYBRID_CANDIDATES = 200
"""kNN candidates re-scored with cosine + λ·Σ η_j ξ_ij for a hybrid search."""
RESCORE_SLACK = 20
"""Extra candidates re-scored exactly beyond the page (rank_features keep 9 bits)."""
FEATURE_ERROR = 2.0**-8 + 1e-5
"""Relative error of a ``rank_features`` value: Lucene keeps 9 significant bits,
truncating, so a stored value lies in [x·(1 − 2⁻⁸), x]."""
RESCORE_MAX = 10_000
"""At most this many candidates in the band that quantisation leaves undecided."""
BULK_CHUNK = 500
BULK_BYTES = 8 * 1024 * 1024
RETRY_ROUNDS = 3
LOCK_STALE_SECONDS = 6 * 3600
_FILE_FIELDS = ["id", "path", "size", "mtime_ns", "content_hash"]


class ClusterStore:
    """A picfind index on an OpenSearch/Elasticsearch cluster, behind an alias."""

    def __init__(
        self, url: str, options: ClusterOptions | None = None, *, create: bool = False
    ) -> None:
        self.url = url
        self.options = options or ClusterOptions()
        if self.options.layout not in LAYOUTS:
            raise UsageError(f"unknown layout {self.options.layout!r}; choose picfind or paper")
        self.engine: Engine = connect(url, self.options)
        self.client = self.engine.client
        self.alias = self.options.name
        self.meta_index = f"{self.alias}-meta"
        self._write_failed = False
        try:
            self._meta = self._read_meta()
            if self._meta is None and not create:
                raise NotFoundError(
                    f"no picfind index {self.alias!r} at {url} "
                    f"(run 'picfind index PATH --url {url}' first)"
                )
        except BaseException:
            self.close()
            raise

    # -- plumbing -------------------------------------------------------------------
    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """One request; the plain body back (dict or bool) from either client."""
        return _plain(guard(lambda: fn(*args, **kwargs), self.url))

    def _source_kw(self, fields: list[str]) -> dict[str, Any]:
        """Source filtering of get/mget, spelled as each client spells it."""
        key = "_source_includes" if self.engine.distribution == "opensearch" else "source_includes"
        return {key: fields}

    def _get(self, index: str, image_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """A document by id (realtime), None when it does not exist."""
        try:
            return _plain(self.client.get(index=index, id=image_id, **kwargs))
        except Exception as exc:
            if _status_of(exc) == 404:
                return None
            raise translate(exc, self.url) from exc

    def _read_meta(self) -> dict[str, Any] | None:
        """The alias's ``_meta`` (None when there is no index yet); checks the schema."""
        indices = self.client.indices
        try:
            exists = self._call(indices.exists, index=self.alias)
        except StoreError as exc:
            raise translate(exc, self.url, opening=True) from exc
        if not exists:
            return None
        body = self._call(indices.get_mapping, index=self.alias)
        if len(body) != 1:
            raise StoreError(f"{self.alias!r} at {self.url} names {len(body)} indices, not one")
        concrete, info = next(iter(body.items()))
        meta = (info.get("mappings") or {}).get("_meta") or {}
        if "picfind_schema" not in meta:
            raise UsageError(f"index {self.alias!r} at {self.url} is not a picfind index")
        if meta["picfind_schema"] != SCHEMA_VERSION:
            raise UsageError(
                f"index {self.alias!r} at {self.url} has picfind schema {meta['picfind_schema']}; "
                f"this picfind reads schema {SCHEMA_VERSION}"
            )
        return {**meta, "index": concrete}

    @property
    def concrete(self) -> str:
        if self._meta is None:
            raise NotFoundError(f"no picfind index {self.alias!r} at {self.url}")
        return str(self._meta["index"])

    @property
    def layout(self) -> str:
        return str(self._meta["layout"]) if self._meta else self.options.layout

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()

    # -- metadata -------------------------------------------------------------------
    @property
    def model(self) -> str | None:
        return str(self._meta["model"]) if self._meta else None

    def set_model(self, name: str) -> None:
        """Creates the index (the embedding's dimension comes from the model)."""
        if self._meta is not None:
            if self._meta["model"] != name:
                raise ModelMismatchError(
                    f"this index was built with {self._meta['model']}, not {name}"
                )
            return
        spec = MODELS.get(name)
        if spec is None:
            raise ModelMismatchError(f"unknown model {name!r}")
        self.create_index(self._next_name(), name, spec.embedding_dim, alias=True)
        self._meta = self._read_meta()

    def create_index(self, index: str, model: str, dim: int, *, alias: bool, **kw: Any) -> None:
        """A concrete index with picfind's mapping (and the alias when ``alias``)."""
        layout = kw.get("layout") or self.options.layout
        body = mapping(
            self.engine.distribution,
            layout,
            dim,
            model,
            kw.get("shards", self.options.shards),
            kw.get("replicas", self.options.replicas),
        )
        if alias:
            body["aliases"] = {self.alias: {}}
        self._call(self.client.indices.create, index=index, body=body)
        self._call(self.client.cluster.health, index=index, wait_for_status="yellow")

    def _next_name(self) -> str:
        existing = self._call(
            self.client.indices.get, index=f"{self.alias}-v*", allow_no_indices=True
        )
        numbers = [
            int(name.rsplit("-v", 1)[1]) for name in existing if name.rsplit("-v", 1)[1].isdigit()
        ]
        return f"{self.alias}-v{max(numbers, default=0) + 1}"

    def _meta_doc(self, key: str) -> dict[str, Any] | None:
        doc = self._get(self.meta_index, key)
        return doc.get("_source") if doc else None

    def _ensure_meta_index(self) -> None:
        if not self._call(self.client.indices.exists, index=self.meta_index):
            with contextlib.suppress(StoreError):  # created meanwhile by another process
                self._call(
                    self.client.indices.create,
                    index=self.meta_index,
                    body={
                        "settings": {"number_of_shards": 1, "auto_expand_replicas": "0-1"},
                        "mappings": {"dynamic": False, "properties": {}},
                    },
                )

    def record_run(self, summary: dict[str, object]) -> None:
        try:
            self._ensure_meta_index()
            self._call(
                self.client.index,
                index=self.meta_index,
                id=f"last_run:{self.alias}",
                body={"json": json.dumps(summary)},
                refresh="true",
            )
        except StoreError:
            if not self._write_failed:  # after a failed write, keep that error
                raise

    # -- the indexer's side ---------------------------------------------------------
    def _search(self, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._call(self.client.search, index=self.alias, body=body, **kwargs)

    def get_file(self, path: str) -> StoredFile | None:
        found = self._files({"term": {"path": path}}, size=1)
        return found[0] if found else None

    def files_with_hash(self, content_hash: str) -> list[StoredFile]:
        return self._files({"term": {"content_hash": content_hash}}, size=1000)

    def _files(self, query: dict[str, Any], size: int) -> list[StoredFile]:
        if self._meta is None:
            return []
        res = self._search({"query": query, "size": size, "_source": _FILE_FIELDS})
        return [_stored_file(h["_source"]) for h in res["hits"]["hits"]]

    def iter_files(self, under: str | None = None) -> Iterator[StoredFile]:
        if self._meta is None:
            return iter(())
        where = Filter(under=under) if under is not None else None
        out = [_stored_file(src) for src in self._scan(q.filter_query(where), _FILE_FIELDS)]
        return iter(out)  # materialised: callers write while iterating

    def _scan(self, query: dict[str, Any], source: Any, page: int = 1000) -> Iterator[dict]:
        """Every matching document's source, in path order (search_after paging)."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "query": query,
                "size": page,
                "_source": source,
                "sort": [{"path": "asc"}, {"id": "asc"}],
            }
            if after is not None:
                body["search_after"] = after
            hits = self._search(body)["hits"]["hits"]
            for h in hits:
                yield h["_source"]
            if len(hits) < page:
                return
            after = hits[-1]["sort"]

    def find_id(self, path: str) -> str | None:
        f = self.get_file(path)
        return f.id if f else None

    def id_in_use(self, image_id: str) -> bool:
        if self._meta is None:
            return False
        return bool(self._call(self.client.exists, index=self.alias, id=image_id))

    def features(self, image_id: str) -> Features | None:
        if self._meta is None:
            return None
        doc = self._get(self.alias, image_id, **self._source_kw(["top", "embedding"]))
        if doc is None:
            return None
        src = doc.get("_source") or {}
        ids, probs = source_classes(src)
        vector = src.get("embedding") or self._stored_vector(image_id)
        return Features(SparseClasses(ids, probs), np.asarray(vector, dtype=np.float32))

    def _stored_vector(self, image_id: str) -> list[float]:
        """The embedding when ``_source`` left it out (Elasticsearch 9 may, by default)."""
        if self.engine.distribution == "opensearch":
            return []
        doc = self._get(
            self.alias, image_id, source_exclude_vectors=False, **self._source_kw(["embedding"])
        )
        return ((doc or {}).get("_source") or {}).get("embedding") or []

    def summaries(self, ids: Sequence[str]) -> dict[str, DocSummary]:
        out: dict[str, DocSummary] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            res = self._call(
                self.client.mget,
                index=self.alias,
                body={"ids": chunk},
                **self._source_kw(["path", "top"]),
            )
            for d in res["docs"]:
                if d.get("found"):
                    cids, cprobs = source_classes(d["_source"])
                    out[d["_id"]] = DocSummary(d["_id"], d["_source"]["path"], cids, cprobs)
        return out

    def stats(self) -> Stats:
        if self._meta is None:
            return Stats(0, "", 0, None)
        count = int(self._call(self.client.count, index=self.alias)["count"])
        st = self._call(self.client.indices.stats, index=self.alias, metric="store")
        size = int(st["_all"]["total"]["store"]["size_in_bytes"])
        run = self._meta_doc(f"last_run:{self.alias}")
        return Stats(count, self.model or "", size, json.loads(run["json"]) if run else None)

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """A lock document: two indexers on one cluster index would only race."""
        self._ensure_meta_index()
        key = f"lock:{self.alias}"
        me = {"host": socket.gethostname(), "pid": os.getpid(), "at": time.time()}
        self._take_lock(key, me)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                self.client.delete(index=self.meta_index, id=key, refresh="true")

    def _take_lock(self, key: str, me: dict[str, Any]) -> None:
        try:
            self.client.index(
                index=self.meta_index, id=key, body=me, op_type="create", refresh="true"
            )
            return
        except Exception as exc:
            if _status_of(exc) != 409:
                raise translate(exc, self.url) from exc
        doc = self._get(self.meta_index, key)
        if doc is None:  # released meanwhile
            return self._take_lock(key, me)
        other = doc["_source"]
        stale = time.time() - float(other.get("at", 0)) > LOCK_STALE_SECONDS or (
            other.get("host") == me["host"] and not _pid_alive(int(other.get("pid", 0)))
        )
        if not stale:
            raise UsageError(
                f"another 'picfind index' is running on {self.alias!r} at {self.url} "
                f"(pid {other.get('pid')} on {other.get('host')}); wait for it to finish"
            )
        try:  # take over a dead owner's lock, unless someone else just did
            self.client.index(
                index=self.meta_index,
                id=key,
                body=me,
                if_seq_no=doc["_seq_no"],
                if_primary_term=doc["_primary_term"],
                refresh="true",
            )
        except Exception as exc:
            raise UsageError(
                f"another 'picfind index' took the lock on {self.alias!r}; wait for it to finish"
            ) from exc

    def write(
        self,
        add: Sequence[ImageRecord] = (),
        moves: Sequence[tuple[str, str, int, int]] = (),
        touch: Sequence[tuple[str, int, int]] = (),
        remove: Sequence[str] = (),
    ) -> None:
        """Bulk the changes; raise a StoreError naming the paths that could not be written."""
        if not (add or moves or touch or remove):
            return
        if self._meta is None:
            raise StoreError("the cluster index has no model yet (set_model first)")
        actions: list[dict[str, Any]] = []
        labels: dict[str, str] = {}  # _id → path, for failure reports
        # A path belongs to one document: others at a path we write are dropped.
        keep = {rec.path: rec.id for rec in add} | {path: i for i, path, _, _ in moves}
        for other_id, path in self._ids_at_paths(list(keep)):
            if other_id != keep[path] and other_id not in remove:
                actions.append({"_op_type": "delete", "_index": self.concrete, "_id": other_id})
                labels[other_id] = path
        for image_id in remove:
            actions.append({"_op_type": "delete", "_index": self.concrete, "_id": image_id})
        for image_id, path, size, mtime_ns in moves:
            actions.append(_update(self.concrete, image_id, path=path, size=size, mtime=mtime_ns))
            labels[image_id] = path
        for image_id, size, mtime_ns in touch:
            actions.append(_update(self.concrete, image_id, size=size, mtime=mtime_ns))
        now_ms = int(time.time() * 1000)
        model, layout = str(self._meta["model"]), self.layout
        for rec in add:
            actions.append(
                {
                    "_op_type": "index",
                    "_index": self.concrete,
                    "_id": rec.id,
                    "_source": document(rec, model, layout, now_ms),
                }
            )
            labels[rec.id] = rec.path
        failures = self._bulk_with_retries(actions)
        try:
            self.refresh()
        except StoreError:
            if not failures:
                raise
        if failures:
            self._write_failed = True
            raise StoreError(_failure_message(failures, labels))

    def _ids_at_paths(self, paths: list[str]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for start in range(0, len(paths), 500):
            chunk = paths[start : start + 500]
            res = self._search(
                {
                    "query": {"terms": {"path": chunk}},
                    "size": 2 * len(chunk) + 10,
                    "_source": ["id", "path"],
                }
            )
            out += [(h["_id"], h["_source"]["path"]) for h in res["hits"]["hits"]]
        return out

    def _bulk_with_retries(self, actions: list[dict[str, Any]]) -> dict[str, str]:
        """{_id: reason} of the actions that failed after retries (404 deletes are fine)."""
        pending = actions
        failures: dict[str, str] = {}
        for attempt in range(RETRY_ROUNDS + 1):
            by_id = {a["_id"]: a for a in pending}
            retry = []
            for item_id, status, reason in self.bulk(pending):
                failures[item_id] = reason
                if (status == 429 or status >= 500 or status == 0) and item_id in by_id:
                    retry.append(by_id[item_id])
            if not retry or attempt == RETRY_ROUNDS:
                break
            time.sleep(min(2.0**attempt, 8.0))
            pending = retry
            for a in retry:  # retried ones are judged again; the others' failures stand
                failures.pop(a["_id"], None)
        return failures

    def bulk(self, actions: Iterable[dict[str, Any]]) -> Iterator[tuple[str, int, str]]:
        """Stream actions in bounded chunks; yield (id, status, reason) of failures.

        The client helper retries 429s with exponential backoff; a chunk the
        cluster never answered fails as a whole with status 0.
        """
        if self.engine.distribution == "opensearch":
            from opensearchpy.helpers import streaming_bulk
        else:
            from elasticsearch.helpers import streaming_bulk  # type: ignore[no-redef]
        results = streaming_bulk(
            self.client,
            actions,
            chunk_size=BULK_CHUNK,
            max_chunk_bytes=BULK_BYTES,
            raise_on_error=False,
            raise_on_exception=False,
            max_retries=5,
            initial_backoff=1,
            max_backoff=30,
        )
        try:
            for ok, item in results:
                if ok:
                    continue
                op, info = next(iter(item.items()))
                status = info.get("status")
                status = status if isinstance(status, int) else 0
                if op == "delete" and status == 404:
                    continue
                yield str(info.get("_id")), status, _item_reason(info)
        except Exception as exc:  # the stream itself broke (e.g. the node went away)
            raise translate(exc, self.url) from exc

    # -- the searcher's side --------------------------------------------------------
    def refresh(self) -> None:
        if self._meta is not None:
            self._call(self.client.indices.refresh, index=self.alias)

    def count(self, where: Filter | None = None) -> int:
        if self._meta is None:
            return 0
        res = self._call(self.client.count, index=self.alias, body={"query": q.filter_query(where)})
        return int(res["count"])

    def search(
        self, query: StoreQuery, limit: int, offset: int = 0, where: Filter | None = None
    ) -> tuple[int, list[Hit]]:
        if self._meta is None:
            return 0, []
        want = offset + limit
        if self.layout == "paper":
            total, scored = self._search_paper(query, want, where)
        elif isinstance(query, ClassesQuery):
            total, scored = self._search_classes(query, want, where)
        elif isinstance(query, KeywordQuery):
            total, scored = self._search_keyword(query, want, where)
        elif isinstance(query, EmbeddingQuery):
            total, scored = self._search_embedding(query, want, where)
        elif isinstance(query, HybridQuery):
            total, scored = self._search_hybrid(query, want, where)
        else:
            raise TypeError(f"unknown query type {type(query).__name__}")
        return total, [Hit(i, s) for s, i in scored[offset:want]]

    def _hits(self, query: dict[str, Any], size: int, source: Any, total: bool) -> tuple:
        res = self._search(
            {"query": query, "size": size, "_source": source, "track_total_hits": total}
        )
        hits = res["hits"]["hits"]
        n = res["hits"]["total"]["value"] if total else len(hits)
        return int(n), hits

    def _search_classes(
        self, query: ClassesQuery, want: int, where: Filter | None
    ) -> tuple[int, list[tuple[float, str]]]:
        weights = _dense(query.weights)
        total = self.count(where)
        if want == 0:
            return total, []
        _, scored = self._rescored(
            q.classes_query(weights, where),
            want,
            lambda src: 1.0 + _dot(src, weights),
            # engine score = Σ η_j q(ξ_ij) ≥ (1 − ε)·Σ η_j ξ_ij
            lambda kth: (kth - 1.0) * (1.0 - FEATURE_ERROR),
            total=False,
        )
        if len(scored) < want:  # images with none of the query's classes score exactly 1
            filters, must_not = q.filter_clauses(where)
            should = q.class_features(weights)
            if should:
                must_not = [*must_not, {"bool": {"should": should}}]
            rest = {"bool": {"filter": filters, "must_not": must_not}}
            _, more = self._hits(rest, want - len(scored), False, False)
            scored += [(1.0, h["_id"]) for h in more]
        return total, scored

    def _search_keyword(
        self, query: KeywordQuery, want: int, where: Filter | None
    ) -> tuple[int, list[tuple[float, str]]]:
        if not query.positive:
            raise UsageError("a keyword query needs at least one word that is not negated")
        body = q.keyword_query(query.positive, query.negative, where)
        clauses = [np.asarray(sorted(set(c)), dtype=np.intp) for c in query.positive]
        n = len(clauses)

        def exact(src: dict[str, Any]) -> float:
            dense = _dense_classes(src)
            masses = [float(dense[c].sum(dtype=np.float64)) for c in clauses]
            return float(np.prod(masses) ** (1.0 / n))

        def floor(kth: float) -> float:
            # engine score = n + Σ ln(q(m_c)/t) ≥ n + n·ln(G/t) + n·ln(1 − ε)
            return n + n * np.log(max(kth, 1e-300) / MATCH_THRESHOLD) + n * np.log1p(-FEATURE_ERROR)

        return self._rescored(body, want, exact, floor, total=True)

    def _rescored(
        self,
        query: dict[str, Any],
        want: int,
        exact: Any,
        floor: Any,
        *,
        total: bool,
    ) -> tuple[int, list[tuple[float, str]]]:
        """Candidates by engine score, re-scored exactly from ``_source``.

        The engine's scores are low by at most the quantisation error, so a
        document can only beat the k-th exact score if its engine score reaches
        ``floor(k-th)``; when documents past the first window still do, every
        one of them (up to RESCORE_MAX) is fetched and re-scored too.
        """
        size = want + RESCORE_SLACK if want else 0
        count, hits = self._hits(query, size, ["top"], total)
        scored = [(exact(h["_source"]), h["_id"]) for h in hits]
        if want and len(hits) == size:
            kth = sorted((s for s, _ in scored), reverse=True)[want - 1]
            need = float(floor(kth))
            if float(hits[-1]["_score"]) >= need:
                body = {
                    "query": query,
                    "size": RESCORE_MAX,
                    "_source": ["top"],
                    "min_score": need,
                    "track_total_hits": False,
                }
                hits = self._search(body)["hits"]["hits"]
                scored = [(exact(h["_source"]), h["_id"]) for h in hits]
        scored.sort(key=lambda t: -t[0])  # stable: engine order breaks exact ties
        return count, scored

    def _search_embedding(
        self, query: EmbeddingQuery, want: int, where: Filter | None
    ) -> tuple[int, list[tuple[float, str]]]:
        total = self.count(where)
        if want == 0:
            return total, []
        body = q.knn_query(self.engine.distribution, query.vector, max(want, KNN_K), where)
        _, hits = self._hits(body, want, False, False)
        return total, [(2.0 * float(h["_score"]) - 1.0, h["_id"]) for h in hits]

    def _search_hybrid(
        self, query: HybridQuery, want: int, where: Filter | None
    ) -> tuple[int, list[tuple[float, str]]]:
        total = self.count(where)
        if want == 0:
            return total, []
        k = max(HYBRID_CANDIDATES, 2 * want)
        weights = _dense(query.weights)
        body = q.knn_query(self.engine.distribution, query.vector, k, where)
        _, hits = self._hits(body, k, ["top"], False)
        scored = [
            (2.0 * float(h["_score"]) - 1.0 + query.weight * _dot(h["_source"], weights), h["_id"])
            for h in hits
        ]
        scored.sort(key=lambda t: -t[0])
        return total, scored

    def _search_paper(
        self, query: StoreQuery, want: int, where: Filter | None
    ) -> tuple[int, list[tuple[float, str]]]:
        """The paper's layout: ``script_score`` over ``match_all``, scores as the engine says."""
        if isinstance(query, ClassesQuery):
            body = q.paper_classes_query(_dense(query.weights), where)
        elif isinstance(query, KeywordQuery):
            body = q.paper_keyword_query(query.positive, query.negative, where)
        else:
            raise UsageError(
                "an index with the paper's layout answers keyword and --mode classes searches "
                "only; reindex it with --layout picfind for embedding and hybrid"
            )
        total, hits = self._hits(body, want, False, True)
        return total, [(float(h["_score"]), h["_id"]) for h in hits]

    # -- bulk loading and reindexing (benchmark, ``picfind reindex``) --------------
    def load(
        self, records: Iterable[ImageRecord], index: str | None = None, layout: str | None = None
    ) -> int:
        """Stream records into ``index`` (default: the alias's) with no per-batch refresh."""
        if self._meta is None:
            raise StoreError("the cluster index has no model yet (set_model first)")
        target = index or self.concrete
        model, layout = str(self._meta["model"]), layout or self.layout
        now_ms = int(time.time() * 1000)
        count = [0]

        def actions() -> Iterator[dict[str, Any]]:
            for rec in records:
                count[0] += 1
                yield {
                    "_op_type": "index",
                    "_index": target,
                    "_id": rec.id,
                    "_source": document(rec, model, layout, now_ms),
                }

        # No refreshes while loading: fewer small segments, far fewer HNSW graph merges.
        settings = self.client.indices
        self._call(settings.put_settings, index=target, body={"index": {"refresh_interval": "-1"}})
        try:
            failures = list(self.bulk(actions()))
        finally:
            self._call(
                settings.put_settings, index=target, body={"index": {"refresh_interval": None}}
            )
        if failures:
            shown = ", ".join(f"{i} ({r})" for i, _, r in failures[:5])
            raise StoreError(f"{len(failures)} documents not written: {shown}")
        return count[0]

    def records(self) -> Iterator[ImageRecord]:
        """Every stored image as a record (features from ``_source``), in path order."""
        # named, not `_source: true`: Elasticsearch 9.2+ leaves vectors out of that
        fields = [*_FILE_FIELDS, "width", "height", "format", "top", "embedding"]
        for src in self._scan({"match_all": {}}, fields, page=500):
            ids, probs = source_classes(src)
            yield ImageRecord(
                src["id"],
                src["path"],
                src.get("content_hash", ""),
                int(src.get("size", 0)),
                int(src.get("mtime_ns", 0)),
                int(src.get("width", 0)),
                int(src.get("height", 0)),
                src.get("format", ""),
                Features(
                    SparseClasses(ids, probs),
                    np.asarray(
                        src.get("embedding") or self._stored_vector(src["id"]), dtype=np.float32
                    ),
                ),
            )

    def reindex(
        self,
        *,
        layout: str | None = None,
        shards: int | None = None,
        replicas: int | None = None,
        keep_old: bool = False,
    ) -> dict[str, object]:
        """Copy every document into a new index, then swap the alias atomically."""
        if self._meta is None:
            raise NotFoundError(f"no picfind index {self.alias!r} at {self.url}")
        layout = layout or self.layout
        if layout not in LAYOUTS:
            raise UsageError(f"unknown layout {layout!r}; choose picfind or paper")
        old = self.concrete
        settings = self._call(self.client.indices.get_settings, index=old)[old]["settings"]
        if shards is None:
            shards = int(settings["index"]["number_of_shards"])
        if replicas is None:
            replicas = int(settings["index"]["number_of_replicas"])
        new = self._next_name()
        started = time.perf_counter()
        model = str(self._meta["model"])
        dim = int(self._meta.get("dim") or MODELS[model].embedding_dim)
        self.create_index(
            new, model, dim, alias=False, layout=layout, shards=shards, replicas=replicas
        )
        try:
            copied = self.load(self.records(), index=new, layout=layout)
            self._call(self.client.indices.refresh, index=new)
            n_old = int(self._call(self.client.count, index=old)["count"])
            n_new = int(self._call(self.client.count, index=new)["count"])
            if n_new != n_old:
                raise StoreError(f"reindex copied {n_new} of {n_old} documents; alias not moved")
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.indices.delete(index=new)
            raise
        self._call(
            self.client.indices.update_aliases,
            body={
                "actions": [
                    {"remove": {"index": old, "alias": self.alias}},
                    {"add": {"index": new, "alias": self.alias}},
                ]
            },
        )
        if not keep_old:
            self._call(self.client.indices.delete, index=old)
        self._meta = self._read_meta()
        return {
            "old": old,
            "new": new,
            "documents": copied,
            "layout": layout,
            "shards": shards,
            "replicas": replicas,
            "seconds": round(time.perf_counter() - started, 3),
        }


# -- helpers ----------------------------------------------------------------------------


def _plain(resp: Any) -> Any:
    """elasticsearch-py wraps bodies (``ObjectApiResponse``/``HeadApiResponse``); unwrap."""
    body = getattr(resp, "body", resp)
    return bool(body) if type(resp).__name__ == "HeadApiResponse" else body


def _status_of(exc: Exception) -> int | None:
    for attr in ("status_code", "status"):
        v = getattr(exc, attr, None)
        if isinstance(v, int):
            return v
    v = getattr(getattr(exc, "meta", None), "status", None)
    return v if isinstance(v, int) else None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stored_file(src: dict[str, Any]) -> StoredFile:
    return StoredFile(
        src["id"], src["path"], int(src["size"]), int(src["mtime_ns"]), src["content_hash"]
    )


def _update(index: str, image_id: str, *, size: int, mtime: int, path: str | None = None) -> dict:
    doc: dict[str, Any] = {"size": size, "mtime_ns": mtime}
    if path is not None:
        doc["path"] = path
    return {"_op_type": "update", "_index": index, "_id": image_id, "doc": doc}


def _item_reason(info: dict[str, Any]) -> str:
    err = info.get("error")
    if isinstance(err, dict):
        return f"{err.get('type', 'error')}: {err.get('reason', '')}".strip(": ")
    return " ".join(str(err or info.get("exception") or "failed").split())[:200]


def _failure_message(failures: dict[str, str], labels: dict[str, str]) -> str:
    items = [f"{labels.get(i, i)} ({reason})" for i, reason in failures.items()]
    shown = "; ".join(items[:3])
    more = f"; and {len(items) - 3} more" if len(items) > 3 else ""
    return (
        f"{len(items)} documents were not written to the cluster and are not indexed: {shown}{more}"
    )


def _dense(weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float32)
    if w.shape != (NUM_CLASSES,):
        raise ValueError(f"class weights must have shape ({NUM_CLASSES},), got {w.shape}")
    return w


def _dense_classes(source: dict[str, Any]) -> np.ndarray:
    ids, probs = source_classes(source)
    dense = np.zeros(NUM_CLASSES, dtype=np.float32)
    dense[ids.astype(np.intp)] = probs
    return dense


def _dot(source: dict[str, Any], weights: np.ndarray) -> float:
    """Σ_j w_j ξ_ij exactly, from a document's stored top classes."""
    ids, probs = source_classes(source)
    return float((weights[ids.astype(np.intp)] * probs).sum(dtype=np.float64))
