"""The embedded store against brute-force scoring, in every segment layout."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from picfind.errors import NotFoundError, StoreError
from picfind.matchers import WordsQuery
from picfind.records import Features, ImageRecord
from picfind.scoring import (
    NUM_CLASSES,
    STORED_CLASSES,
    indicator,
    keyword_scores,
    query_weights,
    sparse_top,
)
from picfind.store import vectors
from picfind.store.base import (
    ClassesQuery,
    EmbeddingQuery,
    Filter,
    HybridQuery,
)
from picfind.store.embedded import EmbeddedStore

DIM = 64


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Peaked class distributions and clustered unit embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, DIM))
    which = rng.integers(0, 20, n)
    emb = centres[which] + 0.6 * rng.standard_normal((n, DIM))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    logits = rng.standard_normal((n, NUM_CLASSES)) * 2
    logits[np.arange(n), which * 7] += 6
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return probs.astype(np.float32), emb.astype(np.float32)


def records(probs: np.ndarray, emb: np.ndarray, start: int = 0) -> list[ImageRecord]:
    return [
        ImageRecord(
            f"id{start + i:06d}",
            f"/photos/{'a' if (start + i) % 2 else 'b'}/img{start + i:06d}.jpg",
            f"hash{start + i}",
            1000 + i,
            1,
            10,
            10,
            "JPEG",
            Features(sparse_top(probs[i]), emb[i]),
        )
        for i in range(probs.shape[0])
    ]


def truncated(probs: np.ndarray, k: int = STORED_CLASSES) -> np.ndarray:
    out = np.zeros_like(probs)
    for i, p in enumerate(probs):
        s = sparse_top(p, k)
        out[i, s.ids] = s.probs
    return out


def brute_force(query, probs: np.ndarray, emb: np.ndarray) -> np.ndarray:
    xi = truncated(probs)
    emb16 = emb.astype(np.float16).astype(np.float32)
    if isinstance(query, ClassesQuery):
        return 1 + xi @ query.weights
    if isinstance(query, EmbeddingQuery):
        return emb16 @ query.vector
    if isinstance(query, HybridQuery):
        return emb16 @ query.vector + query.weight * (xi @ query.weights)
    raise TypeError


@pytest.fixture(params=["delta", "main-exact", "main-pca"])
def layout(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with everything in the delta, in an exact main, or a projected main."""
    if request.param == "delta":
        monkeypatch.setattr(vectors, "MIN_MAIN", 10**9)
    else:
        monkeypatch.setattr(vectors, "MIN_MAIN", 50)
        monkeypatch.setattr(vectors, "EXACT_LIMIT", 10**9 if request.param == "main-exact" else 50)
        monkeypatch.setattr(vectors, "PCA_DIM", 32)
        monkeypatch.setattr(vectors, "RERANK", 100)
    return request.param


def test_scored_queries_match_brute_force(tmp_path: Path, layout: str) -> None:
    probs, emb = synthetic(600)
    store = EmbeddedStore(tmp_path / "idx", create=True)
    store.write(add=records(probs, emb))
    rng = np.random.default_rng(9)
    for q in rng.choice(600, 5, replace=False):
        w = query_weights(sparse_top(probs[q]))
        for query in (
            ClassesQuery(w),
            EmbeddingQuery(emb[q]),
            HybridQuery(emb[q], w, 1.0),
        ):
            total, hits = store.search(query, 10)
            assert total == 600
            expected = np.argsort(-brute_force(query, probs, emb), kind="stable")[:10]
            got = [int(h.id[2:]) for h in hits]
            if layout == "main-pca" and not isinstance(query, ClassesQuery):
                assert len(set(got) & set(expected.tolist())) >= 9  # approximate candidates
            else:
                assert got == expected.tolist()
            np.testing.assert_allclose(
                [h.score for h in hits[:3]],
                brute_force(query, probs, emb)[[int(h.id[2:]) for h in hits[:3]]],
                rtol=1e-3,
                atol=1e-3,
            )
    store.close()


