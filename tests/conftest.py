"""Shared fixtures: the ../shared data, the model, and small real indexes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import picfind

REPO = Path(__file__).resolve().parents[1]

pytest_plugins = ["cluster_fixtures"]  # the OpenSearch node of the cluster tests


def shared_dir() -> Path:
    return Path(os.environ.get("PICFIND_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not (path / "data").is_dir():
        pytest.skip(f"shared data not found at {path} (set PICFIND_SHARED)")
    return path


@pytest.fixture(scope="session")
def catsdogs(shared: Path) -> Path:
    return shared / "data" / "catsdogs"


@pytest.fixture(scope="session")
def small_photos(catsdogs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 cats and 40 dogs copied into a folder the tests may change."""
    folder = tmp_path_factory.mktemp("photos")
    for kind in ("cat", "dog"):
        for i in range(40):
            shutil.copy2(catsdogs / f"{kind}.{i}.jpg", folder / f"{kind}.{i}.jpg")
    return folder


@pytest.fixture(scope="session")
def small_index(small_photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded index of small_photos; read-only for tests (copy it to change it)."""
    folder = tmp_path_factory.mktemp("index")
    with picfind.open_index(folder, create=True) as idx:
        report = idx.add([small_photos])
    assert report.indexed == 80 and not report.skipped
    return folder


@pytest.fixture
def fresh_index(tmp_path: Path) -> picfind.Index:
    idx = picfind.open_index(tmp_path / "index", create=True)
    yield idx
    idx.close()
