"""Pytest plugin: a real OpenSearch node for the ``opensearch`` tests.

``PICFIND_TEST_OPENSEARCH_URL`` names a running node; otherwise the session
starts one itself from Maven Central's jars (``tools/opensearch/node.py``), so
``make test`` works on a fresh machine. In CI (``CI=true``) a node that cannot
be had is a failure, never a skip.

Elasticsearch: ``PICFIND_TEST_ES_URL`` names a node of a real distribution;
every Elasticsearch test runs against it. Without it, the ``elasticsearch``
tests get the node ``tools/elasticsearch/node.py`` assembles from Maven
Central's jars (or ``PICFIND_TEST_ES_CORE_URL``, one started already), which
lacks the modules Maven Central does not serve (rank_features, painless), and
the tests of the whole store on Elasticsearch (``es_url``) skip.
A node that is named but does not answer is a failure everywhere: it was asked for.
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
ES_NODE_SCRIPT = REPO / "tools" / "elasticsearch" / "node.py"


def node_module(script: Path = NODE_SCRIPT) -> ModuleType:
    """``tools/<engine>/node.py``, imported by path (it is not part of the package)."""
    name = f"picfind_{script.parent.name}_node"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def no_node(reason: str, engine: str = "OpenSearch") -> None:
    missing(f"{engine} node: {reason}")


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


def can_start_nodes(script: Path = NODE_SCRIPT, built: str = "knn") -> str | None:
    """None when this machine can start nodes itself, else why not."""
    if shutil.which("mvn") is None and not (script.parent / "target" / built).is_dir():
        return f"no mvn to fetch {script.parent.name} from Maven Central (or set its test URL)"
    try:
        node_module(script).java()
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


def _conformance_engines() -> list[str]:
    es = ["elasticsearch"] if os.environ.get("PICFIND_TEST_ES_URL") else []
    return ["opensearch", *es]


@pytest.fixture(scope="session", params=_conformance_engines())
def cluster_url(request: pytest.FixtureRequest) -> str:
    """The conformance suite's node: OpenSearch, and also a distribution's Elasticsearch
    node when ``PICFIND_TEST_ES_URL`` names one (the same tests, once per engine)."""
    name = "opensearch_url" if request.param == "opensearch" else "es_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(scope="session")
def es_url() -> str:
    """A node of an Elasticsearch distribution: Maven Central cannot assemble one."""
    url = os.environ.get("PICFIND_TEST_ES_URL")
    if not url:
        pytest.skip(
            "PICFIND_TEST_ES_URL is not set: the whole store needs a distribution's node "
            "(Maven Central serves no mapper-extras or lang-painless for 8.x/9.x)"
        )
    return answering(url, "PICFIND_TEST_ES_URL")


@pytest.fixture(scope="session")
def es_core_url() -> Iterator[str]:
    """An Elasticsearch node with at least the server and HTTP (see the module doc)."""
    url = os.environ.get("PICFIND_TEST_ES_URL") or os.environ.get("PICFIND_TEST_ES_CORE_URL")
    if url:
        yield answering(url, "PICFIND_TEST_ES_URL or PICFIND_TEST_ES_CORE_URL")
        return
    why = can_start_nodes(ES_NODE_SCRIPT, "home")
    if why:
        no_node(why, "Elasticsearch")
    try:
        node = node_module(ES_NODE_SCRIPT).start_node()
    except Exception as exc:  # build or start failed
        no_node(f"could not start Elasticsearch: {exc}", "Elasticsearch")
        raise
    try:
        yield node.url
    finally:
        node.close()


@pytest.fixture
def index_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh alias per test; its indices are deleted afterwards when a node is known."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    urls = [
        request.getfixturevalue(f)
        for f in ("opensearch_url", "es_url", "es_core_url", "cluster_url")
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


@contextlib.contextmanager
def tagged_indexes(
    catsdogs: Path, url: str, tmp_path_factory: pytest.TempPathFactory, prefix: str
) -> Iterator[tuple[Path, object, object]]:
    """(folder, embedded Index, cluster Index) of the photos with known metadata
    (``exifphotos.TAGGED``), both filled by the real indexer; the cluster index is
    deleted afterwards."""
    from exifphotos import TAGGED, write_tagged

    import picfind
    from picfind.store.cluster import ClusterOptions

    photos = tmp_path_factory.mktemp(prefix)
    write_tagged(catsdogs, photos)
    name = f"{prefix}-{tmp_path_factory.getbasetemp().name[-8:]}".lower().replace("_", "-")
    embedded = picfind.open_index(tmp_path_factory.mktemp("emb"), create=True)
    cluster = picfind.open_index(
        url=url, cluster=ClusterOptions(name=name, replicas=0), create=True
    )
    try:
        assert embedded.add([photos]).indexed == len(TAGGED)
        assert cluster.add([photos]).indexed == len(TAGGED)
        yield photos, embedded, cluster
    finally:
        embedded.close()
        cluster.close()
        _delete_indices(url, name)
