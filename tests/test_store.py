"""The embedded store against brute-force scoring, in every segment layout."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox import PICFIND, in_mount_namespace, unprivileged

import picfind
from picfind.errors import NotFoundError, StoreError
from picfind.matchers import WordsQuery
from picfind.records import Features, Fields, ImageRecord, SparseClasses
from picfind.scoring import (
    NUM_CLASSES,
    STORED_CLASSES,
    Fusion,
    fuse,
    fused_block,
    indicator,
    keyword_scores,
    query_weights,
    sparse_top,
    top_classes,
)
from picfind.store import vectors
from picfind.store.base import (
    ClassesQuery,
    EmbeddingQuery,
    Filter,
    FusedQuery,
    HybridQuery,
    Table,
    Update,
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


def test_fused_query_is_the_whole_set_score_over_every_segment(tmp_path: Path, layout: str) -> None:
    """The store's fused ranking (first pass, the expansion taken over main and delta
    together, second pass) is ``scoring.fused_block`` over exactly the rows the filter
    allows; on the projected main its candidates come from the PCA scores, so the top
    10 may differ in one place."""
    store = EmbeddedStore(tmp_path / "idx", create=True)
    store.write(add=records(*synthetic(600, seed=3)))
    store.search(EmbeddingQuery(synthetic(1)[1][0]), 1)  # main is built (main layouts)
    store.write(add=records(*synthetic(40, seed=8), start=600), remove=["id000007"])
    assert len(store._cache.segments()) == (1 if layout == "delta" else 2)
    for under in (None, "/photos/a"):
        table = Table.of(store.rows(under=under, features=True))
        for q in np.linspace(0, len(table) - 1, 6).astype(int):
            f = table.features[q]
            query = FusedQuery(f.embedding, query_weights(f.classes))
            where = Filter(under, (table.ids[q],))
            total, hits = store.search(query, 20, where=where)
            assert total == len(table) - 1
            whole = fused_block(
                np.array([q]), table.embeddings, table.classes, top_classes(table.classes)
            )[0]
            whole[q] = -np.inf
            expected = [table.ids[i] for i in np.argsort(-whole, kind="stable")[:10]]
            got = [h.id for h in hits[:10]]
            if layout == "main-pca":
                assert len(set(got) & set(expected)) >= 9, (got, expected)
            else:
                assert got == expected
            at = {i: n for n, i in enumerate(table.ids)}
            np.testing.assert_allclose(
                [h.score for h in hits], whole[[at[h.id] for h in hits]], rtol=0, atol=1e-5
            )
            _, page2 = store.search(query, 10, offset=10, where=where)
            assert [h.id for h in page2] == [h.id for h in hits[10:20]]
    # Without expansion, fused is its first pass alone.
    table = Table.of(store.rows(features=True))
    f = table.features[5]
    _, hits = store.search(
        FusedQuery(f.embedding, query_weights(f.classes), Fusion(expansion=0)), 5
    )
    first = fuse(table.classes @ query_weights(f.classes), table.embeddings @ f.embedding)
    assert hits[0].id == table.ids[5]
    np.testing.assert_allclose([h.score for h in hits], np.sort(first)[::-1][:5], rtol=0, atol=1e-5)
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


# --- the seam: bulk rows, updates, many searches ------------------------------------------


def test_rows_select_under_a_folder_by_ids_paths_and_hashes(tmp_path: Path) -> None:
    probs, emb = synthetic(1200)
    store = EmbeddedStore(tmp_path / "idx", create=True)
    recs = records(probs, emb)
    store.write(add=recs)
    under = list(store.rows(under="/photos/a"))
    assert [r.path for r in under] == sorted(r.path for r in recs if "/a/" in r.path)
    assert not list(store.rows(under="/photos/a/img"))  # a folder, not a string prefix
    some = [r.id for r in recs[::3]]  # 400 ids: chunked look-ups, one answer
    assert sorted(r.id for r in store.rows(ids=some)) == sorted(some)
    assert [r.id for r in store.rows(paths=[recs[7].path])] == [recs[7].id]
    (row,) = store.rows(hashes=["hash9"], features=True)
    assert row.id == recs[9].id and row.features is not None
    np.testing.assert_allclose(row.features.embedding, emb[9], atol=1e-3)
    assert list(store.rows(ids=[])) == [] and list(store.rows(ids=["nope"])) == []
    store.close()


def test_updates_write_fields_and_never_features(tmp_path: Path) -> None:
    probs, emb = synthetic(3)
    store = EmbeddedStore(tmp_path / "idx", create=True)
    recs = records(probs, emb)
    store.write(add=recs)
    store.write(update=[Update(recs[1].id, Fields(format="PNG", width=640, height=480))])
    row = next(store.rows(ids=[recs[1].id]))
    assert (row.format, row.width, row.height) == ("PNG", 640, 480)
    assert next(store.rows(ids=[recs[0].id])).format == "JPEG"
    with pytest.raises(ValueError, match="features"):
        store.write(update=[Update(recs[0].id, Fields(features=recs[2].features))])
    store.close()


def test_search_many_answers_like_search(tmp_path: Path, layout: str) -> None:
    probs, emb = synthetic(400, seed=3)
    store = EmbeddedStore(tmp_path / "idx", create=True)
    store.write(add=records(probs, emb))
    queries = [EmbeddingQuery(emb[q]) for q in range(5)] + [
        ClassesQuery(query_weights(sparse_top(probs[q]))) for q in range(5)
    ]
    where = [
        Filter(under="/photos/a" if q % 2 else None, exclude=(f"id{q:06d}",)) for q in range(10)
    ]
    many = store.search_many(queries, 15, where)
    assert many == [store.search(q, 15, 0, w) for q, w in zip(queries, where, strict=True)]
    store.close()


# --- attacks (issue 8) ------------------------------------------------------------------------


def test_attack_recreated_database_does_not_reuse_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Delete picfind.db* but not cache/, index other images: the old cache (same rowids,
    same size) was read as the new database's, answering with rows that are not there."""
    monkeypatch.setattr(vectors, "MIN_MAIN", 50)
    probs, emb = synthetic(200, seed=1)
    store = EmbeddedStore(tmp_path / "idx", create=True)
    store.write(add=records(probs, emb))
    store.search(EmbeddingQuery(emb[0]), 5)  # builds cache/
    store.close()
    for f in (tmp_path / "idx").glob("picfind.db*"):
        f.unlink()
    other_probs, other_emb = synthetic(200, seed=2)
    again = EmbeddedStore(tmp_path / "idx", create=True)
    again.write(add=records(other_probs, other_emb, start=5000))
    query = EmbeddingQuery(other_emb[7])
    _, hits = again.search(query, 10)
    expected = np.argsort(-brute_force(query, other_probs, other_emb), kind="stable")[:10]
    assert [int(h.id[2:]) - 5000 for h in hits] == expected.tolist()
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)  # itself, not an old row's score
    manifest = json.loads(
        (tmp_path / "idx" / "cache" / (tmp_path / "idx" / "cache" / "CURRENT").read_text()
         / "manifest.json").read_text()
    )  # fmt: skip
    assert manifest["index_id"] == again.db.meta("index_id")
    again.close()


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=32)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    poison=st.lists(st.tuples(st.integers(0, DIM - 1), finite_or_not), min_size=1, max_size=3),
    in_probs=st.booleans(),
)
def test_attack_nan_or_inf_never_enters_the_store(tmp_path: Path, poison, in_probs: bool) -> None:
    probs, emb = synthetic(2, seed=5)
    recs = records(probs, emb)
    classes, vector = recs[0].features.classes, recs[0].features.embedding.copy()
    cprobs = classes.probs.copy()
    for i, value in poison:
        if in_probs:
            cprobs[i % cprobs.size] = value
        else:
            vector[i] = value
    bad = ImageRecord(*[getattr(recs[0], f) for f in ("id", "path", "content_hash", "size",
        "mtime_ns", "width", "height", "format")],
        Features(SparseClasses(classes.ids, cprobs), vector))  # fmt: skip
    folder = tmp_path / f"idx-{abs(hash((tuple(poison), in_probs)))}"
    store = EmbeddedStore(folder, create=True)
    with np.errstate(over="ignore", invalid="ignore"):
        stored = vector.astype(np.float16)
    finite = bool(np.isfinite(stored).all() and np.isfinite(cprobs).all())
    if finite:
        store.write(add=[bad, recs[1]])
        assert store.stats().images == 2
    else:
        with pytest.raises(StoreError, match="not finite"):
            store.write(add=[bad, recs[1]])
        assert store.stats().images == 0  # the whole write is refused, atomically
    store.close()


