"""The REST API of ``picfind serve``, in-process, on an index of real photos.

Every endpoint and every error path: JSON shapes the same as the CLI's
``--json``, unknown words with suggestions, unreadable and oversized uploads,
ids that do not exist, paths in requests (never opened), files changed or
swapped for symlinks since indexing, the token, Host and Origin checks, CORS,
thumbnails and their caching, indexing jobs while searching, and uploads that
do not block other requests.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import threading
import time
import warnings
from pathlib import Path

import httpx
import pytest
from PIL import Image

import picfind
from picfind import cli, imaging
from picfind.web import Settings, create_app

with warnings.catch_warnings():  # starlette asks for httpx2; httpx is what we have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.shared_data

BASE = "http://127.0.0.1:8000"
RESULT_KEYS = {"rank", "id", "path", "score", "labels"}
LABEL_KEYS = {"wnid", "name", "score"}


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def json(self) -> dict:
        return json.loads(self.out)


@pytest.fixture
def pf(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """The CLI in-process, to compare the API's JSON with ``--json``."""
    monkeypatch.delenv("PICFIND_INDEX", raising=False)
    monkeypatch.delenv("PICFIND_TOKEN", raising=False)

    def run(*args: object) -> Run:
        capsys.readouterr()
        code = cli.run([str(a) for a in args])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


def make_client(index: Path, base_url: str = BASE, **settings: object) -> TestClient:
    app = create_app(Settings(index_dir=index, warm_model=False, **settings))  # type: ignore[arg-type]
    return TestClient(app, base_url=base_url)


@pytest.fixture(scope="module")
def index_copy(small_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """small_index is read-only; the server writes thumbnails into its index folder."""
    folder = tmp_path_factory.mktemp("web") / "index"
    shutil.copytree(small_index, folder)
    return folder


@pytest.fixture(scope="module")
def client(index_copy: Path) -> TestClient:
    with make_client(index_copy) as c:
        yield c


@pytest.fixture(scope="module")
def own(catsdogs: Path, shared: Path, tmp_path_factory: pytest.TempPathFactory):
    """A folder and index the tests may change: 3 photos and one with EXIF orientation 6."""
    root = tmp_path_factory.mktemp("own")
    photos = root / "photos"
    photos.mkdir()
    for name in ("cat.0.jpg", "cat.1.jpg", "dog.0.jpg"):
        shutil.copy2(catsdogs / name, photos / name)
    odd = shared / "data" / "odd-images" / "generated" / "cat.7.exif-orientation-6.jpg"
    shutil.copy2(odd, photos / "rotated.jpg")
    (root / "secret.txt").write_text("TOP SECRET: do not serve\n")
    shutil.copy2(catsdogs / "dog.5.jpg", root / "outside.jpg")
    with picfind.open_index(root / "index", create=True) as idx:
        assert idx.add([photos]).indexed == 4
        ids = {Path(f.path).name: f.id for f in idx.store.rows()}
    return root, ids


def check_search_shape(body: dict) -> None:
    assert set(body) >= {"mode", "total", "results"}
    assert isinstance(body["total"], int)
    for r in body["results"]:
        assert set(r) == RESULT_KEYS | ({"why"} if body["mode"] == "keyword" else set())
        assert isinstance(r["score"], float) and isinstance(r["rank"], int)
        for label in r["labels"]:
            assert set(label) == LABEL_KEYS


def check_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code and isinstance(body["error"], str) and body["error"]
    return body


# --- search by words ---------------------------------------------------------------------


def test_search_words_matches_the_cli_json(client: TestClient, index_copy: Path, pf) -> None:
    r = client.get("/api/search", params={"q": "dog", "limit": 10})
    assert r.status_code == 200
    body = r.json()
    check_search_shape(body)
    cli = pf("search", "dog", "--index", index_copy, "--json", "-n", 10).json
    assert {k: body[k] for k in ("mode", "total", "results")} == {
        k: cli[k] for k in ("mode", "total", "results")
    }
    assert body["mode"] == "keyword" and body["query"] == "dog"
    assert body["parsed"] == cli["query"] and body["corrections"] == cli["corrections"] == []
    assert all(r["why"] and r["why"][0]["term"] == "dog" for r in body["results"])
    names = [Path(x["path"]).name for x in body["results"]]
    assert sum(n.startswith("dog.") for n in names) >= 8, names


def test_search_words_min_score_and_why(client: TestClient, index_copy: Path, pf) -> None:
    body = client.get("/api/search", params={"q": "dog", "limit": 100, "min_score": 0.5}).json()
    cli = pf("search", "dog", "--index", index_copy, "--json", "-n", 100, "--min-score", 0.5).json
    assert body["total"] == cli["total"] == len(body["results"]) > 0
    assert body["results"] == cli["results"] and all(r["score"] >= 0.5 for r in body["results"])
    check_error(
        client.get("/api/search", params={"q": "dog", "min_score": 0}), 422, "invalid_request"
    )


def test_search_words_pages(client: TestClient) -> None:
    whole = client.get("/api/search", params={"q": "cat", "limit": 30}).json()["results"]
    first = client.get("/api/search", params={"q": "cat", "limit": 15}).json()["results"]
    second = client.get("/api/search", params={"q": "cat", "limit": 15, "offset": 15}).json()
    assert [r["id"] for r in first + second["results"]] == [r["id"] for r in whole]
    assert second["results"][0]["rank"] == 16


def test_unknown_word_is_400_with_suggestions(client: TestClient) -> None:
    body = check_error(client.get("/api/search", params={"q": "dgi"}), 400, "unknown_word")
    assert body["word"] == "dgi" and "dog" in body["suggestions"]


def test_query_syntax_error_is_400(client: TestClient) -> None:
    check_error(client.get("/api/search", params={"q": "dog OR"}), 400, "query_syntax")


@pytest.mark.parametrize(
    "params", [{}, {"q": ""}, {"q": "dog", "limit": -1}, {"q": "dog", "limit": 201}]
)
def test_invalid_search_parameters_are_422(client: TestClient, params) -> None:
    body = check_error(client.get("/api/search", params=params), 422, "invalid_request")
    assert body["detail"]


# --- search by indexed image -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "classes", "embedding", "fused"])
def test_similar_by_id_matches_the_api(client: TestClient, index_copy: Path, mode) -> None:
    with picfind.open_index(index_copy) as idx:
        first = idx.search_words("cat", limit=1).results[0]
        expected = idx.search_image(first.id, mode=mode, limit=8).to_json()
    r = client.get(f"/api/images/{first.id}/similar", params={"mode": mode, "limit": 8})
    assert r.status_code == 200
    body = r.json()
    check_search_shape(body)
    assert {k: body[k] for k in ("mode", "total", "results")} == expected
    assert first.id not in [x["id"] for x in body["results"]]


def test_similar_with_an_unknown_mode_is_422(client: TestClient) -> None:
    rid = client.get("/api/search", params={"q": "cat", "limit": 1}).json()["results"][0]["id"]
    check_error(client.get(f"/api/images/{rid}/similar?mode=best"), 422, "invalid_request")


# --- ids that do not exist, and paths in requests ---------------------------------------

BAD_IDS = [
    "0000000000000000",
    "..",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2Fetc%2Fpasswd",
    "cat.0.jpg",
    "..%5C..%5Cwindows",
    "a" * 65,
]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("what", ["", "/similar", "/thumbnail", "/file"])
def test_unknown_ids_and_paths_are_404(client: TestClient, bad: str, what: str) -> None:
    r = client.get(f"/api/images/{bad}{what}")
    assert r.status_code == 404, r.text
    assert b"root:" not in r.content


def test_a_path_given_as_an_id_is_never_opened(client: TestClient, small_photos: Path) -> None:
    # The CLI accepts a file path for --image; the API takes ids only.
    for path in (small_photos / "cat.0.jpg", Path("/etc/passwd")):
        quoted = str(path).replace("/", "%2F")
        for url in (f"/api/images/{quoted}/similar", f"/api/images/{quoted}/file"):
            check_error(client.get(url), 404, "not_found")


def test_static_files_do_not_escape_their_folder(client: TestClient) -> None:
    for url in ("/static/..%2Fapp.py", "/static/../app.py", "/static/%2e%2e/service.py"):
        r = client.get(url)
        assert r.status_code == 404 and b"import" not in r.content


# --- search by uploaded image ------------------------------------------------------------


def upload(client: TestClient, data: bytes, name: str = "photo.jpg", **form: object):
    return client.post(
        "/api/search/image",
        files={"file": (name, data, "application/octet-stream")},
        data={k: str(v) for k, v in form.items()},
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["hybrid", "classes", "embedding"])
def test_upload_finds_look_alikes(client: TestClient, catsdogs: Path, mode: str) -> None:
    # cat.50 is not in the index: its neighbours should be cats.
    r = upload(client, (catsdogs / "cat.50.jpg").read_bytes(), mode=mode, limit=10)
    assert r.status_code == 200, r.text
    body = r.json()
    check_search_shape(body)
    assert body["mode"] == mode and body["total"] == 80
    names = [Path(x["path"]).name for x in body["results"]]
    assert sum(n.startswith("cat.") for n in names) >= 7, names


@pytest.mark.slow
def test_upload_of_an_indexed_photo_finds_itself_first(
    client: TestClient, small_photos: Path
) -> None:
    body = upload(client, (small_photos / "dog.3.jpg").read_bytes(), mode="embedding").json()
    assert Path(body["results"][0]["path"]).name == "dog.3.jpg"
    assert body["results"][0]["score"] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("not-an-image.jpg", "not an image"), ("truncated.jpg", "truncated"), ("empty.jpg", "empty")],
)
def test_unreadable_uploads_are_422(client: TestClient, shared: Path, name, reason) -> None:
    data = (shared / "data" / "odd-images" / "generated" / name).read_bytes()
    body = check_error(upload(client, data, name=name), 422, "unreadable_image")
    assert reason in body["error"]


