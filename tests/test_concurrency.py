"""Searching while ``picfind index`` writes to the same index.

An indexing process adds 800 photos in batches of 8 while this process
searches the same index over and over: through an Index kept open the whole
time (its cached arrays must follow the writer), through a freshly opened one,
and through the CLI as a separate process. Every search must succeed and be
consistent with the committed rows at that moment; totals never decrease.

The in-process searches lower ``vectors.MIN_MAIN`` so that the on-disk main
segment (``cache/``) is built and rebuilt many times while rows arrive, which
800 photos would not otherwise trigger.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import committed

import picfind
from picfind.records import Features, ImageRecord
from picfind.scoring import SparseClasses
from picfind.store import vectors

pytestmark = pytest.mark.slow

N_PHOTOS = 800
PICFIND = [sys.executable, "-m", "picfind"]


@pytest.fixture(scope="module")
def photos(catsdogs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos800")
    for kind in ("cat", "dog"):
        for i in range(N_PHOTOS // 2):
            shutil.copy2(catsdogs / f"{kind}.{i}.jpg", folder / f"{kind}.{i}.jpg")
    return folder


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PICFIND_INDEX", "PICFIND_URL")}


def check_page(results: picfind.SearchResults, limit: int, folder: Path) -> None:
    """A page that makes sense on its own: ranks, order, ids, paths, size."""
    items = results.results
    assert [r.rank for r in items] == list(range(1, len(items) + 1))
    scores = [r.score for r in items]
    assert scores == sorted(scores, reverse=True)
    assert len({r.id for r in items}) == len(items)
    assert all(Path(r.path).parent == folder for r in items)
    assert len(items) == min(results.total, limit), (len(items), results.total)


def check_json_page(data: dict, limit: int, folder: Path) -> None:
    items = data["results"]
    assert [r["rank"] for r in items] == list(range(1, len(items) + 1))
    scores = [r["score"] for r in items]
    assert scores == sorted(scores, reverse=True)
    assert all(Path(r["path"]).parent == folder for r in items)
    assert len(items) == min(data["total"], limit)


def test_search_while_indexing(
    photos: Path, catsdogs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectors, "MIN_MAIN", 48)
    index = tmp_path / "index"
    db = index / "picfind.db"
    query = catsdogs / "dog.450.jpg"  # not among the indexed photos: total == every row
    indexer = subprocess.Popen(
        [*PICFIND, "index", photos, "--index", index, "--batch-size", "8", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    second: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 180
        while committed(db) == 0:
            assert indexer.poll() is None, indexer.communicate()
            assert time.monotonic() < deadline, "nothing committed in 180 s"
            time.sleep(0.01)

        kept_open = picfind.open_index(index)
        last: dict[str, int] = {}
        first_score: dict[str, float] = {}
        rounds_while_indexing = 0
        cli_runs = 0

        def monotonic(key: str, total: int) -> None:
            assert total >= last.get(key, 0), (key, total, last.get(key))
            last[key] = total

        for round_ in range(10_000):
            running = indexer.poll() is None
            for name, idx in (("kept", kept_open), ("fresh", picfind.open_index(index))):
                before = committed(db)
                emb = idx.search_image(query, mode="embedding", limit=500)
                after = committed(db)
                # the search saw one committed state: between the counts around it
                assert before <= emb.total <= after, (name, before, emb.total, after)
                check_page(emb, 500, photos)
                monotonic(f"{name}-embedding", emb.total)
                for r in emb.results:  # a row's features never change
                    assert abs(first_score.setdefault(r.id, r.score) - r.score) < 2e-3, r

                words = idx.search_words("dog", limit=50)
                check_page(words, 50, photos)
                monotonic(f"{name}-dog", words.total)

                page2 = idx.search_image(query, mode="hybrid", limit=5, offset=5)
                assert [r.rank for r in page2.results] == list(range(6, 6 + len(page2.results)))
                if name == "fresh":
                    idx.close()

            if running and round_ == 0:  # a second writer, started beside the searches
                second = subprocess.Popen(
                    [*PICFIND, "index", photos, "--index", index, "--json"],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=_env(),
                )

            if running and round_ % 3 == 0:
                cli = subprocess.run(
                    [*PICFIND, "search", "dog", "--index", index, "--json", "--limit", "20"],
                    capture_output=True,
                    text=True,
                    env=_env(),
                    timeout=300,
                )
                assert cli.returncode == 0, cli.stderr
                assert "Traceback" not in cli.stderr
                data = json.loads(cli.stdout)
                check_json_page(data, 20, photos)
                monotonic("cli-dog", data["total"])
                cli_runs += 1

            if running:
                rounds_while_indexing += 1
            else:
                break

        out, err = indexer.communicate(timeout=600)
        assert indexer.returncode == 0, err
        assert second is not None, "the indexer ended before the first round"
        second_out, second_err = second.communicate(timeout=600)
        if second.returncode == 0:  # it got the lock only once the first writer had ended
            assert json.loads(second_out)["indexed"] == 0, "two indexers ran at once"
        else:  # turned away, in one line
            assert second.returncode == 2, second_err
            assert second_err.startswith("picfind: error: another 'picfind index'")
            assert len(second_err.strip().splitlines()) == 1, second_err
        report = json.loads(out)
        assert report["indexed"] == N_PHOTOS and report["skipped"] == []
        # the searches really overlapped the writes
        assert rounds_while_indexing >= 3 and cli_runs >= 1, (rounds_while_indexing, cli_runs)
        assert (index / "cache" / "CURRENT").is_file()  # main segments were built meanwhile
        print(f"{rounds_while_indexing} rounds, {cli_runs} CLI searches while indexing")

        # once the writer is done, the index kept open agrees with a fresh one
        with picfind.open_index(index) as fresh:
            for mode in ("embedding", "hybrid", "classes"):
                a = kept_open.search_image(query, mode=mode, limit=N_PHOTOS)
                b = fresh.search_image(query, mode=mode, limit=N_PHOTOS)
                assert a.total == b.total == N_PHOTOS, mode
                assert [r.id for r in a.results] == [r.id for r in b.results], mode
            a, b = kept_open.search_words("dog"), fresh.search_words("dog")
            assert a.total == b.total and a.results == b.results
            assert fresh.stats().images == N_PHOTOS
        kept_open.close()
    finally:
        for proc in (indexer, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()


# --- two readers rebuilding the cache at once ---------------------------------------


def _synthetic_rows(store, start: int, count: int) -> None:
    """Rows with made-up features (no model): each is 90% one dog class (151..268)."""
    rng = np.random.default_rng(start)
    records = []
    for i in range(start, start + count):
        emb = rng.standard_normal(1280).astype(np.float32)
        classes = SparseClasses(
            np.array([151 + i % 118, 0], dtype=np.uint16), np.array([0.9, 0.1], dtype=np.float32)
        )
        records.append(
            ImageRecord(
                f"{i:016x}",
                f"/synthetic/{i}.jpg",
                f"hash{i}",
                1,
                i,
                8,
                8,
                "JPEG",
                Features(classes, emb / np.linalg.norm(emb)),
            )
        )
    store.write(add=records)


def test_search_sees_every_row_when_another_reader_publishes_an_older_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectors, "MIN_MAIN", 16)
    folder = tmp_path / "index"
    with picfind.open_index(folder, create=True) as idx:
        idx.store.set_model("efficientnet-lite0")
        _synthetic_rows(idx.store, 0, 40)
        # a slow reader (another thread or process) snapshots the index at 40 rows ...
        slow = sqlite3.connect(folder / "picfind.db")
        _synthetic_rows(idx.store, 40, 40)

    real_build = vectors.build_main

    def build_then_overtaken(conn, cache_dir, upto_rowid, removed_seq, *more, **kw):
        built = real_build(conn, cache_dir, upto_rowid, removed_seq, *more, **kw)
        # ... and publishes its main for those 40 rows just after ours
        real_build(slow, cache_dir, 40, 0, *more, **kw)
        return built

    monkeypatch.setattr(vectors, "build_main", build_then_overtaken)
    try:
        with picfind.open_index(folder) as reader:
            assert reader.search_words("dog").total == 80
    finally:
        slow.close()
