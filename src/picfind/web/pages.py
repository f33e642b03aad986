"""The HTML pages: rendered here, enhanced by ``static/app.js``.

Every page works without JavaScript (search by words, pages of results,
an image's page, more like this); the script adds autocomplete, more results
on scroll, search by a dropped/pasted/chosen photo and indexing progress.
Templates are ``string.Template`` files and every value is escaped here: the
page needs no template engine, hence no extra dependency.
"""

from __future__ import annotations

import functools
import html
import os
from datetime import datetime
from pathlib import Path
from string import Template
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from picfind.errors import EmptyIndexError, PicfindError, UnknownConceptError
from picfind.records import SearchResults
from picfind.search import DEFAULT_MODE, MODES
from picfind.web.app import error_body
from picfind.web.grouping import GroupedResults
from picfind.web.jobs import Jobs
from picfind.web.service import FILTERS, Service, Timeline, month_of, search_filter
from picfind.web.strength import cut_html, first_weak, shown_score, strong_threshold

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"
MODE_HELP = {
    "hybrid": ("Hybrid", "looks and classes"),
    "classes": ("Classes", "what is in it"),
    "embedding": ("Embedding", "how it looks"),
    "fused": ("Fused", "looks and classes, best of both"),
}
EXAMPLES = ("dog", "golden retriever", "cat OR dog", "dog -poodle", "sports car")
"""Searches the start page offers: concepts every index's vocabulary knows."""
CSP = (
    "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
MIN_LABEL = 0.005
"""Labels below this probability are not shown on a tile."""
TILE_SIZES = "(max-width: 640px) calc(50vw - 14px), 190px"
"""How wide a tile is drawn, for the browser to pick a thumbnail from ``srcset``."""
MAX_RESTORED = 240
"""Most results one page renders at once (``count``: what was loaded on scroll)."""


@functools.cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(
    title: str,
    body: str,
    service: Service,
    jobs: Jobs,
    q: str = "",
    status: int = 200,
    filters: str = "",
) -> HTMLResponse:
    text = _template("layout.html").substitute(
        title=e(title),
        q=e(q),
        body=body,
        stats=_stats_html(service, jobs),
        filters=filters or filters_html({}),
    )
    return HTMLResponse(
        text,
        status_code=status,
        headers={
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
        },
    )


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request,
    q: str = "",
    similar: str = "",
    upload: str = "",
    mode: str = DEFAULT_MODE,
    offset: int = 0,
    count: int = 0,
) -> HTMLResponse:
    """The search page; every search is its address (words, an image id, an upload key).

    ``count`` (set by the script as more results load on scroll) renders that many
    results at once, so Back and reload show what was loaded, at the same place.
    """
    service: Service = request.app.state.service
    jobs: Jobs = request.app.state.jobs
    size: int = request.app.state.settings.page_size
    limit = size if count <= 0 else min(count, MAX_RESTORED)
    mode = mode if mode in MODES else DEFAULT_MODE
    offset = max(0, min(offset, 100_000))
    message, results = "", ""
    q = q.strip()[:500]
    chosen = {k: v.strip()[:1000] for k in FILTERS if (v := request.query_params.get(k, ""))}
    chosen = {k: v for k, v in chosen.items() if v and not (k == "sort" and v == "relevance")}
    group = request.query_params.get("group") == "1"
    folds = {"group": "1"} if group else {}
    by_image = {"similar": similar, "mode": mode} if similar and not q else {}
    if upload and not q and not similar:
        by_image = {"upload": upload, "mode": mode}
    try:
        where = search_filter(dict(chosen))
        if q:
            found = service.search_words(q, limit, offset, where=where, group=group)
            results = results_html(
                found, {"q": q, **chosen, **folds}, offset, size, f"for {found.query or q}"
            )
        elif similar:
            found = service.search_similar(similar, mode, limit, offset, where, group)
            params = {"similar": similar, "mode": mode, **chosen, **folds}
            query = _query_image(f"/images/{similar}", f"/api/images/{similar}/thumbnail?size=128")
            results = results_html(found, params, offset, size, "like this image", query)
        elif upload:
            found = service.search_uploaded(upload, mode, limit, offset, where, group)
            params = {"upload": upload, "mode": mode, **chosen, **folds}
            query = _query_image("", f"/api/uploads/{upload}/preview", "your photo")
            results = results_html(found, params, offset, size, "like your photo", query)
        else:  # the timeline; its count says whether the index is empty (no stats read)
            timeline = service.timeline(limit, offset, where)
            if timeline.total == 0 and where is None:
                results = _start_html(service, jobs)
            else:
                results = timeline_html(timeline, chosen, offset, size)
    except EmptyIndexError:
        results = _start_html(service, jobs)
    except PicfindError as exc:
        message = _exception_html(exc)
    # On a search by image the mode radios belong to the search form too: the filter
    # row refines that search in the mode shown.
    own = ' form="search-form"' if by_image else ""
    modes = "".join(
        f'<label><input type="radio" name="mode" value="{m}"{" checked" if m == mode else ""}{own}>'
        f' {e(MODE_HELP[m][0])}<span class="wide-only"> ({e(MODE_HELP[m][1])})</span></label>'
        for m in MODES
    )
    body = _template("home.html").substitute(modes=modes, message=message, results=results)
    title = f"{q} – picfind" if q else "picfind"
    return _page(title, body, service, jobs, q, filters=filters_html({**chosen, **folds}, by_image))


