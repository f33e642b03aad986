"""picfind duplicates: pairing and grouping by hand, real copies, the command, read-only."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import digest, run
from PIL import Image

import picfind
from picfind.duplicates import find_duplicates, link, similar_pairs
from picfind.errors import UsageError

# --- by hand ------------------------------------------------------------------------------


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_similar_pairs_equal_brute_force_across_blocks() -> None:
    rng = np.random.default_rng(5)
    base = unit(rng.normal(size=(40, 16)))
    near = unit(base[:10] + 0.05 * rng.normal(size=(10, 16)))
    emb = np.concatenate([base, near])
    sims = emb @ emb.T
    expected = {(a, b) for a, b in zip(*np.nonzero(sims >= 0.9), strict=True) if a < b}
    for block in (7, 50, 1000):
        i, j, s = similar_pairs(emb, 0.9, block=block)
        assert set(zip(i.tolist(), j.tolist(), strict=True)) == expected
        assert np.allclose(s, sims[i, j])
    assert {(k, 40 + k) for k in range(10)} <= expected


def test_link_groups_by_single_linkage_with_weakest_link() -> None:
    i, j = np.array([0, 1, 5, 3]), np.array([1, 2, 6, 7])
    s = np.array([0.99, 0.9, 0.95, 0.97])
    groups = sorted((sorted(nodes), w) for nodes, w in link(i, j, s))
    assert groups == [([0, 1, 2], 0.9), ([3, 7], 0.97), ([5, 6], 0.95)]


def test_find_duplicates_exact_and_near() -> None:
    e = unit(np.array([[1, 0, 0], [1, 0, 0], [1, 0.1, 0], [0, 1, 0], [0, 0, 1]], dtype=float))
    paths = ["a.jpg", "a-copy.jpg", "a-small.jpg", "b.jpg", "c.jpg"]
    hashes = ["h1", "h1", "h2", "h3", "h4"]
    groups = find_duplicates(paths, hashes, e, threshold=0.9)
    assert [(g.kind, g.paths) for g in groups] == [
        ("exact", ("a-copy.jpg", "a.jpg")),
        ("near", ("a-copy.jpg", "a-small.jpg", "a.jpg")),  # every file of each content
    ]
    assert groups[0].similarity == 1.0
    assert groups[1].similarity == pytest.approx(float(e[0] @ e[2]))
    assert [g.kind for g in find_duplicates(paths, hashes, e, near=False)] == ["exact"]
    assert [g.kind for g in find_duplicates(paths, hashes, e, exact=False)] == ["near"]
    assert find_duplicates(paths, hashes, e, threshold=0.999, exact=False) == []
    # an extra (turned) view of c that meets b links them
    turned = (np.array([4]), unit(np.array([[0, 1, 0.05]], dtype=float)))
    linked = find_duplicates(paths, hashes, e, threshold=0.9, exact=False, turned=turned)
    assert ("b.jpg", "c.jpg") in [g.paths for g in linked]
    with pytest.raises(UsageError):
        find_duplicates(paths, hashes, e, threshold=1.5)


# --- real images ----------------------------------------------------------------------------


GROUP = {"kind", "paths", "similarity"}


@pytest.fixture(scope="module")
def mixed_index(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mixed-index")
    with picfind.open_index(folder, create=True) as idx:
        report = idx.add([shared / "data" / "odd-images" / "mixed_images"])
    assert report.indexed == 5  # the corrupt file is skipped
    return folder


@pytest.mark.shared_data
def test_mixed_images_group_and_stay_unchanged(
    mixed_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = digest(mixed_index)
    code, out, err = run(capsys, "duplicates", "--index", mixed_index, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == {"groups"} and len(report["groups"]) == 1
    group = report["groups"][0]
    assert set(group) == GROUP and group["kind"] == "near"
    assert isinstance(group["similarity"], float) and 0.85 <= group["similarity"] <= 1.0
    names = sorted(Path(p).name for p in group["paths"])
    assert names == [
        "ukbench00120.jpg",
        "ukbench00120_hflip.jpg",
        "ukbench00120_resize.jpg",
        "ukbench00120_rotation.jpg",
    ]
    # without turned views the 30° rotation is out of reach of the embedding alone
    code, out, _ = run(capsys, "duplicates", "--index", mixed_index, "--json", "--rotations", "0")
    names = sorted(Path(p).name for p in json.loads(out)["groups"][0]["paths"])
    assert "ukbench00120_rotation.jpg" not in names and len(names) == 3
    assert digest(mixed_index) == before, "duplicates changed the index"


@pytest.mark.shared_data
def test_table_csv_and_errors(mixed_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "duplicates", "--index", mixed_index, "--rotations", "0")
    assert code == 0 and out.startswith("group 1: near, 3 files, similarity 0.9")
    assert "1 groups (0 exact, 1 near)" in err
    code, out, _ = run(capsys, "duplicates", "--index", mixed_index, "--csv", "--rotations", "0")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3 and set(rows[0]) == {"group", "kind", "similarity", "path"}
    code, out, _ = run(capsys, "duplicates", "--index", mixed_index, "--exact-only", "--json")
    assert json.loads(out) == {"groups": []}
    for args, fragment in [
        (["--exact-only", "--near-only"], "exclude each other"),
        (["--csv", "--json"], "one of --csv"),
        (["--rotations", "x"], "bad --rotations"),
        (["--under", "/no/such/folder"], "no such folder"),
    ]:
        code, out, err = run(capsys, "duplicates", "--index", mixed_index, *args)
        assert code == 2 and fragment in err and out == "", (args, err)
    code, _, err = run(capsys, "duplicates", "--index", mixed_index / "nope")
    assert code == 2 and "no picfind index" in err


def _transforms() -> dict[str, object]:
    def crop(im: Image.Image) -> Image.Image:
        w, h = im.size
        return im.crop((w // 20, h // 20, w - w // 20, h - h // 20))

    return {
        "resize": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
        "jpeg": lambda im: im,
        "hflip": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "crop": crop,
        "rotate": lambda im: im.rotate(10, resample=Image.Resampling.BICUBIC),
    }


@pytest.mark.shared_data
@pytest.mark.slow
def test_generated_copies_group_with_their_original(
    catsdogs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    sources = ["cat.2.jpg", "cat.3.jpg", "dog.5.jpg", "dog.8.jpg"]
    distractors = [f"{k}.{i}.jpg" for k in ("cat", "dog") for i in range(10, 22)]
    for name in sources + distractors:
        shutil.copy(catsdogs / name, photos / name)
    for name in sources:
        with Image.open(catsdogs / name) as im:
            for t, fn in _transforms().items():
                fn(im.convert("RGB")).save(
                    photos / f"{t}-{name}", quality=30 if t == "jpeg" else 90
                )
    shutil.copy(catsdogs / "cat.2.jpg", photos / "exact-cat.2.jpg")
    index = tmp_path / "index"
    with picfind.open_index(index, create=True) as idx:
        idx.add([photos])
    before = digest(index)
    code, out, err = run(capsys, "duplicates", "--index", index, "--json")
    assert code == 0, err
    groups = [(g["kind"], {Path(p).name for p in g["paths"]}) for g in json.loads(out)["groups"]]
    assert ("exact", {"cat.2.jpg", "exact-cat.2.jpg"}) in groups
    near = [names for kind, names in groups if kind == "near"]
    for name in sources:
        expected = {name} | {f"{t}-{name}" for t in _transforms()}
        if name == "cat.2.jpg":
            expected.add("exact-cat.2.jpg")
        assert expected in near, (name, near)
    grouped = set().union(*near)
    assert not grouped & set(distractors), grouped & set(distractors)
    assert digest(index) == before
