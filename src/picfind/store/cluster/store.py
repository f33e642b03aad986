"""The cluster store: the store seam on OpenSearch or Elasticsearch.

Documents are keyed by picfind's stable image id, so re-indexing replaces and
never duplicates. The jobs live in their own modules and share one
:class:`~picfind.store.cluster.handle.IndexHandle`: ``lease`` (the writer lock),
``writes`` (bulk writes with retries), ``queries`` (the five search strategies
with exact re-scoring), ``admin`` (creating, loading and reindexing). This class
is the seam over them, plus bulk reads of rows (``rows``: ``search_after`` pages
over a path prefix, or batched ``ids``/``terms`` lookups — a few requests for a
whole folder, never one per file).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from picfind.errors import NotFoundError, StoreError
from picfind.records import Hit, ImageRecord, ImageText, MetadataCoverage, Stats, StoredFile
from picfind.store.base import Browsed, DocSummary, Filter, Move, StoreQuery, Touch, Update
from picfind.store.cluster import admin, bodies, lease
from picfind.store.cluster.connection import ClusterOptions, Engine
from picfind.store.cluster.handle import IndexHandle
from picfind.store.cluster.mapping import (
    TEXT_FIELDS,
    capture_properties,
    source_capture,
    source_classes,
    source_text,
)
from picfind.store.cluster.queries import Queries
from picfind.store.cluster.writes import Writer
from picfind.store.codec import decode_path, encode_path

FILE_FIELDS = [
    "id", "path", "size", "mtime_ns", "content_hash", "width", "height", "format", "meta_version",
]  # fmt: skip
CAPTURE_FIELDS = list(capture_properties())
FILE_FIELDS += ["text_version"]
LOOKUP_CHUNK = 1000
"""Ids, paths or hashes per lookup request."""
BROWSE_ORDER = [
    {"taken": {"order": "desc", "missing": "_last"}},
    {"path": "asc"},
    {"id": "asc"},
]
"""The timeline's order (``Store.browse``): newest capture, undated last, then path."""
WINDOW = 10_000
"""``from + size`` the engine allows (``index.max_result_window``); deeper pages step
there by ``search_after``."""


