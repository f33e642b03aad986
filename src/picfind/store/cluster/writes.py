"""Writes to a cluster index: bulk jobs sent in the background, retried, failures named.

A ``write()`` builds its bulk actions and queues them as one job; during a run
(while the store holds writer leases) a background thread (``sender``) sends
the jobs in order while the caller goes on (the next batch is inferred
meanwhile), and a caller that gets ahead waits for it; outside a run a write is
sent before it returns, as a lone write's caller expects. Each
job is one streaming bulk (requests bounded by ``BULK_BYTES``, the client's own
retries and backoff on 429), then up to ``RETRY_ROUNDS`` more rounds for the
documents that still failed with 429/5xx. Documents that fail for good are
named by path in a ``StoreError`` raised by the next ``write()``, ``flush`` or
``settle`` after the rest is committed (the jobs queued behind a failed one are
not sent and are counted in its error), so a run ends with that error and the
next run finds them missing and writes them.

Refreshes are what makes indexing slow on a cluster (each one writes a segment
and builds its HNSW graph), so a write does not refresh: the writer remembers
that it has unrefreshed changes, refreshes when ``REFRESH_SECONDS`` have passed
since the first of them (a long run becomes searchable step by step) and when
the run ends (``ClusterStore.refresh``); the store's reads that must see its
own writes refresh first (``settle``). New indexes are created with a
``refresh_interval`` of the same length, so the engine does not refresh every
second on its own either. Bulk loads (``load``: reindex, the benchmark) switch
refreshes off while they run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from picfind.errors import StoreError
from picfind.records import ImageRecord, ImageText
from picfind.store.base import Move, Touch, Update
from picfind.store.cluster.connection import translate
from picfind.store.cluster.handle import IndexHandle
from picfind.store.cluster.mapping import capture_source, document, text_fields
from picfind.store.cluster.sender import Job, Sender
from picfind.store.codec import encode_path, refuse_non_finite, updated_fields

BULK_CHUNK = 10_000
"""Actions per bulk request at most; requests are really bounded by ``BULK_BYTES``."""
BULK_BYTES = 4 * 1024 * 1024
"""Bytes per bulk request (~150 documents of a 1280-d embedding)."""
RETRY_ROUNDS = 3
REFRESH_SECONDS = 30.0
"""Longest a writer leaves its changes unrefreshed (also new indexes' refresh_interval)."""

Action = dict[str, Any]


class Writer:
    """The write side of one cluster index."""

    def __init__(
        self, handle: IndexHandle, versions: dict[str, tuple[int, int]] | None = None
    ) -> None:
        self.handle = handle
        self.versions = versions if versions is not None else {}
        """(primary term, seq_no) of rows as the store read them: a removal deletes only
        that version (a 409 means another run moved or rewrote it since: it stays)."""
        self.failed = False
        """Whether a write failed (the run's summary must not hide that error)."""
        self.unrefreshed_since: float | None = None
        """When the first change not yet refreshed was written (None: all refreshed)."""
        self.refreshes = 0
        """Refreshes this writer asked for (tests and benchmarks count them)."""
        self.sender = Sender(self._send)
        """The background lane the bulk jobs go through, in order."""
        self.runs = 0
        """Runs (writer leases) open on this store: only inside one do writes return
        before they are sent; a lone ``write()`` is sent before it returns."""
        self.background = True
        """False: every write is sent before it returns, in a run too (the benchmark's
        comparison; a debugging aid)."""

    def settle(self) -> None:
        """Send what is queued, then refresh if searches cannot see all of it yet."""
        self.sender.flush()
        if self.unrefreshed_since is not None:
            self.refresh()

    def flush(self) -> None:
        """Wait until every write is sent (not refreshed); raise one that failed."""
        self.sender.flush()

    def drain(self) -> None:
        """Wait until every write is sent; a failure is kept for the next write or flush."""
        self.sender.drain()

    def refresh(self) -> None:
        self.unrefreshed_since = None
        self.refreshes += 1
        self.handle.refresh()

    def write(
        self,
        add: Sequence[ImageRecord] = (),
        moves: Sequence[Move] = (),
        touch: Sequence[Touch] = (),
        remove: Sequence[str] = (),
        update: Sequence[Update] = (),
    ) -> None:
        """Queue the changes as one bulk job, sent in the background in order (``sender``);
        outside a run (no lease held), wait until it is sent.

        What is wrong with the request itself (no model, a lost lease, a non-finite
        feature, text for an index that cannot keep it) raises here; a bulk that fails
        on the cluster raises a StoreError naming its paths at the next write, ``flush``
        or ``settle`` — the indexer's end-of-run refresh, at the latest."""
        self.sender.check()
        if not (add or moves or touch or remove or update):
            return
        h = self.handle
        if not h.exists() or h.meta is None:
            raise StoreError("the cluster index has no model yet (set_model first)")
        self._check_lease()
        refuse_non_finite(add)
        index = h.concrete
        actions: list[Action] = []
        labels: dict[str, str] = {}  # _id → path, for failure reports
        for image_id in remove:
            action: Action = {"_op_type": "delete", "_index": index, "_id": image_id}
            if image_id in self.versions:
                term, seq = self.versions.pop(image_id)
                action |= {"if_primary_term": term, "if_seq_no": seq}
            actions.append(action)
        for changed in [*(r.id for r in add), *(m.id for m in moves), *(t.id for t in touch)]:
            self.versions.pop(changed, None)
        for m in moves:
            doc: dict[str, Any] = {
                "path": encode_path(m.path), "size": m.size, "mtime_ns": m.mtime_ns,
            }  # fmt: skip
            if m.content_hash:
                doc["content_hash"] = m.content_hash
            actions.append(_partial(index, m.id, doc))
            labels[m.id] = m.path
        for t in touch:
            doc = {"size": t.size, "mtime_ns": t.mtime_ns}
            if t.content_hash:
                doc["content_hash"] = t.content_hash
            actions.append(_partial(index, t.id, doc))
        for u in update:
            written = updated_fields(u.fields)
            text = written.pop("text", None)
            if isinstance(text, ImageText):
                if h.layout == "paper":
                    raise StoreError(
                        "an index with the paper's layout keeps no read text; "
                        "reindex it with --layout picfind"
                    )
                if not h.meta.get("text"):
                    raise StoreError(
                        f"the cluster index {h.alias!r} predates read text; run "
                        f"'picfind reindex --url {h.url}' first"
                    )
            doc = capture_source(written)
            if isinstance(text, ImageText):
                doc.update(text_fields(text))
            if doc:
                actions.append(_partial(index, u.id, doc))
        now_ms = int(time.time() * 1000)
        model, layout = str(h.meta["model"]), h.layout
        for rec in add:
            # Encoded here, not in the sending thread: that thread then only waits on the
            # network (both clients pass a str through). Encoding ~25 KB of floats there
            # competed with the model's threads for the CPU and made a run slower than
            # sending inline (catsdogs on 2 loaded cores: 0.62-0.70 x embedded, not 0.82-0.96).
            source = json.dumps(document(rec, model, layout, now_ms), separators=(",", ":"))
            actions.append({"_op_type": "index", "_index": index, "_id": rec.id, "_source": source})
            labels[rec.id] = rec.path
        # A path belongs to one document: others at a path we write are dropped (found
        # when the job is sent, after the jobs before it).
        keep = {rec.path: rec.id for rec in add} | {m.path: m.id for m in moves}
        self.sender.submit(Job(actions, labels, keep, frozenset(remove)))
        if not (self.runs and self.background):
            self.sender.flush()

    def _check_lease(self) -> None:
        lost = self.handle.lost_lease
        if lost is not None:
            raise StoreError(
                f"the lease on {lost} expired and another run took it over; "
                "this run stops (its committed batches are kept)"
            )

    def _send(self, job: Job) -> None:
        """The sender thread: one job's bulk, retried; the bounded-interval refresh."""
        try:
            self._send_now(job)
        except Exception:
            self.failed = True
            raise

    def _send_now(self, job: Job) -> None:
        self._check_lease()  # lost while the job waited: it is not sent
        index = self.handle.concrete
        others: list[Action] = []
        for other_id, path in self.ids_at_paths(list(job.keep)):
            if other_id != job.keep[path] and other_id not in job.removing:
                others.append({"_op_type": "delete", "_index": index, "_id": other_id})
                job.labels[other_id] = path
        if self.unrefreshed_since is None:
            self.unrefreshed_since = time.monotonic()
        failures = self.bulk_with_retries(others + job.actions)
        if time.monotonic() - self.unrefreshed_since >= REFRESH_SECONDS:
            try:
                self.refresh()
            except StoreError:
                if not failures:
                    raise
        if failures:
            raise StoreError(_failure_message(failures, job.labels))

    def ids_at_paths(self, paths: list[str]) -> list[tuple[str, str]]:
        """(id, path) of the documents at these paths."""
        out: list[tuple[str, str]] = []
        for start in range(0, len(paths), 500):
            chunk = paths[start : start + 500]
            res = self.handle.search(
                {
                    "query": {"terms": {"path": [encode_path(p) for p in chunk]}},
                    "size": 2 * len(chunk) + 10,
                    "_source": ["id", "path"],
                }
            )
            by_text = {encode_path(p): p for p in chunk}
            out += [(h["_id"], by_text[h["_source"]["path"]]) for h in res["hits"]["hits"]]
        return out

    def bulk_with_retries(self, actions: list[Action]) -> dict[str, str]:
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

    def bulk(self, actions: Iterable[Action]) -> Iterator[tuple[str, int, str]]:
        """Stream actions in bounded chunks; yield (id, status, reason) of failures.

        The client helper retries 429s with exponential backoff; a chunk the
        cluster never answered fails as a whole with status 0.
        """
        streaming_bulk: Callable[..., Iterable[tuple[bool, dict[str, Any]]]]
        if self.handle.engine.distribution == "opensearch":
            from opensearchpy.helpers import streaming_bulk as os_bulk

            streaming_bulk = os_bulk
        else:
            from elasticsearch.helpers import streaming_bulk as es_bulk

            streaming_bulk = es_bulk
        results = streaming_bulk(
            self.handle.client,
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
                if op == "delete" and status in (404, 409):  # gone, or changed since read
                    continue
                yield str(info.get("_id")), status, _item_reason(info)
        except Exception as exc:  # the stream itself broke (e.g. the node went away)
            raise translate(exc, self.handle.url) from exc

    def load(
        self, records: Iterable[ImageRecord], index: str | None = None, layout: str | None = None
    ) -> int:
        """Stream records into ``index`` (default: the alias's) with no per-batch refresh."""
        self.sender.flush()  # queued writes first: they were made before
        h = self.handle
        if h.meta is None:
            raise StoreError("the cluster index has no model yet (set_model first)")
        target = index or h.concrete
        model, layout = str(h.meta["model"]), layout or h.layout
        now_ms = int(time.time() * 1000)
        count = [0]

        def actions() -> Iterator[Action]:
            for rec in records:
                refuse_non_finite([rec])
                count[0] += 1
                yield {
                    "_op_type": "index",
                    "_index": target,
                    "_id": rec.id,
                    "_source": document(rec, model, layout, now_ms),
                }

        # No refreshes while loading: fewer small segments, far fewer HNSW graph merges.
        settings = h.client.indices
        found = h.call(settings.get_settings, index=target, name="index.refresh_interval")
        interval = (found.get(target) or {}).get("settings", {}).get("index", {})
        before = interval.get("refresh_interval")
        h.call(settings.put_settings, index=target, body={"index": {"refresh_interval": "-1"}})
        try:
            failures = list(self.bulk(actions()))
        finally:
            if self.unrefreshed_since is None:  # refresh() and reads must see them
                self.unrefreshed_since = time.monotonic()
            h.call(
                settings.put_settings, index=target, body={"index": {"refresh_interval": before}}
            )
        if failures:
            shown = ", ".join(f"{i} ({r})" for i, _, r in failures[:5])
            raise StoreError(f"{len(failures)} documents not written: {shown}")
        return count[0]


def _partial(index: str, image_id: str, doc: dict[str, Any]) -> Action:
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