def filters_html(chosen: dict[str, str], by_image: dict[str, str] | None = None) -> str:
    """The filter row of the search form: capture dates, place, camera, folder, sort
    (folded under "Filters" unless one is set: the phone's first screen stays results).

    Part of the search's address (``after=``, ``before=``, ``place=``, ``camera=``,
    ``folder=``, ``sort=date``); on a search by image it carries that search
    (``similar``/``upload`` and ``mode``), so applying a filter refines what is shown.
    """

    def field(name: str, label: str, kind: str, hint: str) -> str:
        value = e(chosen.get(name, ""))
        return (
            f'<label for="f-{name}">{e(label)}<input id="f-{name}" name="{name}" '
            f'type="{kind}" value="{value}" placeholder="{e(hint)}" autocomplete="off"></label>'
        )

    by_date = chosen.get("sort") == "date"
    hidden = "".join(  # the mode: the radios of the page (``form="search-form"``)
        f'<input type="hidden" name="{e(k)}" value="{e(v)}">'
        for k, v in (by_image or {}).items()
        if k != "mode"
    )
    return (
        f'<details class="filter-box" id="filter-box"{" open" if chosen else ""}>'
        "<summary>Filters</summary>"
        '<fieldset class="filters" id="filters"><legend class="visually-hidden">Filters</legend>'
        f"{hidden}"
        + field("after", "Taken from", "date", "")
        + field("before", "Before", "date", "")
        + field("place", "Place", "text", "paris, japan")
        + field("camera", "Camera", "text", "iphone")
        + field("folder", "Folder", "text", "/photos/2019")
        + '<label for="f-sort">Sort<select id="f-sort" name="sort" autocomplete="off">'
        f'<option value="relevance"{"" if by_date else " selected"}>best match</option>'
        f'<option value="date"{" selected" if by_date else ""}>newest first</option>'
        "</select></label>"
        '<label class="check" for="f-group"><input id="f-group" name="group" type="checkbox" '
        f'value="1"{" checked" if chosen.get("group") == "1" else ""}> Group duplicates</label>'
        "</fieldset></details>"
    )