class ClusterStore:
    """A picfind index on an OpenSearch/Elasticsearch cluster, behind an alias."""

    def __init__(
        self, url: str, options: ClusterOptions | None = None, *, create: bool = False
    ) -> None:
        self.handle = IndexHandle(url, options or ClusterOptions())
        if self.handle.meta is None and not create:
            self.handle.close()
            raise NotFoundError(
                f"no picfind index {self.handle.alias!r} at {url} "
                f"(run 'picfind index PATH --url {url}' first)"
            )
        self.versions: dict[str, tuple[int, int]] = {}
        """(primary term, seq_no) of each row last read: a removal deletes only that."""
        self.writer = Writer(self.handle, self.versions)
        self.queries = Queries(self.handle)

    # -- what callers may want to know ----------------------------------------------
    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def alias(self) -> str:
        return self.handle.alias

    @property
    def client(self) -> Any:
        return self.handle.client

    @property
    def engine(self) -> Engine:
        return self.handle.engine

    @property
    def concrete(self) -> str:
        return self.handle.concrete

    @property
    def layout(self) -> str:
        return self.handle.layout

    def close(self) -> None:
        """Send and make searchable this store's writes (a prune, a pass), then disconnect."""
        with contextlib.suppress(StoreError):
            self.writer.flush()  # a failure was the caller's to see at its last write
        with contextlib.suppress(StoreError):
            self.writer.settle()
        self.handle.close()

    # -- metadata -------------------------------------------------------------------
    @property
    def model(self) -> str | None:
        return self.handle.model

    def set_model(self, name: str) -> None:
        admin.set_model(self.handle, name)

    def record_run(self, summary: dict[str, object]) -> None:
        h = self.handle
        try:
            self.writer.flush()  # the run's writes are sent before it is recorded
            h.ensure_meta_index()
            h.call(
                h.client.index,
                index=h.meta_index,
                id=f"last_run:{h.alias}",
                body={"json": json.dumps(summary)},
                refresh="true",
            )
        except StoreError:
            if not self.writer.failed:  # after a failed write, keep that error
                raise

    def writer_lock(self, roots: Sequence[str] = ()) -> AbstractContextManager[None]:
        """A lease per root (``lease``): runs on other roots proceed at the same time.
        Inside, writes go in the background (``writes``); they are all sent before the
        leases are given up."""
        return self._locked(roots)

    @contextlib.contextmanager
    def _locked(self, roots: Sequence[str]) -> Iterator[None]:
        with lease.writer_lock(self.handle, roots):
            self.writer.runs += 1
            try:
                yield
            finally:
                self.writer.runs -= 1
                self.writer.drain()

    # -- rows -------------------------------------------------------------------------
    def rows(
        self,
        *,
        under: str | None = None,
        ids: Sequence[str] | None = None,
        paths: Sequence[str] | None = None,
        hashes: Sequence[str] | None = None,
        sizes: Sequence[int] | None = None,
        features: bool = False,
        metadata: bool = False,
    ) -> Iterator[StoredFile]:
        """The seam's bulk read. A folder, path or whole-index read sees this store's own
        writes (it refreshes first if some are not yet searchable); a look-up by content
        hash or id may miss the writes since the last refresh — the indexer uses those
        for what it may reuse, so a miss costs an inference, never a wrong row."""
        if not self.handle.exists():
            return iter(())
        if hashes is None and ids is None and sizes is None:
            self.writer.settle()  # a folder read sees this store's own writes
        filters, _ = bodies.filter_clauses(Filter(under=under) if under is not None else None)
        lists: list[tuple[str, list[str] | list[int]]] = []
        if ids is not None:
            lists.append(("ids", list(dict.fromkeys(ids))))
        if paths is not None:
            lists.append(("path", list(dict.fromkeys(encode_path(p) for p in paths))))
        if hashes is not None:
            lists.append(("content_hash", list(dict.fromkeys(hashes))))
        if sizes is not None:
            lists.append(("size", list(dict.fromkeys(sizes))))
        source = FILE_FIELDS + (["top", "embedding"] if features else [])
        source += CAPTURE_FIELDS if metadata else []
        found: list[StoredFile] = []
        chunks = _chunked(lists)
        for terms in chunks:
            if terms is None:
                return iter(())
            query = {"bool": {"filter": filters + terms}} if filters or terms else {"match_all": {}}
            # Plain file rows come from doc values (no stored source read: far faster).
            plain = not (features or metadata)
            scan = self.handle.scan(query, source, docvalues=FILE_FIELDS if plain else None)
            for src in scan:
                if "_version" in src:
                    self.versions[src["id"]] = src["_version"]
                found.append(self._stored(src, features, metadata))
        if len(chunks) > 1:
            found.sort(key=lambda f: (encode_path(f.path), f.id))
        return iter(found)

    def _stored(self, src: dict[str, Any], features: bool, metadata: bool = False) -> StoredFile:
        return StoredFile(
            src["id"],
            decode_path(src["path"]),
            int(src["size"]),
            int(src["mtime_ns"]),
            src["content_hash"],
            int(src.get("width", 0)),
            int(src.get("height", 0)),
            str(src.get("format", "")),
            self.handle.features(src, src["id"]) if features else None,
            int(src.get("meta_version") or 0),
            source_capture(src) if metadata else None,
            text_version=src.get("text_version"),
        )

    def summaries(self, ids: Sequence[str]) -> dict[str, DocSummary]:
        h = self.handle
        self.writer.drain()  # a get is realtime: it sees every write sent
        out: dict[str, DocSummary] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            res = h.call(
                h.client.mget, index=h.alias, body={"ids": chunk}, **h.source_kw(["path", "top"])
            )
            for d in res["docs"]:
                if d.get("found"):
                    classes = source_classes(d["_source"])
                    path = decode_path(d["_source"]["path"])
                    out[d["_id"]] = DocSummary(d["_id"], path, classes.ids, classes.probs)
        return out

    def browse(
        self, limit: int, offset: int = 0, where: Filter | None = None
    ) -> tuple[int, list[Browsed]]:
        h = self.handle
        if not h.exists():
            return 0, []
        self.writer.settle()
        query = bodies.filter_query(where)
        body: dict[str, Any] = {"query": query, "sort": BROWSE_ORDER, "track_total_hits": True}
        after: list[Any] | None = None
        skip = offset
        while offset + limit > WINDOW and skip > 0:  # beyond the window: sort keys only
            step = min(skip, WINDOW)
            hop = {**body, "size": step, "_source": False}
            res = h.search({**hop, "search_after": after} if after else hop)
            hits = res["hits"]["hits"]
            if len(hits) < step:
                return int(res["hits"]["total"]["value"]), []
            after, skip = hits[-1]["sort"], skip - step
        page = {**body, "size": limit, "_source": ["path", "taken"]}
        res = h.search({**page, "search_after": after} if after else {**page, "from": skip})
        found = [
            Browsed(d["_id"], decode_path(d["_source"]["path"]), d["_source"].get("taken"))
            for d in res["hits"]["hits"]
        ]
        return int(res["hits"]["total"]["value"]), found

    def stats(self) -> Stats:
        h = self.handle
        if not h.exists():
            return Stats(0, "", 0, None)
        self.writer.settle()
        count = int(h.call(h.client.count, index=h.alias)["count"])
        st = h.call(h.client.indices.stats, index=h.alias, metric="store")
        size = int(st["_all"]["total"]["store"]["size_in_bytes"])
        run = h.meta_doc(f"last_run:{h.alias}")
        exists = [self._count_with(f) for f in ("meta_version", "taken_day", "location", "camera")]
        read, dated, placed, camera = exists
        meta = h.meta or {}
        return Stats(
            count,
            self.model or "",
            size,
            json.loads(run["json"]) if run else None,
            schema=int(meta.get("picfind_schema", 0)),
            migrated=meta.get("migrated"),
            metadata=MetadataCoverage(read, count - read, dated, placed, camera),
            texts=self._text_count(),
        )

    def _text_count(self) -> int:
        """Images with text read in them (none in an index made before read text)."""
        h = self.handle
        if not (h.meta or {}).get("text"):
            return 0
        body = {"query": {"range": {"text_lines": {"gt": 0}}}}
        return int(h.call(h.client.count, index=h.alias, body=body)["count"])

    def _count_with(self, field: str) -> int:
        h = self.handle
        body = {"query": {"exists": {"field": field}}}
        return int(h.call(h.client.count, index=h.alias, body=body)["count"])

    def texts(self, ids: Sequence[str]) -> dict[str, ImageText]:
        h = self.handle
        out: dict[str, ImageText] = {}
        if h.meta is None or not h.meta.get("text"):
            return out
        self.writer.drain()  # a get is realtime: it sees every write sent
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            fields = h.source_kw(TEXT_FIELDS)
            res = h.call(h.client.mget, index=h.alias, body={"ids": chunk}, **fields)
            for d in res["docs"]:
                text = source_text(d.get("_source") or {}) if d.get("found") else None
                if text is not None:
                    out[d["_id"]] = text
        return out

    # -- writing and searching ------------------------------------------------------------
    def write(
        self,
        add: Sequence[ImageRecord] = (),
        moves: Sequence[Move] = (),
        touch: Sequence[Touch] = (),
        remove: Sequence[str] = (),
        update: Sequence[Update] = (),
    ) -> None:
        self.writer.write(add, moves, touch, remove, update)

    def search(
        self, query: StoreQuery, limit: int, offset: int = 0, where: Filter | None = None
    ) -> tuple[int, list[Hit]]:
        self.writer.settle()
        return self.queries.search(query, limit, offset, where)

    def search_many(
        self, queries: Sequence[StoreQuery], limit: int, where: Sequence[Filter]
    ) -> list[tuple[int, list[Hit]]]:
        self.writer.settle()
        return self.queries.search_many(queries, limit, where)

    def refresh(self) -> None:
        """Make this store's writes searchable (the indexer calls it when a run ends; a run
        that wrote nothing asks nothing)."""
        self.writer.settle()

    def count(self, where: Filter | None = None) -> int:
        self.writer.settle()
        return self.handle.count(where)

    # -- bulk loading and reindexing (benchmark, ``picfind reindex``) ----------------------
    def load(
        self, records: Iterable[ImageRecord], index: str | None = None, layout: str | None = None
    ) -> int:
        """Stream records into ``index`` (default: the alias's) with no per-batch refresh."""
        return self.writer.load(records, index, layout)

    def records(self) -> Iterator[ImageRecord]:
        """Every stored image as a record (features from ``_source``), in path order."""
        self.writer.settle()  # a scan sees only refreshed writes
        return admin.records(self.handle)

    def reindex(
        self,
        *,
        layout: str | None = None,
        shards: int | None = None,
        replicas: int | None = None,
        keep_old: bool = False,
    ) -> dict[str, object]:
        """Copy every document into a new index, then swap the alias atomically."""
        self.writer.settle()  # the copy is a scan: this store's last writes must be in it
        return admin.reindex(
            self.handle,
            self.writer,
            layout=layout,
            shards=shards,
            replicas=replicas,
            keep_old=keep_old,
        )


def _chunked(
    lists: list[tuple[str, list[str] | list[int]]],
) -> list[list[dict[str, Any]] | None]:
    """Filter clauses per request: the first list in chunks, the others whole; None when a
    list is empty (nothing can match)."""
    if any(not values for _, values in lists):
        return [None]
    if not lists:
        return [[]]

    def clause(field: str, values: list[str] | list[int]) -> dict[str, Any]:
        return {"ids": {"values": values}} if field == "ids" else {"terms": {field: values}}

    (field, values), rest = lists[0], lists[1:]
    fixed = [clause(f, v) for f, v in rest]
    return [
        [clause(field, values[i : i + LOOKUP_CHUNK]), *fixed]
        for i in range(0, len(values), LOOKUP_CHUNK)
    ]
