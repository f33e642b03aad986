"""Capture metadata as a signal: the inline stage, schema 2 and its migration, the backfill.

Real JPEGs with real EXIF (``exifphotos``, Pillow), real SQLite, and a committed
schema-1 index made by the picfind before schema 2 (``tests/data/index-v1``,
``scripts/make_v1_fixture.py``).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from exifphotos import SHOTS, write_shots
from sandbox import PICFIND, unprivileged

import picfind
from picfind import api
from picfind.cli import run
from picfind.errors import StoreError
from picfind.records import METADATA_FIELDS, StoredFile
from picfind.stages.metadata import META_VERSION
from picfind.store import sqlite as sqlite_store
from picfind.store.embedded import EmbeddedStore
from picfind.store.schema import _MIGRATIONS, SCHEMA_VERSION

V1 = Path(__file__).parent / "data" / "index-v1"


def by_name(rows: list[StoredFile]) -> dict[str, StoredFile]:
    return {Path(r.path).stem: r for r in rows}


@pytest.fixture(scope="module")
def shot_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The shots indexed by today's picfind (the model runs: 7 tiny photos)."""
    root = tmp_path_factory.mktemp("shots")
    write_shots(root / "photos")
    with picfind.open_index(root / "index", create=True) as idx:
        report = idx.add([root / "photos"])
    assert report.indexed == len(SHOTS) and not report.skipped
    return root / "photos", root / "index"


def test_inline_stage_stores_date_offset_place_and_camera(shot_index: tuple[Path, Path]) -> None:
    photos, index = shot_index
    store = EmbeddedStore(index, read_only=True)
    rows = by_name(list(store.rows(under=str(photos), metadata=True)))
    store.close()
    paris = rows["paris"].metadata
    assert paris is not None
    assert paris.taken == "2019-07-14T12:34:56" and paris.taken_day == 20190714
    assert paris.taken_md == 714 and paris.utc_offset == 120
    assert paris.taken_source == "DateTimeOriginal"
    assert paris.lat == pytest.approx(48.8584, abs=1e-3)
    assert paris.lon == pytest.approx(2.2945, abs=1e-3)
    assert paris.country_code == "FR" and paris.place_keys is not None
    assert {"paris", "france", "europe"} <= set(paris.place_keys)
    assert paris.place_label and "Paris" in paris.place_label
    assert paris.camera == "Apple iPhone 12" and paris.camera_keys is not None
    assert "iphone" in paris.camera_keys and paris.make == "Apple"
    assert paris.camera_model == "iPhone 12"
    # western and southern hemispheres
    ny, sydney, sp = rows["newyork"].metadata, rows["sydney"].metadata, rows["saopaulo"].metadata
    assert ny is not None and ny.utc_offset == -300 and ny.lon is not None and ny.lon < 0
    assert ny.place_keys is not None and "new york" in ny.place_keys
    assert sydney is not None and sydney.lat is not None and sydney.lat < 0
    assert sydney.country_code == "AU" and sydney.camera == "Nikon D750"
    assert sp is not None and sp.country_code == "BR" and sp.utc_offset == -180
    # a date and a camera but no GPS; a broken date; no EXIF at all
    nogps = rows["nogps"].metadata
    assert nogps is not None and nogps.taken_day == 20180303
    assert nogps.lat is None and nogps.place_keys is None and nogps.city is None
    for name in ("broken", "plain"):
        meta = rows[name].metadata
        assert meta is not None and meta.taken is None and meta.taken_day is None
        assert meta.place_keys is None and meta.camera is None
    # every row was read by the stage, whatever its file said
    assert {r.meta_version for r in rows.values()} == {META_VERSION}


def test_rows_without_metadata_leave_it_out(shot_index: tuple[Path, Path]) -> None:
    photos, index = shot_index
    store = EmbeddedStore(index, read_only=True)
    rows = list(store.rows(under=str(photos)))
    with_features = by_name(list(store.rows(under=str(photos), features=True, metadata=True)))
    store.close()
    assert all(r.metadata is None and r.meta_version == META_VERSION for r in rows)
    paris = with_features["paris"]
    assert paris.features is not None and paris.metadata is not None
    assert paris.metadata.city is not None


