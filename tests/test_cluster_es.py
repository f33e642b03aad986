"""The whole store on Elasticsearch 8/9: runs when PICFIND_TEST_ES_URL names a node.

It needs a distribution's node: Maven Central serves the server and its HTTP
module but no mapper-extras (``rank_features``) or lang-painless module for
8.x/9.x (tools/elasticsearch/README.md), so the node CI assembles from it runs
``test_cluster_es_core.py`` instead, and this skips there with that reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import copy_catsdogs

import picfind
from picfind.store.cluster import ClusterOptions, ClusterStore

pytestmark = [pytest.mark.elasticsearch, pytest.mark.shared_data, pytest.mark.slow]


def test_elasticsearch_answers_like_the_embedded_store(
    es_url: str, index_name: str, catsdogs: Path, tmp_path: Path
) -> None:
    photos = copy_catsdogs(catsdogs, tmp_path / "p", 30)
    embedded = picfind.open_index(tmp_path / "emb", create=True)
    cluster = picfind.open_index(url=es_url, cluster=ClusterOptions(name=index_name), create=True)
    try:
        assert isinstance(cluster.store, ClusterStore)
        assert cluster.store.engine.distribution == "elasticsearch"
        assert embedded.add([photos]).indexed == cluster.add([photos]).indexed == 60
        for words in ("dog", "cat", "dog OR cat", "cat -tabby"):
            a = [r.id for r in embedded.search_words(words).results]
            b = [r.id for r in cluster.search_words(words).results]
            assert a[0] == b[0] and sum(x == y for x, y in zip(a, b, strict=False)) >= 9
        qid = next(iter(embedded.store.rows())).id
        for mode in ("classes", "hybrid", "embedding"):
            a = [r.id for r in embedded.search_image(qid, mode=mode).results]
            b = [r.id for r in cluster.search_image(qid, mode=mode).results]
            assert a[0] == b[0] and len(set(a) & set(b)) >= 9, mode
        out = cluster.store.reindex()
        assert out["documents"] == 60
        assert cluster.stats().images == 60
    finally:
        embedded.close()
        cluster.close()
