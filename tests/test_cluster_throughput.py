"""How an indexing run talks to a real OpenSearch node (issue 13.3): counted on the wire.

A proxy (``tests/proxy.py``) sits between picfind and the node and keeps every request. A run
refreshes once, at its end (not once per batch); bulk requests stay under
``BULK_BYTES`` (split by bytes, not by a count of documents); an unchanged re-run
asks a handful of read requests and writes nothing; a long run refreshes at the
bounded interval. The node's own refresh statistics must agree with the proxy.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from proxy import Proxy, Request

import picfind
from picfind.errors import StoreError
from picfind.records import Features, ImageRecord
from picfind.scoring import SparseClasses
from picfind.store.cluster import ClusterOptions, ClusterStore, writes

pytestmark = [pytest.mark.opensearch, pytest.mark.shared_data, pytest.mark.slow]


def _external_refreshes(url: str, index: str) -> int:
    """The node's own count of refreshes that made changes visible to searches."""
    with urllib.request.urlopen(f"{url}/{index}/_stats/refresh", timeout=30) as r:
        return int(json.load(r)["_all"]["primaries"]["refresh"]["external_total"])


def _count(url: str, index: str) -> int:
    with urllib.request.urlopen(f"{url}/{index}/_count", timeout=30) as r:
        return int(json.load(r)["count"])


def _refreshes(requests: list[Request], *indices: str) -> list[Request]:
    """Refreshes of the image index (by its alias or its concrete name)."""
    return [r for r in requests if r.path.split("?")[0] in {f"/{i}/_refresh" for i in indices}]


def _bulks(requests: list[Request]) -> list[Request]:
    return [r for r in requests if r.path.split("?")[0].endswith("/_bulk")]


