"""The cluster store's linear keyword plan (``store.cluster.linear``) answers like the
embedded store at the quantisation edges, where a wrong client-side threshold or a
wrong count would show: masses packed into the 9-bit bucket around the threshold,
more documents in the top bucket than the first window, thresholds exactly at a
document's mass, negated masses around their threshold, offset pages and filters.
Each answer is also compared with the script plan's (``Queries.linear = False``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from picfind.matchers import Clause, ConceptMatch, WordsQuery
from picfind.query import parse_query
from picfind.records import Features, ImageRecord, SparseClasses
from picfind.scoring import KEYWORD_FLOOR, KEYWORD_NOT
from picfind.search import keyword_query
from picfind.store.base import Filter
from picfind.store.cluster import ClusterOptions, ClusterStore, bodies, linear
from picfind.store.embedded import EmbeddedStore
from picfind.vocabulary import Vocabulary

pytestmark = [pytest.mark.opensearch]


def _classes() -> dict[str, list[int]]:
    vocab = Vocabulary.load()
    poodle = [int(i) for i in vocab.classes_for("poodle")]
    dog = [int(i) for i in vocab.classes_for("dog") if int(i) not in poodle]
    return {
        "dog": dog,
        "poodle": poodle,
        "espresso": [int(i) for i in vocab.classes_for("espresso")],
        "cat": [int(i) for i in vocab.classes_for("cat")],
    }


def _masses() -> list[dict[int, float]]:
    """Stored classes of each document: the edges the plan must decide exactly."""
    c = _classes()
    dog_a, dog_b, espresso, cat = c["dog"][0], c["dog"][1], c["espresso"][0], c["cat"][0]
    poodle = c["poodle"][0]
    docs: list[dict[int, float]] = []
    for k in range(-20, 20):  # dog mass packed around the floor, over two classes
        m = KEYWORD_FLOOR * (1 + 0.0002 * k + 0.00003)
        docs.append({dog_a: 0.6 * m, dog_b: 0.4 * m, cat: 0.3})
    for k in range(60):  # 60 distinct dog masses in the bucket [0.99805, 1)
        docs.append({dog_a: 0.9 + 0.00001 * k, dog_b: 0.0985 + 0.000003 * k})  # rising: the
        # engine orders ties by document, the exact order is the reverse
    for k in range(40):  # espresso on one feature: a bucket at 0.5, the floor's bucket
        docs.append({espresso: 0.5 + 0.00004 * k, cat: 0.1})
        docs.append({espresso: KEYWORD_FLOOR * (1 + 0.0001 * (k - 20) + 0.00001)})
    for k in range(-10, 10):  # -poodle: poodle mass around its threshold
        docs.append({poodle: KEYWORD_NOT * (1 + 0.0005 * k + 0.0001), dog_a: 0.3})
    rng = np.random.default_rng(3)
    for _ in range(60):  # everything else
        ids = rng.choice(1000, 8, replace=False)
        docs.append(
            dict(zip(ids.tolist(), (rng.dirichlet(np.ones(8)) * 0.9).tolist(), strict=True))
        )
    return docs


def _records() -> list[ImageRecord]:
    out = []
    for i, masses in enumerate(_masses()):
        order = sorted(masses, key=lambda j: -masses[j])
        classes = SparseClasses(
            np.array(order, dtype=np.uint16), np.array([masses[j] for j in order], np.float32)
        )
        emb = np.zeros(1280, dtype=np.float32)
        emb[i % 1280] = 1.0
        path = f"/photos/{'a' if i % 2 else 'b'}/img{i:04d}.jpg"
        out.append(
            ImageRecord(f"{i:016x}", path, f"h{i}", 1, 2, 3, 4, "JPEG", Features(classes, emb))
        )
    return out


@pytest.fixture(scope="module")
def stores(opensearch_url: str, tmp_path_factory: pytest.TempPathFactory):
    """(embedded, cluster) stores holding the same edge documents."""
    name = f"lin-{tmp_path_factory.getbasetemp().name[-8:]}".lower().replace("_", "-")
    embedded = EmbeddedStore(tmp_path_factory.mktemp("lin") / "idx", create=True)
    cluster = ClusterStore(opensearch_url, ClusterOptions(name=name, replicas=0), create=True)
    try:
        recs = _records()
        embedded.write(add=recs)
        cluster.set_model("efficientnet-lite0")
        assert cluster.load(recs) == len(recs)
        cluster.refresh()
        yield embedded, cluster
    finally:
        embedded.close()
        for index in list(cluster.client.indices.get(index=f"{name}-*")):
            cluster.client.indices.delete(index=index)
        cluster.close()


def _words(text: str) -> WordsQuery:
    return keyword_query(parse_query(text, Vocabulary.load()))


def _at(query: WordsQuery, threshold: float) -> WordsQuery:
    """The query with its positive concept matcher's threshold set."""
    return WordsQuery(
        tuple(
            c if c.negated else Clause(tuple(replace(m, threshold=threshold) for m in c.matchers))
            for c in query.clauses
        )
    )


def _same(embedded: EmbeddedStore, cluster: ClusterStore, query, limit, offset=0, where=None):
    ta, a = embedded.search(query, limit, offset, where)
    tb, b = cluster.search(query, limit, offset, where)
    assert tb == ta, (query, limit, offset, where)
    assert [h.id for h in b] == [h.id for h in a], (query, limit, offset, where)
    np.testing.assert_allclose([h.score for h in b], [h.score for h in a], rtol=1e-6)
    cluster.queries.native = False  # the script plan agrees too
    try:
        assert cluster.search(query, limit, offset, where) == (tb, b)
    finally:
        cluster.queries.native = True
    return ta