def test_attack_a_poisoned_row_does_not_empty_any_search(tmp_path: Path, layout: str) -> None:
    """A NaN already stored (by an older picfind) made classes, embedding and hybrid
    answer "total 999, results []". It ranks as −∞ now: every page is full."""
    probs, emb = synthetic(300, seed=6)
    store = EmbeddedStore(tmp_path / "idx", create=True)
    store.write(add=records(probs, emb))
    conn = sqlite3.connect(tmp_path / "idx" / "picfind.db")
    nan_emb = np.full(DIM, np.nan, dtype=np.float16).tobytes()
    nan_probs = np.full(3, np.nan, dtype=np.float32).tobytes()
    conn.execute(
        "UPDATE images SET embedding = ?, class_probs = ?, class_ids = ? WHERE id = ?",
        (nan_emb, nan_probs, np.array([0, 7, 14], np.uint16).tobytes(), "id000042"),
    )
    conn.commit()
    conn.close()
    w = query_weights(sparse_top(probs[3]))
    for query in (
        ClassesQuery(w),
        EmbeddingQuery(emb[3]),
        HybridQuery(emb[3], w),
        FusedQuery(emb[3], w),
        WordsQuery.of_classes((tuple(range(0, 140)),)),
    ):
        total, hits = store.search(query, 10)
        assert len(hits) == 10, (type(query).__name__, total)
        assert all(np.isfinite(h.score) for h in hits)
        assert "id000042" not in {h.id for h in hits}
    store.close()


