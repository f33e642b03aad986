"""Every whole-index command on ``--url`` answers like the embedded store (issue 13.4).

The same photos (catsdogs, two exact copies, a resized copy) go through
``picfind index`` into an embedded index and into a cluster index on a real
OpenSearch node; then ``stats``, ``duplicates``, ``eval``, ``prune`` and
``serve`` (its REST API, in-process, and an indexing job started from it) must
give the same answers on both.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_fixtures import _delete_indices
from PIL import Image

from picfind.cli import run
from picfind.store.cluster import ClusterOptions
from picfind.web import Settings, create_app

with warnings.catch_warnings():  # starlette asks for httpx2; httpx is what we have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = [pytest.mark.opensearch, pytest.mark.shared_data, pytest.mark.slow]

N_EACH = 12


@pytest.fixture(scope="module")
def photos(catsdogs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("commands")
    for kind in ("cat", "dog"):
        for i in range(N_EACH):
            shutil.copy2(catsdogs / f"{kind}.{i}.jpg", folder / f"{kind}.{i}.jpg")
    shutil.copy2(catsdogs / "cat.0.jpg", folder / "cat.100.jpg")  # exact copies
    shutil.copy2(catsdogs / "dog.1.jpg", folder / "dog.101.jpg")
    with Image.open(catsdogs / "dog.2.jpg") as im:  # a near duplicate
        im.resize((im.width // 2, im.height // 2)).save(folder / "dog.102.jpg", quality=80)
    return folder


class Targets:
    """The same photos in an embedded index and in a cluster index."""

    def __init__(self, embedded: Path, url: str, name: str) -> None:
        self.embedded = ["--index", str(embedded)]
        self.cluster = ["--url", url, "--cluster-index", name]
        self.url, self.name = url, name


@pytest.fixture(scope="module")
def targets(
    photos: Path, opensearch_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Targets]:
    t = Targets(tmp_path_factory.mktemp("emb") / "index", opensearch_url, _name())
    try:
        for where in (t.embedded, t.cluster):
            out = _json("index", str(photos), *where, "-q")
            assert out["indexed"] == 2 * N_EACH + 3
        yield t
    finally:
        _delete_indices(opensearch_url, t.name)


def _name() -> str:
    return f"t-cmd-{uuid.uuid4().hex[:8]}"


def _json(*args: str) -> dict:
    """``picfind ARGS --json`` in-process; its JSON (exit 0 asserted)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run([*args, "--json"])
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())


def test_stats(targets: Targets) -> None:
    a, b = _json("stats", *targets.embedded), _json("stats", *targets.cluster)
    assert a["images"] == b["images"] == 2 * N_EACH + 3
    assert a["model"] == b["model"] == "efficientnet-lite0"
    assert b["index_bytes"] > 0
    assert a["last_run"]["indexed"] == b["last_run"]["indexed"] == 2 * N_EACH + 3


def _groups(out: dict) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((g["kind"], tuple(sorted(g["paths"]))) for g in out["groups"])


def test_duplicates(targets: Targets, photos: Path) -> None:
    args = ["duplicates", "--rotations", "15"]
    a = _json(*args, *targets.embedded)
    b = _json(*args, *targets.cluster)
    assert _groups(a) == _groups(b)
    groups = _groups(b)
    assert ("exact", (str(photos / "cat.0.jpg"), str(photos / "cat.100.jpg"))) in groups
    assert ("exact", (str(photos / "dog.1.jpg"), str(photos / "dog.101.jpg"))) in groups
    near = [paths for kind, paths in groups if kind == "near"]
    assert any(str(photos / "dog.102.jpg") in p and str(photos / "dog.2.jpg") in p for p in near)
    sims_a = sorted(round(g["similarity"], 3) for g in a["groups"])
    sims_b = sorted(round(g["similarity"], 3) for g in b["groups"])
    assert sims_a == pytest.approx(sims_b, abs=2e-3)
    under = _json(*args, "--exact-only", "--under", str(photos), *targets.cluster)
    assert len(under["groups"]) == 2


def test_eval(targets: Targets, photos: Path) -> None:
    args = ["eval", str(photos), "--label-pattern", r"^([a-z]+)\.", "--mode", "classes"]
    args += ["--mode", "embedding", "--mode", "hybrid", "--query", "dog=dog", "--query", "cat=cat"]
    a = _json(*args, *targets.embedded)
    b = _json(*args, *targets.cluster)
    assert a["images"] == b["images"] == 2 * N_EACH + 3
    assert b["index"] == targets.url
    assert set(a["by_image"]) == set(b["by_image"]) == {"classes", "embedding", "hybrid"}
    for mode, s in a["by_image"].items():
        for key in ("queries", "precision_at_k", "recall_at_k", "map"):
            assert b["by_image"][mode][key] == pytest.approx(s[key], abs=1e-3), (mode, key)
    wa, wb = a["by_words"]["queries"], b["by_words"]["queries"]
    assert [w["query"] for w in wa] == [w["query"] for w in wb] == ["dog", "cat"]
    for x, y in zip(wa, wb, strict=True):
        assert (x["relevant"], x["matched"]) == (y["relevant"], y["matched"])
        assert y["ap"] == pytest.approx(x["ap"], abs=1e-3)
        assert x["matched"] > 0