def test_refresh_once_per_run_and_bulks_bounded_by_bytes(
    catsdogs: Path,
    opensearch_url: str,
    index_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photos = tmp_path / "p"
    photos.mkdir()
    for kind in ("cat", "dog"):
        for i in range(8):
            shutil.copy2(catsdogs / f"{kind}.{i}.jpg", photos / f"{kind}.{i}.jpg")
    limit = 48 * 1024  # two documents of a 1280-d embedding (~23 KB each)
    monkeypatch.setattr(writes, "BULK_BYTES", limit)
    proxy = Proxy(opensearch_url)
    store = ClusterStore(proxy.url, ClusterOptions(name=index_name, replicas=0), create=True)
    try:
        store.set_model("efficientnet-lite0")
        concrete = store.concrete
        idx = picfind.Index(store)
        before = _external_refreshes(opensearch_url, concrete)
        proxy.take()

        report = idx.add([photos], batch_size=4)  # four batches, four writes
        assert report.indexed == 16
        sent = proxy.take()
        refreshes = _refreshes(sent, index_name, concrete)
        bulks = _bulks(sent)
        assert len(refreshes) == 1, [r.path for r in sent]  # at the end, not per batch
        assert sent.index(refreshes[0]) > sent.index(bulks[-1])
        assert max(b.bytes for b in bulks) <= limit
        assert len(bulks) >= 8  # each batch of four split by bytes
        assert _count(opensearch_url, concrete) == 16  # searchable when the run ends
        node = _external_refreshes(opensearch_url, concrete) - before
        assert 1 <= node <= 2, node  # ours, and at most one the engine scheduled itself
        assert store.writer.refreshes == 1

        report = idx.add([photos])  # unchanged: a few reads, no writes, no refresh
        assert report.unchanged == 16 and report.indexed == 0
        sent = proxy.take()
        assert not _bulks(sent) and not _refreshes(sent, index_name, concrete)
        assert len(sent) <= 10, [(r.method, r.path) for r in sent]

        # A long run refreshes at the bounded interval (here: after every write).
        monkeypatch.setattr(writes, "REFRESH_SECONDS", 0.0)
        for path in sorted(photos.iterdir())[:3]:
            os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
        report = idx.add([photos], batch_size=1)
        assert report.unchanged == 16 and report.indexed == 0  # touched: same content
        sent = proxy.take()
        assert len(_bulks(sent)) == 3
        assert len(_refreshes(sent, index_name, concrete)) == 3
        moved = {f.path: f.mtime_ns for f in store.rows(under=str(photos))}
        assert all(moved[str(p)] == p.stat().st_mtime_ns for p in photos.iterdir())
    finally:
        store.close()
        proxy.close()


def test_a_move_is_seen_before_removals(
    catsdogs: Path, opensearch_url: str, index_name: str, tmp_path: Path
) -> None:
    """Writes are not refreshed per batch, yet the end of a run must see its own moves:
    a moved file's row is kept (at its new path), never removed as gone."""
    photos = tmp_path / "p"
    (photos / "a").mkdir(parents=True)
    for i in range(3):
        shutil.copy2(catsdogs / f"cat.{i}.jpg", photos / "a" / f"cat.{i}.jpg")
    with picfind.open_index(
        url=opensearch_url, cluster=ClusterOptions(name=index_name, replicas=0), create=True
    ) as idx:
        assert idx.add([photos]).indexed == 3
        (photos / "b").mkdir()
        (photos / "a" / "cat.0.jpg").rename(photos / "b" / "cat.0.jpg")
        report = idx.add([photos])
        assert (report.moved, report.removed, report.indexed) == (1, 0, 0)
        paths = sorted(f.path for f in idx.store.rows())
        assert paths == sorted(str(p) for p in photos.rglob("*.jpg"))


class _SlowBulks(Proxy):
    """Answers every ``_bulk`` only after ``delay`` seconds; fails the ``fail``-th one
    (400 for the whole request: nothing of it reaches the node, nothing is retried)."""

    def __init__(self, upstream: str, delay: float, fail: int | None = None) -> None:
        self.delay, self.fail, self.bulks = delay, fail, 0
        super().__init__(upstream)

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if path.split("?")[0].endswith("/_bulk"):
            self.bulks += 1
            time.sleep(self.delay)
            if self.bulks == self.fail:
                error = {"type": "illegal_argument_exception", "reason": "injected"}
                return 400, json.dumps({"error": error, "status": 400}).encode()
        return self.forward(method, path, body)


def _records(first: int, n: int) -> list[ImageRecord]:
    rng = np.random.default_rng(first)
    out = []
    for i in range(first, first + n):
        emb = rng.standard_normal(1280).astype(np.float32)
        classes = SparseClasses(np.array([i % 1000], dtype=np.uint16), np.ones(1, np.float32))
        features = Features(classes, emb / np.linalg.norm(emb))
        out.append(ImageRecord(f"d{i:03d}", f"/p/{i:03d}.jpg", "h", 1, 2, 3, 4, "JPEG", features))
    return out


def test_a_run_writes_in_the_background_and_a_failed_bulk_is_named_later(
    opensearch_url: str, index_name: str
) -> None:
    """Inside a run a write returns before its bulk is answered (inference goes on), a
    third write waits for the first (bounded); a bulk that fails is raised at the next
    call with its paths, the write queued behind it is not sent, and the node holds
    exactly what was reported written. Outside a run a write is sent before it returns."""
    delay = 1.0
    proxy = _SlowBulks(opensearch_url, delay, fail=2)
    store = ClusterStore(proxy.url, ClusterOptions(name=index_name, replicas=0), create=True)
    try:
        store.set_model("efficientnet-lite0")
        a, b, c = _records(0, 2), _records(2, 2), _records(4, 2)
        with store.writer_lock(["/p"]):
            started = time.perf_counter()
            store.write(add=a)
            store.write(add=b)  # queued behind a
            queued = time.perf_counter() - started
            store.write(add=c)  # waits until a is answered: then behind b (which fails)
            waited = time.perf_counter() - started
            assert queued < delay / 2, queued
            assert waited >= delay * 0.9, waited
            with pytest.raises(StoreError) as info:
                store.refresh()
        text = str(info.value)
        assert "2 documents were not written" in text and "/p/002.jpg" in text, text
        assert "/p/000.jpg" not in text and "/p/004.jpg" not in text, text
        assert "the 2 changes queued after them were not sent either" in text, text
        assert proxy.bulks == 2  # c never went
        store.refresh()
        assert sorted(f.id for f in store.rows()) == ["d000", "d001"]

        proxy.delay = 0.3
        started = time.perf_counter()
        store.write(add=b + c)  # no run: sent before it returns
        assert time.perf_counter() - started >= 0.3 * 0.9
        store.refresh()
        assert len(list(store.rows())) == 6
    finally:
        store.close()
        proxy.close()