def test_keyword_query_matches_brute_force(tmp_path: Path, layout: str) -> None:
    probs, emb = synthetic(300, seed=4)
    store = EmbeddedStore(tmp_path / "idx", create=True)
    store.write(add=records(probs, emb))
    xi = truncated(probs)
    pos = (tuple(range(0, 70)),)
    neg = (tuple(range(70, 75)),)
    total, hits = store.search(WordsQuery.of_classes(pos, neg), 20)
    scores, match = keyword_scores([xi @ indicator(pos[0])], [xi @ indicator(neg[0])])
    assert total == int(match.sum())
    ranked = [i for i in np.argsort(-scores, kind="stable") if match[i]][:20]
    assert [int(h.id[2:]) for h in hits] == ranked
    store.close()


def test_filters_offsets_and_deletions(tmp_path: Path, layout: str) -> None:
    probs, emb = synthetic(400, seed=2)
    store = EmbeddedStore(tmp_path / "idx", create=True)
    recs = records(probs, emb)
    store.write(add=recs)
    query = EmbeddingQuery(emb[0])
    _, first = store.search(query, 20)
    _, page2 = store.search(query, 10, offset=10)
    assert [h.id for h in page2] == [h.id for h in first[10:20]]
    total, hits = store.search(query, 10, where=Filter(exclude=("id000000",)))
    assert total == 399 and all(h.id != "id000000" for h in hits)
    total, hits = store.search(query, 50, where=Filter(under="/photos/a"))
    assert total == 200 and all(int(h.id[2:]) % 2 == 1 for h in hits)
    # Deleting and appending after the cache exists: masks and the delta see it.
    store.write(remove=[h.id for h in first[:5]])
    store.write(add=records(*synthetic(30, seed=7), start=1000))
    total, hits = store.search(query, 20)
    assert total == 400 - 5 + 30
    assert not {h.id for h in hits} & {h.id for h in first[:5]}
    store.close()


def test_cache_is_rebuilt_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors, "MIN_MAIN", 50)
    probs, emb = synthetic(200)
    store = EmbeddedStore(tmp_path / "idx", create=True)
    store.write(add=records(probs, emb))
    store.search(EmbeddingQuery(emb[0]), 5)
    current = (tmp_path / "idx" / "cache" / "CURRENT").read_text()
    store.close()
    again = EmbeddedStore(tmp_path / "idx")
    again.search(EmbeddingQuery(emb[0]), 5)
    assert (tmp_path / "idx" / "cache" / "CURRENT").read_text() == current  # reused
    again.write(add=records(*synthetic(200, seed=5), start=500))  # delta > rebuild fraction
    total, _ = again.search(EmbeddingQuery(emb[0]), 5)
    assert total == 400
    assert (tmp_path / "idx" / "cache" / "CURRENT").read_text() != current
    again.close()


def test_corrupt_cache_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors, "MIN_MAIN", 50)
    probs, emb = synthetic(120)
    store = EmbeddedStore(tmp_path / "idx", create=True)
    store.write(add=records(probs, emb))
    _, before = store.search(EmbeddingQuery(emb[3]), 5)
    store.close()
    cache = tmp_path / "idx" / "cache"
    (cache / (cache / "CURRENT").read_text() / "manifest.json").write_text("{not json")
    again = EmbeddedStore(tmp_path / "idx")
    _, after = again.search(EmbeddingQuery(emb[3]), 5)
    assert [h.id for h in after] == [h.id for h in before]
    again.close()


def test_missing_index_and_newer_schema(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        EmbeddedStore(tmp_path / "nothing")
    store = EmbeddedStore(tmp_path / "idx", create=True)
    store.close()
    conn = sqlite3.connect(tmp_path / "idx" / "picfind.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        EmbeddedStore(tmp_path / "idx")


def test_replacing_a_path_keeps_one_row_and_its_id(tmp_path: Path) -> None:
    probs, emb = synthetic(2)
    store = EmbeddedStore(tmp_path / "idx", create=True)
    first = records(probs[:1], emb[:1])[0]
    store.write(add=[first])
    changed = ImageRecord(
        first.id,
        first.path,
        "otherhash",
        5,
        2,
        10,
        10,
        "JPEG",
        Features(sparse_top(probs[1]), emb[1]),
    )
    store.write(add=[changed])
    assert store.stats().images == 1
    f = next(store.rows(paths=[first.path]), None)
    assert f is not None and f.content_hash == "otherhash" and f.id == first.id
    feats = next(store.rows(ids=[first.id], features=True)).features
    assert feats is not None
    np.testing.assert_allclose(feats.embedding, emb[1], atol=1e-3)
    store.close()