CASES = [(10, 0), (10, 25), (0, 0), (1, 0), (500, 0)]
FILTERS = [Filter(under="/photos/a"), Filter(exclude=(f"{60:016x}", f"{61:016x}"))]


@pytest.mark.parametrize("text", ["dog", "espresso", "dog -poodle", "dog OR cat"])
def test_pages_totals_and_scores_agree(stores, text: str) -> None:
    embedded, cluster = stores
    query = _words(text)
    totals = {_same(embedded, cluster, query, limit, offset) for limit, offset in CASES}
    assert len(totals) == 1 and totals.pop() > 0
    for where in FILTERS:
        assert _same(embedded, cluster, query, 10, 5, where) > 0


def test_the_band_is_decided_exactly(stores) -> None:
    """The edge documents do lie in the band: the engine's floor count exceeds the exact
    total (a plan counting the engine's matches alone would be wrong), and its certain
    count falls short (one counting only those would be wrong too)."""
    embedded, cluster = stores
    for text in ("dog", "espresso"):
        query = _words(text)
        matcher = query.positive[0].matchers[0]
        assert isinstance(matcher, ConceptMatch)
        body = linear.ranking(query, matcher, None)
        t = matcher.at(False)

        def count(at: float, body=body) -> int:
            res = cluster.handle.search(
                {"query": body, "size": 0, "min_score": at, "track_total_hits": True}
            )
            return int(res["hits"]["total"]["value"])

        total = _same(embedded, cluster, query, 10)
        assert count(linear.certain(t)) < total < count(linear.floor(matcher, t)), text
        assert linear.one_feature(matcher)  # a concept column, a class: truncated buckets
    either = _words("dog OR cat").positive[0].matchers[0]
    assert isinstance(either, ConceptMatch) and not linear.one_feature(either)  # a sum


def test_thresholds_at_a_documents_own_mass(stores) -> None:
    """A document whose mass equals the threshold matches; one just below does not."""
    embedded, cluster = stores
    espresso = _words("espresso")
    _, hits = embedded.search(espresso, 200)
    for hit in (hits[5], hits[30], hits[-3]):  # the 0.5 bucket, its edge, the floor's bucket
        at = float(np.float32(hit.score))
        total = _same(embedded, cluster, _at(espresso, at), 10)
        assert hit.id in {h.id for h in cluster.search(_at(espresso, at), total)[1]}
        _same(embedded, cluster, _at(espresso, at), 10, 3)
        _same(embedded, cluster, _at(espresso, float(np.nextafter(at, 1.0))), 10)
    dog = _words("dog")
    _, hits = embedded.search(dog, 200)
    for hit in (hits[0], hits[45], hits[-2]):  # thresholds inside the top and floor buckets
        _same(embedded, cluster, _at(dog, hit.score * (1 - 1e-4)), 10)
        _same(embedded, cluster, _at(dog, hit.score * (1 + 1e-4)), 10, 2)


def test_the_top_bucket_needs_the_second_window(stores) -> None:
    """60 dog masses share the top quantised value: the first window (page + slack)
    cannot decide the page, and the plan fetches the rest of the bucket."""
    embedded, cluster = stores
    dog = _words("dog")
    res = cluster.handle.search(
        {"query": linear.ranking(dog, dog.positive[0].matchers[0], None), "size": 40}
    )
    assert len({h["_score"] for h in res["hits"]["hits"]}) == 1
    _same(embedded, cluster, dog, 10)
    _same(embedded, cluster, dog, 10, 40)


def test_the_plan_is_only_for_one_positive_concept() -> None:
    vocab = Vocabulary.load()
    cat = tuple(int(i) for i in vocab.classes_for("cat"))
    one = WordsQuery((Clause((ConceptMatch(cat),)),))
    assert linear.single_concept(one, None) == ConceptMatch(cat)
    assert linear.single_concept(one, Filter(sort="date")) is None
    assert linear.single_concept(WordsQuery.of_classes((cat, cat)), None) is None
    assert linear.single_concept(WordsQuery.of_classes((cat,), (cat,)), None) is not None
    assert linear.truncated(0.02) == pytest.approx(0.019958496, abs=1e-9)
    assert linear.truncated(1.0) == 1.0 and linear.truncated(0.999) < 0.999
    assert bodies.band_of(()) is None


def test_classes_pages_agree_where_scores_crowd(stores) -> None:
    """By image (``classes``): the window's engine scores alone pick what is read; on
    documents whose scores differ by less than the quantisation (the 60 in one dog
    bucket) the pages, totals and scores are still the embedded store's."""
    from picfind.scoring import query_weights
    from picfind.store.base import ClassesQuery

    embedded, cluster = stores
    recs = _records()
    for i in (0, 45, 70, 130, 190, 250):
        query = ClassesQuery(query_weights(recs[i].features.classes))
        for limit, offset in ((10, 0), (10, 25), (3, 0)):
            where = Filter(exclude=(recs[i].id,))
            _same(embedded, cluster, query, limit, offset, where)
        _same(embedded, cluster, query, 10, 5, Filter(under="/photos/a"))