@router.get("/images/{image_id}", response_class=HTMLResponse)
def image_page(request: Request, image_id: str) -> HTMLResponse:
    service: Service = request.app.state.service
    jobs: Jobs = request.app.state.jobs
    try:
        meta = service.metadata(image_id)
    except PicfindError as exc:
        body = f'<main id="main" tabindex="-1">{_exception_html(exc)}</main>'
        status, _ = error_body(exc)  # the status the API gives: 404 for an unknown id
        return _page("Not found – picfind", body, service, jobs, status=status)
    labels = meta["labels"]
    assert isinstance(labels, list)
    rows = "".join(
        f'<tr><td title="WordNet {e(lab["wnid"])}">{e(lab["name"])}</td>'
        f'<td><meter min="0" max="1" value="{lab["score"]:.4f}"></meter> '
        f"{lab['score'] * 100:.1f}%</td></tr>"
        for lab in labels
    )
    name = os.path.basename(str(meta["path"]))
    modified = str(meta["modified"])
    dims = f"{meta['width']} × {meta['height']} px, {meta['format']}" if meta["width"] else "—"
    if not meta["available"]:
        dims = "file changed or missing since indexing"
    body = _template("image.html").substitute(
        id=e(image_id),
        alt=e(", ".join(str(lab["name"]) for lab in labels[:3])),
        name=e(name),
        path=e(meta["path"]),
        size=e(human_size(int(meta["size"]))),  # type: ignore[call-overload]
        dimensions=e(dims),
        modified=e(modified),
        modified_text=e(datetime.fromisoformat(modified).strftime("%Y-%m-%d %H:%M UTC")),
        mode_options="".join(
            f'<option value="{m}">{e(MODE_HELP[m][0])} ({e(MODE_HELP[m][1])})</option>'
            for m in MODES
        ),
        labels=rows,
        capture="".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in capture_facts(meta)),
        boxes=text_boxes_svg(meta.get("text")),
    )
    return _page(f"{name} – picfind", body, service, jobs)


def _offset_text(minutes: object) -> str:
    if not isinstance(minutes, int):
        return ""
    sign = "+" if minutes >= 0 else "-"
    return f" (UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d})"


def _points(box: list[list[float]]) -> str:
    return " ".join(f"{float(x):.4f},{float(y):.4f}" for x, y in box)


def text_boxes_svg(text: object) -> str:
    """The lines of text read in the photo outlined over it: one polygon per line, in
    the 0–1 corners the reader stored (of the upright image, as the thumbnail is)."""
    lines = text.get("lines") if isinstance(text, dict) else None
    if not isinstance(lines, list) or not lines:
        return ""
    shapes = "".join(
        f'<polygon class="text-box" points="{e(_points(line["box"]))}">'
        f"<title>{e(line['text'])}</title></polygon>"
        for line in lines
        if isinstance(line.get("box"), list)
    )
    return (
        '<svg class="text-boxes" viewBox="0 0 1 1" preserveAspectRatio="none" '
        f'aria-hidden="true">{shapes}</svg>'
    )


def capture_facts(meta: dict[str, object]) -> list[tuple[str, str]]:
    """The facts of an image's capture, as (term, HTML) pairs: when it was taken (and
    what said so), where, with what camera, and the text read in it. Only those that
    are known; ``captureFacts`` in app.js shows the same in the viewer."""
    facts: list[tuple[str, str]] = []
    taken, place, camera, text = (meta.get(k) for k in ("taken", "place", "camera", "text"))
    if isinstance(taken, dict) and taken.get("local"):
        when = str(taken["local"]).replace("T", " ")
        source = (
            f' <span class="source">from {e(taken["source"])}</span>' if taken.get("source") else ""
        )
        facts.append(
            ("Taken", f"{e(when)}{e(_offset_text(taken.get('utc_offset_minutes')))}{source}")
        )
    if isinstance(place, dict):
        label = place.get("label")
        if not label and place.get("lat") is not None:
            label = f"{float(place['lat']):.4f}, {float(place['lon']):.4f}"
        if label:
            facts.append(("Place", e(label)))
    if isinstance(camera, dict):
        parts = [str(camera[k]) for k in ("name", "lens") if camera.get(k)]
        if parts:
            facts.append(("Camera", e(" · ".join(parts))))
    if isinstance(text, dict):
        lines = text.get("lines")
        if isinstance(lines, list) and lines:
            items = "".join(f"<li>{e(line['text'])}</li>" for line in lines)
            facts.append(("Text read", f'<ol class="text-lines">{items}</ol>'))
        elif text.get("failure"):
            facts.append(("Text read", f"could not be read: {e(text['failure'])}"))
    return facts


