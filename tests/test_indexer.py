"""Incremental indexing of real photos: unchanged, modified, moved, copied, deleted, odd."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from helpers import features_of, id_at, run
from sandbox import PICFIND, in_mount_namespace, unprivileged

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


# --- attacks (issue 8): nothing lost, nothing read that should not be ----------------------


def _index_json(capsys: pytest.CaptureFixture[str], *args: object) -> dict:
    code, out, err = run(capsys, "index", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def _index_unreadable(photos: Path, index: Path, unreadable: Path) -> dict:
    """``picfind index --json`` while ``unreadable`` is mode 000 and binds the indexer."""
    mode = unreadable.stat().st_mode
    unreadable.chmod(0)
    try:
        proc = unprivileged([*PICFIND, "index", photos, "--index", index, "--json"])
    finally:
        unreadable.chmod(mode)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_attack_unreadable_subfolder_keeps_its_rows(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder that cannot be listed (chmod 000; as root, with CAP_DAC_OVERRIDE dropped)
    is reported and keeps its rows; before, its 5 images were "removed" and inferred again."""
    sub = photos / "sub"
    sub.mkdir()
    for name in sorted(os.listdir(photos))[:5]:
        if (photos / name).is_file():
            (photos / name).rename(sub / name)
    index = tmp_path / "idx"
    assert _index_json(capsys, photos, "--index", index)["indexed"] == 20
    report = _index_unreadable(photos, index, sub)
    assert report["removed"] == 0 and report["indexed"] == 0
    assert {"path": str(sub), "reason": "permission denied"} in report["skipped"]
    with picfind.open_index(index) as idx:
        assert len(paths(idx)) == 20
    again = _index_json(capsys, photos, "--index", index)
    assert (again["indexed"], again["unchanged"], again["removed"]) == (0, 20, 0)


