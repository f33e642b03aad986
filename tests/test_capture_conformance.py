"""Capture metadata in both stores: the same stored fields, filters and date order,
on a real OpenSearch node, from real photos given real EXIF (Pillow).

The expected answers come from the shots' own definitions (``exifphotos.TAGGED``):
which photos were taken in a date range, in Paris, with an iPhone — never from
either store.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import pytest
from cluster_fixtures import tagged_indexes
from exifphotos import TAGGED

import picfind
from picfind.cli import run
from picfind.errors import UsageError
from picfind.query import parse_query
from picfind.records import METADATA_FIELDS, Fields
from picfind.search import capture_filter, keyword_query
from picfind.store.base import Filter, Store, Update
from picfind.store.cluster import ClusterOptions, ClusterStore
from picfind.store.cluster.mapping import SCHEMA_VERSION as CLUSTER_SCHEMA
from picfind.store.cluster.mapping import capture_properties, mapping
from picfind.store.schema import SCHEMA_VERSION as SQLITE_SCHEMA
from picfind.vocabulary import Vocabulary

pytestmark = [pytest.mark.opensearch, pytest.mark.shared_data, pytest.mark.slow]

SHOTS = dict(TAGGED)
PARIS = {"cat.0", "cat.1", "dog.0"}  # by their coordinates (Eiffel Tower, Louvre, Notre-Dame)
IPHONES = {s for s, shot in TAGGED if shot.model and shot.model.startswith("iPhone")}


def taken_day(stem: str) -> int | None:
    taken = SHOTS[stem].taken
    if taken is None:
        return None
    return int(datetime.strptime(taken, "%Y:%m:%d %H:%M:%S").strftime("%Y%m%d"))


@pytest.fixture(scope="module")
def stores(catsdogs: Path, cluster_url: str, tmp_path_factory: pytest.TempPathFactory):
    """(embedded, cluster) Index of the tagged photos, both through the real indexer."""
    with tagged_indexes(catsdogs, cluster_url, tmp_path_factory, "capture") as found:
        yield found


def stems(store: Store, ids: list[str]) -> list[str]:
    paths = {r.id: r.path for r in store.rows(ids=ids)}
    return [Path(paths[i]).stem for i in ids]


def search(index: picfind.Index, words: str, where: Filter) -> tuple[int, list[str]]:
    query = keyword_query(parse_query(words, Vocabulary.load()))
    total, hits = index.store.search(query, 50, 0, where)
    return total, stems(index.store, [h.id for h in hits])


def test_both_stores_keep_the_same_capture_fields(stores) -> None:
    _, embedded, cluster = stores
    a = {Path(r.path).stem: r for r in embedded.store.rows(metadata=True)}
    b = {Path(r.path).stem: r for r in cluster.store.rows(metadata=True)}
    assert a.keys() == b.keys() == SHOTS.keys()
    for stem in a:
        ma, mb = a[stem].metadata, b[stem].metadata
        assert ma is not None and mb is not None
        for name in METADATA_FIELDS:
            assert getattr(ma, name) == getattr(mb, name), (stem, name)
        assert a[stem].meta_version == b[stem].meta_version == 1
        assert ma.taken_day == taken_day(stem)
    assert a["dog.4"].metadata is not None and a["dog.4"].metadata.country_code == "JP"


FILTERS = [
    ("dog OR cat", {"after": "2019", "before": "2020"}),
    ("dog OR cat", {"after": "2020-06", "before": "2021-01"}),
    ("dog OR cat", {"before": "2019-06"}),
    ("dog OR cat", {"place": "paris"}),
    ("dog OR cat", {"place": "australia"}),
    ("dog OR cat", {"camera": "iphone"}),
    ("dog", {"camera": "Nikon D750"}),
    ("cat", {"place": "france", "after": "2020"}),
]


@pytest.mark.parametrize(("words", "given"), FILTERS)
def test_filters_answer_alike_and_as_the_files_say(stores, words: str, given: dict) -> None:
    _, embedded, cluster = stores
    where = capture_filter(**given)
    e_total, e_hits = search(embedded, words, where)
    c_total, c_hits = search(cluster, words, where)
    assert e_total == c_total and e_hits == c_hits
    _, everything = search(embedded, words, Filter())
    expected = set(everything)
    if "after" in given or "before" in given:
        start = where.after_day or 0
        end = where.before_day or 99999999
        expected = {s for s in expected if (d := taken_day(s)) is not None and start <= d < end}
    if given.get("place") == "paris":
        expected &= PARIS
    if given.get("place") == "australia":
        expected &= {"cat.3", "dog.2"}
    if given.get("place") == "france":
        expected &= PARIS
    if given.get("camera") == "iphone":
        expected &= IPHONES
    if given.get("camera") == "Nikon D750":
        expected &= {"cat.3", "dog.0"}
    assert set(e_hits) == expected and e_total == len(expected)
    assert expected, "each case must keep some photos, or it proves nothing"


def test_sort_by_date_newest_first_undated_last_in_both(stores) -> None:
    _, embedded, cluster = stores
    where = Filter(sort="date")
    e_total, e_hits = search(embedded, "dog OR cat", where)
    c_total, c_hits = search(cluster, "dog OR cat", where)
    assert e_hits == c_hits and e_total == c_total
    dated = [s for s in e_hits if SHOTS[s].taken]
    assert dated == sorted(dated, key=lambda s: str(SHOTS[s].taken), reverse=True)
    first_undated = next(i for i, s in enumerate(e_hits) if not SHOTS[s].taken)
    assert all(not SHOTS[s].taken for s in e_hits[first_undated:])
    _, relevance = search(embedded, "dog OR cat", Filter())
    assert set(relevance) == set(e_hits) and relevance != e_hits


def test_cli_search_filters_and_sort(stores, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    photos, embedded, _ = stores
    folder = str(embedded.store.folder)  # type: ignore[attr-defined]
    code = run(["search", "dog", "OR", "cat", "--place", "paris", "--sort", "date",
                "--index", folder, "--json"])  # fmt: skip
    assert code == 0
    got = json.loads(capsys.readouterr().out)
    names = [Path(r["path"]).stem for r in got["results"]]
    assert names == sorted(PARIS, key=lambda s: str(SHOTS[s].taken), reverse=True)
    for bad, message in (
        (["--after", "2020-13"], "there is no month 13"),
        (["--place", "nowhereville"], "unknown place"),
        (["--after", "2021", "--before", "2020"], "empty date range"),
    ):
        code = run(["search", "dog", *bad, "--index", folder])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    code = run(["search", "--image", str(photos / "cat.0.jpg"), "--sort", "date",
                "--index", folder])  # fmt: skip
    assert code == 2 and "--sort date" in capsys.readouterr().err


def test_capture_filter_refuses_bad_input() -> None:
    with pytest.raises(UsageError):
        capture_filter(sort="oldest")
    with pytest.raises(UsageError):
        capture_filter(camera="  --  ")
    assert capture_filter(place="fr").places  # ISO codes are accepted for --place


def test_a_schema_1_cluster_index_gets_the_capture_fields(opensearch_url: str, index_name: str):
    """An index made before schema 2 (no capture properties, strict mapping) is given them
    by an additive mapping update when opened, and then takes metadata updates."""
    store = ClusterStore(opensearch_url, ClusterOptions(name=index_name, replicas=0), create=True)
    try:
        body = mapping("opensearch", "picfind", 1280, "efficientnet-lite0", 1, 0)
        props = body["mappings"]["properties"]
        for field in capture_properties():
            del props[field]
        body["mappings"]["_meta"]["picfind_schema"] = 1
        client = store.client
        client.indices.create(index=f"{index_name}-v1", body=body)
        client.indices.put_alias(index=f"{index_name}-v1", name=index_name)
        client.index(
            index=f"{index_name}-v1", id="abc",
            body={"id": "abc", "path": "/x/a.jpg", "content_hash": "h", "size": 1, "mtime_ns": 1},
            refresh=True,
        )  # fmt: skip
    finally:
        store.close()
    store = ClusterStore(opensearch_url, ClusterOptions(name=index_name, replicas=0))
    try:
        got = client.indices.get_mapping(index=index_name)
        info = next(iter(got.values()))["mappings"]
        assert info["_meta"]["picfind_schema"] == CLUSTER_SCHEMA == 3
        assert info["properties"]["location"]["type"] == "geo_point"
        fields = Fields(taken="2019-07-14T12:34:56", taken_day=20190714, lat=48.85, lon=2.35,
                        place_keys=("paris", "france"), meta_version=1)  # fmt: skip
        store.write(update=[Update("abc", fields)])
        store.refresh()  # a look-up by id sees refreshed writes (cluster store's contract)
        row = next(store.rows(ids=["abc"], metadata=True))
        assert row.meta_version == 1 and row.metadata is not None
        assert dataclasses.asdict(row.metadata)["place_keys"] == ("paris", "france")
        assert row.metadata.lat == 48.85 and row.metadata.taken_day == 20190714
        assert store.count(Filter(places=("paris",))) == 1
        assert store.count(Filter(places=("tokyo",))) == 0
        # a re-read writes the whole capture record: what the file no longer says goes
        store.write(update=[Update("abc", Fields(meta_version=2))])
        store.refresh()
        again = next(store.rows(ids=["abc"], metadata=True))
        assert again.meta_version == 2 and again.metadata is not None
        assert again.metadata.place_keys is None and again.metadata.lat is None
        assert store.count(Filter(places=("paris",))) == 0
    finally:
        store.close()


def month_of(stem: str) -> int | None:
    day = taken_day(stem)
    return None if day is None else day // 100 % 100


def summer(stem: str) -> bool:
    """Meteorological summer where the photo was (north without GPS)."""
    month, lat = month_of(stem), SHOTS[stem].lat
    return month is not None and month in ((12, 1, 2) if lat is not None and lat < 0 else (6, 7, 8))


WORDS = [  # the capture part of each query; its concept part is what the model saw
    ("paris", lambda s: s in PARIS),
    ("paris 2019", lambda s: s in PARIS and str(taken_day(s)).startswith("2019")),
    ("dog 2019", lambda s: str(taken_day(s)).startswith("2019")),
    ("iphone", lambda s: s in IPHONES),
    ("cat christmas", lambda s: (taken_day(s) or 0) % 10000 in (1224, 1225, 1226)),
    ("dog summer", summer),
    ("dog -paris", lambda s: s not in PARIS),
    ('"new york"', lambda s: s in {"cat.2", "dog.1"}),
    ("australia OR japan", lambda s: s in {"cat.3", "dog.2", "dog.4"}),
]  # fmt: skip


@pytest.mark.parametrize(("words", "expected"), WORDS, ids=[w for w, _ in WORDS])
def test_place_date_camera_words_answer_alike_and_as_the_files_say(stores, words, expected) -> None:
    _, embedded, cluster = stores
    e_total, e_hits = search(embedded, words, Filter())
    c_total, c_hits = search(cluster, words, Filter())
    assert e_total == c_total and e_hits == c_hits
    # concept words match what the model sees: compare with the concept alone
    concept = words.split()[0] if words.split()[0] in ("dog", "cat") else None
    seen = set(search(embedded, concept, Filter())[1]) if concept else set(SHOTS)
    want = {s for s in SHOTS if expected(s) and (concept is None or s in seen)}
    assert set(e_hits) == want and want, words


def test_why_names_the_place_the_date_and_the_camera(stores) -> None:
    _, embedded, cluster = stores
    for index in (embedded, cluster):
        results = index.search_words("paris 2019 iphone")
        assert [Path(r.path).stem for r in results.results] == ["cat.0"]
        why = {w.signal: w for w in results.results[0].why}
        assert why["place"].term == "paris" and "Paris" in why["place"].via
        assert why["place"].via.startswith("GPS 48.86, 2.29")
        assert why["date"].via == "taken 2019-07-14 10:00:00"
        assert why["camera"].via == "Apple iPhone 12"


def test_cluster_stats_show_the_metadata_coverage(stores) -> None:
    _, embedded, cluster = stores
    a, b = embedded.stats(), cluster.stats()
    assert a.metadata == b.metadata
    # Each store numbers its own layout: the embedded schema (3: read text) and the
    # cluster mapping (2: the capture fields; its text fields need no migration step).
    assert (a.schema, b.schema) == (SQLITE_SCHEMA, CLUSTER_SCHEMA)
    assert a.metadata is not None and a.metadata.read == len(SHOTS)
    assert a.metadata.dated == sum(1 for s in SHOTS.values() if s.taken)
    assert a.metadata.placed == sum(1 for s in SHOTS.values() if s.lat is not None)
