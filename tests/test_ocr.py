"""Reading text in photos (picfind.ocr): real rendered photos, turned text, the fast path
for photos without text, errors, the missing extra, and no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from picfind import textnorm
from picfind.errors import ImageError, OcrUnavailableError, TextReadError
from picfind.ocr import Reader, ReadText, Settings

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import textphotos  # noqa: E402  (bench/textphotos.py: the generator the benchmark uses)

IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader.load(threads=2)


def _word_image(text: str, font_file: Path, size: int = 48, angle: float = 0) -> Image.Image:
    """Dark text on a light, slightly textured card, turned by ``angle`` degrees."""
    font = ImageFont.truetype(str(font_file), size)
    x0, y0, x1, y1 = font.getbbox(text)
    card = Image.new("RGB", (x1 - x0 + size, y1 - y0 + size), (235, 230, 215))
    ImageDraw.Draw(card).text((size // 2 - x0, size // 2 - y0), text, font=font, fill=(25, 30, 60))
    turned = card.rotate(angle, expand=True, fillcolor=(235, 230, 215))
    canvas = Image.new(
        "RGB", (max(640, turned.width + 40), max(480, turned.height + 40)), (200, 190, 170)
    )
    canvas.paste(turned, ((canvas.width - turned.width) // 2, (canvas.height - turned.height) // 2))
    return canvas


def _words_read(found: ReadText) -> set[str]:
    return set(textnorm.words(found.text)) | set(textnorm.parts(found.text))


# --------------------------------------------------------------------------- reading


@pytest.mark.slow
@pytest.mark.shared_data
def test_reads_back_words_rendered_on_real_photos(
    reader: Reader, shared: Path, font_file: Path, tmp_path: Path
) -> None:
    truth = textphotos.generate(tmp_path, count=24, seed=7)
    expected = found = 0
    for photo in truth:
        result = reader.read_file(tmp_path / photo.file)
        words = _words_read(result)
        for item in photo.items:
            if item.size < 20:  # the limits of small print are the benchmark's business
                continue
            for word in item.text.split():
                q = textnorm.query_words(word)
                expected += 1
                found += all(w in words for w in q)
        # every line's box lies inside the photo and reads in the right direction
        for line in result.lines:
            xs = [x for x, _ in line.box]
            assert all(0 <= v <= 1 for p in line.box for v in p)
            assert line.box[1][0] > line.box[0][0]  # top-right is right of top-left
            assert max(xs) - min(xs) > 0
    assert expected >= 30
    assert found / expected >= 0.9, f"read back {found} of {expected} words"


@pytest.mark.shared_data
def test_boxes_are_where_the_words_are(reader: Reader, shared: Path, font_file: Path) -> None:
    photo = Image.open(shared / "data" / "catsdogs" / "dog.3.jpg").convert("RGB").resize((800, 600))
    draw = ImageDraw.Draw(photo)
    font = ImageFont.truetype(str(font_file), 40)
    draw.rectangle((80, 420, 560, 490), fill=(250, 250, 240))
    draw.text((100, 430), "PLATFORM 9 NORTH", font=font, fill=(10, 10, 10))
    found = reader.read(photo)
    words = {w.text.casefold(): w.box for line in found.lines for w in line.words}
    assert {"platform", "9", "north"} <= set(words), found.text
    x_platform = [x for x, _ in words["platform"]]
    x_north = [x for x, _ in words["north"]]
    assert max(x_platform) < min(x_north)  # word boxes are in reading order, apart
    for box in words.values():  # inside the white plate: x 0.1–0.7, y 0.7–0.82
        for x, y in box:
            assert 0.08 <= x <= 0.72 and 0.68 <= y <= 0.84, box
    assert found.width == 800 and found.height == 600


@pytest.mark.parametrize("angle", [-15, -8, 8, 15])
def test_reads_text_turned_a_little(reader: Reader, font_file: Path, angle: float) -> None:
    found = reader.read(_word_image("Departures 10:30", font_file, angle=angle))
    assert {"departures", "10:30"} <= set(textnorm.words(found.text)), found.text


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_reads_text_turned_a_quarter_or_upside_down(
    reader: Reader, font_file: Path, angle: float
) -> None:
    found = reader.read(_word_image("HARBOUR FERRY", font_file, angle=angle))
    assert {"harbour", "ferry"} <= set(textnorm.words(found.text)), found.text
    # the box's corners are in reading order: its first edge runs the way the text reads
    (x0, y0), (x1, y1) = found.lines[0].box[:2]
    direction = {90: (0, -1), 180: (-1, 0), 270: (0, 1)}[int(angle)]
    assert np.dot([x1 - x0, y1 - y0], direction) > 0, found.lines[0].box


def test_exif_orientation_is_applied_before_reading(
    reader: Reader, font_file: Path, tmp_path: Path
) -> None:
    upright = _word_image("WELCOME", font_file)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a camera held sideways stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    stored.save(tmp_path / "sideways.jpg", exif=exif.tobytes(), quality=92)
    found = reader.read_file(tmp_path / "sideways.jpg")
    assert "welcome" in textnorm.words(found.text), found.text
    assert (found.width, found.height) == upright.size
    (x0, y0), (x1, y1) = found.lines[0].box[:2]
    assert x1 - x0 > abs(y1 - y0)  # horizontal in the upright image


@pytest.mark.slow
@pytest.mark.browser
def test_screenshots_and_documents_are_read(
    reader: Reader, font_file: Path, tmp_path: Path
) -> None:
    if not textphotos.CHROMIUM.exists():
        if IN_CI:
            pytest.fail(f"{textphotos.CHROMIUM} missing: apt-get install chromium")
        pytest.skip("chromium missing")
    lines = textphotos.receipt(tmp_path / "receipt.jpg")
    page = textphotos.web_page(tmp_path / "page.png")
    (tmp_path / "page.html").write_text(textphotos.page_html(), encoding="utf-8")
    textphotos.screenshot(tmp_path / "page.html", tmp_path / "shot.png")
    for name, expected in [("receipt.jpg", lines), ("page.png", page), ("shot.png", page)]:
        words = _words_read(reader.read_file(tmp_path / name))
        wanted = [w for line in expected for w in textnorm.query_words(line)]
        missing = [w for w in wanted if w not in words]
        assert len(missing) <= len(wanted) // 20, (name, missing)
    assert {"cafe", "12.50", "espresso"} <= _words_read(reader.read_file(tmp_path / "receipt.jpg"))


def test_concurrent_reads_agree_with_sequential(reader: Reader, font_file: Path) -> None:
    images = [_word_image(w, font_file) for w in ("Museum", "Bakery", "Station", "Airport")]
    alone = [reader.read(im).text for im in images]
    together: list[str] = [""] * len(images)

    def one(i: int) -> None:
        together[i] = reader.read(images[i]).text

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert together == alone
    assert [t.casefold() for t in alone] == ["museum", "bakery", "station", "airport"]


def test_read_many_reads_photos_at_once_in_order_and_counts_their_cpu(
    reader: Reader, font_file: Path
) -> None:
    assert reader.parallel == 2  # Reader.load(threads=2): two photos at once
    assert Reader.load(threads=2, parallel=1).parallel == 1
    fresh = reader.with_settings()
    assert fresh.parallel == 2
    images: list[tuple[np.ndarray | Image.Image, str]] = [
        (_word_image(w, font_file), f"{w}.jpg") for w in ("Museum", "Bakery", "Station")
    ]
    images.insert(1, (np.zeros((64, 64, 3), np.float32), "floats.jpg"))
    found = fresh.read_many(images)
    assert isinstance(found[1], TextReadError) and found[1].path == "floats.jpg"
    texts = [f.text.casefold() for f in found if isinstance(f, ReadText)]
    assert texts == ["museum", "bakery", "station"]
    counts = fresh.counts
    assert counts.photos == 3 and counts.cpu_seconds > 0
    # the busiest worker did at least half the work and at most all of it
    assert counts.cpu_seconds / 2 - 1e-6 <= counts.critical_cpu_seconds <= counts.cpu_seconds + 1e-6


# --------------------------------------------------------------------------- fast path


@pytest.mark.shared_data
def test_photos_without_text_stop_after_detection(
    reader: Reader, shared: Path, font_file: Path
) -> None:
    fresh = reader.with_settings()
    # Real photos that show no text (looked at), and a flat grey image.
    photos = [shared / "data" / "catsdogs" / f"dog.{i}.jpg" for i in (0, 1, 2, 4, 5, 6)]
    for path in photos:
        assert fresh.read_file(path).lines == ()
    assert fresh.read(np.full((480, 640, 3), 128, np.uint8)).lines == ()
    counts = fresh.counts
    assert counts.photos == len(photos) + 1
    assert counts.detector_runs == len(photos) + 1
    assert counts.boxes == 0
    assert counts.classifier_runs == 0 and counts.recogniser_runs == 0
    # and a photo with text does go on to recognition
    assert "library" in textnorm.words(fresh.read(_word_image("Library", font_file)).text)
    assert fresh.counts.recogniser_runs == 1


def test_the_first_small_detection_stops_photos_without_text(
    reader: Reader, font_file: Path
) -> None:
    assert reader.settings.gate_side is None  # off by default (Settings' doc says why)
    gated = reader.with_settings(gate_side=320)
    grey = np.full((480, 640, 3), 128, np.uint8)
    gated.read(grey)
    assert gated.counts.detector_runs == 1  # the small detection only
    found = gated.read(_word_image("Pharmacy", font_file, size=24))
    assert gated.counts.detector_runs == 3  # small, then full
    assert "pharmacy" in textnorm.words(found.text)
    ungated = reader.with_settings()
    ungated.read(grey)
    assert ungated.counts.detector_runs == 1  # the full detection, always
    assert ungated.read(_word_image("Pharmacy", font_file, size=24)).text == found.text
    assert "gate320" in gated.version and "gate" not in ungated.version


def test_version_names_the_models_and_settings(reader: Reader) -> None:
    assert reader.version.startswith("PP-OCRv6_det_small+PP-OCRv6_rec_small+")
    assert reader.with_settings(detector_side=960).version != reader.version
    assert reader.with_settings().version == reader.version


def test_second_detection_only_where_the_first_found_text(reader: Reader, font_file: Path) -> None:
    cascade = reader.with_settings(detector_side=480, second_side=960)
    cascade.read(np.full((480, 640, 3), 90, np.uint8))
    assert cascade.counts.detector_runs == 1
    found = cascade.read(_word_image("Pharmacy", font_file))
    assert cascade.counts.detector_runs == 3
    assert "pharmacy" in textnorm.words(found.text)


# --------------------------------------------------------------------------- records and errors


def test_result_round_trips_through_json(reader: Reader, font_file: Path) -> None:
    found = reader.read(_word_image("Concert Tickets", font_file))
    record = json.loads(json.dumps(found.to_dict()))
    again = ReadText.from_dict(record)
    assert again.text == found.text and again.width == found.width
    assert [w.text for w in again.lines[0].words] == ["Concert", "Tickets"]
    assert all(0 <= v <= 1 for line in record["lines"] for p in line["box"] for v in p)
    with pytest.raises(ValueError, match="not a text record"):
        ReadText.from_dict({"lines": [{"text": "x"}], "width": 1, "height": 1})


@pytest.mark.parametrize(
    ("pixels", "reason"),
    [
        (np.zeros((100, 100, 4), np.uint8), "expected (height, width, 3) RGB pixels"),
        (np.zeros((100, 100, 3), np.float32), "expected uint8 pixels"),
    ],
)
def test_unreadable_pixels_are_a_text_read_error(
    reader: Reader, pixels: np.ndarray, reason: str
) -> None:
    with pytest.raises(TextReadError) as e:
        reader.read(pixels, name="photo.png")
    assert str(e.value).startswith("photo.png: reading text failed: " + reason)
    assert "\n" not in str(e.value)
    assert isinstance(e.value, ImageError) and e.value.path == "photo.png"


def test_tiny_and_grey_images_read_as_no_text(reader: Reader) -> None:
    assert reader.read(np.zeros((5, 400, 3), np.uint8)).lines == ()
    assert reader.read(np.zeros((300, 200), np.uint8)).lines == ()  # grey arrays are accepted


def test_a_file_that_is_no_image_is_an_image_error(reader: Reader, tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("not a photo")
    with pytest.raises(ImageError, match="not an image"):
        reader.read_file(tmp_path / "notes.jpg")


class _BrokenSession:
    """Stands in for an ONNX Runtime session that fails (beside the real tests above)."""

    def run(self, *_: object) -> list[np.ndarray]:
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : bad allocation\ndetails")


def test_a_failing_model_is_a_reason_not_a_crash(reader: Reader) -> None:
    broken = Reader(_BrokenSession(), None, None, ["", "a"], Settings(), __import__("cv2"))
    with pytest.raises(TextReadError) as e:
        broken.read(np.full((100, 100, 3), 200, np.uint8), name="x.jpg")
    assert str(e.value) == (
        "x.jpg: reading text failed: RuntimeError: "
        "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : bad allocation"
    )


# --------------------------------------------------------------------------- packaging


def _python(code: str, *prefix: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def test_importing_picfind_loads_no_ocr_dependency() -> None:
    done = _python(
        """
        import sys
        import picfind, picfind.ocr, picfind.textnorm
        heavy = [m for m in ("cv2", "rapidocr", "onnxruntime") if m in sys.modules]
        print(heavy)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# How each package looks when it is not installed: import fails as Python says it
