"""The cluster store's mappings and query bodies, without a node."""

from __future__ import annotations

import math

import numpy as np
import pytest

from picfind.matchers import ConceptMatch, WordsQuery
from picfind.records import Features, ImageRecord
from picfind.scoring import MATCH_THRESHOLD, SparseClasses, query_weights
from picfind.store.base import Filter
from picfind.store.cluster import bodies as q
from picfind.store.cluster.mapping import (
    HASH_KINDS,
    PAPER_FIELDS_LIMIT,
    SCHEMA_VERSION,
    class_wnids,
    document,
    mapping,
    paper_field_names,
)
from picfind.store.codec import concept_columns


def _record() -> ImageRecord:
    ids = np.array([281, 285, 282], dtype=np.uint16)  # tabby, Egyptian cat, tiger cat
    probs = np.array([0.6, 0.3, 0.05], dtype=np.float32)
    emb = np.ones(1280, dtype=np.float32) / math.sqrt(1280)
    return ImageRecord(
        "abc", "/p/cat.jpg", "h", 1, 2, 3, 4, "JPEG", Features(SparseClasses(ids, probs), emb)
    )


def test_mapping_records_schema_model_and_engine_specific_vectors() -> None:
    os_body = mapping("opensearch", "picfind", 1280, "efficientnet-lite0", 2, 1)
    meta = os_body["mappings"]["_meta"]
    assert meta == {
        "picfind_schema": SCHEMA_VERSION,
        "model": "efficientnet-lite0",
        "layout": "picfind",
        "dim": 1280,
        "content_hash": HASH_KINDS,  # which kinds of content key the index may hold
        "text": 1,  # holds the read-text fields
    }
    emb = os_body["mappings"]["properties"]["embedding"]
    assert emb["type"] == "knn_vector" and emb["method"]["engine"] == "lucene"
    analysis = os_body["settings"].pop("analysis")
    assert analysis["analyzer"]["picfind_terms"]["tokenizer"] == "whitespace"
    assert os_body["settings"] == {
        "number_of_shards": 2,
        "number_of_replicas": 1,
        "index.knn": True,
    }
    es_body = mapping("elasticsearch", "picfind", 1280, "efficientnet-lite0", None, None)
    assert es_body["mappings"]["properties"]["embedding"] == {
        "type": "dense_vector",
        "dims": 1280,
        "index": True,
        "similarity": "cosine",
        "index_options": {"type": "hnsw"},  # float vectors: the default quantises them
    }
    for body in (os_body, es_body):
        props = body["mappings"]["properties"]
        assert props["classes"]["type"] == props["concepts"]["type"] == "rank_features"
        assert props["path"]["type"] == "keyword" and props["indexed_at"]["type"] == "date"


def test_paper_mapping_has_every_synset_and_a_raised_field_limit() -> None:
    body = mapping("opensearch", "paper", 1280, "efficientnet-lite0", None, None)
    assert body["settings"]["index.mapping.total_fields.limit"] == PAPER_FIELDS_LIMIT
    synset = body["mappings"]["properties"]["synset"]["properties"]
    assert len(synset) == 1000 == len(set(paper_field_names()))
    assert PAPER_FIELDS_LIMIT > 3 * 1000 + 1000 + 20
    assert set(synset["tabby"]["properties"]) == {"wnid", "words", "score"}


def test_documents_carry_exact_top_classes_and_concept_masses() -> None:
    doc = document(_record(), "efficientnet-lite0", "picfind", 0)
    wnids = class_wnids()
    assert doc["classes"] == {
        wnids[281]: pytest.approx(0.6),
        wnids[285]: pytest.approx(0.3),
        wnids[282]: pytest.approx(0.05),
    }
    cols = concept_columns()
    cat_columns = [w for w, m in zip(cols.wnids, cols.members, strict=True) if {281, 282, 285} <= m]
    assert cat_columns and all(doc["concepts"][w] == pytest.approx(0.95) for w in cat_columns)
    assert doc["top"] == {"ids": [281, 285, 282], "probs": pytest.approx([0.6, 0.3, 0.05])}
    paper = document(_record(), "efficientnet-lite0", "paper", 0)
    assert paper["synset"]["tabby"] == {
        "wnid": wnids[281],
        "words": "tabby",
        "score": pytest.approx(0.6),
    }
    assert "classes" not in paper


def test_classes_query_is_linear_rank_features_boosted_by_the_query() -> None:
    probs = np.zeros(1000, dtype=np.float32)
    probs[[281, 285]] = [0.7, 0.2]
    body = q.classes_query(
        query_weights(SparseClasses(np.array([281, 285]), probs[[281, 285]])), None
    )
    should = body["bool"]["should"]
    assert {c["rank_feature"]["field"] for c in should} == {
        f"classes.{class_wnids()[i]}" for i in (281, 285)
    }
    assert all(c["rank_feature"]["linear"] == {} for c in should)
    assert sorted(c["rank_feature"]["boost"] for c in should) == pytest.approx([0.2, 0.7])


