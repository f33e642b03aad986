"""Which files the walk finds: hidden, excluded, nested, linked, looping."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from picfind.reading import ReadFailure, read_file
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


# --- attacks (issue 8): never open anything but regular files; links stay inside --------


def skipped(root: Path, **kwargs) -> dict[str, str]:
    return {
        os.path.relpath(s.path, root): s.reason
        for s in walk(root, **kwargs)
        if isinstance(s, Skipped)
    }


def test_attack_symlink_to_root_is_not_walked(tmp_path: Path) -> None:
    """A link to / inside a root once walked 207,830 files outside it, then hung on
    /proc/kmsg. Now it is skipped with the reason, and nothing outside is yielded."""
    tree(tmp_path)
    os.symlink("/", tmp_path / "everything")
    found = [f.path for f in walk(tmp_path) if isinstance(f, FileState)]
    assert all(p.startswith(str(tmp_path) + "/") for p in found)
    assert len(found) == 5
    assert skipped(tmp_path)["everything"] == (
        "symbolic link to /, outside the indexed folders (--follow-outside-links to index it)"
    )


def test_attack_symlink_to_a_private_file_outside_is_skipped(tmp_path: Path) -> None:
    """The link is skipped by default (so the file is never indexed, hence never served
    by the web page); --follow-outside-links (follow_outside_links=True) allows it."""
    root, outside = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    secret = outside / "secret.jpg"
    secret.write_bytes(b"private")
    secret.chmod(0o600)
    os.symlink(secret, root / "holiday.jpg")
    assert names(root) == []
    assert skipped(root)["holiday.jpg"].startswith(f"symbolic link to {secret}, outside")
    assert names(root, follow_outside_links=True) == ["holiday.jpg"]
    # a link into another root of the same run is inside
    assert names(root, roots=[root, outside]) == ["holiday.jpg"]


def test_attack_proc_kcore_link_is_skipped_with_its_true_reason(tmp_path: Path) -> None:
    """It was reported as "no such file"; the true reasons are now given."""
    os.symlink("/proc/kcore", tmp_path / "core.jpg")
    assert skipped(tmp_path)["core.jpg"].startswith("symbolic link to /proc/kcore, outside")
    if os.path.exists("/proc/kcore"):
        allowed = list(walk(tmp_path, follow_outside_links=True))
        # a regular file whose size is the address space: refused before any read
        if allowed and isinstance(allowed[0], FileState):
            with pytest.raises(ReadFailure, match="file too large"):
                read_file(allowed[0].path)
        else:
            assert isinstance(allowed[0], Skipped) and allowed[0].reason == "permission denied"


def test_attack_fifo_and_socket_are_reported_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(tmp_path / "sock.jpg"))
        assert skipped(tmp_path) == {
            "pipe.jpg": "not a regular file (a named pipe)",
            "sock.jpg": "not a regular file (a socket)",
        }
    # and if one is swapped in after the walk, the reader refuses it without blocking
    with pytest.raises(ReadFailure, match="not a regular file"):
        read_file(str(tmp_path / "pipe.jpg"))


def test_attack_unreadable_entries_are_failures_that_keep_rows(tmp_path: Path) -> None:
    """A link loop cannot be examined (ELOOP): a failure (keep=True), not a removal; a
    broken link is simply gone (keep=False)."""
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    os.symlink(tmp_path / "missing.jpg", tmp_path / "broken.jpg")
    items = {os.path.basename(s.path): s for s in walk(tmp_path) if isinstance(s, Skipped)}
    assert (items["loop"].reason, items["loop"].keep) == ("too many levels of symbolic links", True)
    assert (items["broken.jpg"].reason, items["broken.jpg"].keep) == ("broken symbolic link", False)