def results_html(
    found: SearchResults,
    params: dict[str, str],
    offset: int,
    size: int,
    what: str,
    query: str = "",
) -> str:
    """The results section: a heading, a grid of tiles, and a link to the next page.

    ``data-*`` attributes tell ``static/app.js`` what was searched (to load more,
    and to keep the address up to date); ``size`` is the page the script loads.
    """
    shown = len(found.results)
    data = " ".join(f'data-{k}="{e(v)}"' for k, v in params.items())
    hint = ""
    if found.total == 0 or shown == 0:
        heading = f"No results {e(what)}" + (" on this page" if offset else "")
        if not offset:
            hint = '<p class="hint">Try fewer words, another word, or a photo.</p>'
    else:
        heading = (
            f"{offset + 1}–{offset + shown} of {found.total} results {e(what)} "
            f'<span class="mode">({e(found.mode)})</span>'
        )
        if isinstance(found, GroupedResults):
            heading += f' <span class="mode">· copies grouped ({found.ungrouped} in all)</span>'
    rows = found.to_json()["results"]  # with what a grouped page adds (duplicates)
    assert isinstance(rows, list)
    tiles_list = [tile_html(r) for r in rows]
    scores = [float(r["score"]) for r in rows]
    strong = ""
    if params.get("sort") != "date":  # the line is where a ranking best first weakens
        best = scores[0] if scores and offset == 0 else None
        threshold = strong_threshold("q" in params, best, found.mode)
        cut = first_weak(scores, threshold, at_top=offset == 0)
        if threshold is not None:
            last = repr(scores[-1]) if scores else ""
            strong = f'data-strong="{threshold!r}" data-last-score="{last}" '
        if cut is not None and threshold is not None:
            tiles_list.insert(cut, cut_html(threshold, "q" in params))
    tiles = "".join(tiles_list)
    more = ""
    if offset + shown < found.total:
        next_url = "/?" + urlencode({**params, "offset": offset + shown})
        more = (
            f'<p class="more"><a id="more" class="button" href="{e(next_url)}">More results</a></p>'
        )
    return (
        f'<section id="results" class="results" aria-labelledby="results-title" {data} '
        f'data-offset="{offset}" data-next="{offset + shown}" data-total="{found.total}" '
        f'{strong}data-size="{size}">'
        f'<h2 id="results-title" tabindex="-1">{heading}</h2>{hint}{query}'
        f'<ol class="grid" id="grid" start="{offset + 1}">{tiles}</ol>{more}</section>'
    )


def _query_image(link: str, src: str, alt: str = "the query image") -> str:
    """The photo a search by image compares with, shown above its results."""
    img = f'<img src="{e(src)}" alt="{e(alt)}">'
    if link:
        img = f'<a href="{e(link)}">{img}</a>'
    return f'<p class="query-image">Looking like: {img}</p>'


def tile_html(r: dict[str, object]) -> str:
    """One result; ``static/app.js`` builds the same markup for results it fetches.

    The thumbnail comes in three sizes (``srcset``): 256 px, 384 px on a 2× screen, 512
    for wider tiles or denser screens.
    Labels under half a percent are left out (a tile showed "0.00" three times). The
    checkbox belongs to the ``picks`` form: checked ones download as a zip, even
    without the script.
    """
    labels = r["labels"]
    assert isinstance(labels, list)
    names = e(
        ", ".join(
            f"{lab['name']} {lab['score'] * 100:.0f}%"
            for lab in labels
            if lab["score"] >= MIN_LABEL
        )
    )
    why = r.get("why")
    if isinstance(why, list) and why:
        names = reasons_html(why)
    score = shown_score(float(r["score"]), "why" in r)  # type: ignore[arg-type]
    meta = (
        f'<span class="rank">#{r["rank"]}</span> {duplicates_html(r.get("duplicates"))}'
        f'<span class="score" title="score">{score}</span>'
    )
    return _tile(r, meta, names)


def duplicates_html(copies: object) -> str:
    """A grouped result's count of the copies folded behind it, their names on hover
    (``duplicatesHtml`` in app.js)."""
    if not isinstance(copies, list) or not copies:
        return ""
    names = ", ".join(os.path.basename(str(c["path"])) for c in copies)
    word = "copy" if len(copies) == 1 else "copies"
    return f'<span class="dup" title="{e(names)}">+{len(copies)} {word}</span> '