def _v1_copy(tmp_path: Path) -> Path:
    index = tmp_path / "index"
    shutil.copytree(V1 / "index", index)
    return index


def _v1_rows(db: Path) -> dict[str, tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return {
            str(r[0]): tuple(r[1:])
            for r in conn.execute(
                "SELECT id, path, content_hash, size, mtime_ns, width, height, format, "
                "class_ids, class_probs, embedding FROM images"
            )
        }
    finally:
        conn.close()


def test_committed_v1_index_is_really_version_1() -> None:
    conn = sqlite3.connect(f"{(V1 / 'index' / 'picfind.db').as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        columns = {r[1] for r in conn.execute("PRAGMA table_info(images)")}
    finally:
        conn.close()
    assert "taken" not in columns and "class_ids" in columns


def test_opening_a_v1_index_migrates_it_in_place_keeping_rows_and_features(
    tmp_path: Path,
) -> None:
    index = _v1_copy(tmp_path)
    before = _v1_rows(index / "picfind.db")
    assert len(before) == len(SHOTS)
    store = EmbeddedStore(index)
    rows = list(store.rows(features=True, metadata=True))
    store.close()
    conn = sqlite3.connect(index / "picfind.db")
    assert (
        conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    )  # + texts, changes, hash kinds
    conn.close()
    after = _v1_rows(index / "picfind.db")
    assert after == before  # every row, every feature byte
    assert len(rows) == len(SHOTS)
    for row in rows:
        assert row.meta_version == 0 and row.metadata is not None
        assert all(getattr(row.metadata, f) is None for f in METADATA_FIELDS)
        assert row.features is not None and np.isfinite(row.features.embedding).all()


def test_next_index_run_backfills_v1_rows_from_headers_without_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _v1_copy(tmp_path)
    photos = tmp_path / "photos"
    shutil.copytree(V1 / "photos", photos)  # same bytes: the rows follow them (moved)

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model must not run for a backfill")

    monkeypatch.setattr(api, "load_model", no_model)
    features = {r[1]: r[8:] for r in _v1_rows(index / "picfind.db").values()}
    with picfind.open_index(index) as idx:
        report = idx.add([photos])
        assert report.moved == len(SHOTS) and report.indexed == 0
        assert report.backfilled == len(SHOTS)
        assert report.to_json()["backfilled"] == len(SHOTS)
        again = idx.add([photos])  # resumable and done: nothing left to read
        assert again.backfilled == 0 and again.unchanged == len(SHOTS)
    store = EmbeddedStore(index, read_only=True)
    rows = by_name(list(store.rows(metadata=True)))
    store.close()
    assert {r.meta_version for r in rows.values()} == {META_VERSION}
    paris = rows["paris"].metadata
    assert paris is not None and paris.taken_day == 20190714
    assert paris.place_keys is not None and "paris" in paris.place_keys
    sydney = rows["sydney"].metadata
    assert sydney is not None and sydney.country_code == "AU"
    assert rows["plain"].metadata is not None and rows["plain"].metadata.taken is None
    # the features are the v1 rows' own, untouched
    now = {r[1]: r[8:] for r in _v1_rows(index / "picfind.db").values()}
    assert sorted(now.values()) == sorted(features.values())


def test_run_pass_backfills_only_rows_that_need_it(tmp_path: Path) -> None:
    index = _v1_copy(tmp_path)
    photos = tmp_path / "photos"
    shutil.copytree(V1 / "photos", photos)
    from picfind.stages import MetadataStage, needs_backfill

    with picfind.open_index(index) as idx:
        # move the rows to the copies first, with a stage list that has no metadata
        store = idx.store
        moved = {Path(r.path).name: r for r in store.rows()}
        from picfind.store.base import Move

        store.write(
            moves=[
                Move(r.id, str(photos / name), (photos / name).stat().st_size,
                     (photos / name).stat().st_mtime_ns)
                for name, r in moved.items()
            ]
        )  # fmt: skip
        first = idx.run_pass([photos], [MetadataStage()], needs=needs_backfill)
        second = idx.run_pass([photos], [MetadataStage()], needs=needs_backfill)
    assert first.pending == len(SHOTS) and first.updated == len(SHOTS)
    assert second.pending == 0 and second.updated == 0


def test_show_prints_everything_stored_about_one_photo(
    shot_index: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    photos, index = shot_index
    code = run(["show", str(photos / "paris.jpg"), "--index", str(index), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["path"] == str(photos / "paris.jpg")
    assert doc["format"] == "JPEG" and (doc["width"], doc["height"]) == (64, 48)
    assert doc["size"] == (photos / "paris.jpg").stat().st_size and len(doc["labels"]) == 5
    assert doc["taken"] == {
        "local": "2019-07-14T12:34:56", "utc_offset_minutes": 120, "source": "DateTimeOriginal"
    }  # fmt: skip
    assert doc["place"]["country_code"] == "FR" and "paris" in doc["place"]["keys"]
    assert doc["camera"]["name"] == "Apple iPhone 12" and doc["meta_version"] == META_VERSION
    # by id, as text
    code = run(["show", doc["id"], "--index", str(index)])
    text = capsys.readouterr().out
    assert code == 0 and "2019-07-14 12:34:56 +02:00 (DateTimeOriginal)" in text
    assert "Paris" in text and "Apple iPhone 12" in text and "file time" in text
    # a photo whose file says nothing: no date, no place, no camera
    code = run(["show", str(photos / "plain.jpg"), "--index", str(index), "--json"])
    plain = json.loads(capsys.readouterr().out)
    assert plain["taken"] is None and plain["place"] is None and plain["camera"] is None
    code = run(["show", "no-such-thing", "--index", str(index)])
    err = capsys.readouterr().err
    assert code == 2 and "not in the index" in err and len(err.strip().splitlines()) == 1


def test_stats_shows_the_migration_and_the_metadata_coverage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = _v1_copy(tmp_path)
    photos = tmp_path / "photos"
    shutil.copytree(V1 / "photos", photos)
    assert run(["stats", "--index", str(index), "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["schema"] == SCHEMA_VERSION and before["migrated"]["from"] == 1
    assert before["migrated"]["to"] == SCHEMA_VERSION
    assert before["metadata"] == {"read": 0, "pending": 7, "dated": 0, "placed": 0, "camera": 0}
    assert run(["index", str(photos), "--index", str(index), "--quiet"]) == 0
    assert "backfilled 7" in capsys.readouterr().out
    assert run(["stats", "--index", str(index)]) == 0
    text = capsys.readouterr().out
    assert "migrated from 1" in text
    dated = sum(s.taken is not None and not s.taken.startswith("0000") for s in SHOTS)
    placed = sum(s.lat is not None for s in SHOTS)
    cameras = sum(s.make is not None for s in SHOTS)
    assert f"read 7; dated {dated}, with a place {placed}, with a camera {cameras}" in text


def test_a_new_index_has_no_migration(shot_index: tuple[Path, Path]) -> None:
    _, index = shot_index
    with picfind.open_index(index) as idx:
        stats = idx.stats().to_json()
    assert stats["schema"] == SCHEMA_VERSION and "migrated" not in stats
    assert stats["metadata"]["read"] == len(SHOTS) and stats["metadata"]["pending"] == 0


def test_a_re_read_replaces_the_whole_capture_record(tmp_path: Path) -> None:
    """Capture metadata is one record: an update that writes meta_version writes every
    capture field, so what a file no longer says is cleared (keys included)."""
    from picfind.records import Fields
    from picfind.store.base import ClassesQuery, Filter, Update

    store = EmbeddedStore(_v1_copy(tmp_path))
    every = ClassesQuery(np.ones(1000, dtype=np.float32))  # matches every allowed row

    def allowed(where: Filter) -> int:
        return store.search(every, 10, 0, where)[0]

    try:
        row = next(store.rows())
        paris = Fields(
            taken="2019-07-14T12:34:56", taken_day=20190714, lat=48.85, lon=2.35,
            place_keys=("paris", "france"), camera_keys=("iphone",), meta_version=1,
        )  # fmt: skip
        store.write(update=[Update(row.id, paris)])
        got = next(store.rows(ids=[row.id], metadata=True)).metadata
        assert got is not None and got.place_keys == ("paris", "france") and got.lat == 48.85
        assert allowed(Filter(places=("paris",))) == 1 == allowed(Filter(cameras=("iphone",)))
        assert allowed(Filter(after_day=20190101, before_day=20200101)) == 1
        store.write(update=[Update(row.id, Fields(meta_version=2))])
        again = next(store.rows(ids=[row.id], metadata=True))
        assert again.meta_version == 2 and again.metadata is not None
        assert again.metadata.place_keys is None and again.metadata.lat is None
        assert again.metadata.taken is None and again.metadata.camera_keys is None
        assert allowed(Filter(places=("paris",))) == 0 == allowed(Filter(cameras=("iphone",)))
        assert allowed(Filter(after_day=20190101, before_day=20200101)) == 0
        assert allowed(Filter()) == len(SHOTS)
    finally:
        store.close()


def _old_schema_copy(tmp_path: Path, version: int, name: str) -> Path:
    """The committed v1 index, brought to ``version`` by the steps up to it only."""
    index = tmp_path / name
    shutil.copytree(V1 / "index", index)
    conn = sqlite3.connect(index / "picfind.db", isolation_level=None)
    for step in range(2, version + 1):
        conn.executescript(f"BEGIN; {_MIGRATIONS[step]} PRAGMA user_version = {step}; COMMIT;")
    conn.close()
    return index


@pytest.mark.parametrize("version", [1, 2, 3])
def test_attack_read_only_index_of_an_older_schema_answers_searches(
    tmp_path: Path, version: int
) -> None:
    """A read-only index made by an older picfind cannot be migrated in place: searches
    answer from a copy migrated in memory, the same as after a real migration, and the
    file is left exactly as it was (same bytes, no cache, no WAL)."""
    writable = _old_schema_copy(tmp_path, version, "writable")
    want = json.loads(
        subprocess.run(
            [*PICFIND, "search", "screen", "--index", writable, "--json"],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    assert want["total"] > 0
    index = _old_schema_copy(tmp_path, version, "read-only")
    before = {p.name: p.read_bytes() for p in index.iterdir()}
    modes = {p: p.stat().st_mode for p in [index, *index.rglob("*")]}
    for p in modes:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        found = unprivileged([*PICFIND, "search", "screen", "--index", index, "--json"])
        stats = unprivileged([*PICFIND, "stats", "--index", index, "--json"])
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert found.returncode == 0, found.stderr
    got = json.loads(found.stdout)
    assert got["total"] == want["total"]
    assert [(r["id"], r["score"]) for r in got["results"]] == [
        (r["id"], r["score"]) for r in want["results"]
    ]
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["schema"] == version  # the file's, not the copy's
    assert {p.name: p.read_bytes() for p in index.iterdir()} == before


def test_read_only_older_index_too_large_to_copy_says_how_to_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _old_schema_copy(tmp_path, 1, "index")
    monkeypatch.setattr(sqlite_store, "MEMORY_COPY_LIMIT", 1000)
    with pytest.raises(StoreError) as caught:
        EmbeddedStore(index, read_only=True)
    message = str(caught.value)
    assert "\n" not in message and "schema version 1" in message
    assert f"picfind stats --index {index}" in message
    conn = sqlite3.connect(index / "picfind.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