# does for a missing module; find_spec (which picfind uses for rapidocr) finds nothing.
_BLOCK = {
    "cv2": """
        import importlib.abc
        class Missing(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "cv2" or name.startswith("cv2."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, Missing())
    """,
    "rapidocr": """
        sys.modules["rapidocr"] = None  # find_spec answers None, as for a missing package
    """,
}


@pytest.mark.parametrize(
    ("blocked", "cause"),
    [("cv2", "(No module named 'cv2')"), ("rapidocr", "(package rapidocr is not installed)")],
)
def test_missing_extra_is_one_clear_line(blocked: str, cause: str) -> None:
    done = _python(
        "import sys\n"
        + textwrap.dedent(_BLOCK[blocked])
        + textwrap.dedent(
            """
            from picfind.errors import OcrUnavailableError, UsageError
            from picfind.ocr import Reader, available
            print(available())
            try:
                Reader.load()
            except OcrUnavailableError as e:
                print(isinstance(e, UsageError), e)
            """
        )
    )
    assert done.returncode == 0, done.stderr
    flag, message = done.stdout.strip().split("\n")
    assert flag == "False"
    assert message == f"True reading text needs the ocr extra: pip install 'picfind[ocr]' {cause}"
    assert done.stderr == ""


def test_available_when_installed() -> None:
    from picfind.ocr import available

    assert available()
    assert issubclass(OcrUnavailableError, Exception)


