"""Small helpers shared by tests that watch an index from outside."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from picfind import cli
from picfind.pipeline import Source


def committed(db: Path) -> int:
    """Rows committed so far, through a read-only connection (0 before the table exists)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            return int(conn.execute("SELECT count(*) FROM images").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:  # no table yet, or the file is being created
        return 0


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """The CLI in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = cli.run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def digest(folder: Path) -> dict[str, str]:
    """What an index holds: its database's rows (dumped through a read-only connection,
    so a checkpoint of the writer's WAL does not count as a change) and its other files."""
    conn = sqlite3.connect(f"{(folder / 'picfind.db').as_uri()}?mode=ro", uri=True)
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    files = {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith("picfind.db")
    }
    return {"picfind.db rows": hashlib.sha256(dump.encode()).hexdigest(), **files}


def features_of(store, image_id):
    """The stored features of one id (None when the store does not hold it)."""
    row = next(store.rows(ids=[image_id], features=True), None)
    return row.features if row is not None else None


def id_at(store, path):
    """The id of the row at a path (None when there is none)."""
    row = next(store.rows(paths=[str(path)]), None)
    return row.id if row is not None else None


def copy_catsdogs(catsdogs: Path, folder: Path, per_kind: int) -> Path:
    """``folder`` holding cat.0…, dog.0… (``per_kind`` of each), made for a test to change."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind in ("cat", "dog"):
        for i in range(per_kind):
            shutil.copy2(catsdogs / f"{kind}.{i}.jpg", folder / f"{kind}.{i}.jpg")
    return folder


def table_of(index: Path):
    """Every row of an embedded index as arrays (``store.base.Table``), read-only."""
    import picfind
    from picfind.store.base import Table

    with picfind.open_index(index, read_only=True) as idx:
        return Table.of(idx.store.rows(features=True))


class ReadBytesStage:
    """A slow signal (think OCR): reads the whole file, writes a field; it is killed
    after ``stop_after`` files, the way Ctrl-C or kill would stop a long pass."""

    name = "slow"
    reads = Source.BYTES
    writes = ("format",)
    batched = False

    def __init__(self, stop_after: int | None = None) -> None:
        self.stop_after = stop_after
        self.calls = 0

    def __call__(self, items) -> None:
        for item in items:
            self.calls += 1
            if self.stop_after is not None and self.calls > self.stop_after:
                raise KeyboardInterrupt
            item.fields.format = f"read {len(item.data)} bytes"