def _tile(r: dict[str, object], meta: str, names: str) -> str:
    """A tile's markup around its facts (``meta``) and labels: the thumbnail link and the
    selection checkbox (``tileShell`` in app.js)."""
    labels = r["labels"]
    assert isinstance(labels, list)
    alt = labels[0]["name"] if labels else "image"
    rid = e(r["id"])
    thumb = f"/api/images/{rid}/thumbnail?size="
    return (
        f'<li class="tile"><a href="/images/{rid}" data-id="{rid}">'
        f'<img src="{thumb}256" srcset="{thumb}256 256w, {thumb}384 384w, {thumb}512 512w" '
        f'sizes="{TILE_SIZES}" '
        f'alt="{e(alt)}" loading="lazy" width="256" height="256">'
        f'<span class="meta">{meta}</span>'
        f'<span class="labels">{names}</span></a>'
        f'<input type="checkbox" class="pick" name="id" value="{rid}" form="picks" '
        f'aria-label="Select {e(os.path.basename(str(r["path"])))}" data-path="{e(r["path"])}">'
        "</li>"
    )


def taken_text(taken: object) -> str:
    """A tile's capture time, short: "14 Jul 2019, 10:00" (``takenText`` in app.js)."""
    if not isinstance(taken, str) or len(taken) < 16:
        return "no date"
    month = MONTHS_SHORT[int(taken[5:7]) - 1]
    return f"{int(taken[8:10])} {month} {taken[:4]}, {taken[11:16]}"


MONTHS_SHORT = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def timeline_tile_html(r: dict[str, object]) -> str:
    """A timeline photo: when it was taken instead of a rank and score, its top classes
    by name (``timelineTile`` in app.js)."""
    labels = r["labels"]
    assert isinstance(labels, list)
    names = e(", ".join(str(x["name"]) for x in labels[:2] if x["score"] >= MIN_LABEL))
    when = e(taken_text(r.get("taken")))
    meta = f'<time class="taken"{_datetime_attr(r.get("taken"))}>{when}</time>'
    return _tile(r, meta, names)


def _datetime_attr(taken: object) -> str:
    return f' datetime="{e(taken)}"' if isinstance(taken, str) else ""


def months_html(items: list[dict[str, object]], first_id: int = 0) -> str:
    """Tiles grouped by capture month, newest first; "No date" last (the store's order
    puts undated photos after every dated one). ``monthSections`` in app.js continues a
    month that a page began."""
    out: list[str] = []
    current: str | None = None
    for r in items:
        key, heading = month_of(r.get("taken") if isinstance(r.get("taken"), str) else None)  # type: ignore[arg-type]
        if key != current:
            if current is not None:
                out.append("</ol></section>")
            current = key
            hid = f"month-{e(key)}"
            out.append(
                f'<section class="month" data-month="{e(key)}" aria-labelledby="{hid}">'
                f'<h3 class="month-title" id="{hid}">{e(heading)}</h3><ol class="grid">'
            )
        out.append(timeline_tile_html(r))
    if current is not None:
        out.append("</ol></section>")
    return "".join(out)


def timeline_html(found: Timeline, chosen: dict[str, str], offset: int, size: int) -> str:
    """The home page: the collection newest first, by month, loading more on scroll like
    results (``data-timeline``; the filters, if any, restrict it)."""
    items = [i.to_json() for i in found.items]
    shown = len(items)
    params = {k: v for k, v in chosen.items() if k != "sort"}
    data = " ".join(f'data-{k}="{e(v)}"' for k, v in params.items())
    if found.total == 0:
        heading = "No photos match these filters"
    elif params:
        heading = f"{found.total} photos match, newest first"
    else:
        heading = f"All {found.total} photos, newest first"
    more = ""
    if offset + shown < found.total:
        next_url = "/?" + urlencode({**params, "offset": offset + shown})
        more = (
            f'<p class="more"><a id="more" class="button" href="{e(next_url)}">More photos</a></p>'
        )
    links = ", ".join(f'<a href="/?{e(urlencode({"q": w}))}">{e(w)}</a>' for w in EXAMPLES)
    hint = (
        f'<p class="hint">Search by words — try {links} — or by a photo.</p>' if not offset else ""
    )
    return (
        f'<section id="results" class="results timeline" aria-labelledby="results-title" '
        f'data-timeline="1" {data} data-offset="{offset}" data-next="{offset + shown}" '
        f'data-total="{found.total}" data-size="{size}">'
        f'<h2 id="results-title" tabindex="-1">{e(heading)}</h2>{hint}'
        f'<div id="grid" class="months">{months_html(items)}</div>{more}</section>'
    )


