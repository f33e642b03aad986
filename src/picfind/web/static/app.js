// picfind's page: autocomplete, more results on scroll, search by a photo,
// indexing progress. Plain JavaScript, no build step; the page works without it.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);

  // ---- helpers ---------------------------------------------------------------------
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    })[c]);
  }

  async function api(url, options) {
    const response = await fetch(url, Object.assign({ credentials: "same-origin" }, options));
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = { error: `the server answered ${response.status}` };
    }
    if (!response.ok) {
      const error = new Error(body.error || `error ${response.status}`);
      error.body = body;
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function showMessage(html, isError) {
    const box = $("#message");
    if (!box) return;
    box.innerHTML = html ? `<p class="${isError ? "error" : "note"}"${isError ? ' role="alert"' : ""}>${html}</p>` : "";
  }

  function errorHtml(error) {
    const body = error.body || {};
    if (body.code === "unknown_word") {
      const links = (body.suggestions || [])
        .map((s) => `<a href="/?q=${encodeURIComponent(s)}">${escapeHtml(s)}</a>`).join(", ");
      return `Unknown word “${escapeHtml(body.word)}”.` + (links ? ` Did you mean ${links}?` : "");
    }
    if (body.code === "empty_index") {
      return "There are no photos to search yet: index a folder first (Menu → Folders).";
    }
    if (body.code === "too_large") {
      return escapeHtml(error.message.replace(/^the request/, "the photo"));
    }
    if (!error.status) {
      return "The server cannot be reached; check that picfind serve is still running.";
    }
    return escapeHtml(error.message);
  }

  // A words search's tile: the best reason of each term, the matched label highlighted
  // (pages.reasons_html).
  function whyHtml(why) {
    const best = new Map();
    why.forEach((w) => { if (!best.has(w.term)) best.set(w.term, w); });
    return Array.from(best.values()).map((w) =>
      `<span class="why" data-signal="${escapeHtml(w.signal)}">${escapeHtml(w.term)} ← ` +
      `<mark>${escapeHtml(w.via)}</mark> ${(w.score * 100).toFixed(0)}%</span>`).join(" · ");
  }

  // Same markup as pages.tile_html (TILE_SIZES, MIN_LABEL).
  const TILE_SIZES = "(max-width: 640px) calc(50vw - 14px), 190px";
  function tileHtml(r) {
    const names = r.why && r.why.length ? whyHtml(r.why) : escapeHtml(r.labels.filter((l) => l.score >= 0.005)
      .map((l) => `${l.name} ${(l.score * 100).toFixed(0)}%`).join(", "));
    return tileShell(r, `<span class="rank">#${r.rank}</span> ${duplicatesHtml(r.duplicates)}` +
      `<span class="score" title="score">${shownScore(r.score, r.why !== undefined)}</span>`, names);
  }

  // A score as a tile shows it (strength.shown_score): a words search's is a
  // probability, a percentage; a search by image's, the number.
  function shownScore(score, byWords) {
    return byWords ? `${(score * 100).toFixed(0)}%` : score.toFixed(3);
  }

  // Where strong matches end (web/strength.py): a row across the grid before the first
  // weak result of a ranking best first. `last` is the score of the result before
  // `results` (null at the top of the ranking, undefined when not known).
  const STRONG_SHARE = 0.8;
  const BASE_SCORE = { classes: 1 };
  const CUT_LABEL = "Weaker matches below";
  function cutHtml(threshold, byWords) {
    const under = shownScore(threshold, byWords);
    return `<li class="cut" id="strong-cut"><div role="separator" aria-label="${CUT_LABEL}: score under ${under}">` +
      `${CUT_LABEL} <span class="cut-score">(score under ${under})</span></div></li>`;
  }

  function tilesWithCut(results, threshold, last) {
    let prev = last;
    let placed = threshold == null || (last !== null && Boolean($("#strong-cut")));
    return results.map((r) => {
      let cut = "";
      if (!placed && r.score < threshold && (prev === null || (prev !== undefined && prev >= threshold))) {
        cut = cutHtml(threshold, r.why !== undefined);
        placed = true;
      }
      prev = r.score;
      return cut + tileHtml(r);
    }).join("");
  }

  // A grouped result's folded copies (pages.duplicates_html).
  function duplicatesHtml(copies) {
    if (!copies || !copies.length) return "";
    const names = copies.map((c) => c.path.split("/").pop()).join(", ");
    return `<span class="dup" title="${escapeHtml(names)}">+${copies.length} ${copies.length === 1 ? "copy" : "copies"}</span> `;
  }

  // The markup around a tile's facts and labels (pages._tile).
  function tileShell(r, meta, names) {
    const alt = r.labels.length ? r.labels[0].name : "image";
    const id = encodeURIComponent(r.id);
    const thumb = `/api/images/${id}/thumbnail?size=`;
    return `<li class="tile"><a href="/images/${id}" data-id="${escapeHtml(r.id)}">` +
      `<img src="${thumb}256" srcset="${thumb}256 256w, ${thumb}384 384w, ${thumb}512 512w" sizes="${TILE_SIZES}" ` +
      `alt="${escapeHtml(alt)}" loading="lazy" width="256" height="256">` +
      `<span class="meta">${meta}</span>` +
      `<span class="labels">${names}</span></a>` +
      `<input type="checkbox" class="pick" name="id" value="${escapeHtml(r.id)}" form="picks" ` +
      `aria-label="Select ${escapeHtml(r.path.split("/").pop())}" data-path="${escapeHtml(r.path)}"></li>`;
  }

  // The timeline (pages.timeline_tile_html, months_html): when a photo was taken instead
  // of a rank and score, tiles grouped by capture month, "No date" last.
  const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December"];
  function takenText(taken) {
    if (!taken || taken.length < 16) return "no date";
    return `${Number(taken.slice(8, 10))} ${MONTHS[Number(taken.slice(5, 7)) - 1].slice(0, 3)} ` +
      `${taken.slice(0, 4)}, ${taken.slice(11, 16)}`;
  }

  function timelineTile(r) {
    const names = r.labels.filter((l) => l.score >= 0.005).slice(0, 2).map((l) => l.name).join(", ");
    const when = r.taken ? ` datetime="${escapeHtml(r.taken)}"` : "";
    return tileShell(r, `<time class="taken"${when}>${escapeHtml(takenText(r.taken))}</time>`, escapeHtml(names));
  }

  function appendMonths(results) {
    // A page continues the last month shown, or begins the next ones.
    const grid = $("#grid");
    results.forEach((r) => {
      let last = grid.lastElementChild;
      if (!last || last.dataset.month !== r.month) {
        grid.insertAdjacentHTML("beforeend",
          `<section class="month" data-month="${escapeHtml(r.month)}" aria-labelledby="month-${escapeHtml(r.month)}">` +
          `<h3 class="month-title" id="month-${escapeHtml(r.month)}">${escapeHtml(r.month_label)}</h3><ol class="grid"></ol></section>`);
        last = grid.lastElementChild;
      }
      last.querySelector("ol").insertAdjacentHTML("beforeend", timelineTile(r));
    });
  }

  // ---- autocomplete (ARIA combobox) --------------------------------------------------
  function setupAutocomplete() {
    const input = $("#q");
    const list = $("#suggestions");
    if (!input || !list) return;
    let options = [];
    let active = -1;
    let timer = null;
    let seq = 0;

    function lastWord() {
      const m = input.value.match(/(^|\s)(-?)([^\s()"]*)$/);
      return m ? m[3] : "";
    }

    function close() {
      list.hidden = true;
      list.innerHTML = "";
      options = [];
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function render() {
      list.innerHTML = options.map((o, i) =>
        `<li id="suggestion-${i}" role="option" aria-selected="${i === active}"` +
        ` class="${i === active ? "active" : ""}">${escapeHtml(o)}</li>`).join("");
      list.hidden = options.length === 0;
      input.setAttribute("aria-expanded", options.length ? "true" : "false");
      if (active >= 0) input.setAttribute("aria-activedescendant", `suggestion-${active}`);
      else input.removeAttribute("aria-activedescendant");
    }

    function choose(i) {
      const word = lastWord();
      const keep = input.value.slice(0, input.value.length - word.length);
      input.value = keep + options[i] + " ";
      close();
      input.focus();
    }

    input.addEventListener("input", () => {
      clearTimeout(timer);
      const prefix = lastWord();
      if (prefix.length < 2) { close(); return; }
      timer = setTimeout(async () => {
        const mine = ++seq;
        try {
          const body = await api(`/api/concepts?limit=8&prefix=${encodeURIComponent(prefix)}`);
          if (mine !== seq) return;
          options = body.concepts;
          active = -1;
          render();
        } catch (_) { close(); }
      }, 120);
    });

    input.addEventListener("keydown", (ev) => {
      if (list.hidden || !options.length) return;
      if (ev.key === "ArrowDown") {
        active = (active + 1) % options.length; render(); ev.preventDefault();
      } else if (ev.key === "ArrowUp") {
        active = (active - 1 + options.length) % options.length; render(); ev.preventDefault();
      } else if (ev.key === "Enter" && active >= 0) {
        choose(active); ev.preventDefault();
      } else if (ev.key === "Escape") {
        close(); ev.preventDefault();
      } else if (ev.key === "Tab" && active >= 0) {
        choose(active); ev.preventDefault();
      }
    });
    list.addEventListener("mousedown", (ev) => {
      const item = ev.target.closest("li[role=option]");
      if (!item) return;
      ev.preventDefault();
      choose(Number(item.id.split("-")[1]));
    });
    input.addEventListener("blur", () => setTimeout(close, 100));
  }

  // ---- results: more on scroll, and the address of what is shown --------------------
  // Every search is an address (/?q=…, /?similar=ID&mode=…, /?upload=KEY&mode=…);
  // `count` says how many results were loaded on scroll, and history.state keeps the
  // scroll position, so Back, Forward and reload show the same results at the same place.
  let current = null; // {kind: "words"|"similar"|"upload", offset, next, total, size, ...}
  let loading = null; // the page being fetched (a Promise), if any
  let observer = null;
  let rendered = location.search; // the address the results on screen belong to

  function readResults() {
    const section = $("#results");
    if (!section) return;
    const d = section.dataset;
    if (d.timeline) current = { kind: "timeline" };
    else if (d.q) current = { kind: "words", q: d.q };
    else if (d.similar) current = { kind: "similar", id: d.similar, mode: d.mode };
    else if (d.upload) current = { kind: "upload", key: d.upload, mode: d.mode };
    else return;
    current.filters = {};
    FILTERS.forEach((k) => { if (d[k]) current.filters[k] = d[k]; });
    current.offset = Number(d.offset || 0);
    current.next = Number(d.next);
    current.total = Number(d.total);
    current.size = Number(d.size);
    current.strong = d.strong ? Number(d.strong) : null;
    current.lastScore = d.lastScore ? Number(d.lastScore) : undefined;
    watchMore();
  }

  // The capture filters (pages.filters_html): one parameter each in the address and the API.
  // "group" (fold duplicates) is a checkbox of the same row.
  const FILTERS = ["after", "before", "place", "camera", "folder", "sort", "group"];

  function searchParams(search) {
    const params = new URLSearchParams();
    if (search.kind === "words") params.set("q", search.q);
    else if (search.kind === "timeline") { /* the filters alone */ }
    else if (search.kind === "similar") { params.set("similar", search.id); params.set("mode", search.mode); }
    else { params.set("upload", search.key); params.set("mode", search.mode); }
    Object.entries(search.filters || {}).forEach(([k, v]) => params.set(k, v));
    return params;
  }

  function filterQuery(search) {
    const params = new URLSearchParams(search.filters || {});
    return params.toString() ? `&${params}` : "";
  }

  function chosenFilters() {
    // What the filter row says now (blank ones and the default order left out).
    const filters = {};
    FILTERS.forEach((k) => {
      const field = document.getElementById(`f-${k}`);
      const value = !field || (field.type === "checkbox" && !field.checked) ? "" : field.value.trim();
      if (value && !(k === "sort" && value === "relevance")) filters[k] = value;
    });
    return filters;
  }

  function setupFilters() {
    // A clean address: blank filters are not sent (nor the default order).
    const form = $("form.search");
    if (!form) return;
    form.addEventListener("submit", () => {
      form.querySelectorAll("#q, #filters input, #filters select").forEach((field) => {
        const blank = !field.value.trim() || (field.name === "sort" && field.value === "relevance");
        if (blank) field.disabled = true;
      });
      setTimeout(() => form.querySelectorAll("#q, #filters [disabled]").forEach((f) => { f.disabled = false; }), 0);
    });
    // Changing a filter applies it at once (a select or date has no Enter): to the words,
    // the photo, or with neither to the timeline.
    form.querySelectorAll("#filters select, #filters input[type=date], #filters input[type=checkbox]").forEach((field) =>
      field.addEventListener("change", () => form.requestSubmit()));
  }

  function addressOf(search) {
    const params = searchParams(search);
    if (search.offset) params.set("offset", String(search.offset));
    const count = search.next - search.offset;
    if (count > search.size) params.set("count", String(count));
    if (search === current && viewedId()) params.set("view", viewedId());
    return `/?${params}`;
  }

  function remember() {
    // The address of what is on screen, without a new history entry.
    if (!current) return;
    const address = addressOf(current);
    history.replaceState(Object.assign({}, history.state, { picfind: true }), "", address);
    rendered = location.search;
  }

  function moreUrl() {
    const page = `limit=${current.size}&offset=${current.next}${filterQuery(current)}`;
    if (current.kind === "words") return `/api/search?q=${encodeURIComponent(current.q)}&${page}`;
    if (current.kind === "timeline") return `/api/timeline?${page}`;
    if (current.kind === "similar") {
      return `/api/images/${encodeURIComponent(current.id)}/similar?mode=${current.mode}&${page}`;
    }
    return `/api/uploads/${encodeURIComponent(current.key)}/similar?mode=${current.mode}&${page}`;
  }

  function loadMore() {
    // One page at a time; a caller that comes while one loads (the viewer's "next"
    // while scrolling fetched it) waits for that page instead of returning at once.
    if (!loading) loading = fetchMore().finally(() => { loading = null; });
    return loading;
  }

  async function fetchMore() {
    if (!current || current.next >= current.total) return;
    const failed = $("#more-error");
    if (failed) failed.remove();
    try {
      appendResults(await api(moreUrl()));
    } catch (error) {
      // Where the eye is: beside "More results" (which tries again), not at the top.
      const more = $("#more");
      const box = `<p id="more-error" class="error" role="alert">${errorHtml(error)} ` +
        `Choose “More results” to try again.</p>`;
      if (more) more.parentElement.insertAdjacentHTML("beforebegin", box);
      else showMessage(errorHtml(error), true);
      if (observer) observer.disconnect(); // no retry loop while scrolling: on request only
    }
  }

  function appendResults(body) {
    const grid = $("#grid");
    if (current.kind === "timeline") appendMonths(body.results);
    else {
      grid.insertAdjacentHTML("beforeend", tilesWithCut(body.results, current.strong, current.lastScore));
      if (body.results.length) current.lastScore = body.results[body.results.length - 1].score;
    }
    current.next += body.results.length;
    current.total = body.total;
    const heading = $("#results-title");
    if (heading) {
      heading.firstChild.textContent = heading.firstChild.textContent.replace(/^(\d+)–\d+/, `$1–${current.next}`);
    }
    const more = $("#more");
    if (more && current.next >= current.total) more.parentElement.remove();
    else if (more) more.href = addressOf(Object.assign({}, current, { offset: current.next, next: current.next }));
    remember();
  }

  function watchMore() {
    const more = $("#more");
    if (!more) return;
    more.addEventListener("click", (ev) => { ev.preventDefault(); loadMore(); });
    if ("IntersectionObserver" in window) {
      if (observer) observer.disconnect();
      observer = new IntersectionObserver((entries) => {
        if (entries.some((en) => en.isIntersecting)) loadMore();
      }, { rootMargin: "400px" });
      observer.observe(more);
    }
  }

  function setupHistory() {
    // The scroll position goes with the history entry; restored once the page is laid out
    // (tiles have a fixed aspect ratio, so the layout does not wait for thumbnails).
    if ("scrollRestoration" in history) history.scrollRestoration = "manual";
    const saved = history.state && history.state.scrollY;
    if (typeof saved === "number") window.scrollTo(0, saved);
    let timer = null;
    const save = () => {
      timer = null;
      history.replaceState(Object.assign({}, history.state, { scrollY: window.scrollY }), "");
    };
    window.addEventListener("scroll", () => { if (!timer) timer = setTimeout(save, 150); }, { passive: true });
    window.addEventListener("pagehide", save);
    // Back/Forward between a search by photo and the page before it (pushState
    // entries): the server renders the address, as it would on reload.
    window.addEventListener("popstate", () => {
      if (location.search !== rendered) location.reload();
    });
  }

  // ---- the viewer: a result large, previous/next, Esc -------------------------------
  // A click (or Enter) on a result opens it here instead of its page; the page stays one
  // link away ("Details"). The address carries view=ID, so reload reopens it. Facts come
  // from /api/images/ID; `viewerFacts` is the one place to show more of them.
  let viewer = null;
  let viewing = -1;

  function tiles() { return Array.from(document.querySelectorAll("#grid .tile a")); }

  function buildViewer() {
    const dialog = document.createElement("dialog");
    dialog.id = "viewer";
    dialog.className = "viewer";
    dialog.setAttribute("aria-labelledby", "viewer-title");
    dialog.innerHTML =
      `<div class="viewer-bar"><h2 id="viewer-title"></h2><span id="viewer-pos"></span>` +
      `<span class="viewer-actions"><a id="viewer-details" href="#">Details</a>` +
      `<a id="viewer-similar" href="#">More like this</a>` +
      `<a id="viewer-download" href="#" download>Download original</a>` +
      `<button type="button" id="viewer-close" aria-label="Close the viewer (Esc)">✕</button></span></div>` +
      `<div class="viewer-stage">` +
      `<button type="button" id="viewer-prev" class="viewer-nav" aria-label="Previous photo (left arrow)">‹</button>` +
      `<img id="viewer-img" alt="" sizes="(max-width: 640px) 100vw, 80vw">` +
      `<button type="button" id="viewer-next" class="viewer-nav" aria-label="Next photo (right arrow)">›</button>` +
      `</div><dl id="viewer-facts" class="viewer-facts"></dl>`;
    document.body.appendChild(dialog);
    $("#viewer-close", dialog).addEventListener("click", () => dialog.close());
    $("#viewer-prev", dialog).addEventListener("click", () => step(-1));
    $("#viewer-next", dialog).addEventListener("click", () => step(1));
    dialog.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowLeft") { step(-1); ev.preventDefault(); }
      else if (ev.key === "ArrowRight") { step(1); ev.preventDefault(); }
    });
    let startX = null;
    dialog.addEventListener("touchstart", (ev) => { startX = ev.touches[0].clientX; }, { passive: true });
    dialog.addEventListener("touchend", (ev) => {
      if (startX === null) return;
      const dx = ev.changedTouches[0].clientX - startX;
      startX = null;
      if (Math.abs(dx) > 50) step(dx < 0 ? 1 : -1);
    });
    dialog.addEventListener("close", () => {
      const link = tiles()[viewing];
      viewing = -1;
      remember();
      if (link) { link.focus(); link.scrollIntoView({ block: "nearest" }); }
    });
    return dialog;
  }

  function offsetText(minutes) {
    if (typeof minutes !== "number") return "";
    const a = Math.abs(minutes);
    const two = (n) => String(n).padStart(2, "0");
    return ` (UTC${minutes >= 0 ? "+" : "-"}${two(Math.floor(a / 60))}:${two(a % 60)})`;
  }

  function captureFacts(meta) {
    // Same as pages.capture_facts: taken (and what said so), place, camera, text read.
    const facts = [];
    const { taken, place, camera, text } = meta;
    if (taken && taken.local) {
      const source = taken.source ? ` <span class="source">from ${escapeHtml(taken.source)}</span>` : "";
      facts.push(["Taken", escapeHtml(taken.local.replace("T", " ") + offsetText(taken.utc_offset_minutes)) + source]);
    }
    if (place) {
      const label = place.label || (place.lat != null ? `${place.lat.toFixed(4)}, ${place.lon.toFixed(4)}` : "");
      if (label) facts.push(["Place", escapeHtml(label)]);
    }
    if (camera) {
      const parts = [camera.name, camera.lens].filter(Boolean);
      if (parts.length) facts.push(["Camera", escapeHtml(parts.join(" · "))]);
    }
    if (text && text.lines && text.lines.length) {
      facts.push(["Text read", `<ol class="text-lines">${text.lines.map((l) => `<li>${escapeHtml(l.text)}</li>`).join("")}</ol>`]);
    } else if (text && text.failure) {
      facts.push(["Text read", `could not be read: ${escapeHtml(text.failure)}`]);
    }
    return facts;
  }

  function viewerFacts(meta) {
    // One <dt>/<dd> per fact; new signals (date, place, text, why) add theirs here.
    const labels = meta.labels.filter((l) => l.score >= 0.005).slice(0, 5)
      .map((l) => `${escapeHtml(l.name)} ${(l.score * 100).toFixed(1)}%`).join(", ");
    const facts = [
      ["Path", escapeHtml(meta.path)],
      ["Size", meta.width ? `${meta.width} × ${meta.height} px, ${escapeHtml(meta.format)}` : "file changed or missing"],
      ["Modified", escapeHtml(meta.modified.replace("T", " ").replace("+00:00", " UTC"))],
      ...captureFacts(meta),
      ["Classes", labels],
    ];
    return facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("");
  }

  async function showPhoto(index) {
    const links = tiles();
    if (index < 0 || index >= links.length) return;
    viewing = index;
    const id = links[index].dataset.id;
    const enc = encodeURIComponent(id);
    const thumb = `/api/images/${enc}/thumbnail?size=`;
    const img = $("#viewer-img", viewer);
    img.src = `${thumb}512`;
    img.srcset = `${thumb}512 512w, ${thumb}1024 1024w`;
    img.alt = links[index].querySelector("img").alt;
    $("#viewer-details", viewer).href = `/images/${enc}`;
    const mode = current && current.mode ? `&mode=${encodeURIComponent(current.mode)}` : "";
    $("#viewer-similar", viewer).href = `/?similar=${enc}${mode}`;
    $("#viewer-download", viewer).href = `/api/images/${enc}/file`;
    const total = current ? current.total : links.length;
    const first = current ? current.offset : 0;
    $("#viewer-pos", viewer).textContent = `${first + index + 1} of ${total}`;
    $("#viewer-prev", viewer).disabled = index === 0;
    $("#viewer-next", viewer).disabled = index === links.length - 1 && !(current && current.next < current.total);
    remember();
    try {
      const meta = await api(`/api/images/${enc}`);
      if (viewing !== index) return;
      $("#viewer-title", viewer).textContent = meta.path.split("/").pop();
      $("#viewer-download", viewer).setAttribute("download", meta.path.split("/").pop());
      $("#viewer-facts", viewer).innerHTML = viewerFacts(meta);
    } catch (error) {
      $("#viewer-facts", viewer).innerHTML = `<dt>Error</dt><dd>${errorHtml(error)}</dd>`;
    }
  }

  async function step(delta) {
    if (viewing < 0) return;
    const target = viewing + delta;
    if (target >= tiles().length && current && current.next < current.total) await loadMore();
    showPhoto(target);
  }

  function openViewer(index) {
    if (!viewer) viewer = buildViewer();
    $("#viewer-title", viewer).textContent = "";
    $("#viewer-facts", viewer).innerHTML = "";
    if (!viewer.open) viewer.showModal();
    showPhoto(index);
    $("#viewer-close", viewer).focus();
  }

  function setupViewer() {
    const main = $("#main");
    if (!main || typeof HTMLDialogElement === "undefined") return;
    main.addEventListener("click", (ev) => {
      const link = ev.target.closest("#grid .tile a");
      if (!link || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
      ev.preventDefault();
      openViewer(tiles().indexOf(link));
    });
    const wanted = new URLSearchParams(location.search).get("view");
    if (wanted) {
      const index = tiles().findIndex((a) => a.dataset.id === wanted);
      if (index >= 0) openViewer(index);
    }
  }

  function viewedId() {
    return viewing >= 0 && tiles()[viewing] ? tiles()[viewing].dataset.id : null;
  }

  // ---- search by a photo -------------------------------------------------------------
  function selectedMode() {
    const checked = document.querySelector("input[name=mode]:checked");
    return checked ? checked.value : "fused";
  }

  function resultsSectionHtml(search, body, what, queryHtml) {
    // Same markup as pages.results_html, for a search made here.
    const shown = body.results.length;
    const heading = shown
      ? `1–${shown} of ${body.total} results ${what} <span class="mode">(${escapeHtml(body.mode)})</span>`
      : `No results ${what}`;
    const data = Array.from(searchParams(search)).map(([k, v]) => `data-${k}="${escapeHtml(v)}"`).join(" ");
    const base = BASE_SCORE[body.mode] || 0;
    const best = shown ? body.results[0].score : base;
    const strong = best > base ? base + STRONG_SHARE * (best - base) : null; // by image: relative
    const marks = strong == null ? "" : `data-strong="${strong}" data-last-score="${body.results[shown - 1].score}" `;
    return `<section id="results" class="results" aria-labelledby="results-title" ${data} ` +
      `data-offset="0" data-next="${shown}" data-total="${body.total}" ${marks}data-size="${search.size}">` +
      `<h2 id="results-title" tabindex="-1">${heading}</h2>${queryHtml}` +
      `<ol class="grid" id="grid" start="1">${tilesWithCut(body.results, strong, null)}</ol>` +
      (shown < body.total ? `<p class="more"><a id="more" class="button" href="#">More results</a></p>` : "") +
      `</section>`;
  }

  async function searchByPhoto(file) {
    if (!file) return;
    const size = Number(($("#results") || {}).dataset?.size || 24);
    const name = escapeHtml(file.name || "the pasted image");
    const scrolled = window.scrollY; // where the page before this photo's results was
    showMessage(`Looking for images like ${name}…`, false);
    const main = $("#main");
    const form = new FormData();
    form.append("file", file, file.name || "pasted image");
    form.append("mode", selectedMode());
    form.append("limit", String(size));
    const filters = chosenFilters();
    delete filters.sort; // a search by image ranks by likeness
    try {
      const query = new URLSearchParams(filters).toString();
      const body = await api(`/api/search/image${query ? `?${query}` : ""}`, { method: "POST", body: form });
      const search = { kind: "upload", key: body.upload, mode: body.mode, offset: 0, size, filters };
      const preview = `<p class="query-image">Looking like: <img src="/api/uploads/${encodeURIComponent(body.upload)}/preview" alt="your photo"></p>`;
      main.innerHTML = resultsSectionHtml(search, body, "like your photo", preview);
      current = Object.assign(search, { next: body.results.length, total: body.total });
      const section = $("#results").dataset;
      current.strong = section.strong ? Number(section.strong) : null;
      current.lastScore = section.lastScore ? Number(section.lastScore) : undefined;
      // A new history entry: Back returns to what was shown before the photo, where it was.
      history.replaceState(Object.assign({}, history.state, { scrollY: scrolled }), "");
      history.pushState({ picfind: true, scrollY: 0 }, "", addressOf(current));
      rendered = location.search;
      $("#q").value = "";
      // The filter row now refines this photo's search (as pages.filters_html renders it).
      const row = $("#filters");
      if (row) {
        row.querySelectorAll("input[type=hidden]").forEach((h) => h.remove());
        row.insertAdjacentHTML("afterbegin", `<input type="hidden" name="upload" value="${escapeHtml(body.upload)}">`);
        document.querySelectorAll("input[name=mode]").forEach((r) => r.setAttribute("form", "search-form"));
      }
      showMessage("", false);
      watchMore();
      $("#results-title").focus();
    } catch (error) {
      // Not beside an earlier search's results: they would look like this photo's.
      main.innerHTML = "";
      current = null;
      showMessage(`${name}: ${errorHtml(error)}`, true);
    }
  }

  function setupUpload() {
    const input = $("#file");
    const zone = $("#dropzone");
    if (!input || !zone) return;
    input.addEventListener("change", () => searchByPhoto(input.files[0]));
    // A photo dropped anywhere on the page is a search (never opened by the browser
    // in place of the page); the box lights up while one is dragged over the page.
    const dragging = (ev) => ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes("Files");
    ["dragenter", "dragover"].forEach((type) => document.addEventListener(type, (ev) => {
      if (!dragging(ev)) return;
      ev.preventDefault(); zone.classList.add("over");
    }));
    document.addEventListener("dragleave", (ev) => {
      if (!ev.relatedTarget) zone.classList.remove("over");
    });
    document.addEventListener("drop", (ev) => {
      zone.classList.remove("over");
      const file = ev.dataTransfer && ev.dataTransfer.files[0];
      if (!file) return;
      ev.preventDefault();
      searchByPhoto(file);
    });
    document.addEventListener("paste", (ev) => {
      const items = ev.clipboardData ? Array.from(ev.clipboardData.files) : [];
      const image = items.find((f) => f.type.startsWith("image/"));
      if (image) { ev.preventDefault(); searchByPhoto(image); }
    });
    document.querySelectorAll("input[name=mode]").forEach((radio) => radio.addEventListener("change", () => {
      if (!current || (current.kind !== "similar" && current.kind !== "upload")) return;
      // The same photo compared another way: a new address (Back returns to this one).
      const search = Object.assign({}, current, { mode: selectedMode(), offset: 0, next: 0 });
      window.location.assign(addressOf(search));
    }));
  }

  // ---- selecting results: a zip of the originals, their paths -----------------------
  // Each tile's checkbox belongs to the "picks" form (GET /api/download?id=…&id=…): the
  // browser downloads the zip as it streams. Shift-click checks a range.
  function setupSelection() {
    const bar = $("#selection");
    const main = $("#main");
    if (!bar || !main) return;
    let last = -1;
    const picks = () => Array.from(document.querySelectorAll("#grid .pick"));
    const update = () => {
      const chosen = picks().filter((c) => c.checked);
      bar.hidden = chosen.length === 0;
      $("#selection-count").textContent = `${chosen.length} selected`;
      $("#copy-paths").hidden = $("#clear-selection").hidden = chosen.length === 0;
    };
    main.addEventListener("click", (ev) => {
      const box = ev.target.closest && ev.target.closest(".pick");
      if (!box) return;
      const all = picks();
      const index = all.indexOf(box);
      if (ev.shiftKey && last >= 0) {
        const [a, b] = index < last ? [index, last] : [last, index];
        all.slice(a, b + 1).forEach((c) => { c.checked = box.checked; });
      }
      last = index;
      update();
    });
    main.addEventListener("change", update);
    $("#clear-selection").addEventListener("click", () => {
      picks().forEach((c) => { c.checked = false; });
      last = -1;
      update();
    });
    $("#copy-paths").addEventListener("click", async () => {
      const paths = picks().filter((c) => c.checked).map((c) => c.dataset.path);
      try {
        await navigator.clipboard.writeText(paths.join("\n"));
        $("#selection-count").textContent = `${paths.length} selected · paths copied`;
      } catch (_) {
        $("#selection-count").textContent = "This browser does not allow copying here.";
      }
    });
    update();
  }

  // ---- the header menu and shortcuts -------------------------------------------------
  function setupMenu() {
    const menu = $("#menu");
    if (menu) {
      menu.addEventListener("keydown", (ev) => {
        if (ev.key === "Escape" && menu.open) { menu.open = false; $("summary", menu).focus(); }
      });
      document.addEventListener("click", (ev) => {
        if (menu.open && !menu.contains(ev.target)) menu.open = false;
      });
    }
    // "/" goes to the search box from anywhere but a field being typed in.
    document.addEventListener("keydown", (ev) => {
      const typing = ev.target.closest && ev.target.closest("input, textarea, select, [contenteditable]");
      if (ev.key !== "/" || typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (viewer && viewer.open) return;
      const q = $("#q");
      if (q) { ev.preventDefault(); q.focus(); q.select(); }
    });
  }

  // ---- indexing jobs -----------------------------------------------------------------
  function setupJobs() {
    const buttons = document.querySelectorAll(".index-root");
    const box = $("#job");
    if (!buttons.length || !box) return;
    const bar = $("#job-progress");
    const text = $("#job-text");
    const skippedBox = $("#job-skipped");

    // Each skipped file and why (the report's `skipped`: {path, reason}), the first
    // SKIPPED_SHOWN of them, folded: a folder of thousands must not fill the header.
    const SKIPPED_SHOWN = 50;
    function skippedHtml(skipped) {
      if (!skipped || !skipped.length) return "";
      const rows = skipped.slice(0, SKIPPED_SHOWN).map((s) =>
        `<li><code class="skipped-path">${escapeHtml(s.path)}</code>: <span class="skipped-reason">${escapeHtml(s.reason)}</span></li>`).join("");
      const rest = skipped.length - SKIPPED_SHOWN;
      const more = rest > 0 ? `<li class="skipped-more">and ${rest} more</li>` : "";
      const noun = skipped.length === 1 ? "file" : "files";
      return `<details class="skipped" id="skipped-files"><summary>Why ${skipped.length} ${noun} were skipped</summary>` +
        `<ul class="skipped-list" tabindex="0" aria-label="Skipped files">${rows}${more}</ul></details>`;
    }

    function show(job) {
      box.hidden = false;
      if (job.state !== "done") { skippedBox.innerHTML = ""; skippedBox.hidden = true; }
      bar.max = Math.max(job.total, 1);
      bar.value = job.state === "running" ? job.done : bar.max;
      if (job.state === "running") {
        const eta = job.eta != null ? `, about ${Math.ceil(job.eta)} s left` : "";
        const what = job.phase === "text" ? `Reading text in ${job.path}: ${job.done} of ${job.total} photos`
          : `Indexing ${job.path}: ${job.done} of ${job.total} files`;
        text.textContent = `${what} (${job.rate.toFixed(1)}/s${eta})`;
      } else if (job.state === "done") {
        const r = job.report || {};
        const read = r.ocr ? ` Read text in ${r.ocr.updated} of ${r.ocr.pending} photos.` : "";
        text.textContent = `Done: indexed ${r.indexed}, unchanged ${r.unchanged}, removed ${r.removed}, skipped ${(r.skipped || []).length} in ${r.seconds} s.${read}`;
        skippedBox.innerHTML = skippedHtml(r.skipped);
        skippedBox.hidden = !skippedBox.innerHTML;
      } else {
        text.textContent = `Indexing failed: ${job.error}`;
      }
    }

    async function refreshStats() {
      try {
        const stats = await api("/api/stats");
        $("#stats-images").textContent = stats.images;
        if (stats.model) $("#stats-model").textContent = stats.model;
      } catch (_) { /* stats are a nicety */ }
    }

    async function poll(id) {
      try {
        const job = await api(`/api/jobs/${encodeURIComponent(id)}`);
        show(job);
        refreshStats();
        if (job.state === "running") {
          setTimeout(() => poll(id), 500);
        } else {
          buttons.forEach((b) => { b.disabled = false; });
          if (job.state === "done") {
            const again = $("#first-run") ? `<a href="/" id="see-photos">See your photos</a>`
              : `<a href="${escapeHtml(location.href)}">Search again</a> to see the new images.`;
            showMessage(`Indexing finished. ${again}`, false);
          }
        }
      } catch (error) {
        text.textContent = error.message;
      }
    }

    // "Also read text in photos" beside the button (the first-run page's, or the menu's).
    const readText = (button) => {
      const box = button.closest(".roots-box");
      const choice = box && box.querySelector("input.ocr");
      return Boolean(choice && choice.checked);
    };
    buttons.forEach((button) => button.addEventListener("click", async () => {
      try {
        const job = await api("/api/jobs", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ root: Number(button.dataset.root), ocr: readText(button) }),
        });
        buttons.forEach((b) => { b.disabled = true; });
        show(job);
        poll(job.id);
      } catch (error) {
        box.hidden = false;
        text.textContent = error.message;
      }
    }));
    // A job started elsewhere (another tab) is shown too.
    api("/api/jobs").then((body) => {
      const running = body.jobs.find((j) => j.state === "running");
      if (running) { buttons.forEach((b) => { b.disabled = true; }); poll(running.id); }
    }).catch(() => {});
  }

  // ---- the image page ----------------------------------------------------------------
  function setupBack() {
    const back = $("#back");
    if (back && document.referrer && new URL(document.referrer).origin === location.origin) {
      back.textContent = "← Back to results";
      back.addEventListener("click", (ev) => { ev.preventDefault(); history.back(); });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupAutocomplete();
    readResults();
    setupHistory();
    setupFilters();
    setupViewer();
    setupSelection();
    setupUpload();
    setupJobs();
    setupMenu();
    setupBack();
  });
})();
