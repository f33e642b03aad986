"""Content keys of two kinds: an index written with BLAKE2b keys, re-indexed with BLAKE3.

The old index is made for real: the indexer runs with ``hashing.content_hash`` being
the old function (bare BLAKE2b-128 hex, what picfind wrote before), and the embedded
store is put back to schema 4 as that picfind left it (the cluster index to schema 2).
Then the current code opens it and indexes the folder again after a move, a copy and
a touch: nothing is inferred, the move keeps its row, the copy reuses its features,
and exact duplicates group old and new rows under one key.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers import ReadBytesStage

import picfind
from picfind import hashing
from picfind.duplicates import duplicates_in_index
from picfind.errors import StoreError, UsageError
from picfind.indexer import Indexer
from picfind.passes import run_over
from picfind.store.cluster import ClusterOptions, ClusterStore
from picfind.store.embedded import EmbeddedStore

N = 10


def test_keys_say_their_kind() -> None:
    data = b"\xff\xd8\xff some bytes" * 1000
    key, old = hashing.content_hash(data), hashing.legacy_hash(data)
    assert key == "b3:" + hashing.digest(data) and len(hashing.digest(data)) == 32
    assert old == hashlib.blake2b(data, digest_size=16).hexdigest()  # what old rows hold
    assert (hashing.kind_of(key), hashing.kind_of(old)) == (hashing.CURRENT, hashing.LEGACY)
    assert hashing.is_legacy(old) and not hashing.is_legacy(key) and not hashing.is_legacy("")
    assert hashing.same_content(data, key, key) and hashing.same_content(data, key, old)
    other = data + b"!"
    assert not hashing.same_content(other, hashing.content_hash(other), old)
    assert not hashing.same_content(other, hashing.content_hash(other), key)


@pytest.fixture
def photos(small_photos: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in [f"{kind}.{i}.jpg" for kind in ("cat", "dog") for i in range(N // 2)]:
        shutil.copy2(small_photos / name, folder / name)
    # two files of one content, both indexed by the old code
    shutil.copy2(folder / "cat.3.jpg", folder / "cat.3-twin.jpg")
    return folder


def _index_the_old_way(idx: picfind.Index, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a picfind before BLAKE3 wrote: every key bare BLAKE2b-128 of the file."""
    with monkeypatch.context() as m:
        m.setattr(hashing, "content_hash", hashing.legacy_hash)
        report = idx.add([photos])
    assert report.indexed == N + 1 and not report.skipped
    for row in idx.store.rows():
        assert row.content_hash == hashing.legacy_hash(Path(row.path).read_bytes())


def _to_schema_4(db: Path) -> None:
    """The embedded index as schema 4 left it (no size index, no record of hash kinds)."""
    conn = sqlite3.connect(db)
    conn.executescript(
        "BEGIN; DROP INDEX images_size; DELETE FROM meta WHERE key = 'content_hash';"
        "PRAGMA user_version = 4; COMMIT;"
    )
    conn.close()


def _changes(photos: Path) -> dict[str, Path]:
    """A move, a copy (of content with a twin), a touch; and the paths involved."""
    (photos / "sub").mkdir()
    moved_from, moved_to = photos / "cat.1.jpg", photos / "sub" / "renamed.jpg"
    moved_from.rename(moved_to)
    copy = photos / "sub" / "cat.3-copy.jpg"
    shutil.copy2(photos / "cat.3.jpg", copy)
    touched = photos / "cat.2.jpg"
    os.utime(touched, ns=(5, 5))
    return {"moved_from": moved_from, "moved_to": moved_to, "copy": copy, "touched": touched}


def _reindex_and_check(idx: picfind.Index, photos: Path) -> None:
    before = {f.path: f for f in idx.store.rows()}
    changed = _changes(photos)
    calls: list[int] = []
    model = idx.model

    def counting_model() -> object:
        calls.append(1)
        return model

    report = Indexer(idx.store, counting_model, input_size=224).run([photos])  # type: ignore[arg-type]
    assert (report.moved, report.indexed, report.removed, report.skipped) == (1, 1, 0, [])
    assert report.unchanged == N + 1 - 1  # all but the moved one (the touched one included)
    assert calls == []  # the old keys were found: nothing inferred
    now = {f.path: f for f in idx.store.rows(features=True)}
    assert len(now) == N + 2
    old_row = before[str(changed["moved_from"])]
    moved = now[str(changed["moved_to"])]
    assert moved.id == old_row.id and str(changed["moved_from"]) not in now
    for path in ("moved_to", "touched", "copy"):  # read in this run: the current key
        row = now[str(changed[path])]
        assert row.content_hash == hashing.content_hash(changed[path].read_bytes())
    for name in ("cat.3.jpg", "cat.3-twin.jpg"):  # the copy's old-kind twins: rekeyed
        assert now[str(photos / name)].content_hash == now[str(changed["copy"])].content_hash
    untouched = now[str(photos / "cat.0.jpg")]
    assert untouched.content_hash == before[untouched.path].content_hash  # never re-read
    assert hashing.is_legacy(untouched.content_hash)  # old rows stay as they were
    copy, source = now[str(changed["copy"])], now[str(photos / "cat.3.jpg")]
    assert copy.features is not None and source.features is not None
    assert (copy.features.embedding == source.features.embedding).all()  # reused

    exact = [g for g in duplicates_in_index(idx.store, near=False) if g.kind == "exact"]
    group = {str(photos / "cat.3.jpg"), str(photos / "cat.3-twin.jpg"), str(changed["copy"])}
    assert [set(g.paths) for g in exact] == [group]

    again = Indexer(idx.store, counting_model, input_size=224).run([photos])  # type: ignore[arg-type]
    assert (again.indexed, again.moved, again.unchanged, calls) == (0, 0, N + 2, [])