def test_attack_sqlite_errors_are_store_errors(tmp_path: Path) -> None:
    """A damaged file is a StoreError with SQLite's reason, never an internal error."""
    folder = tmp_path / "idx"
    folder.mkdir()
    (folder / "picfind.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"cannot open the index at .*file is not a database"):
        EmbeddedStore(folder)


def _built_index(small_photos: Path, tmp_path: Path) -> Path:
    index = tmp_path / "ro-index"
    with picfind.open_index(index, create=True) as idx:
        idx.add([small_photos])
    return index


@pytest.mark.shared_data
def test_attack_read_only_mount_still_answers_searches(small_photos: Path, tmp_path: Path) -> None:
    """An index on a read-only mount (a bind mount in a private namespace) opens read-only:
    searches answer; indexing says why it cannot, in one line."""
    index = _built_index(small_photos, tmp_path)
    py = sys.executable
    script = f"""
mount --bind {index} {index} && mount -o remount,bind,ro {index} || exit 99
touch {index}/probe 2> /dev/null && exit 98
{py} -m picfind search dog --index {index} --json > {tmp_path}/search.json 2> {tmp_path}/search.err
echo $? > {tmp_path}/search.code
{py} -m picfind index {small_photos} --index {index} > /dev/null 2> {tmp_path}/index.err
echo $? > {tmp_path}/index.code
"""
    proc = in_mount_namespace(script)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert (tmp_path / "search.code").read_text().strip() == "0", (
        tmp_path / "search.err"
    ).read_text()
    found = json.loads((tmp_path / "search.json").read_text())
    assert found["total"] > 0 and len(found["results"]) == 10
    assert (tmp_path / "index.code").read_text().strip() == "1"
    err = (tmp_path / "index.err").read_text()
    assert err.count("\n") == 1 and "read-only" in err and "internal error" not in err, err


@pytest.mark.shared_data
def test_attack_read_only_files_still_answer_searches(small_photos: Path, tmp_path: Path) -> None:
    """The same when the files are not writable (chmod a-w; as root, without the
    capability that ignores it)."""
    index = _built_index(small_photos, tmp_path)
    modes = {p: p.stat().st_mode for p in [index, *index.rglob("*")]}
    for p in modes:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        found = unprivileged([*PICFIND, "search", "dog", "--index", index, "--json"])
        indexing = unprivileged([*PICFIND, "index", small_photos, "--index", index])
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert found.returncode == 0, found.stderr
    assert len(json.loads(found.stdout)["results"]) == 10
    assert indexing.returncode == 1 and "read-only" in indexing.stderr, indexing.stderr
