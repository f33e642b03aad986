"""The cluster store answers like the embedded store, on a real OpenSearch node
(and on Elasticsearch too when ``PICFIND_TEST_ES_URL`` names a distribution's node).

200 photos of catsdogs go through the real indexer into both stores; keyword
and ``classes`` top-10 must agree in at least 9 of 10 places with the same
first result, ``embedding`` recall@10 against the exact embedded answer must be
at least 0.95, and the other Store operations (moves, filters, prune, reindex,
the paper's layout) must behave the same.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import features_of, id_at

import picfind
from picfind.cli import run
from picfind.matchers import Clause, ConceptMatch, WordsQuery
from picfind.query import parse_query
from picfind.records import Features
from picfind.search import image_query, keyword_query
from picfind.store.base import Filter
from picfind.store.cluster import ClusterOptions, ClusterStore
from picfind.vocabulary import Vocabulary

pytestmark = [pytest.mark.opensearch, pytest.mark.shared_data, pytest.mark.slow]

N_PHOTOS = 200
KEYWORDS = ["dog", "cat", "terrier", "dog OR cat", "cat -tabby", "retriever", "dog animal"]


@pytest.fixture(scope="module")
def photos(catsdogs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cluster-photos")
    for kind in ("cat", "dog"):
        for i in range(N_PHOTOS // 2):
            shutil.copy2(catsdogs / f"{kind}.{i}.jpg", folder / f"{kind}.{i}.jpg")
    return folder


@pytest.fixture(scope="module")
def both(photos: Path, cluster_url: str, tmp_path_factory: pytest.TempPathFactory):
    """(embedded Index, cluster Index), the same photos through the real indexer."""
    name = f"conf-{tmp_path_factory.getbasetemp().name[-8:]}".lower().replace("_", "-")
    embedded = picfind.open_index(tmp_path_factory.mktemp("emb"), create=True)
    cluster = picfind.open_index(
        url=cluster_url, cluster=ClusterOptions(name=name, replicas=0), create=True
    )
    try:
        r1 = embedded.add([photos])
        r2 = cluster.add([photos])
        assert r1.indexed == r2.indexed == N_PHOTOS
        yield embedded, cluster
    finally:
        embedded.close()
        store = cluster.store
        assert isinstance(store, ClusterStore)
        for index in list(store.client.indices.get(index=f"{name}-*")):
            store.client.indices.delete(index=index)
        cluster.close()


def _ids(results) -> list[str]:
    return [r.id for r in results.results]


def _agree(a: list[str], b: list[str]) -> int:
    return sum(x == y for x, y in zip(a, b, strict=False))


def _query_ids(embedded: picfind.Index, n: int = 10) -> list[str]:
    files = sorted(embedded.store.rows(), key=lambda f: f.path)
    return [files[i].id for i in np.linspace(0, len(files) - 1, n).astype(int)]


def test_keyword_top10_agrees(both) -> None:
    embedded, cluster = both
    for words in KEYWORDS:
        a = embedded.search_words(words, limit=10)
        b = cluster.search_words(words, limit=10)
        assert a.total == pytest.approx(b.total, abs=2), words
        ia, ib = _ids(a), _ids(b)
        assert ia[0] == ib[0], words
        assert _agree(ia, ib) >= 9, (words, ia, ib)
        for x, y in zip(a.results, b.results, strict=False):
            if x.id == y.id:
                assert x.score == pytest.approx(y.score, rel=1e-4, abs=1e-6)


def test_classes_top10_agrees_and_scores_match(both) -> None:
    embedded, cluster = both
    for qid in _query_ids(embedded):
        a = embedded.search_image(qid, mode="classes", limit=10)
        b = cluster.search_image(qid, mode="classes", limit=10)
        assert a.total == b.total == N_PHOTOS - 1
        ia, ib = _ids(a), _ids(b)
        assert ia[0] == ib[0]
        assert _agree(ia, ib) >= 9, (ia, ib)
        scores_a = {r.id: r.score for r in a.results}
        for r in b.results:  # 1 + Σ η_j ξ_ij, the paper's formula, to float tolerance
            if r.id in scores_a:
                assert r.score == pytest.approx(scores_a[r.id], abs=1e-5)


def test_embedding_recall_against_exact(both) -> None:
    embedded, cluster = both
    recalls = []
    for qid in _query_ids(embedded, 20):
        exact = set(_ids(embedded.search_image(qid, mode="embedding", limit=10)))
        got = cluster.search_image(qid, mode="embedding", limit=10)
        recalls.append(len(exact & set(_ids(got))) / 10)
        top = embedded.search_image(qid, mode="embedding", limit=1).results[0]
        if got.results and got.results[0].id == top.id:
            assert got.results[0].score == pytest.approx(top.score, abs=1e-4)
    assert np.mean(recalls) >= 0.95, recalls


def test_hybrid_agrees(both) -> None:
    embedded, cluster = both
    agreement = []
    for qid in _query_ids(embedded):
        ia = _ids(embedded.search_image(qid, mode="hybrid", limit=10))
        ib = _ids(cluster.search_image(qid, mode="hybrid", limit=10))
        assert ia[0] == ib[0]
        agreement.append(_agree(ia, ib))
    assert np.mean(agreement) >= 9, agreement


def test_pages_and_exclusion(both) -> None:
    embedded, cluster = both
    qid = _query_ids(embedded, 1)[0]
    whole = _ids(cluster.search_image(qid, mode="classes", limit=20))
    assert qid not in whole
    second = cluster.search_image(qid, mode="classes", limit=10, offset=10)
    assert [r.rank for r in second.results] == list(range(11, 21))
    assert _ids(second) == whole[10:20]
    many = cluster.search_words("dog", limit=1000)
    assert len(many.results) == many.total


def test_filter_under_is_a_folder_not_a_prefix(
    tmp_path: Path, catsdogs: Path, cluster_url: str, index_name: str
) -> None:
    for folder, names in {"a/cat": ["cat.1", "dog.1"], "a/cats": ["cat.2", "dog.2"]}.items():
        (tmp_path / folder).mkdir(parents=True)
        for n in names:
            shutil.copy2(catsdogs / f"{n}.jpg", tmp_path / folder / f"{n}.jpg")
    with picfind.open_index(
        url=cluster_url, cluster=ClusterOptions(name=index_name), create=True
    ) as idx:
        idx.add([tmp_path])
        for mode in ("classes", "embedding", "hybrid", "fused"):
            res = idx.search_image(
                tmp_path / "a/cat/cat.1.jpg", mode=mode, under=tmp_path / "a/cat"
            )
            assert [Path(r.path).parent.name for r in res.results] == ["cat"], mode
            assert res.total == 1
        res = idx.search_words("dog", under=tmp_path / "a/cat")
        assert [r.path for r in res.results] == [str(tmp_path / "a/cat/dog.1.jpg")]


def test_moves_touches_and_prune(
    tmp_path: Path, catsdogs: Path, cluster_url: str, index_name: str
) -> None:
    src = tmp_path / "p"
    src.mkdir()
    for i in range(4):
        shutil.copy2(catsdogs / f"cat.{i}.jpg", src / f"cat.{i}.jpg")
    opts = ClusterOptions(name=index_name)
    with picfind.open_index(url=cluster_url, cluster=opts, create=True) as idx:
        assert idx.add([src]).indexed == 4
        old_id = id_at(idx.store, src / "cat.0.jpg")
        (src / "cat.0.jpg").rename(src / "moved.jpg")
        (src / "cat.1.jpg").touch()
        (src / "cat.2.jpg").unlink()
        report = idx.add([src])
        assert (report.indexed, report.moved, report.removed) == (0, 1, 1)
        assert report.unchanged == 2
        assert id_at(idx.store, src / "moved.jpg") == old_id
        assert idx.stats().images == 3
        (src / "cat.3.jpg").unlink()
        assert idx.prune() == 1
        assert idx.stats().images == 2
        assert idx.add([src]).unchanged == 2  # re-indexing never duplicates


def test_model_recorded_and_mismatch_is_exit_2(
    tmp_path: Path, catsdogs: Path, cluster_url: str, index_name: str, capsys
) -> None:
    shutil.copy2(catsdogs / "cat.0.jpg", tmp_path / "cat.0.jpg")
    base = ["--url", cluster_url, "--cluster-index", index_name]
    assert run(["index", str(tmp_path), *base, "--json", "-q"]) == 0
    capsys.readouterr()
    assert run(["index", str(tmp_path), *base, "--model", "lite1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "efficientnet-lite0" in err and "efficientnet-lite1" in err
    assert run(["stats", *base, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "efficientnet-lite0"
    assert run(["search", "--cluster-index", "no-such-index", "--url", cluster_url, "cat"]) == 2
    assert "no picfind index" in capsys.readouterr().err


def test_reindex_swaps_the_alias(both, cluster_url: str, capsys) -> None:
    _embedded, cluster = both
    store = cluster.store
    assert isinstance(store, ClusterStore)
    before = _ids(cluster.search_words("dog", limit=10))
    old = store.concrete
    assert run(["reindex", "--url", cluster_url, "--cluster-index", store.alias, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["old"] == old and out["new"] != old and out["documents"] == N_PHOTOS
    store.handle.meta = store.handle.read_meta()
    assert store.concrete == out["new"]
    assert not store.client.indices.exists(index=old)
    assert _ids(cluster.search_words("dog", limit=10)) == before


def test_paper_layout_matches(both, cluster_url: str, index_name: str) -> None:
    """The paper's script_score over match_all ranks like picfind's rank_feature query."""
    embedded, cluster = both
    store = cluster.store
    assert isinstance(store, ClusterStore)
    paper = ClusterStore(cluster_url, ClusterOptions(name=index_name, layout="paper"), create=True)
    try:
        paper.set_model("efficientnet-lite0")
        assert paper.load(store.records()) == N_PHOTOS
        paper.refresh()
        vocab = Vocabulary.load()
        for qid in _query_ids(embedded, 5):
            f: Features = features_of(embedded.store, qid)
            query = image_query(f, "classes")
            where = Filter(exclude=(qid,))
            _, a = embedded.store.search(query, 10, 0, where)
            _, b = paper.search(query, 10, 0, where)
            assert next(h.id for h in a) == next(h.id for h in b)
            assert _agree([h.id for h in a], [h.id for h in b]) >= 9
            for x, y in zip(a, b, strict=False):
                if x.id == y.id:
                    assert x.score == pytest.approx(y.score, abs=1e-5)
        kq = keyword_query(parse_query("dog", vocab))
        ta, a = embedded.store.search(kq, 10)
        tb, b = paper.search(kq, 10)
        assert ta == tb and _agree([h.id for h in a], [h.id for h in b]) >= 9
        with pytest.raises(picfind.errors.UsageError):
            paper.search(image_query(f, "embedding"), 10)
    finally:
        paper.close()


def test_a_clause_of_several_matchers_agrees(both) -> None:
    """The matcher seam: a clause matches when any matcher does and scores the best of
    them; both stores dispatch the same way (here two concept matchers in one clause,
    and a negated one)."""
    embedded, cluster = both
    vocab = Vocabulary.load()
    dog = tuple(int(i) for i in vocab.classes_for("dog"))
    cat = tuple(int(i) for i in vocab.classes_for("cat"))
    tabby = tuple(int(i) for i in vocab.classes_for("tabby"))
    query = WordsQuery(
        (
            Clause((ConceptMatch(dog), ConceptMatch(cat))),
            Clause((ConceptMatch(tabby),), negated=True),
        )
    )
    ta, a = embedded.store.search(query, 20)
    tb, b = cluster.store.search(query, 20)
    assert ta == tb and ta > 0
    assert [h.id for h in a][:10] == [h.id for h in b][:10]
    for x, y in zip(a, b, strict=False):
        if x.id == y.id:
            assert x.score == pytest.approx(y.score, rel=1e-4, abs=1e-6)
    # each score is the best matcher's mass (not the sum over the clause's classes)
    for hit in a[:5]:
        f = features_of(embedded.store, hit.id)
        dense = np.zeros(1000)
        dense[f.classes.ids.astype(int)] = f.classes.probs
        best = max(dense[list(dog)].sum(), dense[list(cat)].sum())
        assert hit.score == pytest.approx(best, rel=1e-5)


def test_fused_agrees_with_the_embedded_store(both) -> None:
    """200 photos are fewer than either candidate list (the kNN and the classes query's),
    so both stores re-rank every photo with the same pure functions: the same ranking,
    the same scores to float tolerance (the engine's inner products are float32)."""
    embedded, cluster = both
    for qid in _query_ids(embedded):
        a = embedded.search_image(qid, mode="fused", limit=20)
        b = cluster.search_image(qid, mode="fused", limit=20)
        assert a.mode == b.mode == "fused"
        assert a.total == b.total == N_PHOTOS - 1
        assert _ids(a) == _ids(b)
        np.testing.assert_allclose(
            [r.score for r in a.results], [r.score for r in b.results], rtol=0, atol=1e-5
        )
        hybrid = embedded.search_image(qid, mode="hybrid", limit=20)
        assert [r.score for r in hybrid.results] != [r.score for r in a.results]
