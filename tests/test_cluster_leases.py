"""Concurrent writers on one cluster index: a lease per root (issue 13.2), on a real node.

Runs on disjoint roots hold their leases at once; a run on the same root, or on one
inside or around a held root, fails fast with one line; of runs racing for
overlapping roots exactly one proceeds. Then real ``picfind index`` processes: one
(slowed by a proxy that delays its bulk requests) runs while a second on the same
root fails fast and a third on another root completes; the first is killed with
SIGKILL mid-run; its lease (made to look like another machine's, so no pid check
can free it) blocks the root until it expires; then a new run takes over and
completes the index — every file once, nothing lost, nothing indexed twice.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from proxy import Proxy

from picfind.errors import StoreError, UsageError
from picfind.store.cluster import ClusterOptions, ClusterStore
from picfind.store.cluster.lease import overlaps

pytestmark = [pytest.mark.opensearch]


def _store(url: str, name: str) -> ClusterStore:
    return ClusterStore(url, ClusterOptions(name=name, replicas=0), create=True)


def test_overlaps() -> None:
    assert overlaps("/a", "/a") and overlaps("/a", "/a/b") and overlaps("/a/b/", "/a")
    assert overlaps("/", "/x") and overlaps("/x/y.jpg", "/x")
    assert not overlaps("/a", "/ab") and not overlaps("/a/b", "/a/c")


def test_disjoint_roots_at_once_overlapping_ones_fail_fast(
    opensearch_url: str, index_name: str, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    stores = [_store(opensearch_url, index_name) for _ in range(3)]
    try:
        with stores[0].writer_lock([str(a)]), stores[1].writer_lock([str(b)]):
            for roots in ([a], [a / "sub"], [tmp_path], [], [b, tmp_path / "c"]):
                with (
                    pytest.raises(UsageError) as info,
                    stores[2].writer_lock([str(r) for r in roots]),
                ):
                    pass
                message = str(info.value)
                assert "another 'picfind index' is running on" in message, roots
                assert "\n" not in message
            with stores[2].writer_lock([str(tmp_path / "c")]):  # a third, disjoint
                pass
        with stores[2].writer_lock():  # all released: the whole index is free
            pass
    finally:
        for s in stores:
            s.close()


def test_a_race_for_overlapping_roots_has_one_winner(
    opensearch_url: str, index_name: str, tmp_path: Path
) -> None:
    roots = [tmp_path, tmp_path / "x", tmp_path / "x" / "y", tmp_path]
    stores = [_store(opensearch_url, index_name) for _ in roots]
    try:
        for _ in range(3):
            start = threading.Barrier(len(roots))
            won: list[int] = []
            release = threading.Event()
            threads = [
                threading.Thread(
                    target=_contend, args=(stores[n], roots[n], n, start, won, release)
                )
                for n in range(len(roots))
            ]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 60
            while not won and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)  # the losers have answered by now
            release.set()
            for t in threads:
                t.join(60)
            assert len(won) == 1, won
    finally:
        for s in stores:
            s.close()


def _contend(
    store: ClusterStore,
    root: Path,
    n: int,
    start: threading.Barrier,
    won: list[int],
    release: threading.Event,
) -> None:
    start.wait()
    try:
        with store.writer_lock([str(root)]):
            won.append(n)
            release.wait(30)
    except UsageError:
        pass


def test_a_lost_lease_stops_the_writes(
    opensearch_url: str, index_name: str, tmp_path: Path
) -> None:
    store = _store(opensearch_url, index_name)
    try:
        store.set_model("efficientnet-lite0")
        with store.writer_lock([str(tmp_path)]):
            store.handle.lost_lease = str(tmp_path)  # what the renewal thread sets on a 409
            with pytest.raises(StoreError, match="expired and another run took it over"):
                store.write(remove=["0000000000000000"])
    finally:
        store.close()


# ------------------------------------------------------------------- two real processes


def _request(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def _committed(url: str, name: str) -> int:
    """Documents the node has acknowledged (a refresh first: runs refresh only at the end)."""
    try:
        _request(f"{url}/{name}/_refresh", "POST")
        return int(_request(f"{url}/{name}/_count")["count"])
    except OSError:
        return 0


class SlowBulks(Proxy):
    """Every bulk request reaches the node 1.5 s late (60 photos: at least 45 s)."""

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if "/_bulk" in path:
            time.sleep(1.5)
        return self.forward(method, path, body)


def _index_cmd(root: Path, url: str, name: str) -> list[str]:
    cmd = [sys.executable, "-m", "picfind", "index", str(root), "--url", url]
    return [*cmd, "--cluster-index", name, "--batch-size", "2", "-q", "--json"]


@pytest.mark.slow
@pytest.mark.shared_data
def test_kill_9_then_take_over_after_the_lease_expires(
    catsdogs: Path, opensearch_url: str, index_name: str, tmp_path: Path
) -> None:
    n = 60
    root, other = tmp_path / "root", tmp_path / "other"
    for folder, first_photo, count in ((root, 0, n), (other, 400, 2)):
        folder.mkdir()
        for i in range(count):
            name = f"{('cat', 'dog')[i % 2]}.{first_photo + i // 2}.jpg"
            shutil.copy2(catsdogs / name, folder / name)
    ttl = 6.0
    env = {**os.environ, "PICFIND_LEASE_SECONDS": str(ttl), "PICFIND_THREADS": "1"}
    slow = SlowBulks(opensearch_url)  # a slow network to the cluster: the run lasts
    first = subprocess.Popen(
        _index_cmd(root, slow.url, index_name),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 240
        while _committed(opensearch_url, index_name) < 4 and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()
            time.sleep(0.2)

        # While it runs: the same root fails fast; another root proceeds.
        same = subprocess.run(
            _index_cmd(root, opensearch_url, index_name), capture_output=True, text=True, env=env
        )
        assert same.returncode == 2, same.stderr
        line = same.stderr.strip()
        assert "\n" not in line and "another 'picfind index' is running on" in line
        assert f"pid {first.pid}" in line
        beside = subprocess.Popen(
            _index_cmd(other, opensearch_url, index_name),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        out, err = beside.communicate(timeout=240)
        assert beside.returncode == 0, err
        assert json.loads(out)["indexed"] == 2
        assert first.poll() is None, "the first run ended before it could be killed"
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        slow.close()
    time.sleep(2.0)  # a bulk request still in flight (in the proxy) lands, as on a network
    committed = _committed(opensearch_url, index_name) - 2
    assert 0 < committed < n

    # Its lease, as if its machine had died: only expiry frees the root now.
    meta = f"{opensearch_url}/{index_name}-meta"
    hits = _request(f"{meta}/_search", "POST", {"query": {"match_all": {}}, "size": 100})
    leases = [h for h in hits["hits"]["hits"] if h["_source"].get("kind") == "lease"]
    assert [h["_source"]["root"] for h in leases] == [str(root)]  # the other run released
    expires = time.time() + 15  # long enough to be seen blocking, then it lapses
    dead = {**leases[0]["_source"], "host": "a-machine-that-died", "expires": expires}
    _request(f"{meta}/_doc/{urllib.request.quote(leases[0]['_id'])}?refresh=true", "PUT", dead)
    early = subprocess.run(
        _index_cmd(root, opensearch_url, index_name), capture_output=True, text=True, env=env
    )
    assert early.returncode == 2 and "a-machine-that-died" in early.stderr, early.stderr
    time.sleep(max(0.0, expires - time.time()) + 0.5)

    after = subprocess.run(
        _index_cmd(root, opensearch_url, index_name), capture_output=True, text=True, env=env
    )
    assert after.returncode == 0, after.stderr
    report = json.loads(after.stdout)
    assert report["unchanged"] == committed  # what the killed run committed is kept
    assert report["indexed"] == n - committed  # and not indexed twice
    docs = _request(
        f"{opensearch_url}/{index_name}/_search",
        "POST",
        {"query": {"match_all": {}}, "size": 1000, "_source": ["path"]},
    )["hits"]["hits"]
    paths = [d["_source"]["path"] for d in docs]
    assert len(paths) == len(set(paths)) == n + 2
    assert set(paths) == {str(p) for p in [*root.iterdir(), *other.iterdir()]}
    hits = _request(f"{meta}/_search", "POST", {"query": {"match_all": {}}, "size": 100})
    assert not [h for h in hits["hits"]["hits"] if h["_source"].get("kind") == "lease"]


def test_a_removal_deletes_only_the_version_it_read(
    opensearch_url: str, index_name: str, tmp_path: Path
) -> None:
    """Run A read /a (a file there is gone from disk); meanwhile run B moved that file's
    row to /b. A's removal must not delete B's row; a row nobody changed is deleted."""
    import numpy as np

    from picfind.records import Features, ImageRecord, SparseClasses
    from picfind.store.base import Move

    def record(n: int, path: Path) -> ImageRecord:
        emb = np.zeros(1280, dtype=np.float32)
        emb[n] = 1.0
        classes = SparseClasses(np.array([n], dtype=np.uint16), np.array([0.9], dtype=np.float32))
        return ImageRecord(
            f"{n:016x}", str(path), f"h{n}", 1, 2, 3, 4, "JPEG", Features(classes, emb)
        )

    a, b = _store(opensearch_url, index_name), _store(opensearch_url, index_name)
    try:
        a.set_model("efficientnet-lite0")
        a.write(add=[record(1, tmp_path / "a" / "x.jpg"), record(2, tmp_path / "a" / "y.jpg")])
        a.refresh()
        read = {f.path: f.id for f in a.rows(under=str(tmp_path / "a"))}
        assert len(read) == 2
        b.write(
            moves=[Move(read[str(tmp_path / "a" / "x.jpg")], str(tmp_path / "b" / "x.jpg"), 1, 2)]
        )
        a.write(remove=list(read.values()))  # both looked gone to A
        a.refresh()
        left = {f.path for f in a.rows()}
        assert left == {str(tmp_path / "b" / "x.jpg")}  # B's move stays; y is removed
    finally:
        a.close()
        b.close()
