"""One picfind index on a cluster: its alias, its ``_meta``, and the requests every job makes.

The lock, the writes, the queries and the admin jobs (``lease``, ``writes``,
``queries``, ``admin``) all talk to the cluster through an :class:`IndexHandle`:
one client, one URL, errors already turned into picfind's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from picfind.errors import NotFoundError, StoreError, UsageError
from picfind.records import Features
from picfind.store.base import Filter
from picfind.store.cluster import bodies
from picfind.store.cluster.connection import (
    ClusterOptions,
    Engine,
    connect,
    guard,
    plain,
    status_of,
    translate,
)
from picfind.store.cluster.mapping import (
    HASH_KINDS,
    LAYOUTS,
    SCHEMA_VERSION,
    capture_properties,
    source_classes,
)

SCAN_PAGE = 5000
"""Documents per page of a scan (under the engines' default 10,000 result window)."""


class IndexHandle:
    """A connected client and the picfind index its alias names (if it exists yet)."""

    def __init__(self, url: str, options: ClusterOptions) -> None:
        if options.layout not in LAYOUTS:
            raise UsageError(f"unknown layout {options.layout!r}; choose picfind or paper")
        self.url = url
        self.options = options
        self.engine: Engine = connect(url, options)
        self.client: Any = self.engine.client
        self.alias = options.name
        self.meta_index = f"{self.alias}-meta"
        self.lost_lease: str | None = None
        """Set when another run took this run's expired lease: writing must stop."""
        try:
            self.meta: dict[str, Any] | None = self.read_meta()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()

    # -- requests -----------------------------------------------------------------
    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One request; the plain body back (dict or bool) from either client."""
        return plain(guard(lambda: fn(*args, **kwargs), self.url))

    def source_kw(self, fields: list[str]) -> dict[str, Any]:
        """Source filtering of get/mget, spelled as each client spells it."""
        key = "_source_includes" if self.engine.distribution == "opensearch" else "source_includes"
        return {key: fields}

    def get(self, index: str, doc_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """A document by id (realtime), None when it does not exist."""
        try:
            found: dict[str, Any] = plain(self.client.get(index=index, id=doc_id, **kwargs))
            return found
        except Exception as exc:
            if status_of(exc) == 404:
                return None
            raise translate(exc, self.url) from exc

    def search(self, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        found: dict[str, Any] = self.call(self.client.search, index=self.alias, body=body, **kwargs)
        return found

    def msearch(self, searches: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Several searches in one round trip (the node runs them side by side); a failed
        one is a ``StoreError`` with the engine's reason."""
        lines: list[dict[str, Any]] = []
        for body in searches:
            lines += [{}, body]
        if self.engine.distribution == "opensearch":
            res = self.call(self.client.msearch, index=self.alias, body=lines)
        else:
            res = self.call(self.client.msearch, index=self.alias, searches=lines)
        out: list[dict[str, Any]] = res["responses"]
        for r in out:
            if "error" in r:
                err = r["error"]
                reason = err.get("reason", err) if isinstance(err, dict) else err
                raise StoreError(f"search of {self.alias!r} at {self.url} failed: {reason}")
        return out

    def scan(
        self,
        query: dict[str, Any],
        source: Any,
        page: int = SCAN_PAGE,
        docvalues: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every matching document's source in path order, by ``search_after`` on the
        unique (path, id) key: no page is skipped or repeated while others write.

        With ``docvalues`` those fields come from doc values and no stored field is read
        at all (``stored_fields: _none_``, not even ``_id``): a stored field sits in
        compressed blocks beside the ``_source`` of its neighbours, embeddings
        included (~25 KB of JSON a document). Measured on 5,000 documents: 16-30 s
        filtering ``_source``, 6-7 s with doc values, 0.5-1.8 s with doc values and
        no stored fields (one shared, loaded node). Each then carries its ``_version``,
        (primary term, seq_no), for deletes of exactly the version read."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "query": query,
                "size": page,
                "sort": [{"path": "asc"}, {"id": "asc"}],
                "track_total_hits": False,
            }
            if docvalues:
                body["stored_fields"] = "_none_"
                body["docvalue_fields"] = docvalues
                body["seq_no_primary_term"] = True
            else:
                body["_source"] = source
            if after is not None:
                body["search_after"] = after
            hits = self.search(body)["hits"]["hits"]
            for h in hits:
                if docvalues:
                    found = {k: v[0] for k, v in (h.get("fields") or {}).items() if v}
                    if "_seq_no" in h:
                        found["_version"] = (int(h["_primary_term"]), int(h["_seq_no"]))
                    yield found
                else:
                    yield h["_source"]
            if len(hits) < page:
                return
            after = hits[-1]["sort"]

    def exists(self) -> bool:
        """Whether the index exists; while it does not, asked again each time (another
        process — a server's indexing job, a second machine — may create it)."""
        if self.meta is None:
            self.meta = self.read_meta()
        return self.meta is not None

    def count(self, where: Filter | None = None) -> int:
        if not self.exists():
            return 0
        res = self.call(
            self.client.count, index=self.alias, body={"query": bodies.filter_query(where)}
        )
        return int(res["count"])

    def refresh(self) -> None:
        if self.meta is not None:
            self.call(self.client.indices.refresh, index=self.alias)

    # -- the index and its metadata -----------------------------------------------
    def read_meta(self) -> dict[str, Any] | None:
        """The alias's ``_meta`` (None when there is no index yet); checks the schema."""
        indices = self.client.indices
        try:
            exists = self.call(indices.exists, index=self.alias)
        except StoreError as exc:
            raise translate(exc, self.url, opening=True) from exc
        if not exists:
            return None
        body = self.call(indices.get_mapping, index=self.alias)
        if len(body) != 1:
            raise StoreError(f"{self.alias!r} at {self.url} names {len(body)} indices, not one")
        concrete, info = next(iter(body.items()))
        meta = (info.get("mappings") or {}).get("_meta") or {}
        if "picfind_schema" not in meta:
            raise UsageError(f"index {self.alias!r} at {self.url} is not a picfind index")
        old = meta["picfind_schema"]
        if old in (1, 2):  # additive: the capture fields (from 1), the hash kinds' record
            migrated = {"from": old, "to": SCHEMA_VERSION, "at": int(time.time())}
            meta = {**meta, "picfind_schema": SCHEMA_VERSION, "migrated": migrated}
            meta["content_hash"] = HASH_KINDS
            update: dict[str, Any] = {"_meta": meta}
            if old == 1:
                update["properties"] = capture_properties()
            self.call(indices.put_mapping, index=concrete, body=update)
        if meta["picfind_schema"] != SCHEMA_VERSION:
            raise UsageError(
                f"index {self.alias!r} at {self.url} has picfind schema {meta['picfind_schema']}; "
                f"this picfind reads schema {SCHEMA_VERSION}"
            )
        return {**meta, "index": concrete}

    @property
    def concrete(self) -> str:
        """The concrete index the alias points at."""
        if self.meta is None:
            raise NotFoundError(f"no picfind index {self.alias!r} at {self.url}")
        return str(self.meta["index"])

    @property
    def layout(self) -> str:
        return str(self.meta["layout"]) if self.meta else self.options.layout

    @property
    def model(self) -> str | None:
        return str(self.meta["model"]) if self.meta else None

    def ensure_meta_index(self) -> None:
        """``<alias>-meta``: the lock and the last run (created on first need)."""
        if not self.call(self.client.indices.exists, index=self.meta_index):
            with contextlib.suppress(StoreError):  # created meanwhile by another process
                self.call(
                    self.client.indices.create,
                    index=self.meta_index,
                    body={
                        "settings": {"number_of_shards": 1, "auto_expand_replicas": "0-1"},
                        "mappings": {"dynamic": False, "properties": {}},
                    },
                )

    def meta_doc(self, key: str) -> dict[str, Any] | None:
        doc = self.get(self.meta_index, key)
        source: dict[str, Any] | None = doc.get("_source") if doc else None
        return source

    # -- documents ----------------------------------------------------------------
    def features(self, source: dict[str, Any], doc_id: str) -> Features:
        """Features from a document's ``_source`` (its embedding fetched if left out)."""
        vector = source.get("embedding") or self._stored_vector(doc_id)
        return Features(source_classes(source), np.asarray(vector, dtype=np.float32))

    def _stored_vector(self, doc_id: str) -> list[float]:
        """The embedding when ``_source`` left it out (Elasticsearch 9 may, by default)."""
        if self.engine.distribution == "opensearch":
            return []
        doc = self.get(
            self.alias, doc_id, source_exclude_vectors=False, **self.source_kw(["embedding"])
        )
        vector: list[float] = ((doc or {}).get("_source") or {}).get("embedding") or []
        return vector