def test_decompression_bomb_is_413_not_a_crash(client: TestClient, shared: Path) -> None:
    bomb = shared / "data" / "odd-images" / "generated" / "bomb-40000x40000.png"
    body = check_error(upload(client, bomb.read_bytes(), name=bomb.name), 413, "too_many_pixels")
    assert "40000" in body["error"]
    assert client.get("/api/stats").status_code == 200  # still serving


def test_upload_over_the_byte_limit_is_413(index_copy: Path, small_photos: Path) -> None:
    data = (small_photos / "cat.1.jpg").read_bytes()
    with make_client(index_copy, max_upload_bytes=len(data) // 2) as c:
        body = check_error(upload(c, data), 413, "too_large")
        assert "KiB, the most this server takes" in body["error"]  # read by people

        def chunks():  # no Content-Length: the body is counted as it arrives
            for i in range(0, len(data), 4096):
                yield data[i : i + 4096]

        r = c.post(
            "/api/search/image",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
        check_error(r, 413, "too_large")


@pytest.mark.slow
def test_an_upload_has_an_address(client: TestClient, catsdogs: Path) -> None:
    """The photo is kept by content hash: its search is an address (reload, Back, a link)."""
    from picfind.hashing import digest

    data = (catsdogs / "cat.51.jpg").read_bytes()
    first = upload(client, data, mode="embedding", limit=5).json()
    key = first["upload"]
    assert key == digest(data)
    again = client.get(f"/api/uploads/{key}/similar", params={"mode": "embedding", "limit": 5})
    assert again.status_code == 200, again.text
    assert [r["id"] for r in again.json()["results"]] == [r["id"] for r in first["results"]]
    other = client.get(f"/api/uploads/{key}/similar", params={"mode": "classes", "limit": 5})
    assert other.json()["mode"] == "classes"
    preview = client.get(f"/api/uploads/{key}/preview")
    assert preview.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(preview.content)) as im:
        assert max(im.size) == 256 and im.size[0] != im.size[1]  # the photo's shape, not square
    page = client.get("/", params={"upload": key, "mode": "embedding"})
    assert "results like your photo" in page.text and page.text.count('class="tile"') == 24
    first_ids = [r["id"] for r in first["results"]]
    assert page.text.index(first_ids[0]) < page.text.index(first_ids[1])
    # Unknown, dropped or malformed keys: 404 upload_expired, and a page that says so.
    for bad in ("0" * 32, "X" * 32, key + "0", "..%5C..%5Cetc"):
        check_error(client.get(f"/api/uploads/{bad}/similar"), 404, "upload_expired")
    gone = client.get("/", params={"upload": "0" * 32})
    assert gone.status_code == 200 and "no longer kept" in gone.text


def test_uploads_are_bounded_least_recently_used_first_out() -> None:
    import numpy as np

    from picfind.records import Features, SparseClasses
    from picfind.web.uploads import Upload, UploadGoneError, Uploads

    feats = Features(
        SparseClasses(np.zeros(1, np.uint16), np.ones(1, np.float32)), np.ones(4, np.float32)
    )
    kept = Uploads(max_items=2)
    keys = [f"{i:032x}" for i in range(3)]
    kept.put(Upload(keys[0], "a", feats, b""))
    kept.put(Upload(keys[1], "b", feats, b""))
    assert kept.get(keys[0]).name == "a"  # now the most recently used
    kept.put(Upload(keys[2], "c", feats, b""))
    assert len(kept) == 2 and kept.find(keys[1]) is None and kept.get(keys[0]).name == "a"
    with pytest.raises(UploadGoneError):
        kept.get(keys[1])


def test_pages_render_what_was_loaded_on_scroll(client: TestClient) -> None:
    """``count`` renders what the script had loaded: Back and reload show all of it."""
    page = client.get("/", params={"q": "dog", "count": 50})
    assert page.text.count('class="tile"') == 50 and 'data-next="50"' in page.text
    capped = client.get("/", params={"q": "dog OR cat", "count": 10_000})
    assert capped.text.count('class="tile"') == 80  # all there are (at most 240 at once)


def test_upload_with_a_bad_mode_or_no_file_is_422(client: TestClient, small_photos) -> None:
    data = (small_photos / "cat.1.jpg").read_bytes()
    check_error(upload(client, data, mode="best"), 422, "invalid_request")
    check_error(client.post("/api/search/image", data={"mode": "hybrid"}), 422, "invalid_request")


# --- metadata, thumbnails, originals -----------------------------------------------------


def test_image_metadata(client: TestClient, small_photos: Path) -> None:
    hit = client.get("/api/search", params={"q": "dog", "limit": 1}).json()["results"][0]
    r = client.get(f"/api/images/{hit['id']}")
    assert r.status_code == 200
    meta = r.json()
    path = Path(meta["path"])
    assert meta["id"] == hit["id"] and path == Path(hit["path"]) and path.parent == small_photos
    assert meta["size"] == path.stat().st_size and meta["mtime_ns"] == path.stat().st_mtime_ns
    with Image.open(path) as im:
        assert (meta["width"], meta["height"], meta["format"]) == (*im.size, "JPEG")
    assert meta["available"] is True and meta["modified"].endswith("+00:00")
    assert len(meta["labels"]) == 10
    scores = [x["score"] for x in meta["labels"]]
    assert scores == sorted(scores, reverse=True)
    assert meta["labels"][:3] == hit["labels"]


def test_thumbnail_is_made_once_cached_and_revalidated(
    client: TestClient, index_copy: Path
) -> None:
    rid = client.get("/api/search", params={"q": "cat", "limit": 1}).json()["results"][0]["id"]
    r = client.get(f"/api/images/{rid}/thumbnail", params={"size": 128})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"]
    with Image.open(io.BytesIO(r.content)) as im:
        assert im.format == "JPEG" and max(im.size) == 128
    cached = list((index_copy / "thumbs" / "128").glob("*.jpg"))
    assert len(cached) == 1
    again = client.get(f"/api/images/{rid}/thumbnail", params={"size": 128})
    assert again.content == r.content and again.headers["etag"] == r.headers["etag"]
    r304 = client.get(
        f"/api/images/{rid}/thumbnail?size=128", headers={"If-None-Match": r.headers["etag"]}
    )
    assert r304.status_code == 304 and r304.content == b""
    check_error(client.get(f"/api/images/{rid}/thumbnail?size=999"), 400, "bad_request")


def test_thumbnail_follows_exif_orientation(own) -> None:
    root, ids = own
    with make_client(root / "index") as c:
        r = c.get(f"/api/images/{ids['rotated.jpg']}/thumbnail", params={"size": 256})
        meta = c.get(f"/api/images/{ids['rotated.jpg']}").json()
    assert r.status_code == 200
    _, width, height = imaging.probe(root / "photos" / "rotated.jpg")
    assert (meta["width"], meta["height"]) == (width, height)
    with Image.open(io.BytesIO(r.content)) as im:
        assert (im.width > im.height) == (width > height) and width != height


def test_original_file(client: TestClient) -> None:
    hit = client.get("/api/search", params={"q": "dog", "limit": 1}).json()["results"][0]
    r = client.get(f"/api/images/{hit['id']}/file")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content == Path(hit["path"]).read_bytes()
    assert r.headers["etag"] and "inline" in r.headers["content-disposition"]
    assert r.headers["x-content-type-options"] == "nosniff"
    r304 = client.get(f"/api/images/{hit['id']}/file", headers={"If-None-Match": r.headers["etag"]})
    assert r304.status_code == 304


def test_changed_and_swapped_files_are_not_served(own) -> None:
    root, ids = own
    photos = root / "photos"
    with make_client(root / "index") as c:
        # A file swapped for a symlink to a secret outside the indexed folder.
        (photos / "cat.0.jpg").unlink()
        os.symlink(root / "secret.txt", photos / "cat.0.jpg")
        for what in ("/file", "/thumbnail"):
            r = c.get(f"/api/images/{ids['cat.0.jpg']}{what}")
            check_error(r, 404, "file_unavailable")
            assert b"SECRET" not in r.content
        assert c.get(f"/api/images/{ids['cat.0.jpg']}").json()["available"] is False
        # A symlink to another image outside: not the indexed content either.
        (photos / "cat.1.jpg").unlink()
        os.symlink(root / "outside.jpg", photos / "cat.1.jpg")
        check_error(c.get(f"/api/images/{ids['cat.1.jpg']}/file"), 404, "file_unavailable")
        # Same size and mtime, different bytes: the content hash tells.
        dog = photos / "dog.0.jpg"
        st = dog.stat()
        data = bytearray(dog.read_bytes())
        data[-3] ^= 0xFF
        dog.write_bytes(bytes(data))
        os.utime(dog, ns=(st.st_atime_ns, st.st_mtime_ns))
        check_error(c.get(f"/api/images/{ids['dog.0.jpg']}/file"), 404, "file_unavailable")
        # A file that is gone.
        (photos / "rotated.jpg").rename(root / "gone.jpg")
        check_error(c.get(f"/api/images/{ids['rotated.jpg']}/file"), 404, "file_unavailable")


# --- autocomplete and stats --------------------------------------------------------------


def test_download_a_zip_of_originals(client: TestClient, small_photos: Path) -> None:
    import zipfile

    ids = [r["id"] for r in client.get("/api/search?q=dog&limit=3").json()["results"]]
    paths = [client.get(f"/api/images/{i}").json()["path"] for i in ids]
    with client.stream("GET", "/api/download", params=[("id", i) for i in [*ids, ids[0]]]) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"] == "application/zip"
        assert r.headers["content-disposition"] == 'attachment; filename="picfind-3-photos.zip"'
        assert "content-length" not in r.headers  # streamed as it is written
        data = r.read()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.namelist() == [Path(p).name for p in paths]  # in order, once each
        for p in paths:
            assert z.read(Path(p).name) == Path(p).read_bytes()
    check_error(client.get("/api/download"), 422, "invalid_request")
    check_error(client.get("/api/download", params={"id": "0" * 16}), 404, "not_found")
    check_error(client.get("/api/download", params={"id": "../../x"}), 404, "not_found")
    many = [("id", f"{i:016x}") for i in range(201)]
    body = check_error(client.get("/api/download", params=many), 400, "bad_request")
    assert "at most 200 photos" in body["error"]


def test_download_is_bounded_and_leaves_out_changed_files(
    catsdogs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zipfile

    from picfind.web import download

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("cat.0.jpg", "dog.0.jpg"):
        shutil.copy2(catsdogs / name, photos / name)
    with picfind.open_index(tmp_path / "index", create=True) as idx:
        idx.add([photos])
        ids = {Path(f.path).name: f.id for f in idx.store.rows()}
    (photos / "dog.0.jpg").write_bytes((catsdogs / "dog.1.jpg").read_bytes())  # changed since
    with make_client(tmp_path / "index") as c:
        r = c.get("/api/download", params=[("id", ids["cat.0.jpg"]), ("id", ids["dog.0.jpg"])])
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            assert z.namelist() == ["cat.0.jpg", "SKIPPED.txt"]
            assert str(photos / "dog.0.jpg") in z.read("SKIPPED.txt").decode()
        monkeypatch.setattr(download, "MAX_BYTES", 1000)
        body = check_error(
            c.get("/api/download", params={"id": ids["cat.0.jpg"]}), 400, "bad_request"
        )
        assert "at most 1000 bytes can be downloaded at once" in body["error"]


def test_concepts_autocomplete(client: TestClient) -> None:
    body = client.get("/api/concepts", params={"prefix": "gol"}).json()
    assert body["prefix"] == "gol"
    assert {"golden retriever", "golf ball", "goldfish"} <= set(body["concepts"])
    assert client.get("/api/concepts", params={"prefix": ""}).json()["concepts"] == []
    assert len(client.get("/api/concepts?prefix=s&limit=3").json()["concepts"]) == 3
    check_error(client.get("/api/concepts?prefix=s&limit=0"), 422, "invalid_request")


def test_stats_match_the_cli(client: TestClient, index_copy: Path, pf) -> None:
    body = client.get("/api/stats").json()
    cli = pf("stats", "--index", index_copy, "--json").json
    assert body["images"] == cli["images"] == 80
    assert body["model"] == cli["model"] == "efficientnet-lite0"
    assert isinstance(body["index_bytes"], int) and body["last_run"]["indexed"] == 80


def test_empty_index(tmp_path: Path) -> None:
    picfind.open_index(tmp_path / "empty", create=True).close()
    with make_client(tmp_path / "empty") as c:
        body = check_error(c.get("/api/search?q=dog"), 409, "empty_index")
        assert "empty" in body["error"]
        assert c.get("/api/stats").json()["images"] == 0
        page = c.get("/")  # the first run: a welcome, not an error
        assert page.status_code == 200 and "There are no photos here yet" in page.text
        assert 'class="error"' not in page.text and 'id="first-run"' in page.text
        assert c.get("/api/timeline").json() == {"mode": "timeline", "total": 0, "results": []}


def test_no_index_at_all_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(picfind.errors.NotFoundError):
        create_app(Settings(index_dir=tmp_path / "none", warm_model=False))


# --- pages and docs ----------------------------------------------------------------------


def test_pages_render(client: TestClient) -> None:
    home = client.get("/")
    assert home.status_code == 200 and 'id="q"' in home.text
    assert "script-src 'self'" in home.headers["content-security-policy"]
    total = client.get("/api/search?q=dog").json()["total"]
    results = client.get("/", params={"q": "dog"})
    assert results.text.count('class="tile"') == 24 and f"of {total} results" in results.text
    unknown = client.get("/", params={"q": "dgi"})
    assert "Unknown word" in unknown.text and 'href="/?q=dog"' in unknown.text
    rid = client.get("/api/search?q=dog&limit=1").json()["results"][0]["id"]
    detail = client.get(f"/images/{rid}")
    assert detail.status_code == 200 and "More like this" in detail.text
    similar = client.get("/", params={"similar": rid, "mode": "classes"})
    assert "like this image" in similar.text and "(classes)" in similar.text
    assert "no indexed image" in client.get("/images/0000000000000000").text
    assert client.get("/static/app.js").status_code == 200


def test_openapi_docs_are_served_offline(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/search",
        "/api/search/image",
        "/api/images/{image_id}",
        "/api/images/{image_id}/similar",
        "/api/images/{image_id}/thumbnail",
        "/api/images/{image_id}/file",
        "/api/concepts",
        "/api/stats",
        "/api/roots",
        "/api/jobs",
        "/api/jobs/{job_id}",
    ):
        assert path in paths


# --- security: token, Host, Origin, CORS ------------------------------------------------


def test_token_is_required_on_every_request(index_copy: Path) -> None:
    with make_client(index_copy, token="s3cret-token") as c:
        for url in (
            "/",
            "/api/stats",
            "/docs",
            "/openapi.json",
            "/static/app.js",
            "/api/search?q=dog",
        ):
            check_error(c.get(url), 401, "token_required")
        check_error(
            c.get("/api/stats", headers={"Authorization": "Bearer wrong"}), 401, "token_required"
        )
        check_error(c.get("/?token=wrong"), 401, "token_required")
        ok = c.get("/api/stats", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        assert c.get("/api/stats", headers={"X-Picfind-Token": "s3cret-token"}).status_code == 200
        # A token URL sets a cookie and drops the token from the address.
        r = c.get("/?token=s3cret-token&q=dog", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/?q=dog"
        cookie = r.headers["set-cookie"]
        assert "picfind_token=s3cret-token" in cookie and "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert c.get("/api/stats").status_code == 200  # the client now carries the cookie
        c.cookies.clear()
        off_site = c.get(BASE + "//evil.example/?token=s3cret-token", follow_redirects=False)
        assert off_site.headers["location"] == "/evil.example/"


def test_serving_beyond_loopback_needs_a_token(pf, index_copy: Path) -> None:
    r = pf("serve", "--index", index_copy, "--host", "0.0.0.0")
    assert r.code == 2 and "token" in r.err


def test_other_host_names_are_refused_without_a_token(index_copy: Path) -> None:
    with make_client(index_copy, base_url="http://evil.example") as c:
        check_error(c.get("/api/stats"), 421, "host_refused")
    with make_client(index_copy, base_url="http://localhost:8123") as c:
        assert c.get("/api/stats").status_code == 200


def test_cross_site_posts_are_refused(client: TestClient, small_photos: Path) -> None:
    data = (small_photos / "cat.1.jpg").read_bytes()
    r = client.post(
        "/api/search/image",
        files={"file": ("a.jpg", data, "image/jpeg")},
        headers={"Origin": "http://evil.example"},
    )
    check_error(r, 403, "origin_refused")
    r = client.post("/api/jobs", json={"root": 0}, headers={"Origin": "http://evil.example"})
    check_error(r, 403, "origin_refused")


def test_no_cors_unless_configured(client: TestClient, index_copy: Path) -> None:
    r = client.get("/api/stats", headers={"Origin": "http://app.example"})
    assert "access-control-allow-origin" not in r.headers
    with make_client(index_copy, cors_origins=("http://app.example",)) as c:
        r = c.get("/api/stats", headers={"Origin": "http://app.example"})
        assert r.headers["access-control-allow-origin"] == "http://app.example"
        r = c.get("/api/stats", headers={"Origin": "http://other.example"})
        assert "access-control-allow-origin" not in r.headers
        pre = c.options(
            "/api/search/image",
            headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert pre.status_code == 200


# --- indexing jobs, searching meanwhile -------------------------------------------------


def test_first_run_offers_the_configured_folders(small_photos: Path, tmp_path: Path) -> None:
    with make_client(tmp_path / "index", roots=(small_photos,)) as c:  # created empty
        page = c.get("/").text
    start = page[page.index('id="first-run"') :]
    assert "Welcome to picfind" in start and str(small_photos) in start
    assert 'class="index-root" data-root="0"' in start
    assert 'id="ocr-start"' in start and "Also read text in photos" in start
    assert 'id="ocr-menu"' in page  # the header menu offers the same


def test_jobs_need_a_configured_root(client: TestClient) -> None:
    assert client.get("/api/roots").json() == {"roots": []}
    check_error(client.post("/api/jobs", json={"root": 0}), 400, "bad_request")
    check_error(client.post("/api/jobs", json={"root": "/etc"}), 422, "invalid_request")
    check_error(client.get("/api/jobs/nope"), 404, "not_found")


@pytest.mark.slow
def test_indexing_job_while_searching(catsdogs: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for kind in ("cat", "dog"):
        for i in range(100, 160):
            shutil.copy2(catsdogs / f"{kind}.{i}.jpg", photos / f"{kind}.{i}.jpg")
    with make_client(tmp_path / "index", roots=(photos,)) as c:  # created empty
        assert c.get("/api/roots").json() == {"roots": [{"id": 0, "path": str(photos)}]}
        check_error(c.get("/api/search?q=dog"), 409, "empty_index")
        job = c.post("/api/jobs", json={"root": 0})
        assert job.status_code == 202 and job.json()["state"] == "running"
        check_error(c.post("/api/jobs", json={"root": 0}), 409, "job_running")
        totals, states = [], []
        while True:
            state = c.get(f"/api/jobs/{job.json()['id']}").json()
            states.append(state)
            r = c.get("/api/search?q=dog&limit=5")
            assert r.status_code in (200, 409), r.text  # 409 only before the first batch
            if r.status_code == 200:
                totals.append(r.json()["total"])
            if state["state"] != "running":
                break
            time.sleep(0.05)
        assert state["state"] == "done", state
        assert state["report"]["indexed"] == 120 and state["done"] == state["total"] == 120
        assert totals == sorted(totals) and totals[-1] > 0
        assert any(0 < s["done"] < 120 for s in states), "no progress seen mid-run"
        assert c.get("/api/stats").json()["images"] == 120
        assert c.get("/api/jobs").json()["jobs"][0]["id"] == job.json()["id"]


@pytest.mark.slow
def test_indexing_job_with_ocr_reads_the_text(catsdogs: Path, font_file: Path, tmp_path: Path):
    """ "Also read text in photos": the job indexes, then runs the OCR pass (``--ocr``)."""
    from PIL import ImageDraw, ImageFont

    photos = tmp_path / "photos"
    photos.mkdir()
    with Image.open(catsdogs / "cat.3.jpg") as im:
        canvas = im.convert("RGB").resize((800, 600))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((60, 220, 560, 320), fill=(240, 236, 220))
    draw.text((80, 240), "GATE 23", font=ImageFont.truetype(str(font_file), 56), fill=(20, 25, 50))
    canvas.save(photos / "sign.jpg", quality=92)
    for name in ("dog.3.jpg", "cat.4.jpg"):
        shutil.copy2(catsdogs / name, photos / name)
    with make_client(tmp_path / "index", roots=(photos,)) as c:
        check_error(c.post("/api/jobs", json={"root": 0, "ocr": "yes"}), 422, "invalid_request")
        job = c.post("/api/jobs", json={"root": 0, "ocr": True})
        assert job.status_code == 202 and job.json()["ocr"] is True
        c.app.state.jobs.wait(300)
        state = c.get(f"/api/jobs/{job.json()['id']}").json()
        assert state["state"] == "done", state
        assert state["report"]["indexed"] == 3
        assert state["report"]["ocr"]["updated"] == 3 and state["phase"] == "text"
        found = c.get("/api/search", params={"q": 'text:"gate 23"'}).json()
        assert [Path(r["path"]).name for r in found["results"]] == ["sign.jpg"]
        sign = found["results"][0]["id"]
        lines = c.get(f"/api/images/{sign}").json()["text"]["lines"]
        assert any("GATE" in x["text"].upper() for x in lines)
        plain = c.post("/api/jobs", json={"root": 0})  # without: no pass, no "ocr" report
        c.app.state.jobs.wait(120)
        again = c.get(f"/api/jobs/{plain.json()['id']}").json()
        assert again["state"] == "done" and "ocr" not in again["report"]
        assert again["ocr"] is False and again["phase"] == "index"


def test_a_job_that_fails_says_why(small_photos: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    idx = picfind.open_index(index, create=True)
    with idx, idx.store.writer_lock(), make_client(index, roots=(small_photos,)) as c:
        job = c.post("/api/jobs", json={"root": 0}).json()
        c.app.state.jobs.wait(30)
        state = c.get(f"/api/jobs/{job['id']}").json()
    assert state["state"] == "failed" and "another 'picfind index'" in state["error"]


@pytest.mark.slow
def test_upload_inference_does_not_block_other_requests(index_copy: Path, small_photos) -> None:
    from webserver import serve_thread

    app = create_app(Settings(index_dir=index_copy, warm_model=False))
    model = app.state.service.index.model
    data = (small_photos / "cat.2.jpg").read_bytes()
    with serve_thread(app) as url:
        answers: list[int] = []
        with model._lock:  # the model is busy with someone else's batch
            t = threading.Thread(
                target=lambda: answers.append(
                    httpx.post(
                        url + "/api/search/image", files={"file": ("a.jpg", data)}, timeout=60
                    ).status_code
                )
            )
            t.start()
            time.sleep(0.3)
            assert not answers  # the upload waits for the model
            started = time.monotonic()
            r = httpx.get(url + "/api/search", params={"q": "dog"}, timeout=10)
            assert r.status_code == 200 and time.monotonic() - started < 2.0
            assert httpx.get(url + "/api/stats", timeout=10).status_code == 200
        t.join(60)
        assert answers == [200]


# --- why on tiles, capture filters, capture facts (issues 10, 11, 12: the web part) -------


@pytest.fixture(scope="module")
def tagged(catsdogs: Path, tmp_path_factory: pytest.TempPathFactory):
    """12 real cats and dogs with a phone's or a camera's EXIF (tests/exifphotos.TAGGED),
    one with text read in it."""
    from exifphotos import tagged_index

    index, ids = tagged_index(catsdogs, tmp_path_factory.mktemp("tagged"))
    with make_client(index) as c:
        yield c, index, ids


def stems(body: dict) -> list[str]:
    return [Path(r["path"]).stem for r in body["results"]]


def test_filters_match_the_cli(tagged, pf) -> None:
    client, index, _ = tagged
    for params, flags in (
        ({"place": "paris"}, ["--place", "paris"]),
        ({"after": "2020-01-01"}, ["--after", "2020-01-01"]),
        ({"after": "2019-01-01", "before": "2020-01-01"},
         ["--after", "2019-01-01", "--before", "2020-01-01"]),
        ({"camera": "iphone"}, ["--camera", "iphone"]),
        ({"sort": "date"}, ["--sort", "date"]),
    ):  # fmt: skip
        body = client.get("/api/search", params={"q": "cat OR dog", "limit": 50, **params}).json()
        cli = pf("search", "cat", "OR", "dog", "--index", index, "--json", "-n", 50, *flags).json
        assert body["results"] == cli["results"] and body["total"] == cli["total"], params
    paris = stems(client.get("/api/search", params={"q": "cat", "place": "paris"}).json())
    assert sorted(paris) == ["cat.0", "cat.1"]
    iphone = client.get("/api/search", params={"q": "cat OR dog", "camera": "iphone"}).json()
    assert sorted(stems(iphone)) == ["cat.0", "cat.2", "cat.4", "dog.2"]
    newest = stems(client.get("/api/search", params={"q": "cat", "sort": "date"}).json())
    assert newest[:4] == ["cat.3", "cat.1", "cat.2", "cat.0"]  # 2021, 2020-12, 2019-12, 2019-07
    assert newest[-1] == "cat.5"  # undated last


def test_filters_on_searches_by_image(tagged, catsdogs: Path) -> None:
    client, _, ids = tagged
    like = client.get(f"/api/images/{ids['cat.0']}/similar", params={"place": "paris"}).json()
    assert sorted(stems(like)) == ["cat.1", "dog.0"]  # itself left out; the other Paris photos
    with (catsdogs / "cat.9.jpg").open("rb") as fh:
        up = client.post(
            "/api/search/image", params={"camera": "canon"}, files={"file": ("c.jpg", fh)}
        ).json()
    assert sorted(stems(up)) == ["cat.1", "dog.1"]
    later = {"camera": "canon", "after": "2020-07-01"}  # dog.1: June 2020
    again = client.get(f"/api/uploads/{up['upload']}/similar", params=later)
    assert stems(again.json()) == ["cat.1"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"after": "last tuesday"}, "last tuesday"),
        ({"after": "2021-01-01", "before": "2020-01-01"}, "empty date range"),
        ({"place": "xyzzyqv"}, "unknown place"),
        ({"camera": "!!"}, "not a camera"),
        ({"sort": "size"}, "unknown sort"),
    ],
)
def test_bad_filters_are_400_with_one_line(tagged, params, words: str) -> None:
    client, _, ids = tagged
    body = check_error(client.get("/api/search", params={"q": "cat", **params}), 400, "bad_request")
    assert words in body["error"] and "\n" not in body["error"]
    other = client.get(f"/api/images/{ids['cat.0']}/similar", params=params)
    assert other.json()["error"] == body["error"]


def test_sort_by_date_is_for_words_only(tagged) -> None:
    client, _, ids = tagged
    r = client.get(f"/api/images/{ids['cat.0']}/similar", params={"sort": "date"})
    assert "ranks by likeness" in check_error(r, 400, "bad_request")["error"]


def test_image_metadata_has_capture_and_text(tagged, pf) -> None:
    client, index, ids = tagged
    meta = client.get(f"/api/images/{ids['cat.1']}").json()
    shown = pf("show", ids["cat.1"], "--index", index, "--json").json
    assert {k: meta[k] for k in ("taken", "place", "camera", "text")} == {
        k: shown[k] for k in ("taken", "place", "camera", "text")
    }
    assert meta["taken"]["local"].startswith("2020-12-25") and meta["taken"]["source"]
    assert meta["place"]["country_code"] == "FR" and "Paris" in meta["place"]["label"]
    assert meta["camera"]["name"] == "Canon EOS R5"
    assert [x["text"] for x in meta["text"]["lines"]] == ["BEWARE OF THE CAT", "since 2019"]
    plain = client.get(f"/api/images/{ids['cat.5']}").json()
    assert plain["taken"] is plain["place"] is plain["camera"] is plain["text"] is None


def test_pages_show_why_filters_and_capture(tagged) -> None:
    client, _, ids = tagged
    page = client.get("/", params={"q": "cat", "place": "paris", "sort": "relevance"}).text
    assert page.count('class="tile"') == 2
    assert 'class="why"' in page and "cat ← <mark>" in page and "0.00" not in page
    assert 'id="f-place" name="place" type="text" value="paris"' in page
    assert 'data-place="paris"' in page and "data-sort" not in page  # the default: no parameter
    bad = client.get("/", params={"q": "cat", "place": "xyzzyqv"}).text
    assert 'class="error"' in bad and "unknown place" in bad
    detail = client.get(f"/images/{ids['cat.1']}").text
    for fact in ("<dt>Taken</dt>", "2020-12-25 11:00:00 (UTC+01:00)", "<dt>Place</dt>",
                 "<dt>Camera</dt><dd>Canon EOS R5", "<li>BEWARE OF THE CAT</li>"):  # fmt: skip
        assert fact in detail, fact
    assert detail.count('<polygon class="text-box"') == 2  # the lines read, outlined
    assert 'points="0.1000,0.3000 0.9000,0.3000 0.9000,0.4000 0.1000,0.4000"' in detail
    assert "<svg" not in client.get(f"/images/{ids['cat.0']}").text  # nothing read there
    similar = client.get("/", params={"similar": ids["cat.0"], "place": "paris"}).text
    assert f'name="similar" value="{ids["cat.0"]}"' in similar  # the filter row refines it
    assert similar.count('class="tile"') == 2


def test_timeline_is_the_collection_newest_first(tagged) -> None:
    """The home page without a search: every photo by capture time, grouped by month,
    undated photos last under "No date"; pages are slices of one order."""
    from exifphotos import TAGGED

    client, _, _ = tagged
    body = client.get("/api/timeline", params={"limit": 50}).json()
    assert body["mode"] == "timeline" and body["total"] == len(TAGGED)
    want = sorted((s for s, shot in TAGGED if shot.taken), key=lambda s: dict(TAGGED)[s].taken)
    assert stems(body)[: len(want)] == want[::-1]  # EXIF "2019:07:14 …" sorts like the time
    assert stems(body)[len(want) :] == ["cat.5", "dog.5"]  # no date: last, by path
    first = body["results"][0]
    assert first["taken"] == "2021-01-01T00:30:00" and first["month"] == "2021-01"
    assert first["month_label"] == "January 2021" and first["rank"] == 1
    assert (
        body["results"][-1]["month"] == "none" and body["results"][-1]["month_label"] == "No date"
    )
    for offset in (0, 5, 10):
        page = client.get("/api/timeline", params={"limit": 5, "offset": offset}).json()
        assert page["results"] == body["results"][offset : offset + 5]
    paris = client.get("/api/timeline", params={"place": "paris"}).json()
    assert stems(paris) == ["cat.1", "dog.0", "cat.0"] and paris["total"] == 3
    check_error(client.get("/api/timeline", params={"after": "someday"}), 400, "bad_request")

    html = client.get("/").text
    assert 'data-timeline="1"' in html and "All 12 photos, newest first" in html
    months = re.findall(r'<h3 class="month-title" id="month-([^"]+)">([^<]+)</h3>', html)
    assert months[0] == ("2021-01", "January 2021") and months[-1] == ("none", "No date")
    assert len(months) == len({m for m, _ in months})  # one group per month
    assert (
        html.count('class="tile"') == 12
        and '<time class="taken" datetime="2021-01-01T00:30:00">1 Jan 2021, 00:30</time>' in html
    )
    assert 'class="error"' not in html
    small = client.get("/", params={"count": 4}).text  # what was loaded on scroll
    assert small.count('class="tile"') == 4
    filtered = client.get("/", params={"camera": "iphone"}).text
    assert "4 photos match, newest first" in filtered and filtered.count('class="tile"') == 4


@pytest.fixture(scope="module")
def copies(catsdogs: Path, tmp_path_factory: pytest.TempPathFactory):
    """Photos with copies: cat.0 twice more byte for byte (exact), dog.0 resized and
    recompressed (near), and six photos with no copy."""
    root = tmp_path_factory.mktemp("copies")
    photos = root / "photos"
    photos.mkdir()
    for name in ("cat.0", "cat.1", "cat.2", "dog.0", "dog.1", "dog.2", "dog.3", "cat.3"):
        shutil.copy2(catsdogs / f"{name}.jpg", photos / f"{name}.jpg")
    shutil.copy2(catsdogs / "cat.0.jpg", photos / "cat.0-copy.jpg")
    shutil.copy2(catsdogs / "cat.0.jpg", photos / "cat.0-again.jpg")
    with Image.open(catsdogs / "dog.0.jpg") as im:
        im.convert("RGB").resize((im.width * 2 // 3, im.height * 2 // 3)).save(
            photos / "dog.0-small.jpg", quality=70
        )
    with picfind.open_index(root / "index", create=True) as idx:
        assert idx.add([photos]).indexed == 11
        ids = {Path(f.path).stem: f.id for f in idx.store.rows()}
    with make_client(root / "index") as c:
        yield c, ids


def test_grouping_folds_exact_and_near_copies(copies) -> None:
    client, ids = copies
    raw = client.get("/api/search", params={"q": "cat OR dog", "limit": 50}).json()
    body = client.get("/api/search", params={"q": "cat OR dog", "limit": 50, "group": 1}).json()
    assert body["grouped"] is True and body["ungrouped_total"] == raw["total"] == 11
    assert body["total"] == 8 == len(body["results"])  # 11 photos, 3 of them copies
    lead = {Path(r["path"]).stem: r for r in body["results"]}
    group = {ids["cat.0"], ids["cat.0-copy"], ids["cat.0-again"]}
    shown = next(s for s in lead if ids[s] in group)  # the best-ranked of the three
    assert {d["id"] for d in lead[shown]["duplicates"]} | {ids[shown]} == group
    assert all(d["kind"] == "exact" for d in lead[shown]["duplicates"])
    dogs = {ids["dog.0"], ids["dog.0-small"]}
    dog = next(s for s in lead if ids[s] in dogs)
    assert [d["kind"] for d in lead[dog]["duplicates"]] == ["near"]
    assert {d["id"] for d in lead[dog]["duplicates"]} | {ids[dog]} == dogs
    order = [r["id"] for r in raw["results"]]
    leads = [r["id"] for r in body["results"]]
    assert leads == [i for i in order if i in leads]  # the raw ranking, copies left out
    assert all(
        not r["duplicates"] for r in body["results"] if r["id"] not in (ids[shown], ids[dog])
    )
    for offset in (0, 3, 6):  # pages are slices of one folded ranking
        page = client.get(
            "/api/search", params={"q": "cat OR dog", "limit": 3, "offset": offset, "group": 1}
        ).json()
        assert page["results"] == body["results"][offset : offset + 3]
    like = client.get(f"/api/images/{ids['cat.1']}/similar", params={"group": 1}).json()
    assert like["total"] == 7 and like["ungrouped_total"] == 10  # cat.1 itself left out
    html = client.get("/", params={"q": "cat OR dog", "group": 1}).text
    assert html.count('class="tile"') == 8 and "+2 copies" in html and "+1 copy" in html
    assert (
        'data-group="1"' in html
        and 'id="f-group" name="group" type="checkbox" value="1" checked' in html
    )
    assert "copies grouped (11 in all)" in html


def _cut_position(text: str) -> int | None:
    """How many tiles a rendered page shows before its "weaker matches" line."""
    grid = text.split('id="grid"', 1)[1]
    if 'id="strong-cut"' not in grid:
        return None
    assert grid.count('id="strong-cut"') == 1 and 'role="separator"' in grid
    return grid.split('id="strong-cut"', 1)[0].count('class="tile"')


@pytest.mark.parametrize(
    ("page", "api", "by_words"),
    [
        ({"q": "dog"}, "/api/search?q=dog", True),
        ({"q": "dog OR cat"}, "/api/search?q=dog%20OR%20cat", True),
        ({"similar": "", "mode": "fused"}, "/api/images/{id}/similar?mode=fused", False),
        ({"similar": "", "mode": "embedding"}, "/api/images/{id}/similar?mode=embedding", False),
        ({"similar": "", "mode": "classes"}, "/api/images/{id}/similar?mode=classes", False),
    ],
)
def test_pages_mark_where_strong_matches_end(
    client: TestClient, page: dict[str, str], api: str, by_words: bool
) -> None:
    from picfind.web.strength import STRONG_SHARE, STRONG_WORDS

    rid = client.get("/api/search?q=dog&limit=1").json()["results"][0]["id"]
    page = {k: v or rid for k, v in page.items()}
    api = api.format(id=rid)
    body = client.get(f"{api}&limit=200").json()
    scores = [r["score"] for r in body["results"]]
    base = 1.0 if page.get("mode") == "classes" else 0.0  # classes: 1 + Σ η ξ
    threshold = STRONG_WORDS if by_words else base + STRONG_SHARE * (scores[0] - base)
    weak = next((i for i, s in enumerate(scores) if s < threshold), None)
    assert weak is not None, "the line must be reachable on these photos"
    # The page holding the line draws it before the first weak result, once.
    start = weak // 24 * 24
    html = client.get("/", params={**page, "count": str(start + 24)}).text
    assert _cut_position(html) == weak, (weak, scores[max(0, weak - 2) : weak + 2])
    assert "Weaker matches below" in html and f'data-strong="{threshold!r}"' in html
    # The JSON is unchanged: no separator row among the results.
    assert all(set(r) >= RESULT_KEYS for r in body["results"])
    # A page after the line's page draws none (a page that starts weak is not the line).
    if weak + 24 < body["total"]:
        later = client.get("/", params={**page, "offset": str(weak + 1)}).text
        assert _cut_position(later) is None


def test_no_strong_line_when_sorted_by_date_or_on_the_timeline(client: TestClient) -> None:
    assert 'id="strong-cut"' not in client.get("/", params={"q": "dog", "sort": "date"}).text
    assert 'id="strong-cut"' not in client.get("/").text


def test_strong_threshold_rules() -> None:
    from picfind.web.strength import first_weak, strong_threshold

    assert strong_threshold(True, None) == 0.5
    assert strong_threshold(False, 2.0) == pytest.approx(1.6)
    assert strong_threshold(False, None) is None and strong_threshold(False, 0.0) is None
    assert strong_threshold(False, 1.5, "classes") == pytest.approx(1.4)
    assert strong_threshold(False, 1.0, "classes") is None
    assert first_weak([0.9, 0.6, 0.4, 0.3], 0.5, at_top=True) == 2
    assert first_weak([0.4, 0.3], 0.5, at_top=True) == 0
    assert first_weak([0.4, 0.3], 0.5, at_top=False) is None
    assert first_weak([0.9, 0.8], 0.5, at_top=True) is None
    assert first_weak([0.9], None, at_top=True) is None
