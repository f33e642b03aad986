"""Faults on a real OpenSearch cluster: a lost node, a node gone mid-run, bad endpoints.

* two nodes, one replica: stop the data node; searches still answer and no
  document is missing;
* the node stops in the middle of ``picfind index``: a non-zero exit with one
  line, nothing recorded as indexed that was not, and a re-run completes;
* wrong URL, refused connection, wrong credentials: one line, exit 2. The
  embedded runner has no security plugin, so a 401 comes from a stub HTTP
  server that answers like a secured node.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_fixtures import can_start_nodes, no_node, node_module

import picfind
from picfind.cli import run
from picfind.store.cluster import ClusterOptions

REPO = Path(__file__).resolve().parents[1]


def _count(url: str, name: str) -> int:
    """Documents written so far (refreshed first: a run refreshes only at its end)."""
    try:
        refresh = urllib.request.Request(f"{url}/{name}/_refresh", method="POST")
        urllib.request.urlopen(refresh, timeout=5).close()
        with urllib.request.urlopen(f"{url}/{name}/_count", timeout=5) as r:
            return int(json.load(r)["count"])
    except OSError:
        return -1


def _copy(catsdogs: Path, folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        kind = ("cat", "dog")[i % 2]
        shutil.copy2(catsdogs / f"{kind}.{i // 2}.jpg", folder / f"{kind}.{i // 2}.jpg")
    return folder


@pytest.fixture
def own_nodes():
    """Start clusters of our own (they are stopped, so never the shared node)."""
    why = can_start_nodes()
    if why:
        no_node(why)
    started = []

    def start(nodes: int, **kw):
        cluster = node_module().start_cluster(nodes, **kw)
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.close()


@pytest.mark.opensearch
@pytest.mark.slow
@pytest.mark.shared_data
def test_replica_survives_a_stopped_node(own_nodes, catsdogs: Path, tmp_path: Path) -> None:
    cluster = own_nodes(2, control=True)
    photos = _copy(catsdogs, tmp_path / "p", 40)
    opts = ClusterOptions(name="faults", shards=2, replicas=1)
    with picfind.open_index(url=cluster.url, cluster=opts, create=True) as idx:
        assert idx.add([photos]).indexed == 40
        client = idx.store.client
        health = client.cluster.health(index="faults", wait_for_status="green")
        assert health["status"] == "green" and health["number_of_nodes"] == 2
        ids = {f.id for f in idx.store.rows()}
        before = [r.id for r in idx.search_words("dog", limit=10).results]
    cluster.stop_node(2)
    with picfind.open_index(url=cluster.url, cluster=opts) as idx:
        assert idx.stats().images == 40
        assert {f.id for f in idx.store.rows()} == ids  # no document missing
        assert [r.id for r in idx.search_words("dog", limit=10).results] == before
        some = next(iter(ids))
        for mode in ("classes", "embedding", "hybrid"):
            res = idx.search_image(some, mode=mode, limit=5)
            assert res.total == 39 and len(res.results) == 5
        assert len(idx.store.summaries(sorted(ids))) == 40


@pytest.mark.opensearch
@pytest.mark.slow
@pytest.mark.shared_data
def test_node_stopped_mid_index_then_rerun_completes(
    own_nodes, catsdogs: Path, tmp_path: Path
) -> None:
    n = 300
    photos = _copy(catsdogs, tmp_path / "p", n)
    base = tmp_path / "node"
    cluster = own_nodes(1, base=base, control=False)
    name = "midrun"
    cmd = [sys.executable, "-m", "picfind", "index", str(photos), "--url", cluster.url]
    cmd += ["--cluster-index", name, "--batch-size", "2", "-q"]
    env = {**os.environ, "PICFIND_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while _count(cluster.url, name) < 10 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    cluster.close(keep_data=True)  # the node goes away in the middle of the run
    out, err = proc.communicate(timeout=120)
    assert proc.returncode not in (0, None), out
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("picfind: error:"), lines

    restarted = own_nodes(1, base=base, control=False)
    done = _count(restarted.url, name)
    assert 0 < done < n
    with picfind.open_index(url=restarted.url, cluster=ClusterOptions(name=name)) as idx:
        stored = list(idx.store.records())  # whatever is there is complete
        assert len(stored) == done
        for rec in stored:
            assert rec.features.embedding.shape == (1280,)
            assert rec.features.classes.ids.size > 0
            assert Path(rec.path).exists()
    assert run(["index", str(photos), "--url", restarted.url, "--cluster-index", name, "-q"]) == 0
    with picfind.open_index(url=restarted.url, cluster=ClusterOptions(name=name)) as idx:
        stats = idx.stats()
        assert stats.images == n
        assert stats.last_run is not None
        assert stats.last_run["unchanged"] == done  # nothing counted that was not there
        assert stats.last_run["indexed"] == n - done


# -- endpoints that are wrong: no node needed ------------------------------------------


class _Stub(http.server.BaseHTTPRequestHandler):
    status = 401
    body = b'{"error":{"type":"security_exception","reason":"unable to authenticate"}}'
    ctype = "application/json"

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", self.ctype)
        if self.status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="security"')
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator:
    servers = []

    def serve(status: int, body: bytes, ctype: str) -> str:
        handler = type("H", (_Stub,), {"status": status, "body": body, "ctype": ctype})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for s in servers:
        s.shutdown()
        s.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_line_exit_2(argv: list[str], capsys, *needles: str) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("picfind: error:") and "\n" not in err, err
    for needle in needles:
        assert needle in err, err


def test_refused_connection(capsys) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    _one_line_exit_2(["stats", "--url", url], capsys, "cannot connect", "connection refused")


def test_wrong_credentials(stub, capsys) -> None:
    url = stub(401, _Stub.body, "application/json")
    argv = ["search", "dog", "--url", url, "--user", "picfind", "--password", "wrong"]
    _one_line_exit_2(argv, capsys, "refused the credentials")


def test_not_a_search_engine(stub, capsys) -> None:
    url = stub(200, b"<html>hello</html>", "text/html")
    _one_line_exit_2(["stats", "--url", url], capsys, "not an OpenSearch or Elasticsearch")
    url = stub(404, b"not here", "text/plain")
    _one_line_exit_2(["stats", "--url", url], capsys, "not an OpenSearch or Elasticsearch")


def test_malformed_url_and_missing_ca_file(capsys, tmp_path: Path) -> None:
    _one_line_exit_2(["stats", "--url", "localhost:9200"], capsys, "not an http(s) URL")
    argv = ["stats", "--url", "https://127.0.0.1:1", "--ca-file", str(tmp_path / "no.pem")]
    _one_line_exit_2(argv, capsys, "no such CA file")


def test_reindex_needs_a_url(capsys, monkeypatch) -> None:
    monkeypatch.delenv("PICFIND_URL", raising=False)
    _one_line_exit_2(["reindex"], capsys, "--url")