def reasons_html(why: list[dict[str, object]]) -> str:
    """A words search's tile: the best reason of each term ("dog ← boxer 91%"), the
    matched label highlighted, instead of the top classes (``whyHtml`` in app.js)."""
    best: dict[object, dict[str, object]] = {}
    for w in why:  # best reason of each term first: keep the first of each term
        best.setdefault(w["term"], w)
    return " · ".join(
        f'<span class="why" data-signal="{e(w["signal"])}">{e(w["term"])} ← '
        f"<mark>{e(w['via'])}</mark> {float(w['score']) * 100:.0f}%</span>"  # type: ignore[arg-type]
        for w in best.values()
    )


def _start_html(service: Service, jobs: Jobs) -> str:
    """The first run: an empty index, and how to fill it — the configured folders with
    "Index now" (a friendly page, not an error); the timeline replaces it once photos are
    in."""
    if jobs.roots:
        offer = "<p>Index a folder to start:</p>" + _roots_html(jobs, "start")
    else:
        offer = (
            "<p>Index a folder with <code>picfind index PATH</code>, or start the server "
            "with <code>--root FOLDER</code> to index one from this page.</p>"
        )
    return (
        '<section class="start first-run" id="first-run" aria-labelledby="start-title">'
        '<h2 id="start-title" tabindex="-1">Welcome to picfind</h2>'
        "<p>There are no photos here yet. Once a folder is indexed, its photos show here "
        "newest first, and you can find them by words or by a photo.</p>"
        f"{offer}</section>"
    )


def _roots_html(jobs: Jobs, where: str) -> str:
    """The configured folders with "Index now", and the choice to read text in them too
    (the OCR pass; offered only when ``picfind[ocr]`` is installed)."""
    from picfind import ocr

    items = "".join(
        f'<li><span class="path">{e(p)}</span> '
        f'<button type="button" class="index-root" data-root="{i}">Index now</button></li>'
        for i, p in enumerate(jobs.roots)
    )
    if ocr.available():
        choice = (
            f'<label class="ocr-choice"><input type="checkbox" class="ocr" id="ocr-{where}">'
            ' Also read text in photos <span class="hint">(slower: a second pass)</span></label>'
        )
    else:
        choice = '<p class="hint">Reading text in photos needs <code>picfind[ocr]</code>.</p>'
    return f'<div class="roots-box">{choice}<ul class="roots">{items}</ul></div>'


def _stats_html(service: Service, jobs: Jobs) -> str:
    """The header menu: the index's stats, its folders (with "Index now"), the API."""
    stats = service.recent_stats()
    folders = f"<h2>Folders</h2>{_roots_html(jobs, 'menu')}" if jobs.roots else ""
    return (
        f'<h2>Index</h2><p id="stats-line"><strong id="stats-images">{stats.images}</strong> '
        f'images · <span id="stats-model">{e(stats.model or "—")}</span> · '
        f"{human_size(stats.index_bytes)} on disk</p>{folders}"
        '<p><a href="/docs">REST API</a></p>'
    )


def _exception_html(exc: PicfindError) -> str:
    if isinstance(exc, UnknownConceptError):
        links = ", ".join(
            f'<a href="/?{e(urlencode({"q": s}))}">{e(s)}</a>' for s in exc.suggestions
        )
        hint = f" Did you mean {links}?" if links else ""
        return _error_html(f"Unknown word “{e(exc.term)}”.{hint}", raw=True)
    return _error_html(str(exc))


def _error_html(text: str, raw: bool = False) -> str:
    return f'<p class="error" role="alert">{text if raw else e(text)}</p>'


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} bytes"  # pragma: no cover
