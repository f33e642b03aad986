"""The web page in a real headless Chromium, against ``picfind serve`` on localhost.

Debian's ``chromium`` (``/usr/bin/chromium``, installed by ``.ci/run``) driven
by Playwright, on an index of 80 real photos: type a word and see the right
photos, upload a photo and see look-alikes, open a result and follow "more
like this", index a configured folder and watch its progress. A screenshot of
each state goes to ``test-artifacts/``. Without Chromium these tests skip,
except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from webserver import serve_process

pytestmark = [pytest.mark.browser, pytest.mark.shared_data]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(small_index: Path, small_photos: Path, tmp_path_factory: pytest.TempPathFactory):
    index = tmp_path_factory.mktemp("browser") / "index"
    shutil.copytree(small_index, index)  # thumbnails are written into the index folder
    with serve_process(index) as url:
        yield url


@pytest.fixture
def page(browser, server: str):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=server)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, errors  # no JavaScript exceptions


def shot(pg, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def result_names(pg, base: str = "") -> list[str]:
    """File names of the results shown, in order (from each tile's image page); ``base``:
    the server, when the page's context has none."""
    ids = pg.eval_on_selector_all("#grid .tile a", "els => els.map(e => e.dataset.id)")
    return [pg.request.get(f"{base}/api/images/{i}").json()["path"].rsplit("/", 1)[1] for i in ids]


FIRST_THUMBNAIL = (
    "() => { const i = document.querySelector('#grid img'); "
    "return i && i.complete && i.naturalWidth > 0; }"
)


def wait_for_thumbnails(pg) -> None:
    pg.wait_for_function(
        "() => Array.from(document.querySelectorAll('#grid img')).slice(0, 12)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )


def test_type_a_word_and_see_the_right_photos(page, server: str) -> None:
    page.goto(server)
    shot(page, "01-home")
    page.fill("#q", "gol")
    page.wait_for_selector("#suggestions li")
    suggestions = page.eval_on_selector_all("#suggestions li", "els => els.map(e => e.textContent)")
    assert {"golden retriever", "golf ball", "goldfish"} <= set(suggestions)
    shot(page, "02-autocomplete")
    # Keyboard only: arrow to the first suggestion, Enter takes it; Enter again searches.
    page.keyboard.press("ArrowDown")
    assert page.get_attribute("#q", "aria-activedescendant") == "suggestion-0"
    page.keyboard.press("Enter")
    assert page.input_value("#q") == "golden retriever "
    page.fill("#q", "dog")
    started = time.monotonic()
    page.keyboard.press("Enter")
    page.wait_for_function(FIRST_THUMBNAIL, polling="raf")
    cold = time.monotonic() - started  # the server makes the thumbnails now
    # Warm: the thumbnails are on the server's disk, not in this (new) browser's cache.
    fresh = page.context.browser.new_context(viewport={"width": 1200, "height": 900})
    other = fresh.new_page()
    started = time.monotonic()
    other.goto(server + "/?q=dog")
    other.wait_for_function(FIRST_THUMBNAIL, polling="raf")
    warm = time.monotonic() - started
    fresh.close()
    ARTIFACTS.mkdir(exist_ok=True)  # reported, not asserted: a busy 2-core machine
    (ARTIFACTS / "latency.json").write_text(
        json.dumps(
            {
                "word_query_to_first_thumbnail_ms": {
                    "cold": round(cold * 1000),
                    "warm": round(warm * 1000),
                }
            }
        )
    )
    wait_for_thumbnails(page)
    heading = page.text_content("#results-title")
    assert "results for dog" in heading
    names = result_names(page)[:10]
    assert sum(n.startswith("dog.") for n in names) >= 8, names
    labels = page.text_content("#grid .tile .labels")
    assert labels and page.text_content("#grid .tile .score")
    shot(page, "03-words-results")
    # More results on scroll, appended to the same grid.
    before = page.locator("#grid .tile").count()
    page.locator("#more").scroll_into_view_if_needed()
    page.wait_for_function("n => document.querySelectorAll('#grid .tile').length > n", arg=before)
    total = int(page.get_attribute("#results", "data-total"))
    assert page.locator("#grid .tile").count() == min(total, 2 * before)


def test_unknown_word_shows_suggestions(page, server: str) -> None:
    page.goto(server + "/?q=dgi")
    alert = page.locator("[role=alert]")
    assert "Unknown word" in alert.text_content()
    shot(page, "04-unknown-word")
    page.click("[role=alert] a >> text=dog")
    page.wait_for_selector("#grid .tile")
    assert page.input_value("#q") == "dog"


def test_upload_a_photo_and_see_look_alikes(page, server: str, catsdogs: Path, shared) -> None:
    page.goto(server)
    page.check("input[name=mode][value=embedding]")
    page.set_input_files("#file", str(catsdogs / "cat.60.jpg"))  # not in the index
    page.wait_for_selector("#results[data-upload] #grid .tile")  # in place of the timeline
    wait_for_thumbnails(page)
    assert "like your photo" in page.text_content("#results-title")
    assert "(embedding)" in page.text_content("#results-title")
    names = result_names(page)[:10]
    assert sum(n.startswith("cat.") for n in names) >= 7, names
    shot(page, "05-upload-results")
    # An unreadable upload: a clear message, the page still works.
    bad = shared / "data" / "odd-images" / "generated" / "not-an-image.jpg"
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#message .error")
    message = page.text_content("#message")
    assert "not-an-image.jpg: cannot read the image: not an image" in message
    assert page.locator("#grid .tile").count() == 0  # not the earlier photo's results
    shot(page, "06-unreadable-upload")


def dropped_file(pg, b64: str):
    """A DataTransfer holding a JPEG (from base64), as a drop or paste carries it."""
    return pg.evaluate_handle(
        """b64 => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], "dropped.jpg", {type: "image/jpeg"}));
            return dt;
        }""",
        b64,
    )


def test_drop_or_paste_a_photo(page, server: str, catsdogs: Path) -> None:
    page.goto(server)
    data = base64.b64encode((catsdogs / "dog.61.jpg").read_bytes()).decode()
    transfer = dropped_file(page, data)
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    page.wait_for_selector("#results[data-upload] #grid .tile")  # in place of the timeline
    names = result_names(page)[:10]
    assert sum(n.startswith("dog.") for n in names) >= 7, names
    page.evaluate("() => { document.querySelector('#main').innerHTML = ''; }")
    page.evaluate(
        """dt => document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt}))""",
        transfer,
    )
    page.wait_for_selector("#grid .tile")
    assert "like your photo" in page.text_content("#results-title")
    wait_for_thumbnails(page)
    shot(page, "05b-pasted-photo")


def test_open_a_result_and_follow_more_like_this(page, server: str) -> None:
    page.goto(server + "/?q=cat")
    page.wait_for_selector("#grid .tile")
    first = page.get_attribute("#grid .tile a", "data-id")
    page.focus("#grid .tile a")  # by keyboard: a focused result opens with Enter (the viewer)
    page.keyboard.press("Enter")
    page.wait_for_selector("#viewer[open]")
    page.click("#viewer-details")  # its page, one link away
    page.wait_for_selector(".facts")
    page.wait_for_function("() => document.querySelector('.large img').naturalWidth > 0")
    meta = page.request.get(f"/api/images/{first}").json()
    assert meta["path"] in page.text_content(".facts .path")
    assert page.locator(".classes tbody tr").count() == 10
    assert meta["labels"][0]["name"] in page.text_content(".classes")
    shot(page, "07-image-page")
    page.select_option("#mode", "hybrid")
    page.focus("#more-like-this")
    page.keyboard.press("Enter")
    page.wait_for_selector("#grid .tile")
    wait_for_thumbnails(page)
    assert "like this image" in page.text_content("#results-title")
    names = result_names(page)[:10]
    assert first not in page.eval_on_selector_all("#grid a", "els => els.map(e => e.dataset.id)")
    assert sum(n.startswith("cat.") for n in names) >= 7, names
    shot(page, "08-more-like-this")


def tile_ids(pg) -> list[str]:
    return pg.eval_on_selector_all("#grid .tile a", "els => els.map(e => e.dataset.id)")


def scroll_until(pg, count: int) -> None:
    """Scroll to the "More results" link until ``count`` tiles are loaded."""
    while pg.locator("#grid .tile").count() < count:
        before = pg.locator("#grid .tile").count()
        pg.locator("#more").scroll_into_view_if_needed()
        pg.wait_for_function("n => document.querySelectorAll('#grid .tile').length > n", arg=before)


def test_back_and_reload_keep_loaded_results_and_place(page, server: str) -> None:
    """Issue 15: 'Back loses your place'. The address says what was loaded, history the
    scroll position: Back from an image and reload show the same tiles at the same place."""
    page.goto(server + "/?q=dog OR cat")
    scroll_until(page, 48)
    page.wait_for_function("() => location.search.includes('count=48')")
    ids = tile_ids(page)
    target = page.locator("#grid .tile a").nth(40)
    target.scroll_into_view_if_needed()
    page.wait_for_timeout(300)  # the scroll position is saved once scrolling settles
    y = page.evaluate("window.scrollY")
    assert y > 1000
    target.click()  # the viewer, then the photo's own page
    page.wait_for_selector("#viewer[open]")
    page.click("#viewer-details")
    page.wait_for_selector(".facts")
    page.go_back()
    page.wait_for_selector("#grid .tile")
    # All 48 are there at once (near the end, more may load on scroll, as before), the
    # viewer shows the photo it showed, over the grid where it was.
    assert tile_ids(page)[:48] == ids
    assert abs(page.evaluate("window.scrollY") - y) < 5
    page.wait_for_selector("#viewer[open]")
    assert page.evaluate("document.querySelector('#viewer-details').href").endswith(ids[40])
    page.keyboard.press("Escape")
    focused_on(page, ids[40])
    page.reload()
    page.wait_for_selector("#grid .tile")
    assert tile_ids(page)[:48] == ids
    assert abs(page.evaluate("window.scrollY") - y) < 5
    assert not page.is_visible("#viewer")
    shot(page, "13-back-restores-place")


def test_an_upload_search_has_an_address(page, server: str, catsdogs: Path) -> None:
    """Back after an upload shows the search before it; Forward and reload the upload's."""
    page.goto(server + "/?q=cat")
    page.wait_for_selector("#grid .tile")
    words = tile_ids(page)
    page.check("input[name=mode][value=embedding]")
    page.set_input_files("#file", str(catsdogs / "dog.62.jpg"))  # not in the index
    page.wait_for_selector("#results[data-upload]")
    page.wait_for_function("() => location.search.startsWith('?upload=')")
    assert "mode=embedding" in page.url
    uploaded = tile_ids(page)
    assert uploaded != words and "like your photo" in page.text_content("#results-title")
    page.wait_for_function("() => document.querySelector('.query-image img').naturalWidth > 0")
    page.reload()
    page.wait_for_selector("#grid .tile")
    assert tile_ids(page) == uploaded and "like your photo" in page.text_content("#results-title")
    assert page.is_checked("input[name=mode][value=embedding]")
    shot(page, "14-upload-reloaded")
    page.go_back()
    page.wait_for_function("() => location.search === '?q=cat'")
    page.wait_for_selector("#grid .tile")
    assert tile_ids(page) == words and page.input_value("#q") == "cat"
    page.go_forward()
    page.wait_for_function("() => location.search.startsWith('?upload=')")
    page.wait_for_selector("#results[data-upload]")
    assert tile_ids(page) == uploaded
    # Another mode for the same photo: a new address, no upload again.
    page.check("input[name=mode][value=classes]")
    page.wait_for_function("() => location.search.includes('mode=classes')")
    page.wait_for_selector("#results[data-upload]")
    assert "(classes)" in page.text_content("#results-title")


def focused_on(pg, image_id: str) -> None:
    """The focus is on that result's link (the viewer's close event comes in a task)."""
    pg.wait_for_function("id => document.activeElement.dataset.id === id", arg=image_id)


def viewer_position(pg) -> str:
    return pg.text_content("#viewer-pos") or ""


def test_viewer_previous_next_escape_and_download(page, server: str, small_photos: Path) -> None:
    page.goto(server + "/?q=dog OR cat")
    page.wait_for_selector("#grid .tile")
    wait_for_thumbnails(page)
    ids = tile_ids(page)
    total = int(page.get_attribute("#results", "data-total"))
    # 190 px tiles on a 1× screen: the 256 px thumbnail of the srcset.
    assert page.evaluate("document.querySelector('#grid img').currentSrc").endswith("size=256")
    page.click("#grid .tile a")
    page.wait_for_selector("#viewer[open]")
    page.wait_for_function("() => document.querySelector('#viewer-img').naturalWidth > 0")
    # 80% of a 1200 px window: the 1024 px thumbnail, never the original.
    assert page.evaluate("document.querySelector('#viewer-img').currentSrc").endswith("size=1024")
    assert viewer_position(page) == f"1 of {total}"
    assert page.evaluate("document.activeElement.id") == "viewer-close"
    page.wait_for_function("() => document.querySelector('#viewer-facts').textContent")
    assert "Classes" in page.text_content("#viewer-facts")
    assert page.is_disabled("#viewer-prev")
    shot(page, "15-viewer")
    page.keyboard.press("ArrowRight")
    assert viewer_position(page) == f"2 of {total}"
    assert ids[1] in page.get_attribute("#viewer-img", "src")
    page.click("#viewer-next")
    page.keyboard.press("ArrowLeft")
    assert viewer_position(page) == f"2 of {total}"
    assert "view=" + ids[1] in page.url  # reload reopens it
    # Download the original: the very bytes of the indexed file.
    with page.expect_download() as info:
        page.click("#viewer-download")
    name = page.text_content("#viewer-title")
    download = info.value
    assert download.suggested_filename == name
    assert Path(download.path()).read_bytes() == (small_photos / name).read_bytes()
    # Past the last result loaded: the next page loads, the viewer goes on.
    page.keyboard.press("Escape")
    page.click(f"#grid .tile a[data-id='{ids[-1]}']")
    page.wait_for_selector("#viewer[open]")
    assert viewer_position(page) == f"{len(ids)} of {total}"
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "n => document.querySelector('#viewer-pos').textContent.startsWith(n)",
        arg=f"{len(ids) + 1} of",
    )
    assert page.locator("#grid .tile").count() > len(ids)
    after = tile_ids(page)[len(ids)]
    page.keyboard.press("Escape")  # focus returns to the result shown last
    assert not page.is_visible("#viewer")
    focused_on(page, after)


def test_select_results_and_download_a_zip(browser, server: str, small_photos: Path) -> None:
    import io
    import zipfile

    context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=server)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = context.new_page()
    page.goto(server + "/?q=dog")
    page.wait_for_selector("#grid .tile")
    assert not page.is_visible("#selection")
    ids = tile_ids(page)
    page.click("#grid .tile:nth-child(2) .pick")
    page.click("#grid .tile:nth-child(4) .pick", modifiers=["Shift"])  # a range: 2, 3, 4
    page.focus("#grid .tile:nth-child(7) .pick")
    page.keyboard.press("Space")  # by keyboard
    assert page.text_content("#selection-count") == "4 selected"
    assert page.is_visible("#selection")
    assert not page.is_visible("#viewer")  # a checkbox is not a click on the photo
    shot(page, "19-selection")
    chosen = [ids[1], ids[2], ids[3], ids[6]]
    names = [page.request.get(f"/api/images/{i}").json()["path"].rsplit("/", 1)[1] for i in chosen]
    with page.expect_download() as info:
        page.click("#download-zip")
    download = info.value
    assert download.suggested_filename == "picfind-4-photos.zip"
    with zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes())) as z:
        assert z.namelist() == names
        assert z.read(names[0]) == (small_photos / names[0]).read_bytes()
    page.click("#copy-paths")
    page.wait_for_function(
        "() => document.querySelector('#selection-count').textContent.includes('copied')"
    )
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.split("\n") == [str(small_photos / n) for n in names]
    page.click("#clear-selection")
    assert not page.is_visible("#selection")
    assert page.locator("#grid .pick:checked").count() == 0
    context.close()


