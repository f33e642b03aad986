"""Incremental indexing of real photos: unchanged, modified, moved, copied, deleted, odd."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import features_of, id_at

import picfind
from picfind import imaging
from picfind.indexer import Indexer, Progress


@pytest.fixture
def photos(small_photos: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in sorted(os.listdir(small_photos))[:20]:  # cat.0-… and dog.0-…
        shutil.copy2(small_photos / name, folder / name)
    return folder


def paths(idx: picfind.Index) -> set[str]:
    return {f.path for f in idx.store.rows()}


def test_rerun_processes_nothing_and_does_not_load_the_model(
    photos: Path, fresh_index: picfind.Index
) -> None:
    first = fresh_index.add([photos])
    assert (first.indexed, first.unchanged, first.skipped) == (20, 0, [])
    calls = []
    indexer = Indexer(fresh_index.store, lambda: calls.append(1), input_size=224)
    again = indexer.run([photos])
    assert (again.indexed, again.unchanged, again.moved, again.removed) == (0, 20, 0, 0)
    assert calls == []  # nothing new: no model, no decoding


def test_modified_moved_copied_deleted(photos: Path, fresh_index: picfind.Index) -> None:
    fresh_index.add([photos])
    names = sorted(os.listdir(photos))
    ids = {f.path: f.id for f in fresh_index.store.rows()}
    # modified: another photo's bytes under the same name
    modified = photos / names[0]
    old_id = ids[str(modified)]
    shutil.copyfile(photos / names[5], modified)
    os.utime(modified, ns=(1, 1))
    # moved and renamed into a sub-folder
    moved_from = photos / names[1]
    (photos / "sub").mkdir()
    moved_to = photos / "sub" / "renamed.jpg"
    moved_id = ids[str(moved_from)]
    moved_from.rename(moved_to)
    # copied
    copy = photos / "copy.jpg"
    shutil.copy2(photos / names[2], copy)
    # deleted
    deleted = photos / names[3]
    deleted.unlink()
    # touched: same bytes, new mtime
    os.utime(photos / names[4], ns=(2, 2))

    calls = []
    real_model = fresh_index.model

    def counting_model():
        calls.append(1)
        return real_model

    report = Indexer(fresh_index.store, counting_model, input_size=224).run([photos])
    # The modified file has a known content hash (names[5]): reused, not inferred.
    assert report.moved == 1
    assert report.removed == 1
    assert report.indexed == 2  # the copy and the modified file
    assert report.unchanged == 20 - 4 + 1 - 0  # 16 untouched + the touched one
    assert calls == []  # every change was recognised by content: no inference
    now = {f.path: f.id for f in fresh_index.store.rows()}
    assert now[str(moved_to)] == moved_id
    assert now[str(modified)] == old_id
    assert str(deleted) not in now and str(moved_from) not in now
    assert len(now) == 20
    f_copy = features_of(fresh_index.store, now[str(copy)])
    f_orig = features_of(fresh_index.store, now[str(photos / names[2])])
    assert f_copy is not None and f_orig is not None
    np.testing.assert_array_equal(f_copy.embedding, f_orig.embedding)


def test_changed_content_is_inferred_again(photos: Path, fresh_index: picfind.Index) -> None:
    fresh_index.add([photos])
    target = photos / "cat.0.jpg"
    before = features_of(fresh_index.store, id_at(fresh_index.store, target))
    im = imaging.open_image(target).transpose(imaging.Image.Transpose.FLIP_LEFT_RIGHT)
    im.save(target, quality=80)
    report = fresh_index.add([photos])
    assert (report.indexed, report.unchanged) == (1, 19)
    after = features_of(fresh_index.store, id_at(fresh_index.store, target))
    assert before is not None and after is not None
    assert not np.array_equal(before.embedding, after.embedding)
    assert float(before.embedding @ after.embedding) > 0.8  # the same photo, flipped


def test_progress_is_reported(photos: Path, fresh_index: picfind.Index) -> None:
    seen: list[Progress] = []
    fresh_index.add([photos], batch_size=8, progress=seen.append)
    assert seen and seen[-1].done == seen[-1].total == 20
    assert [p.done for p in seen] == sorted(p.done for p in seen)


def test_odd_images_are_indexed_or_skipped_with_reasons(
    shared: Path, fresh_index: picfind.Index
) -> None:
    odd = shared / "data" / "odd-images"
    report = fresh_index.add([odd])
    skipped = {os.path.relpath(s.path, odd): s.reason for s in report.skipped}
    indexed = {os.path.relpath(p, odd) for p in paths(fresh_index)}
    every = {os.path.relpath(os.path.join(d, f), odd) for d, _, fs in os.walk(odd) for f in fs}
    assert set(skipped) | indexed == every  # every file has an outcome
    assert skipped["generated/empty.jpg"] == "empty file"
    assert skipped["generated/not-an-image.jpg"] == "not an image"
    assert skipped["generated/truncated.jpg"] == "truncated image"
    assert skipped["generated/bomb-40000x40000.png"].startswith("too many pixels")
    assert skipped["mixed_images/ukbench09268_corrupt.jpg"] == "not an image"
    for name in [
        "generated/cat.7.cmyk.jpg",
        "generated/cat.7.gray16.png",
        "generated/cat.7.palette.gif",
        "generated/cat.7.exif-orientation-6.jpg",
        "alpha_channel_image.png",
        "formats_images/marbles.pbm",
        "formats_images/copyleft.tiff",
        "formats_images/ukbench09380.webp",
        "formats_images/giphy.gif",
        "formats_images/ukbench09380.bmp",
        "formats_images/ukbench09380.svg",
    ]:  # a JPEG named .svg: content decides
        assert name in indexed, (name, skipped.get(name))


def test_pets_mat_files_and_lying_extensions(
    shared: Path, fresh_index: picfind.Index, tmp_path: Path
) -> None:
    pets = shared / "data" / "pets" / "images"
    mats = sorted(p for p in pets.iterdir() if p.suffix == ".mat")[:3]
    liars = []
    for p in sorted(pets.iterdir()):
        if p.suffix == ".jpg" and p.read_bytes()[:4] in (b"GIF8", b"\x89PNG"):
            liars.append(p)
    assert mats and liars, "the pets set should hold .mat files and mislabelled images"
    folder = tmp_path / "pets"
    folder.mkdir()
    for p in mats + liars:
        shutil.copy2(p, folder / p.name)
    report = fresh_index.add([folder])
    assert {os.path.basename(s.path): s.reason for s in report.skipped} == {
        p.name: "not an image" for p in mats
    }
    assert report.indexed == len(liars)


def test_missing_path_is_a_usage_error(fresh_index: picfind.Index, tmp_path: Path) -> None:
    with pytest.raises(picfind.NotFoundError):
        fresh_index.add([tmp_path / "nope"])


def test_second_indexer_is_refused_while_one_runs(photos: Path, tmp_path: Path) -> None:
    a = picfind.open_index(tmp_path / "idx", create=True)
    b = picfind.open_index(tmp_path / "idx")
    with a.store.writer_lock(), pytest.raises(picfind.UsageError, match="another"):
        b.add([photos])
    a.close()
    b.close()
