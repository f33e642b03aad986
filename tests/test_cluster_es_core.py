"""picfind's Elasticsearch path against a real Elasticsearch server, in CI.

The node is the one ``tools/elasticsearch`` assembles from Maven Central (the
server and its HTTP module), or ``PICFIND_TEST_ES_URL``'s. Maven Central serves
no mapper-extras or lang-painless module for 8.x/9.x, so these tests use what
such a node has — the client and its API version, the ``dense_vector`` mapping
and kNN bodies, bulk writes, reads back, the alias swap of ``reindex`` (on the
paper's layout, which needs no ``rank_features``) — and the whole store's
answers are compared in ``test_cluster_es.py`` on a distribution's node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import copy_catsdogs, features_of, id_at

import picfind
from picfind.errors import StoreError
from picfind.records import Features, ImageRecord
from picfind.scoring import SparseClasses
from picfind.store.base import Filter
from picfind.store.cluster import ClusterOptions, ClusterStore
from picfind.store.cluster import bodies as q
from picfind.store.cluster.connection import connect
from picfind.store.cluster.mapping import document, mapping

pytestmark = [pytest.mark.elasticsearch]

DIM = 1280  # the default model's embedding


def test_connects_with_the_servers_api_version(es_core_url: str) -> None:
    """A newer client asks for its own major's API; the server's must go out instead."""
    engine = connect(es_core_url, ClusterOptions())
    try:
        assert engine.distribution == "elasticsearch" and engine.major >= 8
        # an 8.x server answers 400 media_type_header_exception to compatible-with=9
        assert engine.client.indices.exists(index="picfind-no-such-index").body is False
        assert engine.client.cluster.health()["status"] in ("green", "yellow")
    finally:
        engine.client.close()


def _records(n: int) -> list[ImageRecord]:
    rng = np.random.default_rng(13)
    out = []
    for i in range(n):
        emb = rng.normal(size=DIM).astype(np.float32)
        ids = np.array([281, 285], dtype=np.uint16)
        probs = np.array([0.7, 0.2], dtype=np.float32)
        feats = Features(SparseClasses(ids, probs), emb / np.linalg.norm(emb))
        out.append(ImageRecord(f"id{i}", f"/a/{i % 3}/p{i}.jpg", "h", 1, 2, 3, 4, "JPEG", feats))
    return out


def test_dense_vector_knn_scores_exactly_like_the_embedded_store(
    es_core_url: str, index_name: str
) -> None:
    """picfind's mapping and kNN bodies: float HNSW, so scores are exactly (1 + cos) / 2.

    Elasticsearch's default index_options quantise the vectors (int8 from 8.14,
    bbq from 9.0) and then scores stray by ~0.04 and reorder results.
    """
    engine = connect(es_core_url, ClusterOptions())
    es = engine.client
    index = f"{index_name}-v1"
    body = mapping("elasticsearch", "picfind", DIM, "efficientnet-lite0", 1, 0)
    # this node has no rank_features (mapper-extras); test_cluster_es.py maps them
    del body["mappings"]["properties"]["classes"], body["mappings"]["properties"]["concepts"]
    # nor the whitespace tokenizer and folding filters of read text (analysis-common)
    del body["settings"]["analysis"]
    for name in ("text_words", "text_parts"):
        del body["mappings"]["properties"][name]
    es.indices.create(index=index, body=body)
    recs = _records(240)
    lines: list[dict[str, Any]] = []
    for rec in recs:
        doc = document(rec, "efficientnet-lite0", "picfind", 0)
        del doc["classes"], doc["concepts"]
        lines += [{"index": {"_index": index, "_id": rec.id}}, doc]
    assert not es.bulk(operations=lines, refresh="true")["errors"]
    # the store keeps float16-rounded vectors, as the embedded store does
    vecs = np.stack([r.features.embedding.astype(np.float16).astype(np.float32) for r in recs])
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    paths = np.array([r.path for r in recs])
    try:
        for qi, where in ((5, None), (7, Filter(under="/a/1")), (9, Filter(exclude=("id9",)))):
            search = q.knn_query("elasticsearch", vecs[qi], 10, where)
            hits = es.search(index=index, body={**search, "size": 10})["hits"]["hits"]
            exact = (1.0 + unit @ unit[qi]) / 2.0
            allowed = np.ones(len(recs), bool)
            if where is not None and where.under:
                allowed = np.char.startswith(paths.astype(str), where.under + "/")
            if where is not None and where.exclude:
                allowed[[int(x[2:]) for x in where.exclude]] = False
            want = [f"id{i}" for i in np.argsort(-np.where(allowed, exact, -1))[:10]]
            got = [h["_id"] for h in hits]
            assert got[0] == want[0] and len(set(got) & set(want)) >= 9, (where, got, want)
            for h in hits:
                assert abs(h["_score"] - exact[int(h["_id"][2:])]) < 1e-5, (where, h)
        # a deep page: num_candidates stays within the server's 10,000
        deep = q.knn_query("elasticsearch", vecs[0], 6000, None)
        assert deep["knn"]["num_candidates"] == q.ES_MAX_CANDIDATES
        assert len(es.search(index=index, body={**deep, "size": 6000})["hits"]["hits"]) == 240
        # vectors come back when named (Elasticsearch 9.2+ drops them from `_source: true`)
        named = es.search(index=index, body={"size": 1, "_source": ["id", "embedding"]})
        assert len(named["hits"]["hits"][0]["_source"]["embedding"]) == DIM
    finally:
        es.close()


@pytest.mark.shared_data
def test_writes_reads_and_reindex_on_elasticsearch(
    es_core_url: str, index_name: str, catsdogs: Path, tmp_path: Path
) -> None:
    """The store's own requests on the paper's layout: bulk, lookups, stats, moves, reindex."""
    photos = copy_catsdogs(catsdogs, tmp_path / "p", 5)
    opts = ClusterOptions(name=index_name, layout="paper", replicas=0)
    embedded = picfind.open_index(tmp_path / "emb", create=True)
    cluster = picfind.open_index(url=es_core_url, cluster=opts, create=True)
    try:
        store = cluster.store
        assert isinstance(store, ClusterStore) and store.engine.distribution == "elasticsearch"
        assert embedded.add([photos]).indexed == cluster.add([photos]).indexed == 10
        assert cluster.add([photos]).unchanged == 10  # the lookups find every file
        assert cluster.stats().images == 10 and cluster.stats().index_bytes > 0
        assert {f.path for f in store.rows(under=str(photos))} == {str(p) for p in photos.iterdir()}
        qid = id_at(embedded.store, photos / "cat.0.jpg")
        assert qid is not None
        mine = features_of(embedded.store, qid)
        theirs = features_of(store, qid)
        assert mine is not None and theirs is not None
        assert np.array_equal(mine.classes.ids, theirs.classes.ids)
        np.testing.assert_allclose(theirs.embedding, mine.embedding, atol=1e-3)
        (photos / "cat.0.jpg").rename(photos / "moved.jpg")
        (photos / "dog.0.jpg").unlink()
        report = cluster.add([photos])
        assert (report.indexed, report.moved, report.removed) == (0, 1, 1)
        out = store.reindex()
        assert out["documents"] == 9 and out["new"] == f"{index_name}-v2"
        after = features_of(store, qid)
        assert after is not None and np.array_equal(after.embedding, theirs.embedding)
        assert cluster.stats().images == 9
        # one round trip of several searches (the keyword and classes plans' _msearch)
        every, one = store.handle.msearch(
            [
                {"query": {"match_all": {}}, "size": 0, "track_total_hits": True},
                {"query": {"ids": {"values": [qid]}}, "size": 5, "_source": False},
            ]
        )
        assert every["hits"]["total"]["value"] == 9
        assert [h["_id"] for h in one["hits"]["hits"]] == [qid]
        with pytest.raises(StoreError, match="no_such_query"):
            store.handle.msearch([{"query": {"no_such_query": {}}}])
    finally:
        embedded.close()
        cluster.close()
