"""Which files the walk finds: hidden, excluded, nested, linked, looping."""

from __future__ import annotations

import os
from pathlib import Path

from picfind.records import FileState, Skipped
from picfind.walk import walk


def tree(root: Path) -> None:
    for rel in [
        "a.jpg",
        "sub/b.png",
        "sub/deeper/c.jpg",
        ".hidden.jpg",
        ".cache/d.jpg",
        "notes.txt",
        "raw/e.CR2",
    ]:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")


def names(root: Path, **kwargs) -> list[str]:
    return [os.path.relpath(f.path, root) for f in walk(root, **kwargs) if isinstance(f, FileState)]


def test_finds_every_regular_file_but_hidden_ones(tmp_path: Path) -> None:
    tree(tmp_path)
    assert names(tmp_path) == ["a.jpg", "notes.txt", "raw/e.CR2", "sub/b.png", "sub/deeper/c.jpg"]
    assert ".hidden.jpg" in names(tmp_path, include_hidden=True)
    assert ".cache/d.jpg" in names(tmp_path, include_hidden=True)


def test_exclude_globs_match_names_and_relative_paths(tmp_path: Path) -> None:
    tree(tmp_path)
    assert names(tmp_path, exclude=["*.txt", "raw"]) == ["a.jpg", "sub/b.png", "sub/deeper/c.jpg"]
    assert names(tmp_path, exclude=["sub/deeper"]) == [
        "a.jpg",
        "notes.txt",
        "raw/e.CR2",
        "sub/b.png",
    ]


def test_symlink_loops_are_walked_once(tmp_path: Path) -> None:
    tree(tmp_path)
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    os.symlink(tmp_path / "sub", tmp_path / "again")
    found = names(tmp_path)
    assert found.count("a.jpg") == 1
    assert len(found) == len(set(found))
    assert sum(1 for f in found if f.endswith("c.jpg")) == 1


def test_broken_link_and_single_file(tmp_path: Path) -> None:
    tree(tmp_path)
    os.symlink(tmp_path / "missing.jpg", tmp_path / "broken.jpg")
    items = list(walk(tmp_path))
    assert any(isinstance(i, Skipped) and i.path.endswith("broken.jpg") for i in items)
    single = list(walk(tmp_path / "a.jpg"))
    assert single == [
        FileState(str(tmp_path / "a.jpg"), 1, (tmp_path / "a.jpg").stat().st_mtime_ns)
    ]