@pytest.mark.shared_data
def test_embedded_index_of_old_keys_is_reindexed_without_inference(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "index"
    with picfind.open_index(folder, create=True) as idx:
        _index_the_old_way(idx, photos, monkeypatch)
    _to_schema_4(folder / "picfind.db")
    with picfind.open_index(folder) as idx:
        conn = sqlite3.connect(folder / "picfind.db")
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
        kinds = conn.execute("SELECT value FROM meta WHERE key = 'content_hash'").fetchone()
        assert kinds is not None and "blake2b-128" in kinds[0]
        conn.close()
        _reindex_and_check(idx, photos)


def test_index_of_a_newer_picfind_is_refused(tmp_path: Path) -> None:
    EmbeddedStore(tmp_path / "index", create=True).close()
    conn = sqlite3.connect(tmp_path / "index" / "picfind.db")
    conn.execute("PRAGMA user_version = 6")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 6 is newer than this picfind"):
        EmbeddedStore(tmp_path / "index")


@pytest.mark.shared_data
def test_a_pass_over_old_rows_checks_them_by_their_own_kind(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with picfind.open_index(tmp_path / "index", create=True) as idx:
        _index_the_old_way(idx, photos, monkeypatch)
        rows = sorted(idx.store.rows(), key=lambda f: f.path)
        changed = Path(rows[0].path)  # new bytes, the old size and mtime: not what was indexed
        st = changed.stat()
        data = bytearray(changed.read_bytes())
        data[-3] ^= 0xFF
        changed.write_bytes(bytes(data))
        os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns))
        report = run_over(idx.store, [ReadBytesStage()], rows)  # reads whole files, as OCR
        assert report.updated == len(rows) - 1
        assert [s.path for s in report.skipped] == [str(changed)]


# -- the cluster store ------------------------------------------------------------------


@pytest.mark.opensearch
@pytest.mark.shared_data
def test_cluster_index_of_old_keys_is_reindexed_without_inference(
    photos: Path, opensearch_url: str, index_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = ClusterOptions(name=index_name, replicas=0)
    with picfind.open_index(url=opensearch_url, cluster=options, create=True) as idx:
        _index_the_old_way(idx, photos, monkeypatch)
        store = idx.store
        assert isinstance(store, ClusterStore)
        concrete = store.handle.concrete
        mappings = store.client.indices.get_mapping(index=concrete)[concrete]["mappings"]
        meta = dict(mappings["_meta"])
        meta["picfind_schema"] = 2  # as the picfind before BLAKE3 made it
        del meta["content_hash"]
        store.client.indices.put_mapping(index=concrete, body={"_meta": meta})
    with picfind.open_index(url=opensearch_url, cluster=options) as idx:
        store = idx.store
        assert isinstance(store, ClusterStore)
        got = store.client.indices.get_mapping(index=concrete)[concrete]["mappings"]["_meta"]
        assert got["picfind_schema"] == 3 and got["migrated"]["from"] == 2
        assert got["content_hash"]["unprefixed"] == "blake2b-128"
        _reindex_and_check(idx, photos)


@pytest.mark.opensearch
def test_cluster_index_of_a_newer_picfind_is_refused(
    opensearch_url: str, index_name: str, tmp_path: Path
) -> None:
    options = ClusterOptions(name=index_name, replicas=0)
    store = ClusterStore(opensearch_url, options, create=True)
    try:
        store.set_model("efficientnet-lite0")
        concrete = store.handle.concrete
        meta = store.client.indices.get_mapping(index=concrete)[concrete]["mappings"]["_meta"]
        body = {"_meta": {**meta, "picfind_schema": 4}}
        store.client.indices.put_mapping(index=concrete, body=body)
    finally:
        store.close()
    with pytest.raises(UsageError, match="has picfind schema 4"):
        ClusterStore(opensearch_url, options)
