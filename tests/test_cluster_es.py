"""The same code path on Elasticsearch 8/9: runs when PICFIND_TEST_ES_URL names a node.

No Elasticsearch node was available where this was written (only PyPI,
npm, Debian and Maven Central are reachable; the codelibs runner on Maven
Central stops at Elasticsearch 7.10), so there they skip with that reason.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import picfind
from picfind.store.cluster import ClusterOptions, ClusterStore

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def test_elasticsearch_answers_like_the_embedded_store(
    es_url: str, index_name: str, catsdogs: Path, tmp_path: Path
) -> None:
    photos = tmp_path / "p"
    photos.mkdir()
    for kind in ("cat", "dog"):
        for i in range(30):
            shutil.copy2(catsdogs / f"{kind}.{i}.jpg", photos / f"{kind}.{i}.jpg")
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