def test_attack_unreadable_changed_file_keeps_its_row(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that changed (mtime) and cannot be read keeps its row; it is not removed."""
    index = tmp_path / "idx"
    _index_json(capsys, photos, "--index", index)
    victim = photos / "cat.0.jpg"
    os.utime(victim, ns=(10**18, 10**18))
    report = _index_unreadable(photos, index, victim)
    assert report["removed"] == 0
    assert report["skipped"] == [{"path": str(victim), "reason": "permission denied"}]
    with picfind.open_index(index) as idx:
        assert str(victim) in paths(idx)
    again = _index_json(capsys, photos, "--index", index)  # readable again: same content
    assert (again["indexed"], again["unchanged"], again["removed"]) == (0, 20, 0)


def test_attack_folder_that_fails_with_an_io_error_keeps_its_rows(
    photos: Path, fresh_index: picfind.Index
) -> None:
    """An OSError other than a permission (here ELOOP: the folder became a link to itself,
    a stand-in for an EIO or a share that went away) keeps the rows under it."""
    sub = photos / "sub"
    sub.mkdir()
    for name in ("cat.1.jpg", "cat.2.jpg"):
        (photos / name).rename(sub / name)
    assert fresh_index.add([photos]).indexed == 20
    kept = tmp_path_of(photos) / "kept"
    sub.rename(kept)
    os.symlink(sub, sub)  # sub -> sub: stat fails with ELOOP
    report = fresh_index.add([photos])
    assert report.removed == 0
    assert [(s.path, s.reason) for s in report.skipped] == [
        (str(sub), "too many levels of symbolic links")
    ]
    assert {str(sub / "cat.1.jpg"), str(sub / "cat.2.jpg")} <= paths(fresh_index)


def tmp_path_of(folder: Path) -> Path:
    return folder.parent


def test_attack_file_that_is_no_longer_an_image_is_removed(
    photos: Path, fresh_index: picfind.Index
) -> None:
    """The other half of the rule: content that now decodes as a non-image goes."""
    fresh_index.add([photos])
    (photos / "cat.10.jpg").write_bytes(b"not an image any more")
    report = fresh_index.add([photos])
    assert report.removed == 1 and str(photos / "cat.10.jpg") not in paths(fresh_index)
    assert [(s.reason, s.keep) for s in report.skipped] == [("not an image", False)]


def test_attack_sparse_gigabyte_starting_like_a_jpeg_is_refused_at_once(
    tmp_path: Path, fresh_index: picfind.Index
) -> None:
    """1000 MB of holes after a JPEG marker: refused by size; 400 MB: refused by the header
    probe after a few KB. Before, Pillow scanned such a file for ~80 s in 2 GB."""
    folder = tmp_path / "sparse"
    folder.mkdir()
    header = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    for name, size in (("huge.jpg", 1000 * 1024 * 1024), ("large.jpg", 400 * 1024 * 1024)):
        with open(folder / name, "wb") as fh:
            fh.write(header)
            fh.truncate(size)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        report = fresh_index.add([folder])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - started
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["huge.jpg"].startswith("file too large (1048576000 bytes")
    assert reasons["large.jpg"] == "corrupt image (no JPEG marker where one must be)"
    assert report.indexed == 0
    assert seconds < 10, f"{seconds:.1f} s"
    assert peak < 64 * 1024 * 1024, f"{peak / 1e6:.0f} MB allocated"


def test_attack_fifo_in_a_folder_is_never_opened(
    tmp_path: Path, fresh_index: picfind.Index
) -> None:
    """A named pipe would block a reader for good: it is reported, never opened."""
    folder = tmp_path / "pipes"
    folder.mkdir()
    os.mkfifo(folder / "trap.jpg")
    report = fresh_index.add([folder])
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
        ("trap.jpg", "not a regular file (a named pipe)")
    ]


def test_attack_non_utf8_file_names_are_indexed_and_round_trip(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name that is not UTF-8 no longer aborts the run (UnicodeEncodeError): it is
    indexed under its exact bytes; --json gives them back, plain text escapes them."""
    raw = os.path.join(os.fsencode(photos), b"caf\xe9 \xff.jpg")
    shutil.copy(photos / "cat.11.jpg", raw)
    index = tmp_path / "idx"
    report = _index_json(capsys, photos, "--index", index)
    assert (report["indexed"], report["skipped"]) == (21, [])
    proc = subprocess.run(
        [*PICFIND, "search", "--image", raw, "--index", index, "--json", "--limit", "3"],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    found = [r["path"] for r in json.loads(proc.stdout.decode("utf-8"))["results"]]
    assert os.fsencode(found[0]) == os.path.join(os.fsencode(photos), b"cat.11.jpg")
    proc = subprocess.run(
        [*PICFIND, "search", "--image", photos / "cat.11.jpg", "--index", index, "--json"],
        capture_output=True,
        check=False,
    )
    found = [os.fsencode(r["path"]) for r in json.loads(proc.stdout.decode("utf-8"))["results"]]
    assert raw in found  # the exact bytes, back from the store through the JSON
    code, out, err = run(capsys, "search", "--image", photos / "cat.11.jpg", "--index", index)
    assert code == 0, err
    assert "caf\\xe9 \\xff.jpg" in out
    again = _index_json(capsys, photos, "--index", index)
    assert (again["indexed"], again["unchanged"], again["removed"]) == (0, 21, 0)


def test_attack_disk_full_is_one_line_and_the_run_resumes(photos: Path, tmp_path: Path) -> None:
    """A real full disk: a 192 KB tmpfs (in a private mount namespace). One line naming
    the cause, exit 1, the index intact; after the disk grows, the next run completes.
    Before: "internal error: OperationalError: cannot rollback - no transaction is active"."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    index = mnt / "idx"
    py = sys.executable
    check = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "print(c.execute('SELECT count(*) FROM images').fetchone()[0], "
        "c.execute('PRAGMA integrity_check').fetchone()[0])"
    )
    out = tmp_path
    script = f"""
mount -t tmpfs -o size=192k tmpfs {mnt} || exit 99
{py} -m picfind index {photos} --index {index} --batch-size 4 --json > {out}/out1 2> {out}/err1
echo $? > {tmp_path}/code1
{py} -c "{check}" {index}/picfind.db > {tmp_path}/rows
mount -o remount,size=20m tmpfs {mnt}
{py} -m picfind index {photos} --index {index} --json > {tmp_path}/out2 2> {tmp_path}/err2
echo $? > {tmp_path}/code2
"""
    proc = in_mount_namespace(script)
    assert proc.returncode == 0, proc.stderr
    err = (tmp_path / "err1").read_text()
    assert (tmp_path / "code1").read_text().strip() == "1"
    assert err.count("\n") == 1 and "database or disk is full" in err, err
    assert "internal error" not in err and "Traceback" not in err
    committed, integrity = (tmp_path / "rows").read_text().split()
    assert integrity == "ok" and int(committed) % 4 == 0  # whole batches only
    assert (tmp_path / "code2").read_text().strip() == "0", (tmp_path / "err2").read_text()
    second = json.loads((tmp_path / "out2").read_text())
    assert second["indexed"] == 20 - int(committed) and second["unchanged"] == int(committed)


class _PoisonedModel:
    """The real model, whose output for one image of each batch is NaN (a broken build,
    a bad weight file): beside the real tests, to prove the refusal path."""

    def __init__(self, model) -> None:
        self.model = model
        self.input_size = model.input_size

    def run(self, batch: np.ndarray):
        out = self.model.run(batch)
        probs, emb = out.probs.copy(), out.embedding.copy()
        emb[0, 3] = np.nan
        return type(out)(probs, emb)


def test_attack_nan_from_the_model_is_skipped_with_a_reason(
    photos: Path, fresh_index: picfind.Index
) -> None:
    model = _PoisonedModel(fresh_index.model)
    report = Indexer(fresh_index.store, lambda: model, input_size=224, batch_size=10).run([photos])
    assert report.indexed == 18  # the first image of each of the two batches is refused
    assert {s.reason for s in report.skipped} == {
        "the model's output is not finite (NaN or infinity)"
    }
    assert len(paths(fresh_index)) == 18