def test_prune(catsdogs: Path, opensearch_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    for i in range(3):
        shutil.copy2(catsdogs / f"cat.{i}.jpg", folder / f"cat.{i}.jpg")
    t = Targets(tmp_path / "index", opensearch_url, _name())
    try:
        for where in (t.embedded, t.cluster):
            assert _json("index", str(folder), *where, "-q")["indexed"] == 3
        (folder / "cat.1.jpg").unlink()
        for where in (t.embedded, t.cluster):
            assert _json("prune", *where) == {"removed": 1}
            assert _json("prune", *where) == {"removed": 0}
            assert _json("stats", *where)["images"] == 2
        a = _json("search", "cat", "-n", "10", *t.embedded)
        b = _json("search", "cat", "-n", "10", *t.cluster)
        assert [r["path"] for r in a["results"]] == [r["path"] for r in b["results"]]
        assert str(folder / "cat.1.jpg") not in [r["path"] for r in b["results"]]
    finally:
        _delete_indices(opensearch_url, t.name)


# -------------------------------------------------------------------------- serve --url


def _client(tmp: Path, url: str | None, name: str | None, **kw: object) -> TestClient:
    cluster = ClusterOptions(name=name) if name else None
    settings = Settings(index_dir=tmp, url=url, cluster=cluster, warm_model=False, **kw)  # type: ignore[arg-type]
    return TestClient(create_app(settings), base_url="http://127.0.0.1:8000")


def _ids(body: dict) -> list[str]:
    return [r["id"] for r in body["results"]]


def test_serve_api(targets: Targets, tmp_path: Path) -> None:
    emb = _client(Path(targets.embedded[1]), None, None)
    clu = _client(tmp_path / "thumbs", targets.url, targets.name)
    with emb, clu:
        for q in ("dog", "cat", "dog OR cat", "cat -tabby"):
            a = emb.get("/api/search", params={"q": q, "limit": 10})
            b = clu.get("/api/search", params={"q": q, "limit": 10})
            assert a.status_code == b.status_code == 200, b.text
            assert _ids(a.json()) == _ids(b.json()), q
            assert a.json()["total"] == b.json()["total"]
        some = _ids(emb.get("/api/search", params={"q": "dog", "limit": 3}).json())
        for image_id in some:
            for mode in ("classes", "hybrid", "embedding"):
                path = f"/api/images/{image_id}/similar"
                a = emb.get(path, params={"mode": mode, "limit": 5})
                b = clu.get(path, params={"mode": mode, "limit": 5})
                assert a.status_code == b.status_code == 200, b.text
                assert _ids(a.json()) == _ids(b.json()), (image_id, mode)
            ma, mb = emb.get(f"/api/images/{image_id}"), clu.get(f"/api/images/{image_id}")
            assert ma.status_code == mb.status_code == 200
            assert ma.json() == mb.json()
            thumb = clu.get(f"/api/images/{image_id}/thumbnail", params={"size": 128})
            assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
            assert clu.get(f"/api/images/{image_id}/file").status_code == 200
        assert list((tmp_path / "thumbs" / "thumbs" / "128").iterdir())  # cached locally
        sa, sb = emb.get("/api/stats").json(), clu.get("/api/stats").json()
        assert sa["images"] == sb["images"] and sa["model"] == sb["model"]
        assert clu.get("/api/images/0000000000000000").status_code == 404
        page = clu.get("/", params={"q": "dog"})
        assert page.status_code == 200 and some[0] in page.text
        # Issue 15 over a cluster: a zip of originals; an upload kept by its key.
        zips = [c.get("/api/download", params=[("id", i) for i in some]) for c in (emb, clu)]
        assert zips[0].status_code == zips[1].status_code == 200
        assert zips[0].content == zips[1].content
        photo = emb.get(f"/api/images/{some[0]}/file").content
        up = clu.post("/api/search/image", files={"file": ("q.jpg", photo)}, data={"limit": "5"})
        assert up.status_code == 200, up.text
        again = clu.get(f"/api/uploads/{up.json()['upload']}/similar", params={"limit": 5})
        assert _ids(again.json()) == _ids(up.json()) and _ids(up.json())[0] == some[0]


def test_serve_job_indexes_into_the_cluster(
    catsdogs: Path, opensearch_url: str, tmp_path: Path
) -> None:
    """A job started from the page runs ``jobrunner --url`` and writes to the cluster."""
    root = tmp_path / "root"
    root.mkdir()
    for i in range(3):
        shutil.copy2(catsdogs / f"dog.{i}.jpg", root / f"dog.{i}.jpg")
    name = _name()
    try:
        with _client(tmp_path / "cache", opensearch_url, name, roots=(root,)) as c:
            started = c.post("/api/jobs", json={"root": 0})
            assert started.status_code == 202, started.text
            job_id = started.json()["id"]
            deadline = time.monotonic() + 300
            job = started.json()
            while job["state"] == "running" and time.monotonic() < deadline:
                time.sleep(0.5)
                job = c.get(f"/api/jobs/{job_id}").json()
            assert job["state"] == "done", job
            assert job["report"]["indexed"] == 3
            assert c.get("/api/stats").json()["images"] == 3
            found = c.get("/api/search", params={"q": "dog"}).json()
            assert sorted(r["path"] for r in found["results"]) == sorted(
                str(p) for p in root.iterdir()
            )
    finally:
        _delete_indices(opensearch_url, name)


def test_serve_url_cli_errors(opensearch_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``serve --url`` with no index there is one line, exit 2 (before any port opens)."""
    code = run(["serve", "--url", opensearch_url, "--cluster-index", _name(), "--port", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "no picfind index" in err and "\n" not in err
