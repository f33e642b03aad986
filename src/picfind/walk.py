"""Walking folders: which files are candidates for the index.

Every regular file is a candidate — the format is told by content later, so a
photo named ``.dat`` is found and a text file named ``.jpg`` is reported.
Hidden files and folders are skipped unless asked. Only regular files are ever
yielded: FIFOs, sockets and devices are reported, never opened.

Symbolic links: a link whose target lies inside one of the configured roots is
followed (a folder reached twice, or a loop, is walked once: device and inode
are remembered). A link whose target lies outside every root is skipped with a
reason, unless ``follow_outside_links`` — so a link to ``/`` or to a private
file elsewhere never brings what it points at into the index (and so never
onto the web page).

Failures are reported as ``Skipped(..., keep=True)``: a folder that cannot be
listed or an entry that cannot be examined may well still hold its files, so
the indexer keeps their rows (it removes a row only when the walk saw the
folder and the file is not there).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from picfind.records import FileState, Skipped

OUTSIDE_LINK = (
    "symbolic link to {target}, outside the indexed folders (--follow-outside-links to index it)"
)


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


def inside(path: str, folders: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``folders`` or lies under one (all real paths)."""
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def walk(
    root: str | Path,
    *,
    exclude: Sequence[str] = (),
    include_hidden: bool = False,
    roots: Sequence[str | Path] | None = None,
    follow_outside_links: bool = False,
) -> Iterator[FileState | Skipped]:
    """Files under ``root`` (or ``root`` itself if it is a file), in a stable order.

    ``roots`` are every folder of the run (default: ``root``): a link into any of
    them is inside.
    """
    top = os.path.abspath(os.fspath(root))
    allowed = [os.path.realpath(os.fspath(r)) for r in (roots if roots is not None else [root])]
    try:
        st = os.stat(top)
    except OSError as exc:
        yield Skipped(top, reason(exc), keep=not isinstance(exc, FileNotFoundError))
        return
    if not stat.S_ISDIR(st.st_mode):
        if stat.S_ISREG(st.st_mode):
            yield FileState(top, st.st_size, st.st_mtime_ns)
        else:
            yield Skipped(top, _kind(st.st_mode))
        return
    seen_dirs: set[tuple[int, int]] = {(st.st_dev, st.st_ino)}
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Skipped(folder, reason(exc), keep=True)
            continue
        subfolders = []
        for entry in entries:
            if not include_hidden and is_hidden(entry.name):
                continue
            if excluded(entry.path, top, exclude):
                continue
            try:
                link = entry.is_symlink()
                if link and not follow_outside_links:
                    target = os.path.realpath(entry.path)
                    if not inside(target, allowed):
                        yield Skipped(entry.path, OUTSIDE_LINK.format(target=target))
                        continue
                est = entry.stat()  # follows symlinks
            except OSError as exc:
                broken = link and isinstance(exc, FileNotFoundError)
                # A broken link has nothing to keep; any other failure may be passing.
                yield Skipped(
                    entry.path,
                    "broken symbolic link" if broken else reason(exc),
                    keep=not broken,
                )
                continue
            if stat.S_ISDIR(est.st_mode):
                key = (est.st_dev, est.st_ino)
                if key in seen_dirs:
                    continue  # a symlink loop, or a folder reached twice
                seen_dirs.add(key)
                subfolders.append(entry.path)
            elif stat.S_ISREG(est.st_mode):
                yield FileState(entry.path, est.st_size, est.st_mtime_ns)
            else:
                yield Skipped(entry.path, _kind(est.st_mode))
        stack.extend(reversed(subfolders))


def reason(exc: OSError) -> str:
    """A short reason for a file-system failure, with its true cause."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "no such file or folder"
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    if exc.errno == errno.EIO:
        return "input/output error"
    return (exc.strerror or str(exc)).lower()


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return f"not a regular file ({name})"
    return "not a regular file"