def test_under_is_a_folder_prefix_and_exclude_drops_ids() -> None:
    filters, must_not = q.filter_clauses(Filter(under="/a/cat/", exclude=("x",)))
    assert filters == [{"prefix": {"path": "/a/cat/"}}]  # "/a/cats/x" does not start with it
    assert must_not == [{"ids": {"values": ["x"]}}]
    assert q.filter_clauses(Filter(under="/a/cat"))[0] == [{"prefix": {"path": "/a/cat/"}}]
    assert q.filter_query(None) == {"match_all": {}}


def test_keyword_query_orders_like_the_geometric_mean() -> None:
    body = q.keyword_query(WordsQuery.of_classes(((1, 2), (3,)), ((4,),)), None)
    must = body["bool"]["must"]
    assert len(must) == 2 and all(c["script_score"]["min_score"] == 1.0 for c in must)
    neg = body["bool"]["must_not"][0]["script_score"]
    assert neg["min_score"] == 0.5
    masses = [0.3, 0.02]
    engine = sum(1 + math.log(m / MATCH_THRESHOLD) for m in masses)
    assert q.keyword_score(engine, 2) == pytest.approx(math.sqrt(0.3 * 0.02))


def test_keyword_clause_uses_concept_columns_for_broad_concepts() -> None:
    cols = concept_columns()
    biggest = sorted(cols.members[0])
    body = q.mass_query(ConceptMatch(tuple(biggest)))
    fields = [c["rank_feature"]["field"] for c in body["bool"]["should"]]
    assert fields == [f"concepts.{cols.wnids[0]}"]


def test_a_weighted_clause_boosts_its_lighter_classes_by_their_weights() -> None:
    cols = concept_columns()
    dogs = sorted(cols.members[cols.wnids.index("n02084071")])
    wnids = class_wnids()
    extra = next(i for i in range(1000) if i not in set(dogs))
    classes = tuple(sorted([*dogs, extra]))
    weights = tuple(0.25 if c == extra else 1.0 for c in classes)
    should = q.mass_query(ConceptMatch(classes, weights))["bool"]["should"]
    assert should == [
        {"rank_feature": {"field": "concepts.n02084071", "linear": {}}},
        {"rank_feature": {"field": f"classes.{wnids[extra]}", "linear": {}, "boost": 0.25}},
    ]


def test_knn_queries_per_engine() -> None:
    v = np.zeros(4, dtype=np.float32)
    os_q = q.knn_query("opensearch", v, 100, Filter(under="/x"))
    assert os_q["knn"]["embedding"]["k"] == 100 and "filter" in os_q["knn"]["embedding"]
    es_q = q.knn_query("elasticsearch", v, 100, None)
    assert es_q["knn"]["field"] == "embedding" and es_q["knn"]["num_candidates"] >= 100
    assert "filter" not in es_q["knn"]


class _FakeBulkStore:
    """The cluster store's writer with the network replaced: bulk answers from a script."""

    @staticmethod
    def make(answers):
        from types import SimpleNamespace

        from picfind.store.cluster.connection import ClusterOptions, Engine
        from picfind.store.cluster.writes import Writer

        handle = SimpleNamespace(
            url="http://fake:9200",
            options=ClusterOptions(),
            engine=Engine(None, "opensearch", "2.19.1", "http://fake:9200"),
            alias="picfind",
            meta={"model": "efficientnet-lite0", "layout": "picfind", "index": "picfind-v1"},
            concrete="picfind-v1",
            layout="picfind",
            refresh=lambda: None,
            lost_lease=None,
            exists=lambda: True,
        )
        store = Writer(handle)
        store.calls = []

        def bulk(actions):
            actions = list(actions)
            store.calls.append([a["_id"] for a in actions])
            return iter(answers(len(store.calls), actions))

        store.bulk = bulk
        store.ids_at_paths = lambda paths: []
        return store


def test_failed_documents_are_retried_then_named_by_path(monkeypatch) -> None:
    from picfind.errors import StoreError
    from picfind.store.cluster import writes as cluster

    monkeypatch.setattr(cluster.time, "sleep", lambda s: None)

    # round 1: one 429 and one mapping error; later rounds: the 429 keeps failing with 503
    def answers(round_no, actions):
        if round_no == 1:
            return [
                ("a", 429, "es_rejected_execution_exception"),
                ("b", 400, "mapper_parsing_exception"),
            ]
        return [("a", 503, "unavailable_shards_exception")]

    store = _FakeBulkStore.make(answers)
    rec = _record()
    recs = [
        ImageRecord("a", "/p/a.jpg", "h", 1, 2, 3, 4, "JPEG", rec.features),
        ImageRecord("b", "/p/b.jpg", "h", 1, 2, 3, 4, "JPEG", rec.features),
        ImageRecord("c", "/p/c.jpg", "h", 1, 2, 3, 4, "JPEG", rec.features),
    ]
    with pytest.raises(StoreError) as err:
        store.write(add=recs)
    text = str(err.value)
    assert "2 documents were not written" in text
    assert "/p/a.jpg (unavailable_shards_exception)" in text and "/p/b.jpg (mapper_parsing" in text
    assert "/p/c.jpg" not in text
    assert store.calls[0] == ["a", "b", "c"] and all(c == ["a"] for c in store.calls[1:])
    assert len(store.calls) == 1 + cluster.RETRY_ROUNDS