def page_weight(pg, url: str) -> tuple[int, list[int], dict]:
    """Bytes a page of results costs with every thumbnail loaded (lazy ones too): the
    total, the sizes of the 384 px thumbnails (2× tiles), and every resource's size."""
    pg.goto(url)
    pg.wait_for_selector("#grid .tile")
    pg.evaluate("document.querySelectorAll('#grid img').forEach(i => { i.loading = 'eager'; })")
    pg.wait_for_function(
        "() => Array.from(document.querySelectorAll('#grid img'))"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    sizes = pg.evaluate(
        """() => ({
            page: performance.getEntriesByType("navigation")[0].encodedBodySize,
            resources: performance.getEntriesByType("resource")
                .map(r => [r.name.replace(location.origin, ""), r.encodedBodySize]),
        })"""
    )
    thumbs = [s for name, s in sizes["resources"] if "/thumbnail?size=384" in name]
    return sizes["page"] + sum(s for _, s in sizes["resources"]), thumbs, sizes


def test_a_results_page_at_2x_weighs_at_most_500_kb(browser, server: str) -> None:
    """Issue 15's budget: 24 results with their thumbnails at 2× density, page included
    (a size, not a time: the same on a busy machine). Written to test-artifacts/."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, device_scale_factor=2)
    pg = context.new_page()
    total, thumbs, sizes = page_weight(pg, server + "/?q=dog OR cat")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "page-weight.json").write_text(
        json.dumps({"bytes": total, "thumbnails": len(thumbs), **sizes}, indent=1)
    )
    context.close()
    assert len(thumbs) == 24  # every tile, at the 2× size
    assert total <= 500_000, total


def test_phone_sized_screen(browser, server: str) -> None:
    """390×844 at 2×: two columns from the first screen, one photo button, the viewer."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    pg = context.new_page()
    pg.goto(server + "/")
    assert pg.is_visible("text=Search by photo") and not pg.is_visible("text=Drop a photo here")
    shot(pg, "09a-phone-start")
    pg.goto(server + "/?q=dog")
    pg.wait_for_selector("#grid .tile")
    wait_for_thumbnails(pg)
    width = pg.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the screen
    columns = pg.evaluate(
        "getComputedStyle(document.querySelector('#grid')).gridTemplateColumns.split(' ').length"
    )
    assert columns == 2
    # The header and the photo button take little of the screen (335 of 844 px before):
    # the first row of results is whole on the first screen.
    top = pg.evaluate("document.querySelector('#grid .tile').getBoundingClientRect().top")
    bottom = pg.evaluate("document.querySelector('#grid .tile').getBoundingClientRect().bottom")
    assert top < 230 and bottom < 844, (top, bottom)
    # A 2× screen gets the 384 px thumbnail for a 181 px tile: sharp, not a soft 256.
    assert pg.evaluate("document.querySelector('#grid img').currentSrc").endswith("size=384")
    shot(pg, "09-phone")
    pg.click("#menu summary")
    assert pg.is_visible("#stats-images")
    shot(pg, "09b-phone-menu")
    pg.click("#menu summary")
    pg.tap("#grid .tile a")
    pg.wait_for_selector("#viewer[open]")
    pg.wait_for_function("() => document.querySelector('#viewer-img').naturalWidth > 0")
    box = pg.evaluate(
        "(() => { const r = document.querySelector('#viewer-img')"
        ".getBoundingClientRect(); return [r.left, r.right]; })()"
    )
    assert box[0] >= 0 and box[1] <= 390
    shot(pg, "09c-phone-viewer")
    context.close()


def test_header_menu_at_any_scroll_position_and_slash(page, server: str) -> None:
    page.goto(server + "/?q=dog OR cat")
    scroll_until(page, 48)
    page.mouse.wheel(0, 3000)
    page.wait_for_function("() => window.scrollY > 1500")
    page.click("#menu summary")
    assert page.is_visible("#stats-images")
    assert page.text_content("#stats-images") == "80"
    panel = page.evaluate("document.querySelector('#menu-panel').getBoundingClientRect().top")
    assert 0 < panel < 200  # in the sticky header, on screen
    shot(page, "16-menu")
    page.keyboard.press("Escape")
    assert not page.is_visible("#stats-images")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"


def test_friendly_start_and_errors(page, server: str, tmp_path: Path, catsdogs: Path) -> None:
    page.goto(server + "/")
    assert page.text_content("#results-title") == "All 80 photos, newest first"
    page.click(".timeline .hint a >> text=cat OR dog")
    page.wait_for_selector("#grid .tile")
    # An error while loading more is shown where the eye is, and "More results" retries.
    page.route("**/api/search?*offset=24*", lambda route: route.abort())
    page.locator("#more").scroll_into_view_if_needed()
    page.wait_for_selector("#more-error")
    assert "cannot be reached" in page.text_content("#more-error")
    more = page.evaluate("document.querySelector('#more').getBoundingClientRect().top")
    error = page.evaluate("document.querySelector('#more-error').getBoundingClientRect().top")
    assert 0 < error < more < 900
    shot(page, "17-error-beside-more")
    page.unroute("**/api/search?*offset=24*")
    page.click("#more")
    page.wait_for_function("() => document.querySelectorAll('#grid .tile').length > 24")
    assert page.locator("#more-error").count() == 0
    # An upload over 20 MiB: a limit people read, and no earlier results beside it.
    big = tmp_path / "huge.jpg"
    big.write_bytes((catsdogs / "cat.1.jpg").read_bytes() + os.urandom(21 * 1024 * 1024))
    page.set_input_files("#file", str(big))
    page.wait_for_selector("#message .error")
    message = page.text_content("#message")
    assert "huge.jpg: the photo is larger than 20 MiB" in message, message
    assert "20971520" not in message
    assert page.locator("#grid .tile").count() == 0
    shot(page, "18-upload-too-large")
    # A photo dropped outside the box is a search, not the browser opening the file.
    data = base64.b64encode((catsdogs / "dog.63.jpg").read_bytes()).decode()
    transfer = dropped_file(page, data)
    page.dispatch_event("#message", "drop", {"dataTransfer": transfer})
    page.wait_for_selector("#results[data-upload]")
    assert page.url.startswith(server)  # still the page, not the file


def test_index_a_configured_folder_and_watch_progress(
    browser, catsdogs: Path, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(200, 260):
        shutil.copy2(catsdogs / f"dog.{i}.jpg", photos / f"dog.{i}.jpg")
    import picfind

    picfind.open_index(tmp_path / "index", create=True).close()
    with serve_process(tmp_path / "index", "--root", str(photos)) as url:
        context = browser.new_context(viewport={"width": 1000, "height": 700})
        pg = context.new_page()
        pg.goto(url + "/?q=dog")
        # A first-run page, not an error: it offers the configured folder.
        assert pg.locator("[role=alert]").count() == 0
        assert pg.text_content("#start-title") == "Welcome to picfind"
        assert str(photos) in pg.text_content("#main .roots")
        shot(pg, "10-empty-index")
        pg.click("#main button.index-root")
        pg.wait_for_selector("#job:not([hidden])")
        pg.wait_for_function(
            "() => document.querySelector('#job-text').textContent.startsWith('Done')",
            timeout=60_000,
        )
        assert "indexed 60" in pg.text_content("#job-text")
        # The page asks for fresh stats once the job is done: wait for that answer.
        pg.wait_for_function(
            "() => document.querySelector('#stats-images').textContent === '60'",
            timeout=30_000,
        )
        shot(pg, "11-indexing-done")
        pg.click("#see-photos")  # the first-run page's way on: the timeline
        pg.wait_for_selector("#results[data-timeline] #grid .tile")
        assert pg.text_content("#results-title") == "All 60 photos, newest first"
        pg.goto(url + "/?q=dog")
        pg.wait_for_selector("#grid .tile")
        context.close()


CUT_STATE = """() => {
  const items = Array.from(document.querySelectorAll('#grid > li'));
  const at = items.findIndex((li) => li.id === 'strong-cut');
  const cut = document.getElementById('strong-cut');
  const line = cut && cut.querySelector('[role=separator]');
  return {count: document.querySelectorAll('#strong-cut').length, at,
    threshold: Number(document.getElementById('results').dataset.strong),
    label: line ? line.getAttribute('aria-label') : null, text: line ? line.textContent : null,
    height: line ? line.getBoundingClientRect().height : 0,
    wide: cut ? cut.getBoundingClientRect().width / document.getElementById('grid').clientWidth
      : 0};
}"""


def tile_scores(pg, server: str, api: str, n: int) -> list[float]:
    """The scores of the first ``n`` results, from the API (a tile shows 3 decimals)."""
    return [r["score"] for r in pg.request.get(f"{server}{api}&limit={n}").json()["results"]]


def test_a_line_where_strong_matches_end(page, server: str, catsdogs: Path) -> None:
    """Words: before the first result scoring under 0.5, on the page infinite scroll
    appends (on these photos it is past the first 24); by a photo: relative to the best."""
    scores = tile_scores(page, server, "/api/search?q=dog", 200)
    weak = next(i for i, s in enumerate(scores) if s < 0.5)
    assert weak >= 24, "the line is on an appended page"
    page.goto(server + "/?q=dog")
    page.wait_for_selector("#grid .tile")
    assert page.evaluate(CUT_STATE)["count"] == 0  # all 24 shown are strong
    scroll_until(page, weak + 1)
    state = page.evaluate(CUT_STATE)
    assert state["count"] == 1 and state["at"] == weak, (state, weak)
    assert state["text"].startswith("Weaker matches below") and state["height"] > 8
    assert state["label"].startswith("Weaker matches below") and state["wide"] > 0.95
    assert "(score under 50%)" in state["text"]  # as the tiles show a words search's scores
    shown = page.eval_on_selector_all("#grid .tile .score", "els => els.map(e => e.textContent)")
    assert shown[weak] == f"{scores[weak] * 100:.0f}%"  # an appended tile: a percentage too
    ids = tile_ids(page)
    api_ids = [
        r["id"] for r in page.request.get(f"{server}/api/search?q=dog&limit=200").json()["results"]
    ]
    assert ids == api_ids[: len(ids)]  # the line is between tiles, none lost or moved
    page.locator("#strong-cut").scroll_into_view_if_needed()
    shot(page, "13-strong-line-words")
    # Reload keeps what was loaded: the server draws the same line at the same place.
    page.reload()
    page.wait_for_selector("#strong-cut")
    assert page.evaluate(CUT_STATE)["at"] == weak
    # An uploaded photo (results built in the page): 0.8 of the best fused score.
    page.goto(server)
    page.check("input[name=mode][value=fused]")
    page.set_input_files("#file", str(catsdogs / "dog.60.jpg"))
    page.wait_for_selector("#results[data-upload] #grid .tile")
    key = page.get_attribute("#results", "data-upload")
    up = tile_scores(page, server, f"/api/uploads/{key}/similar?mode=fused", 24)
    state = page.evaluate(CUT_STATE)
    assert state["threshold"] == pytest.approx(0.8 * up[0])
    first = page.locator("#grid .tile .score").first.inner_text()
    assert first == f"{up[0]:.3f}"  # by image: the score itself (no scale to be a share of)
    expected = next((i for i, s in enumerate(up) if s < 0.8 * up[0]), None)
    assert (state["at"] if state["count"] else None) == expected, (state, up)
    shot(page, "14-strong-line-upload", full_page=True)


def test_skipped_files_and_their_reasons(browser, catsdogs: Path, tmp_path: Path) -> None:
    """After "Index now": each skipped file's path and why, escaped, in a folded list."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(300, 304):
        shutil.copy2(catsdogs / f"dog.{i}.jpg", photos / f"dog.{i}.jpg")
    (photos / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG" * 20)
    whole = (catsdogs / "dog.304.jpg").read_bytes()
    (photos / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (photos / "<b>odd&amp;.jpg").write_bytes(b"plain text")
    for i in range(50):  # 53 skipped in all: the list shows 50 and says how many more
        (photos / f"notes-{i:02d}.jpg").write_bytes(b"not a photo")
    import picfind

    picfind.open_index(tmp_path / "index", create=True).close()
    with serve_process(tmp_path / "index", "--root", str(photos)) as url:
        context = browser.new_context(viewport={"width": 1000, "height": 700})
        pg = context.new_page()
        pg.goto(url + "/")
        pg.click("#main button.index-root")
        pg.wait_for_function(
            "() => document.querySelector('#job-text').textContent.startsWith('Done')",
            timeout=60_000,
        )
        job = pg.request.get(url + "/api/jobs").json()["jobs"][0]
        report = [(s["path"], s["reason"]) for s in job["report"]["skipped"]]
        skipped = dict(report)
        for name in ("corrupt.jpg", "truncated.jpg", "<b>odd&amp;.jpg"):
            assert str(photos / name) in skipped, report
        assert f"skipped {len(skipped)}" in pg.text_content("#job-text")
        pg.wait_for_selector("#skipped-files")
        assert not pg.is_visible(".skipped-path")  # folded until asked
        pg.focus("#skipped-files summary")
        pg.keyboard.press("Enter")  # by keyboard
        rows = pg.eval_on_selector_all(
            "#skipped-files li:not(.skipped-more)",
            "els => els.map(e => [e.querySelector('.skipped-path').textContent,"
            " e.querySelector('.skipped-reason').textContent])",
        )
        assert len(report) == 53 and [tuple(r) for r in rows] == report[:50], rows
        assert pg.text_content("#skipped-files .skipped-more") == "and 3 more"
        assert pg.locator("#skipped-files b").count() == 0  # the name is text, not markup
        assert "Why " + str(len(skipped)) in pg.text_content("#skipped-files summary")
        shot(pg, "15-skipped-files")
        problems = axe_problems(pg)
        assert not problems, problems
        context.close()


def test_api_docs_render_offline(page, server: str) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() >= 12
    assert all(u.startswith(server) for u in requests), requests  # nothing from a CDN
    shot(page, "12-api-docs")


def axe_problems(pg) -> list[str]:
    """axe-core's serious and critical violations of WCAG 2.1 A/AA on the page as it is.

    axe.min.js comes from the ``axe-playwright-python`` wheel (axe-core, MPL-2.0); it is
    evaluated through the DevTools protocol, so the page's strict CSP stays as it is.
    """
    from axe_playwright_python.base import AXE_FILE_PATH

    if not pg.evaluate("() => typeof window.axe !== 'undefined'"):
        pg.evaluate(AXE_FILE_PATH.read_text(encoding="utf-8"))
    result = pg.evaluate(
        """() => axe.run(document, {runOnly: {type: "tag",
            values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})"""
    )
    assert result["passes"], "axe ran no check"
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_accessibility_with_axe_core(browser, server: str) -> None:
    """Every state of the page at desktop size, those whose layout differs at phone size:
    no serious or critical violation; focus is visible; the pass can fail."""
    for viewport in ({"width": 1200, "height": 900}, {"width": 390, "height": 844}):
        context = browser.new_context(viewport=viewport)
        pg = context.new_page()
        found = axe_states(pg, server, phone=viewport["width"] < 640)
        problems = {k: v for k, v in found.items() if v}
        assert len(found) >= 5 and not problems, (viewport, problems)
        # Focus is visible: a focused result has an outline.
        pg.focus("#grid .tile a")
        outline = pg.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none")
        # The pass can fail: a photo without a text alternative is reported.
        pg.evaluate("document.querySelector('#grid img').removeAttribute('alt')")
        assert any(p.startswith("image-alt (critical)") for p in axe_problems(pg))
        context.close()


def axe_states(pg, server: str, phone: bool) -> dict[str, list[str]]:
    """axe's problems in each state of the page, ending on a page of results."""
    found: dict[str, list[str]] = {}
    if not phone:
        pg.goto(server + "/?q=dgi")
        found["unknown word"] = axe_problems(pg)
        pg.goto(server + "/images/" + tile_ids_of(pg, server))
        pg.wait_for_selector(".facts")
        found["image page"] = axe_problems(pg)
    pg.goto(server + "/")
    pg.wait_for_selector("#results[data-timeline] #grid .tile")
    found["timeline"] = axe_problems(pg)
    pg.goto(server + "/?q=dog&count=48")  # 48 loaded: the "weaker matches" line among them
    pg.wait_for_selector("#strong-cut [role=separator]")
    found["strong line"] = axe_problems(pg)
    pg.goto(server + "/?q=dog")
    pg.wait_for_selector("#grid .tile")
    found["results"] = axe_problems(pg)
    pg.click("#grid .tile:nth-child(2) .pick")
    found["selection"] = axe_problems(pg)
    pg.click("#menu summary")
    found["menu"] = axe_problems(pg)
    pg.keyboard.press("Escape")
    pg.click("#grid .tile a")
    pg.wait_for_selector("#viewer[open]")
    pg.wait_for_function("() => document.querySelector('#viewer-facts').textContent")
    found["viewer"] = axe_problems(pg)
    pg.keyboard.press("Escape")
    pg.wait_for_selector("#viewer", state="hidden")
    return found


def tile_ids_of(pg, server: str) -> str:
    """The id of the first result for "dog" (from the API)."""
    return pg.request.get(server + "/api/search?q=dog&limit=1").json()["results"][0]["id"]


@pytest.fixture(scope="module")
def tagged_server(catsdogs: Path, tmp_path_factory: pytest.TempPathFactory):
    """A server on 12 real photos with EXIF (tests/exifphotos.TAGGED), one with text read."""
    from exifphotos import tagged_index

    index, ids = tagged_index(catsdogs, tmp_path_factory.mktemp("tagged"))
    with serve_process(index) as url:
        yield url, ids


def wait_for_params(pg, **expected: str) -> None:
    """Until the address carries exactly these parameters (in any order)."""
    from urllib.parse import parse_qsl, urlsplit

    pg.wait_for_url(lambda url: dict(parse_qsl(urlsplit(url).query)) == expected)


def tile_labels(pg) -> list[str]:
    return pg.eval_on_selector_all("#grid .tile .labels", "els => els.map(e => e.textContent)")


def paris_then_newest_first(pg) -> None:
    """On a "cat" search of the tagged photos: the filter row's place (Enter), then the
    date order (applies at once), each checked in the address."""
    pg.click("#filter-box summary")
    pg.fill("#f-place", "paris")
    pg.press("#f-place", "Enter")
    pg.wait_for_url("**/?q=cat&place=paris")
    assert pg.locator("#grid .tile").count() == 2
    pg.select_option("#f-sort", "date")
    pg.wait_for_url("**/?q=cat&place=paris&sort=date")


def test_why_filters_and_capture_facts(browser, tagged_server, catsdogs: Path) -> None:
    server, ids = tagged_server
    context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A words search: each tile says why, the matched label highlighted.
    page.goto(server + "/?q=cat")
    page.wait_for_selector("#grid .tile")
    why = page.request.get("/api/search?q=cat&limit=24").json()["results"]
    labels = tile_labels(page)
    assert len(labels) == len(why) and not any("0.00" in x for x in labels)
    marks = page.eval_on_selector_all(
        "#grid .tile .labels", "els => els.map(e => e.querySelector('mark')?.textContent)"
    )
    assert marks == [r["why"][0]["via"] for r in why]
    assert labels[0] == f"cat ← {why[0]['why'][0]['via']} {why[0]['why'][0]['score'] * 100:.0f}%"
    score = page.locator("#grid .tile .score").first.inner_text()
    assert score == f"{why[0]['score'] * 100:.0f}%"  # a words search's score: a percentage
    # The filter row: a place (Enter), then an order (applies at once); both in the address.
    assert not page.is_visible("#f-place")  # folded until wanted: results come first
    paris_then_newest_first(page)
    newest = [page.request.get(f"/api/images/{i}").json()["path"] for i in tile_ids(page)]
    assert [Path(p).stem for p in newest] == ["cat.1", "cat.0"]  # 2020-12, then 2019-07
    shot(page, "30-filters-why")
    page.reload()
    assert page.input_value("#f-place") == "paris" and page.input_value("#f-sort") == "date"
    page.go_back()
    page.wait_for_url("**/?q=cat&place=paris")
    assert page.input_value("#f-sort") == "relevance"
    # The viewer: when (and what said so), where, which camera, the text read.
    page.click(f"#grid .tile a[data-id='{ids['cat.1']}']")
    page.wait_for_function(
        "() => document.querySelector('#viewer-facts').textContent.includes('Taken')"
    )
    facts = page.text_content("#viewer-facts")
    for fact in ("2020-12-25 11:00:00 (UTC+01:00)", "Paris", "Canon EOS R5", "BEWARE OF THE CAT"):
        assert fact in facts, facts
    shot(page, "31-viewer-capture")
    # Its page: the same facts, and the lines read outlined where they were read.
    page.goto(server + f"/images/{ids['cat.1']}")
    page.wait_for_function("() => document.querySelector('.large img').naturalWidth > 0")
    assert "BEWARE OF THE CAT" in page.text_content(".facts")
    img = page.locator(".large img").bounding_box()
    boxes = [b.bounding_box() for b in page.locator(".text-box").all()]
    assert len(boxes) == 2
    for i, box in enumerate(boxes):  # sign_box(i): x 0.1–0.9, y 0.1+0.2i, 0.1 high
        # Centres exact; sizes within the stroke Chromium counts in an SVG element's box.
        centre_x, centre_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        assert abs(centre_x - (img["x"] + 0.5 * img["width"])) < 2, (box, img)
        assert abs(centre_y - (img["y"] + (0.15 + 0.2 * i) * img["height"])) < 2, (box, img)
        assert abs(box["width"] - 0.8 * img["width"]) < 10
        assert abs(box["height"] - 0.1 * img["height"]) < 10
    shot(page, "32-image-page-text")
    # By image: tiles keep their top classes (nothing to explain); the filter row refines it.
    page.goto(server + f"/?similar={ids['cat.0']}&mode=fused")
    page.wait_for_selector("#grid .tile")
    assert page.locator("#grid .tile .labels mark").count() == 0
    page.click("#filter-box summary")
    page.fill("#f-camera", "iphone")
    page.press("#f-camera", "Enter")
    wait_for_params(page, similar=ids["cat.0"], mode="fused", camera="iphone")
    stems = {Path(page.request.get(f"/api/images/{i}").json()["path"]).stem for i in tile_ids(page)}
    assert stems == {"cat.2", "cat.4", "dog.2"}
    # A photo chosen while a filter is set is searched with it, and the row then refines it.
    page.fill("#f-camera", "canon")
    page.set_input_files("#file", str(catsdogs / "cat.9.jpg"))
    page.wait_for_url("**/?upload=*&mode=fused&camera=canon")
    key = page.get_attribute("#results", "data-upload")
    assert {Path(result_names(page)[i]).stem for i in range(2)} == {"cat.1", "dog.1"}
    assert page.locator("#grid .tile").count() == 2
    page.fill("#f-camera", "sony")
    page.press("#f-camera", "Enter")
    wait_for_params(page, upload=key, mode="fused", camera="sony")
    assert [Path(n).stem for n in result_names(page)] == ["dog.4"]
    context.close()
    assert not errors, errors


# --- the timeline home, the first run with OCR, duplicates, --url, numbers (issues 15, 11 §6,
# 12 §1) -------------------------------------------------------------------------------------


def month_titles(pg) -> list[str]:
    return pg.eval_on_selector_all(".month-title", "els => els.map(e => e.textContent)")


def expected_months() -> list[str]:
    """The tagged photos' capture months, newest first, then "No date" (from the shots)."""
    from exifphotos import TAGGED

    from picfind.web.service import month_of

    taken = sorted((s.taken for _, s in TAGGED if s.taken), reverse=True)
    months = list(dict.fromkeys(month_of(t.replace(":", "-", 2))[1] for t in taken))
    return [*months, "No date"]


def focus_by_tab(pg, selector: str, presses: int = 60) -> None:
    """Tab (keyboard only) until the focused element matches ``selector``."""
    for _ in range(presses):
        pg.keyboard.press("Tab")
        if pg.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_timeline_home_by_month_and_by_keyboard(browser, tagged_server) -> None:
    """Landing on / with no search: the collection newest first, one heading per month,
    "No date" last; every step by keyboard alone; no serious axe violation."""
    server, ids = tagged_server
    for size, name in (((1280, 800), "40-timeline"), ((390, 844), "41-timeline-phone")):
        context = browser.new_context(viewport={"width": size[0], "height": size[1]})
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        pg.goto(server + "/")
        pg.wait_for_selector("#results[data-timeline] #grid .tile")
        pg.wait_for_function(FIRST_THUMBNAIL)  # the others load as they scroll into view
        assert pg.text_content("#results-title") == "All 12 photos, newest first"
        assert month_titles(pg) == expected_months()
        api = pg.request.get(server + "/api/timeline?limit=24").json()["results"]
        assert tile_ids(pg) == [r["id"] for r in api]
        assert pg.text_content("#grid .tile .taken") == "1 Jan 2021, 00:30"
        last = pg.eval_on_selector_all(
            ".month:last-child .tile a", "els => els.map(e => e.dataset.id)"
        )
        assert sorted(last) == sorted([ids["cat.5"], ids["dog.5"]])  # the undated photos
        assert not axe_problems(pg), axe_problems(pg)
        shot(pg, name)
        # Keyboard only: Tab to the newest photo, Enter opens it, → the next, Esc closes
        # and focus comes back to the photo shown last, visible below the sticky header.
        focus_by_tab(pg, "#grid .tile a")
        assert pg.evaluate("document.activeElement.dataset.id") == api[0]["id"]
        header = pg.evaluate("document.querySelector('.top').getBoundingClientRect().bottom")
        top = pg.evaluate("document.activeElement.getBoundingClientRect().top")
        assert top >= header - 1, (top, header)
        pg.keyboard.press("Enter")
        pg.wait_for_selector("#viewer[open]")
        assert viewer_position(pg) == "1 of 12"
        pg.keyboard.press("ArrowRight")
        pg.wait_for_function(
            "() => document.querySelector('#viewer-pos').textContent === '2 of 12'"
        )
        pg.wait_for_function("() => document.querySelector('#viewer-facts').textContent")
        assert not axe_problems(pg), axe_problems(pg)
        shot(pg, f"{name}-viewer")
        pg.keyboard.press("Escape")
        pg.wait_for_selector("#viewer", state="hidden")
        focused_on(pg, api[1]["id"])
        if size[0] < 640:
            columns = pg.evaluate(
                "getComputedStyle(document.querySelector('.month .grid'))"
                ".gridTemplateColumns.split(' ').length"
            )
            assert columns == 2 and pg.evaluate("document.documentElement.scrollWidth") <= 390
        # The detail page of a photo with every fact (date, place, camera, text outlined).
        pg.goto(server + f"/images/{ids['cat.1']}")
        pg.wait_for_selector(".text-box")
        assert not axe_problems(pg), axe_problems(pg)
        context.close()
        assert not errors, errors


def test_timeline_filters_and_scroll(page, server: str, tagged_server) -> None:
    """The filter row restricts the timeline; more photos load on scroll, continuing the
    month shown (the 80 shared photos carry no date: one "No date" group)."""
    tagged, _ = tagged_server
    page.goto(tagged + "/")
    page.click("#filter-box summary")
    page.fill("#f-place", "paris")
    page.press("#f-place", "Enter")
    page.wait_for_url("**/?place=paris")
    assert page.text_content("#results-title") == "3 photos match, newest first"
    assert month_titles(page) == ["December 2020", "August 2019", "July 2019"]
    page.goto(server + "/")
    page.wait_for_selector("#results[data-timeline] #grid .tile")
    assert page.locator("#grid .tile").count() == 24 and month_titles(page) == ["No date"]
    scroll_until(page, 48)
    assert month_titles(page) == ["No date"]  # a page continues its month
    page.wait_for_url("**/?count=48")
    page.reload()
    page.wait_for_selector("#grid .tile")
    assert page.locator("#grid .tile").count() == 48
    want = page.request.get(server + "/api/timeline?limit=48").json()["results"]
    assert tile_ids(page) == [r["id"] for r in want]
    assert [Path(r["path"]).name for r in want] == sorted(Path(r["path"]).name for r in want)


def sign_photo(catsdogs: Path, font_file: Path, out: Path, text: str) -> None:
    """A real photo with a sign on it (dark words on a light plate)."""
    from PIL import Image, ImageDraw, ImageFont

    with Image.open(catsdogs / "cat.3.jpg") as im:
        canvas = im.convert("RGB").resize((800, 600))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((60, 220, 560, 320), fill=(240, 236, 220))
    draw.text((80, 240), text, font=ImageFont.truetype(str(font_file), 56), fill=(20, 25, 50))
    canvas.save(out, quality=92)


def test_first_run_indexes_and_reads_text(
    browser, catsdogs: Path, font_file: Path, tmp_path: Path
) -> None:
    """An empty index: a welcome offering the configured folder; "Also read text in
    photos" makes the job run the OCR pass; then the timeline, and the text is found."""
    photos = tmp_path / "photos"
    photos.mkdir()
    sign_photo(catsdogs, font_file, photos / "sign.jpg", "GATE 23")
    for name in ("dog.7.jpg", "cat.8.jpg"):
        shutil.copy2(catsdogs / name, photos / name)
    with serve_process(tmp_path / "index", "--root", str(photos)) as url:
        for size, name in (((390, 844), "42-first-run-phone"), ((1280, 800), "43-first-run")):
            context = browser.new_context(viewport={"width": size[0], "height": size[1]})
            pg = context.new_page()
            pg.goto(url + "/")
            assert pg.text_content("#start-title") == "Welcome to picfind"
            assert pg.locator("[role=alert]").count() == 0
            assert not axe_problems(pg), axe_problems(pg)
            shot(pg, name)
            if size[0] < 640:
                context.close()
        # The desktop context goes on, by keyboard: check the box, press the button.
        focus_by_tab(pg, "#ocr-start")
        pg.keyboard.press("Space")
        assert pg.is_checked("#ocr-start")
        focus_by_tab(pg, "#main button.index-root")
        pg.keyboard.press("Enter")
        pg.wait_for_selector("#job:not([hidden])")
        pg.wait_for_function(
            "() => document.querySelector('#job-text').textContent.startsWith('Done')",
            timeout=300_000,
        )
        done = pg.text_content("#job-text")
        assert "indexed 3" in done and "Read text in 3 of 3 photos" in done, done
        shot(pg, "44-first-run-done")
        pg.click("#see-photos")
        pg.wait_for_selector("#results[data-timeline] #grid .tile")
        assert pg.locator("#grid .tile").count() == 3 and month_titles(pg) == ["No date"]
        shot(pg, "45-timeline-after-first-run")
        pg.goto(url + '/?q=text:"gate 23"')
        pg.wait_for_selector("#grid .tile")
        assert result_names(pg, url) == ["sign.jpg"]
        pg.click("#grid .tile a")
        pg.wait_for_function(
            "() => document.querySelector('#viewer-facts').textContent.includes('Text read')"
        )
        assert "GATE" in pg.text_content("#viewer-facts").upper()
        context.close()


@pytest.fixture(scope="module")
def copies_server(catsdogs: Path, tmp_path_factory: pytest.TempPathFactory):
    """Photos with copies: cat.0 three times byte for byte, dog.0 also smaller."""
    from PIL import Image

    import picfind

    root = tmp_path_factory.mktemp("copies")
    photos = root / "photos"
    photos.mkdir()
    for name in ("cat.0", "cat.1", "cat.2", "dog.0", "dog.1", "dog.2"):
        shutil.copy2(catsdogs / f"{name}.jpg", photos / f"{name}.jpg")
    for extra in ("cat.0-copy", "cat.0-again"):
        shutil.copy2(catsdogs / "cat.0.jpg", photos / f"{extra}.jpg")
    with Image.open(catsdogs / "dog.0.jpg") as im:
        small = im.convert("RGB").resize((im.width * 2 // 3, im.height * 2 // 3))
        small.save(photos / "dog.0-small.jpg", quality=70)
    with picfind.open_index(root / "index", create=True) as idx:
        assert idx.add([photos]).indexed == 9
    with serve_process(root / "index") as url:
        yield url


def test_group_duplicates_in_results(page, copies_server: str) -> None:
    page.goto(copies_server + "/?q=cat OR dog")
    page.wait_for_selector("#grid .tile")
    assert page.locator("#grid .tile").count() == 9
    page.click("#filter-box summary")
    page.check("#f-group")  # applies at once, and is part of the address
    page.wait_for_url("**/?q=cat+OR+dog&group=1")
    page.wait_for_selector("#grid .tile")
    assert page.locator("#grid .tile").count() == 6
    badges = page.eval_on_selector_all("#grid .dup", "els => els.map(e => e.textContent)")
    assert sorted(badges) == ["+1 copy", "+2 copies"]
    assert "copies grouped (9 in all)" in page.text_content("#results-title")
    assert not axe_problems(page), axe_problems(page)
    shot(page, "46-duplicates-grouped")
    page.reload()
    assert page.is_checked("#f-group") and page.locator("#grid .tile").count() == 6


@pytest.fixture(scope="module")
def cluster_server(catsdogs: Path, opensearch_url: str, tmp_path_factory: pytest.TempPathFactory):
    """``serve --url``: the app over the shared OpenSearch node, the tagged photos in it."""
    import uuid

    from cluster_fixtures import _delete_indices
    from exifphotos import write_tagged
    from webserver import serve_thread

    import picfind
    from picfind.store.cluster import ClusterOptions
    from picfind.web import Settings, create_app

    photos = tmp_path_factory.mktemp("tagged-url")
    write_tagged(catsdogs, photos)
    name = f"t-web-{uuid.uuid4().hex[:8]}"
    options = ClusterOptions(name=name, replicas=0)
    try:
        with picfind.open_index(url=opensearch_url, cluster=options, create=True) as idx:
            assert idx.add([photos]).indexed == 12
        cache = tmp_path_factory.mktemp("url-thumbs")
        app = create_app(Settings(index_dir=cache, url=opensearch_url, cluster=options))
        with serve_thread(app) as url:
            yield url
    finally:
        _delete_indices(opensearch_url, name)


def test_filters_and_timeline_over_url(browser, cluster_server: str, tagged_server) -> None:
    """The same page over a cluster: the timeline and the filter row answer as the
    embedded server does (same photos, same order)."""
    embedded, _ = tagged_server
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.goto(cluster_server + "/")
    pg.wait_for_selector("#results[data-timeline] #grid .tile")
    assert month_titles(pg) == expected_months()
    names = result_names(pg, cluster_server)
    pg.goto(embedded + "/")
    pg.wait_for_selector("#grid .tile")
    assert result_names(pg, embedded) == names
    pg.goto(cluster_server + "/?q=cat")
    pg.wait_for_selector("#grid .tile")
    paris_then_newest_first(pg)
    assert [Path(n).stem for n in result_names(pg, cluster_server)] == ["cat.1", "cat.0"]
    pg.fill("#f-place", "")
    pg.fill("#f-camera", "iphone")
    pg.press("#f-camera", "Enter")
    pg.wait_for_url("**/?q=cat&camera=iphone&sort=date")
    assert [Path(n).stem for n in result_names(pg, cluster_server)] == ["cat.2", "cat.0", "cat.4"]
    pg.fill("#f-after", "2019-06-01")  # a date applies at once
    pg.wait_for_url("**/?q=cat&after=2019-06-01&camera=iphone&sort=date")
    assert [Path(n).stem for n in result_names(pg, cluster_server)] == ["cat.2", "cat.0"]
    pg.wait_for_function(FIRST_THUMBNAIL)
    shot(pg, "47-filters-over-url")
    context.close()


BIG = 10_000
WARM_WORDS = ("dog", "cat", "dog OR cat", "terrier", "tabby")
WEB_RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "web.json"


def build_big_index(small_index: Path, files: list[Path], folder: Path, n: int = BIG) -> Path:
    """An index of ``n`` synthetic rows, each with a real JPEG file of its own.

    Features: one of the 80 indexed photos', perturbed (embedding noise as in
    bench/synthetic.py, class probabilities in log space), so words find rows as they
    would real ones. File: one of ``files`` (real shared photos, in turn) with bytes of
    its own after the image — a distinct content, so each row has a thumbnail of its
    own, made from a real photo; a page of results shows as many different photos as a
    real collection's would (the features' 80 sources alone would show one photo 24
    times). Built once per folder."""
    import numpy as np

    from picfind import imaging
    from picfind.hashing import content_hash
    from picfind.records import Features, ImageRecord, SparseClasses
    from picfind.store.embedded import EmbeddedStore

    index = folder / "index"
    if (folder / "built").exists():
        return index
    shutil.rmtree(folder, ignore_errors=True)
    photos = folder / "photos"
    photos.mkdir(parents=True)
    source = EmbeddedStore(small_index, read_only=True)
    rows = [r for r in source.rows(features=True) if r.features is not None]
    model = source.model or "efficientnet-lite0"
    source.close()
    data = [f.read_bytes() for f in files]
    probed = [imaging.probe(d, name=str(f)) for d, f in zip(data, files, strict=True)]
    rng = np.random.default_rng(15)
    store = EmbeddedStore(index, create=True)
    store.set_model(model)
    batch: list[ImageRecord] = []
    for k in range(n):
        src = rows[k % len(rows)]
        assert src.features is not None
        real = (k * 7919) % len(files)  # a prime stride: neighbours get other photos
        body = data[real] + f"picfind-web-bench-{k}".encode()
        path = photos / f"{k // 1000:02d}" / f"photo-{k:05d}.jpg"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(body)
        emb = src.features.embedding
        emb = emb + rng.standard_normal(emb.shape).astype(np.float32) * (0.45 / np.sqrt(emb.size))
        probs = src.features.classes.probs.astype(np.float64)
        noisy = probs * np.exp(rng.standard_normal(probs.size) * 0.3)
        noisy *= probs.sum() / noisy.sum()
        order = np.argsort(-noisy, kind="stable")
        classes = SparseClasses(src.features.classes.ids[order], noisy[order].astype(np.float32))
        batch.append(
            ImageRecord(
                f"w{k:07d}", str(path), content_hash(body), len(body), path.stat().st_mtime_ns,
                probed[real][1], probed[real][2], probed[real][0],
                Features(classes, (emb / np.linalg.norm(emb)).astype(np.float32)),
            )
        )  # fmt: skip
        if len(batch) == 2000:
            store.write(add=batch)
            batch = []
    store.write(add=batch)
    store.close()
    (folder / "built").write_text(str(n))
    return index


HTML_DONE = "() => performance.getEntriesByType('navigation')[0].responseEnd"
"""When the page's HTML (the search, rendered by the server) had arrived, in ms."""


THUMB_DONE = (
    "() => { const i = document.querySelector('#grid img'); "
    "const e = performance.getEntriesByName(i.currentSrc)[0]; "
    "return e ? e.responseEnd : performance.now(); }"
)
"""When the first thumbnail's bytes had arrived, in ms of the page's own clock (from the
start of its navigation: no test-driver round trips)."""


def first_thumbnail_ms(browser, url: str, html: list[float] | None = None) -> float:
    """A new browser (nothing cached) loads ``url``: ms until the first thumbnail shows
    (and, into ``html``, ms until the server's page had arrived)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    started = time.monotonic()
    pg.goto(url)
    pg.wait_for_function(FIRST_THUMBNAIL, polling="raf")
    elapsed = (time.monotonic() - started) * 1000
    if html is not None:
        html.append(float(pg.evaluate(HTML_DONE)))
    context.close()
    return elapsed


def open_tab_thumbnail_ms(pg, url: str) -> tuple[float, float]:
    """The next search in a tab already open (its styles and script cached, as when a
    person types another word): ms until the first thumbnail shows, by the test's clock
    and by the page's own (navigation start → the thumbnail's bytes)."""
    started = time.monotonic()
    pg.goto(url)
    pg.wait_for_function(FIRST_THUMBNAIL, polling="raf")
    elapsed = (time.monotonic() - started) * 1000
    return elapsed, float(pg.evaluate(THUMB_DONE))


def test_numbers_on_a_10k_photo_index(
    browser, small_index: Path, shared: Path, tmp_path_factory
) -> None:
    """Issue 15's numbers on 10,000 photos, written to bench/results/web.json: word query
    → first thumbnail (p50 warm: the thumbnails on the server's disk, a new browser each
    time, words alternating), and the weight of a results page of 24 at 2× density — the
    only one asserted (a size, the same on a busy machine). PICFIND_WEB_BENCH_DIR keeps
    the built index between runs."""
    import resource
    import statistics

    base = os.environ.get("PICFIND_WEB_BENCH_DIR")
    folder = Path(base) if base else tmp_path_factory.mktemp("web-bench")
    started = time.monotonic()
    files = sorted((shared / "data" / "catsdogs").glob("*.jpg"))
    files += sorted((shared / "data" / "pets").rglob("*.jpg"))
    assert len(files) >= 1000
    index = build_big_index(small_index, files, folder / f"web-{BIG}")
    built = time.monotonic() - started
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    with serve_process(index) as url:
        assert httpx_get(url + "/api/stats")["images"] == BIG
        cold = {w: first_thumbnail_ms(browser, f"{url}/?q={w}") for w in WARM_WORDS}
        warm: dict[str, list[float]] = {w: [] for w in WARM_WORDS}
        html: list[float] = []
        for _ in range(3):  # rounds, the words alternating within each
            for w in WARM_WORDS:
                warm[w].append(first_thumbnail_ms(browser, f"{url}/?q={w}", html))
        timeline = [first_thumbnail_ms(browser, url + "/") for _ in range(4)]
        tab = browser.new_context(viewport={"width": 1280, "height": 800})
        tab_page = tab.new_page()
        tab_page.goto(url + "/")
        in_tab: list[tuple[float, float]] = []
        for _ in range(3):
            for w in WARM_WORDS:
                in_tab.append(open_tab_thumbnail_ms(tab_page, f"{url}/?q={w}"))
        tab.close()
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, device_scale_factor=2
        )
        pg = context.new_page()
        weight, thumbs, sizes = page_weight(pg, url + "/?q=dog OR cat")
        shot(pg, "48-results-10k-2x")
        context.close()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    every_warm = [ms for values in warm.values() for ms in values]
    result = {
        "command": "CI=true PICFIND_WEB_BENCH_DIR=/work/bench-cache/p3web .venv/bin/python -m "
        "pytest -q tests/test_browser.py -k numbers_on_a_10k",
        "index_images": BIG,
        "index": "synthetic rows (features of the 80 test photos, perturbed); each row's file "
        f"a real shared photo ({len(files)} in turn, catsdogs and pets) with bytes of its own",
        "index_built_seconds": round(built, 1),
        "word_query_to_first_thumbnail_ms": {
            "p50_warm": round(statistics.median(every_warm)),
            "warm": {w: [round(v) for v in values] for w, values in warm.items()},
            "first_load_per_word": {w: round(v) for w, v in cold.items()},
            "page_html_arrived_p50_ms": round(statistics.median(html)),
            "open_tab_p50": round(statistics.median(t for t, _ in in_tab)),
            "open_tab_page_clock_p50": round(statistics.median(p for _, p in in_tab)),
            "open_tab": "the next search in a tab already open (styles and script cached); "
            "page clock: the page's navigation start to the first thumbnail's bytes",
            "target": "<= 300 ms p50 warm (reported, not asserted)",
        },
        "timeline_home_to_first_thumbnail_ms": {
            "p50_warm": round(statistics.median(timeline[1:])),
            "all": [round(v) for v in timeline],
        },
        "results_page_bytes_2x": {
            "bytes": weight,
            "page_html": sizes["page"],
            "thumbnails_384": len(thumbs),
            "target": "<= 500000 bytes for 24 results at 2x (asserted)",
        },
        "test_process_cpu_seconds": round(
            cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2
        ),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    WEB_RESULTS.parent.mkdir(exist_ok=True)
    WEB_RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    assert len(thumbs) == 24  # every tile, at the 2× size
    assert weight <= 500_000, weight


def httpx_get(url: str) -> dict:
    import httpx

    return httpx.get(url, timeout=30).json()
