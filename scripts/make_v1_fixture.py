"""Make ``tests/data/index-v1``: a schema-1 index of a few JPEGs with EXIF, and the JPEGs.

Run once with the picfind that wrote schema 1 (commit c986c29), from the repo root:

    .venv/bin/python scripts/make_v1_fixture.py

The photos are indexed from a temporary folder that is deleted afterwards, so the
stored paths no longer exist: a test copies the photos elsewhere, and the indexer
sees them as moved (the rows follow the files, the model never runs).
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from exifphotos import write_shots  # noqa: E402

import picfind  # noqa: E402

OUT = REPO / "tests" / "data" / "index-v1"


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "index").mkdir(parents=True)
    (OUT / "photos").mkdir()
    with tempfile.TemporaryDirectory(prefix="picfind-v1-fixture-") as tmp:
        photos = write_shots(Path(tmp) / "photos")
        for path in photos.values():
            shutil.copy2(path, OUT / "photos" / path.name)
        with picfind.open_index(OUT / "index", create=True) as index:
            report = index.add([Path(tmp) / "photos"])
        print(report.to_json())
    conn = sqlite3.connect(OUT / "index" / "picfind.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    print("schema", conn.execute("PRAGMA user_version").fetchone()[0])
    conn.close()
    for extra in ("index.lock", "cache", "picfind.db-wal", "picfind.db-shm"):
        p = OUT / "index" / extra
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


if __name__ == "__main__":
    main()
