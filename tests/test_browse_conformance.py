"""The timeline's read (``Store.browse``) in both stores, on a real OpenSearch node: the
same pages in the same order, from real photos given real EXIF (``exifphotos.TAGGED``).

The expected order comes from the shots' own capture times (newest first, undated last,
ties by path), never from either store.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from cluster_fixtures import tagged_indexes
from exifphotos import TAGGED

from picfind.search import capture_filter
from picfind.store.base import Browsed, Filter
from picfind.store.cluster import store as cluster_store

pytestmark = [pytest.mark.opensearch, pytest.mark.shared_data, pytest.mark.slow]


def expected_order() -> list[str]:
    dated = sorted(
        (s for s, shot in TAGGED if shot.taken),
        key=lambda s: (-int(datetime.strptime(dict(TAGGED)[s].taken or "", "%Y:%m:%d %H:%M:%S")
                            .strftime("%Y%m%d%H%M%S")), s),
    )  # fmt: skip
    return dated + sorted(s for s, shot in TAGGED if not shot.taken)


@pytest.fixture(scope="module")
def stores(catsdogs: Path, opensearch_url: str, tmp_path_factory: pytest.TempPathFactory):
    with tagged_indexes(catsdogs, opensearch_url, tmp_path_factory, "t-browse") as found:
        yield found


def stems(page: list[Browsed]) -> list[str]:
    return [Path(b.path).stem for b in page]


def test_newest_first_undated_last_in_both_stores(stores) -> None:
    _, embedded, cluster = stores
    want = expected_order()
    for index in (embedded, cluster):
        total, page = index.store.browse(50)
        assert total == len(TAGGED) and stems(page) == want
        dated = [b for b in page if b.taken]
        assert [b.taken for b in dated] == sorted((b.taken for b in dated), reverse=True)
        assert dated[0].taken == "2021-01-01T00:30:00"  # local time, ISO, as stored
        assert all(b.taken is None for b in page[len(dated) :])
    a, b = embedded.store.browse(50)[1], cluster.store.browse(50)[1]
    assert a == b  # ids, paths and times alike


@pytest.mark.parametrize(("limit", "offset"), [(5, 0), (5, 5), (5, 10), (3, 8), (4, 40)])
def test_pages_are_slices_of_the_order(stores, limit: int, offset: int) -> None:
    _, embedded, cluster = stores
    want = expected_order()
    for index in (embedded, cluster):
        total, page = index.store.browse(limit, offset)
        assert total == len(TAGGED) and stems(page) == want[offset : offset + limit]


def test_pages_beyond_the_engines_window(stores, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deep pages step by ``search_after`` (the window made tiny to reach them)."""
    _, _, cluster = stores
    monkeypatch.setattr(cluster_store, "WINDOW", 4)
    want = expected_order()
    for limit, offset in ((3, 2), (3, 5), (2, 9), (4, 10), (3, 12)):
        total, page = cluster.store.browse(limit, offset)
        assert total == len(TAGGED) and stems(page) == want[offset : offset + limit]


def test_filters_restrict_the_timeline(stores) -> None:
    photos, embedded, cluster = stores
    for where, allowed in (
        (capture_filter(place="paris"), {"cat.0", "cat.1", "dog.0"}),
        (capture_filter(after="2020-01-01"), {"cat.1", "cat.3", "dog.1", "dog.3"}),
        (capture_filter(camera="iphone"), {"cat.0", "cat.2", "cat.4", "dog.2"}),
        (Filter(under=str(photos)), {s for s, _ in TAGGED}),
        (Filter(under=str(photos / "elsewhere")), set()),
    ):
        want = [s for s in expected_order() if s in allowed]
        for index in (embedded, cluster):
            total, page = index.store.browse(50, 0, where)
            assert total == len(want) and stems(page) == want, (where, index.store)
