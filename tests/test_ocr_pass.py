"""The OCR pass end to end: ``picfind index --ocr`` and ``picfind ocr`` on real photos
with words rendered on them, resumed after an interruption, changed files, failures,
the missing extra, and large JPEGs draft-decoded first.

Few, small photos: the reader's cost is the benchmark's business (bench/ocr.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

import picfind
from picfind import imaging
from picfind.cli import run
from picfind.errors import TextReadError
from picfind.matchers import Clause, WordsQuery
from picfind.ocr import Reader, ReadText
from picfind.records import Progress
from picfind.textreading import explain_text
from picfind.textsearch import text_match

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

WORDS = {"birthday": "Happy Birthday", "gate": "Gate 23", "cafe": "CAFE ZUMBARI"}


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader.load(threads=2)


def _plate(text: str, font_file: Path, size: int = 56) -> tuple[int, int, int, int]:
    """Where the sign goes on an 800 × 600 photo (left, top, right, bottom)."""
    x0, y0, x1, y1 = ImageFont.truetype(str(font_file), size).getbbox(text)
    return (60, 220, 60 + x1 - x0 + 40, 220 + y1 - y0 + 40)


def _sign(photo: Path, text: str, font_file: Path, out: Path, size: int = 56) -> None:
    """A real photo with a sign on it: dark words on a light plate."""
    with Image.open(photo) as im:
        canvas = im.convert("RGB").resize((800, 600))
    font = ImageFont.truetype(str(font_file), size)
    x0, y0, _, _ = font.getbbox(text)
    plate = _plate(text, font_file, size)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle(plate, fill=(240, 236, 220))
    draw.text((80 - x0, 240 - y0), text, font=font, fill=(20, 25, 50))
    canvas.save(out, quality=92)


@pytest.fixture
def photos(catsdogs: Path, font_file: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (name, text) in enumerate(WORDS.items()):
        _sign(catsdogs / f"cat.{i}.jpg", text, font_file, folder / f"{name}.jpg")
    shutil.copy2(catsdogs / "dog.5.jpg", folder / "plain.jpg")
    return folder


def _cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _found(index: Path, term: str) -> set[str]:
    matcher = text_match(term)
    assert matcher is not None
    with picfind.open_index(index) as idx:
        _, hits = idx.store.search(WordsQuery((Clause((matcher,)),)), 20)
        paths = {r.id: r.path for r in idx.store.rows()}
    return {Path(paths[h.id]).name for h in hits}


def test_index_ocr_reads_stores_and_finds_the_words(
    photos: Path, tmp_path: Path, font_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "index"
    code, out, err = _cli(capsys, "index", photos, "--index", index, "--ocr", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["indexed"] == 4
    assert report["ocr"]["updated"] == report["ocr"]["pending"] == 4
    assert report["ocr"]["skipped"] == [] and report["ocr"]["photos_per_second"] > 0
    assert _found(index, "happy birthday") == {"birthday.jpg"}
    assert _found(index, "GATE 23") == {"gate.jpg"}
    assert _found(index, "zumbari") == {"cafe.jpg"}
    with picfind.open_index(index) as idx:
        text = idx.text_of(photos / "birthday.jpg")
        assert text is not None and text.record is not None
        lines = ReadText.from_dict(text.record).lines
        (box,) = [line.box for line in lines if "birthday" in line.text.lower()]
        left, top, right, bottom = _plate(WORDS["birthday"], font_file)
        xs, ys = [p[0] * 800 for p in box], [p[1] * 600 for p in box]
        assert left - 4 <= min(xs) < left + 60 and right - 60 < max(xs) <= right + 4
        assert top - 4 <= min(ys) and max(ys) <= bottom + 4
        assert idx.stats().texts >= 3
        found = idx.search_text("happy birth", prefix=True)
        assert [Path(r.path).name for r in found.results] == ["birthday.jpg"]
        matcher = text_match("birthday")
        assert matcher is not None
        (why,) = explain_text(text, matcher, "birthday")
        assert "birthday" in why["via"].lower() and why["box"] == [list(p) for p in box]
        plain = idx.text_of(photos / "plain.jpg")
        assert plain is not None and plain.version == report_version(idx)

    # words searches: text:"…", and a word nothing else reads; the why is the line read
    code, out, err = _cli(capsys, "search", 'text:"happy birthday"', "--index", index, "--json")
    assert code == 0, err
    (hit,) = json.loads(out)["results"]
    assert Path(hit["path"]).name == "birthday.jpg"
    (why,) = hit["why"]
    assert why["signal"] == "text" and "birthday" in why["via"].lower() and why["score"] == 1.0
    code, out, err = _cli(capsys, "search", "zumbari", "--index", index, "--json")
    assert code == 0 and [Path(r["path"]).name for r in json.loads(out)["results"]] == [
        "cafe.jpg"
    ], err
    code, out, err = _cli(capsys, "show", photos / "birthday.jpg", "--index", index, "--json")
    assert code == 0, err
    shown = json.loads(out)["text"]
    assert shown["version"] == report_version_of(index) and shown["failure"] is None
    (line,) = [x for x in shown["lines"] if "birthday" in x["text"].lower()]
    assert len(line["box"]) == 4 and all(0 <= v <= 1 for p in line["box"] for v in p)
    code, out, err = _cli(capsys, "show", photos / "gate.jpg", "--index", index)
    assert code == 0 and "text        'Gate 23'" in out.replace("Gate23", "Gate 23"), out

    # a re-run reads nothing again
    code, out, err = _cli(capsys, "ocr", photos, "--index", index, "--json")
    assert code == 0, err
    again = json.loads(out)
    assert again["updated"] == again["pending"] == 0


def report_version_of(index: Path) -> str | None:
    with picfind.open_index(index) as idx:
        return report_version(idx)


def report_version(idx: picfind.Index) -> str | None:
    versions = {r.text_version for r in idx.store.rows()}
    assert len(versions) == 1
    return versions.pop()


def test_interrupted_pass_keeps_its_batches_and_resumes(
    photos: Path, tmp_path: Path, reader: Reader
) -> None:
    index = tmp_path / "index"
    with picfind.open_index(index, create=True) as idx:
        assert idx.add([photos]).indexed == 4

        def stop_after_two(p: Progress) -> None:
            if p.done >= 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            idx.read_text([photos], reader=reader, batch_size=1, progress=stop_after_two)
        read = [r for r in idx.store.rows() if r.text_version is not None]
        assert 2 <= len(read) < 4  # every committed batch is kept
        before = reader.counts.photos
        report = idx.read_text([photos], reader=reader, batch_size=1)
        assert report.pending == report.updated == 4 - len(read)
        assert reader.counts.photos - before == 4 - len(read)  # only the rest was read
        assert all(r.text_version == reader.version for r in idx.store.rows())
        # a new reader version reads everything again
        other = reader.with_settings(min_confidence=0.6)
        assert idx.read_text([photos], reader=other).updated == 4


def test_a_changed_photo_loses_its_text_until_read_again(
    photos: Path, tmp_path: Path, font_file: Path, catsdogs: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    index = tmp_path / "index"
    assert _cli(capsys, "index", photos, "--index", index, "--ocr", "-q")[0] == 0
    assert _found(index, "gate 23") == {"gate.jpg"}
    _sign(catsdogs / "cat.9.jpg", "Platform 9", font_file, photos / "gate.jpg")
    code, out, err = _cli(capsys, "index", photos, "--index", index, "--json")
    assert code == 0 and json.loads(out)["indexed"] == 1, err
    assert _found(index, "gate 23") == set()
    with picfind.open_index(index) as idx:
        assert idx.text_of(photos / "gate.jpg") is None
    code, out, err = _cli(capsys, "ocr", photos, "--index", index, "--json")
    assert code == 0 and json.loads(out)["updated"] == 1, err
    assert _found(index, "platform 9") == {"gate.jpg"}


def test_a_photo_that_fails_is_skipped_with_its_reason_and_not_retried(
    photos: Path, tmp_path: Path, reader: Reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_read = Reader.read

    def read(self: Reader, image: object, *, name: str = "<pixels>") -> ReadText:
        if name.endswith("gate.jpg"):
            raise TextReadError(name, "RuntimeError: boom")
        return real_read(self, image, name=name)  # type: ignore[arg-type]

    index = tmp_path / "index"
    with picfind.open_index(index, create=True) as idx:
        idx.add([photos])
        monkeypatch.setattr(Reader, "read", read)
        report = idx.read_text([photos], reader=reader)
        assert report.updated == 4
        assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
            ("gate.jpg", "reading text failed: RuntimeError: boom")
        ]
        stored = idx.text_of(photos / "gate.jpg")
        assert stored is not None and stored.failure and stored.record is None
        assert idx.read_text([photos], reader=reader).pending == 0  # not tried again
    assert _found(index, "birthday") == {"birthday.jpg"}


def test_ocr_of_an_unknown_folder_or_without_an_index_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(capsys, "ocr", tmp_path / "nope", "--index", tmp_path / "i")
    assert code == 2 and out == "" and err.count("\n") == 1 and "no such file" in err
    code, out, err = _cli(capsys, "ocr", tmp_path, "--index", tmp_path / "i")
    assert code != 0 and err.count("\n") == 1 and "no picfind index" in err


def test_missing_extra_is_one_line_exit_2_and_nothing_indexed(photos: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    code = textwrap.dedent(
        f"""
        import importlib.abc, sys
        class Missing(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "cv2" or name.startswith("cv2."):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Missing())
        from picfind.cli import run
        sys.exit(run(["index", {str(photos)!r}, "--index", {str(index)!r}, "--ocr"]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert done.returncode == 2
    assert done.stderr == (
        "picfind: error: reading text needs the ocr extra: pip install 'picfind[ocr]' "
        "(No module named 'cv2')\n"
    )
    assert not index.exists()  # refused before anything was done


def test_large_jpegs_are_draft_decoded_for_reading(
    tmp_path: Path, font_file: Path, monkeypatch: pytest.MonkeyPatch, reader: Reader
) -> None:
    big = Image.new("RGB", (4032, 3024), (200, 190, 170))
    font = ImageFont.truetype(str(font_file), 240)
    ImageDraw.Draw(big).text((400, 1200), "Draft Mode", font=font, fill=(20, 20, 40))
    path = tmp_path / "big.jpg"
    big.save(path, quality=90)
    decoded: list[tuple[int, int]] = []
    real_load = Image.Image.load

    def load(self: Image.Image) -> object:
        out = real_load(self)
        if self.format == "JPEG":
            decoded.append(self.size)
        return out

    monkeypatch.setattr(Image.Image, "load", load)
    rgb = imaging.load_for_reading(path.read_bytes(), 2048, name=str(path))
    assert set(decoded) == {(2016, 1512)}  # libjpeg's 1/2 scale: never the 12 MP in full
    assert rgb.size == (2016, 1512)
    monkeypatch.undo()
    assert "draft mode" in " ".join(reader.read(rgb).text.lower().split())
    png = tmp_path / "big.png"  # no draft for other formats; scaled to max_side after
    big.save(png)
    assert imaging.load_for_reading(png, 2048).size == (2048, 1536)


@pytest.mark.opensearch
def test_the_pass_on_a_cluster_index_answers_like_the_embedded_one(
    photos: Path, tmp_path: Path, opensearch_url: str, index_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    index = tmp_path / "index"
    cluster = ["--url", opensearch_url, "--cluster-index", index_name, "--replicas", "0"]
    for where in (["--index", index], cluster):
        code, out, err = _cli(capsys, "index", photos, *where, "--ocr", "--json")
        assert code == 0 and json.loads(out)["ocr"]["updated"] == 4, err
    code, out, err = _cli(capsys, "ocr", photos, *cluster[:4], "--json")
    assert code == 0 and json.loads(out)["pending"] == 0, err  # resumes on the cluster too
    embedded = picfind.open_index(index)
    on_cluster = picfind.open_index(
        url=opensearch_url, cluster=picfind.ClusterOptions(name=index_name)
    )
    try:
        for term, prefix in [("happy birthday", False), ("gate 23", False), ("ZUMBARI", False),
                             ("birth", True), ("cafe", True), ("nowhere", False)]:  # fmt: skip
            a = embedded.search_text(term, prefix=prefix)
            b = on_cluster.search_text(term, prefix=prefix)
            assert a.total == b.total and (a.total > 0) == (term != "nowhere")
            assert {(Path(r.path).name, r.score) for r in a.results} == {
                (Path(r.path).name, r.score) for r in b.results
            }
        by_path = {Path(r.path).name: r.id for r in on_cluster.store.rows()}
        assert on_cluster.store.stats().texts == embedded.stats().texts
        a_text = embedded.text_of(photos / "gate.jpg")
        b_text = on_cluster.text_of(by_path["gate.jpg"])
        assert a_text is not None and b_text is not None and a_text.text == b_text.text
    finally:
        embedded.close()
        on_cluster.close()
