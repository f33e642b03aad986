"""Walking folders: which files are candidates for the index.

Every regular file is a candidate — the format is told by content later, so a
photo named ``.dat`` is found and a text file named ``.jpg`` is reported.
Hidden files and folders are skipped unless asked; symlinked folders are
followed once (a loop is detected by device and inode, never walked twice).
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from picfind.records import FileState, Skipped


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def excluded(path: str, root: str, patterns: Sequence[str]) -> bool:
    """Whether a glob matches the file's name, or its path relative to the root."""
    if not patterns:
        return False
    name = os.path.basename(path)
    rel = os.path.relpath(path, root)
    return any(
        fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(path, p)
        for p in patterns
    )


def walk(
    root: str | Path,
    *,
    exclude: Sequence[str] = (),
    include_hidden: bool = False,
) -> Iterator[FileState | Skipped]:
    """Files under ``root`` (or ``root`` itself if it is a file), in a stable order."""
    top = os.path.abspath(os.fspath(root))
    try:
        st = os.stat(top)
    except OSError as exc:
        yield Skipped(top, _reason(exc))
        return
    if not stat.S_ISDIR(st.st_mode):
        if stat.S_ISREG(st.st_mode):
            yield FileState(top, st.st_size, st.st_mtime_ns)
        else:
            yield Skipped(top, "not a regular file")
        return
    seen_dirs: set[tuple[int, int]] = {(st.st_dev, st.st_ino)}
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Skipped(folder, _reason(exc))
            continue
        subfolders = []
        for entry in entries:
            if not include_hidden and is_hidden(entry.name):
                continue
            if excluded(entry.path, top, exclude):
                continue
            try:
                est = entry.stat()  # follows symlinks
            except OSError as exc:
                yield Skipped(entry.path, _reason(exc))
                continue
            if stat.S_ISDIR(est.st_mode):
                key = (est.st_dev, est.st_ino)
                if key in seen_dirs:
                    continue  # a symlink loop, or a folder reached twice
                seen_dirs.add(key)
                subfolders.append(entry.path)
            elif stat.S_ISREG(est.st_mode):
                yield FileState(entry.path, est.st_size, est.st_mtime_ns)
        stack.extend(reversed(subfolders))


def _reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "no such file (broken link?)"
    return exc.strerror.lower() if exc.strerror else str(exc)