_OFFLINE = """
    import sys
    attempts = []
    sys.addaudithook(lambda event, args: attempts.append(event) if event.startswith(
        ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request")
    ) else None)
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont
    from picfind.ocr import Reader
    from picfind import textnorm
    im = Image.new("RGB", (640, 240), (240, 240, 230))
    font = ImageFont.truetype({font!r}, 56)
    ImageDraw.Draw(im).text((40, 80), "Offline Reading", font=font, fill=(20, 20, 20))
    found = Reader.load(threads=1).read(im)
    print(textnorm.words(found.text), attempts)
"""


def test_reading_makes_no_network_call(font_file: Path) -> None:
    done = _python(_OFFLINE.format(font=str(font_file)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['offline', 'reading'] []"


def test_reading_works_with_networking_blocked(font_file: Path) -> None:
    """In a network namespace with no interfaces but loopback (``unshare -n``, as root)."""
    unshare = shutil.which("unshare")
    probe = (
        subprocess.run([unshare or "unshare", "-n", "true"], capture_output=True)
        if unshare
        else None
    )
    if probe is None or probe.returncode != 0:
        reason = "unshare -n is not available here (needs root or user namespaces)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    done = _python(_OFFLINE.format(font=str(font_file)), "unshare", "-n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['offline', 'reading'] []"
