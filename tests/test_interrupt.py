"""An interrupted ``picfind index`` keeps what it committed, and the next run resumes.

A real ``python -m picfind index`` runs on 300 photos in batches of 16; once a
few batches are committed (read from the SQLite file through a separate,
read-only connection) it is killed — with SIGKILL (a crash, a power cut) or
SIGINT (Ctrl-C). Then: the database is intact, every row is complete, and a
re-run finds exactly the committed rows unchanged and indexes only the rest.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import committed

pytestmark = pytest.mark.slow

N_PHOTOS = 300
BATCH = 16
EMBEDDING_BYTES = 2 * 1280  # float16 × 1280 (EfficientNet-Lite0)


@pytest.fixture(scope="module")
def photos(catsdogs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 distinct catsdogs photos (distinct content: every one runs through the model)."""
    folder = tmp_path_factory.mktemp("photos300")
    for kind in ("cat", "dog"):
        for i in range(N_PHOTOS // 2):
            shutil.copy2(catsdogs / f"{kind}.{i}.jpg", folder / f"{kind}.{i}.jpg")
    return folder


def _default_sigint() -> None:
    # A child inherits an ignored SIGINT (e.g. from a background job); Python then
    # installs no KeyboardInterrupt handler. Make it see a normal terminal's SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def picfind(*args: object, **kwargs) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PICFIND_INDEX", "PICFIND_URL")}
    return subprocess.Popen(
        [sys.executable, "-m", "picfind", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_default_sigint,
        **kwargs,
    )


def interrupt_when(proc: subprocess.Popen[str], db: Path, rows: int, sig: int) -> int:
    """Wait until at least ``rows`` rows are committed, then send ``sig``; returns rows seen."""
    deadline = time.monotonic() + 180
    while (seen := committed(db)) < rows:
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"indexer ended (code {proc.returncode}) before {rows} rows: {err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {rows} rows committed in 180 s")
        time.sleep(0.01)
    proc.send_signal(sig)
    return seen


def check_database(db: Path) -> int:
    """Integrity and complete rows; returns the number of rows."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute(
            "SELECT path, length(class_ids), length(class_probs), length(embedding), "
            "content_hash, width, height FROM images"
        ).fetchall()
        for path, ids_len, probs_len, emb_len, digest, width, height in rows:
            assert ids_len > 0 and ids_len % 2 == 0, path
            k = ids_len // 2
            assert probs_len == 4 * k, path
            assert emb_len == EMBEDDING_BYTES, path
            assert digest and width > 0 and height > 0, path
        assert len({r[0] for r in rows}) == len(rows)
        return len(rows)
    finally:
        conn.close()


def finish(photos: Path, index: Path, expect_unchanged: int) -> None:
    """Re-run to completion: only the rest is indexed; then the index answers."""
    proc = picfind("index", photos, "--index", index, "--batch-size", BATCH, "--json")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["unchanged"] == expect_unchanged, report
    assert report["indexed"] + report["unchanged"] == N_PHOTOS, report
    assert report["skipped"] == [] and report["removed"] == 0 and report["moved"] == 0, report
    assert check_database(index / "picfind.db") == N_PHOTOS

    search = picfind("search", "dog", "--index", index, "--json", "--limit", 5)
    out, err = search.communicate(timeout=300)
    assert search.returncode == 0, err
    results = json.loads(out)
    assert results["total"] > 0 and len(results["results"]) == 5


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_index_keeps_what_was_committed(photos: Path, tmp_path: Path, sig) -> None:
    index = tmp_path / "index"
    db = index / "picfind.db"
    kept = 0
    for round_ in range(2):  # interrupt twice: the resumed run is interruptible too
        proc = picfind("index", photos, "--index", index, "--batch-size", BATCH, "--json")
        seen = interrupt_when(proc, db, kept + 2 * BATCH, sig)
        out, err = proc.communicate(timeout=120)
        if sig == signal.SIGKILL:
            assert proc.returncode == -signal.SIGKILL
        else:
            assert proc.returncode == 130, (proc.returncode, err)
            lines = [line for line in err.splitlines() if line.strip()]
            assert len(lines) == 1, err
            assert lines[0].startswith("picfind: interrupted"), err
            assert "Traceback" not in err
            assert out == ""  # no half report on stdout
        rows = check_database(db)
        assert seen <= rows < N_PHOTOS, (round_, seen, rows, "the run was not interrupted")
        kept = rows

    if sig == signal.SIGINT:  # the run was recorded as interrupted
        stats = picfind("stats", "--index", index, "--json")
        out, err = stats.communicate(timeout=120)
        assert stats.returncode == 0, err
        data = json.loads(out)
        assert data["images"] == kept
        assert data["last_run"]["interrupted"] is True, data
        assert data["last_run"]["indexed"] > 0, data

    finish(photos, index, expect_unchanged=kept)


_INTERRUPT_DURING_IMPORT = """
import runpy, sys
class CtrlC:  # Ctrl-C while Python is still importing picfind's dependencies
    def find_spec(self, name, path=None, target=None):
        if name == "PIL":
            raise KeyboardInterrupt
sys.meta_path.insert(0, CtrlC())
sys.argv = ["picfind", "stats", "--index", sys.argv[1]]
runpy.run_module("picfind", run_name="__main__", alter_sys=True)
"""


def test_ctrl_c_during_start_up_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _INTERRUPT_DURING_IMPORT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 130, proc.returncode
    assert proc.stderr.strip().startswith("picfind: interrupted")
