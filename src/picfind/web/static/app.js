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
      return "The index is empty: index a folder first.";
    }
    return escapeHtml(error.message);
  }

  // Same markup as pages.tile_html.
  function tileHtml(r) {
    const names = r.labels.map((l) => `${l.name} ${l.score.toFixed(2)}`).join(", ");
    const alt = r.labels.length ? r.labels[0].name : "image";
    const id = encodeURIComponent(r.id);
    return `<li class="tile"><a href="/images/${id}" data-id="${escapeHtml(r.id)}">` +
      `<img src="/api/images/${id}/thumbnail?size=256" alt="${escapeHtml(alt)}" loading="lazy" width="256" height="256">` +
      `<span class="meta"><span class="rank">#${r.rank}</span> <span class="score" title="score">${r.score.toFixed(3)}</span></span>` +
      `<span class="labels">${escapeHtml(names)}</span></a></li>`;
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

  // ---- results: more on scroll -------------------------------------------------------
  let current = null; // {kind: "words"|"similar"|"upload", ...}
  let loading = false;
  let observer = null;

  function readResults() {
    const section = $("#results");
    if (!section) return;
    const d = section.dataset;
    if (d.q) current = { kind: "words", q: d.q };
    else if (d.similar) current = { kind: "similar", id: d.similar, mode: d.mode };
    current.next = Number(d.next);
    current.total = Number(d.total);
    current.size = Number(d.size);
    watchMore();
  }

  function moreUrl() {
    const page = `limit=${current.size}&offset=${current.next}`;
    if (current.kind === "words") return `/api/search?q=${encodeURIComponent(current.q)}&${page}`;
    if (current.kind === "similar") {
      return `/api/images/${encodeURIComponent(current.id)}/similar?mode=${current.mode}&${page}`;
    }
    return null;
  }

  async function loadMore() {
    if (!current || loading || current.next >= current.total) return;
    loading = true;
    try {
      const body = current.kind === "upload" ? await uploadSearch(current.next) : await api(moreUrl());
      appendResults(body);
    } catch (error) {
      showMessage(errorHtml(error), true);
    } finally {
      loading = false;
    }
  }

  function appendResults(body) {
    const grid = $("#grid");
    grid.insertAdjacentHTML("beforeend", body.results.map(tileHtml).join(""));
    current.next += body.results.length;
    current.total = body.total;
    const heading = $("#results-title");
    if (heading) heading.firstChild.textContent = heading.firstChild.textContent.replace(/^1–\d+/, `1–${current.next}`);
    const more = $("#more");
    if (more && current.next >= current.total) more.parentElement.remove();
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

  // ---- search by a photo -------------------------------------------------------------
  function selectedMode() {
    const checked = document.querySelector("input[name=mode]:checked");
    return checked ? checked.value : "fused";
  }

  async function uploadSearch(offset) {
    const form = new FormData();
    form.append("file", current.file, current.file.name || "pasted image");
    form.append("mode", current.mode);
    form.append("limit", String(current.size));
    form.append("offset", String(offset));
    return api("/api/search/image", { method: "POST", body: form });
  }

  async function searchByPhoto(file) {
    if (!file) return;
    const size = Number(($("#results") || {}).dataset?.size || 24);
    const previous = current;
    current = { kind: "upload", file, mode: selectedMode(), next: 0, total: 0, size };
    showMessage(`Looking for images like ${escapeHtml(file.name || "the pasted image")}…`, false);
    const main = $("#main");
    try {
      const body = await uploadSearch(0);
      const preview = URL.createObjectURL(file);
      const shown = body.results.length;
      const heading = shown
        ? `1–${shown} of ${body.total} results like your photo <span class="mode">(${escapeHtml(body.mode)})</span>`
        : "No results like your photo";
      main.innerHTML =
        `<section id="results" class="results" aria-labelledby="results-title" data-size="${size}">` +
        `<h2 id="results-title">${heading}</h2>` +
        `<p class="query-image">Looking like: <img src="${preview}" alt="your photo"></p>` +
        `<ol class="grid" id="grid">${body.results.map(tileHtml).join("")}</ol>` +
        (shown < body.total ? `<p class="more"><a id="more" class="button" href="#">More results</a></p>` : "") +
        `</section>`;
      current.next = shown;
      current.total = body.total;
      showMessage("", false);
      watchMore();
      $("#results-title").focus?.();
    } catch (error) {
      current = previous; // the results shown are still those of the previous search
      const name = escapeHtml(file.name || "the pasted image");
      showMessage(`${name}: ${errorHtml(error)}`, true);
    }
  }

  function setupUpload() {
    const input = $("#file");
    const zone = $("#dropzone");
    if (!input || !zone) return;
    input.addEventListener("change", () => searchByPhoto(input.files[0]));
    ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (ev) => {
      ev.preventDefault(); zone.classList.add("over");
    }));
    ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("over")));
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      const file = ev.dataTransfer && ev.dataTransfer.files[0];
      if (file) searchByPhoto(file);
    });
    document.addEventListener("paste", (ev) => {
      const items = ev.clipboardData ? Array.from(ev.clipboardData.files) : [];
      const image = items.find((f) => f.type.startsWith("image/"));
      if (image) { ev.preventDefault(); searchByPhoto(image); }
    });
    document.querySelectorAll("input[name=mode]").forEach((radio) => radio.addEventListener("change", () => {
      if (!current) return;
      if (current.kind === "upload") searchByPhoto(current.file);
      else if (current.kind === "similar") {
        window.location.href = `/?similar=${encodeURIComponent(current.id)}&mode=${selectedMode()}`;
      }
    }));
  }

  // ---- indexing jobs -----------------------------------------------------------------
  function setupJobs() {
    const buttons = document.querySelectorAll(".index-root");
    const box = $("#job");
    if (!buttons.length || !box) return;
    const bar = $("#job-progress");
    const text = $("#job-text");

    function show(job) {
      box.hidden = false;
      bar.max = Math.max(job.total, 1);
      bar.value = job.state === "running" ? job.done : bar.max;
      if (job.state === "running") {
        const eta = job.eta != null ? `, about ${Math.ceil(job.eta)} s left` : "";
        text.textContent = `Indexing ${job.path}: ${job.done} of ${job.total} files (${job.rate.toFixed(1)}/s${eta})`;
      } else if (job.state === "done") {
        const r = job.report || {};
        text.textContent = `Done: indexed ${r.indexed}, unchanged ${r.unchanged}, removed ${r.removed}, skipped ${(r.skipped || []).length} in ${r.seconds} s.`;
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
            showMessage(`Indexing finished. <a href="${escapeHtml(location.href)}">Search again</a> to see the new images.`, false);
          }
        }
      } catch (error) {
        text.textContent = error.message;
      }
    }

    buttons.forEach((button) => button.addEventListener("click", async () => {
      try {
        const job = await api("/api/jobs", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ root: Number(button.dataset.root) }),
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
    setupUpload();
    setupJobs();
    setupBack();
  });
})();
