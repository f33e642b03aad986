"""Pytest plugin: a real OpenSearch node for the ``opensearch`` tests.

``PICFIND_TEST_OPENSEARCH_URL`` names a running node; otherwise the session
starts one itself from Maven Central's jars (``tools/opensearch/node.py``), so
``make test`` works on a fresh machine. In CI (``CI=true``) a node that cannot
be had is a failure, never a skip. Elasticsearch tests run when
``PICFIND_TEST_ES_URL`` is set. A node that is named but does not answer is a
failure everywhere: it was asked for.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from ci_honesty import missing

REPO = Path(__file__).resolve().parents[1]
NODE_SCRIPT = REPO / "tools" / "opensearch" / "node.py"


def node_module() -> ModuleType:
    """``tools/opensearch/node.py``, imported by path (it is not part of the package)."""
    name = "picfind_opensearch_node"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, NODE_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def no_node(reason: str) -> None:
    missing(f"OpenSearch node: {reason}")


def answering(url: str, variable: str) -> str:
    """``url`` if a node answers there; a failure (never a skip) if it does not."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            r.read()
    except urllib.error.HTTPError:
        pass  # it answers (a secured node says 401)
    except OSError as exc:
        pytest.fail(f"{variable}={url} does not answer: {exc}", pytrace=False)
    return url


def can_start_nodes() -> str | None:
    """None when this machine can start nodes itself, else why not."""
    if shutil.which("mvn") is None and not (NODE_SCRIPT.parent / "target" / "knn").is_dir():
        return "no mvn to fetch OpenSearch from Maven Central (or set PICFIND_TEST_OPENSEARCH_URL)"
    try:
        node_module().java()
    except RuntimeError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def opensearch_url() -> Iterator[str]:
    url = os.environ.get("PICFIND_TEST_OPENSEARCH_URL")
    if url:
        yield answering(url, "PICFIND_TEST_OPENSEARCH_URL")
        return
    why = can_start_nodes()
    if why:
        no_node(why)
    try:
        cluster = node_module().start_cluster(1, control=False)
    except Exception as exc:  # build or start failed
        no_node(f"could not start OpenSearch: {exc}")
        raise
    try:
        yield cluster.url
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def es_url() -> str:
    url = os.environ.get("PICFIND_TEST_ES_URL")
    if not url:
        pytest.skip("PICFIND_TEST_ES_URL is not set (no Elasticsearch node here)")
    return answering(url, "PICFIND_TEST_ES_URL")


@pytest.fixture
def index_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh alias per test; its indices are deleted afterwards when a node is known."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    urls = [
        request.getfixturevalue(f)
        for f in ("opensearch_url", "es_url")
        if f in request.fixturenames
    ]
    for url in urls:
        _delete_indices(url, name)


def _delete_indices(url: str, name: str) -> None:
    """Delete the test's indices by exact name (Elasticsearch refuses wildcards)."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/_cat/indices/{name}-*?format=json", timeout=30) as r:
            names = [row["index"] for row in json.load(r)]
    except OSError:
        return
    for index in names:
        req = urllib.request.Request(f"{url}/{index}", method="DELETE")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(req, timeout=30).read()
