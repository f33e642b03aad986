"""Shared fixtures: the ../shared data, the model, and small real indexes.

Without ../shared the tests that need it skip on a developer's machine and fail
in CI (``CI=true``): the ``shared`` fixture, the ``shared_data`` marker and, for
every other skip, the ``ci_honesty`` plugin.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import picfind

REPO = Path(__file__).resolve().parents[1]

# Skips that are failures in CI (first: the others use it); the OpenSearch node.
pytest_plugins = ["ci_honesty", "cluster_fixtures"]


def shared_dir() -> Path:
    return Path(os.environ.get("PICFIND_SHARED", REPO.parent / "shared"))


def _require_shared() -> Path:
    from ci_honesty import missing  # a plugin: imported once pytest has registered it

    path = shared_dir()
    if not (path / "data").is_dir():
        missing(f"shared data not found at {path} (set PICFIND_SHARED)")
    return path


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("shared_data") is not None:
        _require_shared()


@pytest.fixture(scope="session")
def shared() -> Path:
    return _require_shared()


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


FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


@pytest.fixture(scope="session")
def font_file() -> Path:
    """A real TrueType font, to render words on photos (the OCR tests)."""
    if not FONT.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{FONT} missing: apt-get install fonts-dejavu-core")
        pytest.skip(f"{FONT} missing (fonts-dejavu-core)")
    return FONT


@pytest.fixture
def fresh_index(tmp_path: Path) -> Iterator[picfind.Index]:
    idx = picfind.open_index(tmp_path / "index", create=True)
    yield idx
    idx.close()
