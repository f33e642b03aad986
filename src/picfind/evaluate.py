"""Retrieval quality on a labelled folder: what ``picfind eval`` measures.

Pure library: no printing. What is measured is what users get: every ranking
comes from the store's own ``search`` (``search_many``, a block of queries at a
time), on either store, never from a copy of its formulas.

* **by image** — leave one out: every labelled image (or a sample of them)
  queries the others, through the store, restricted to the folder's labelled
  images; relevant = same label. Precision@k and recall@k come from the first
  page the store returns (``limit=k``, as a user sees it), average precision and
  the precision–recall curve from its whole ranking; averaged over the queries
  that have at least one relevant image. ``paper`` is the paper's formula over
  all 1000 class probabilities, recomputed with the model through the pipeline
  (the index keeps only the top 64): a reference, not a store mode.
* **by words** — each keyword query runs through the store; relevant = images
  with one of the given labels; images that do not match the query count as
  never retrieved.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from picfind.errors import UsageError
from picfind.metrics import (
    RECALL_LEVELS,
    Summary,
    average_precision,
    interpolated_curve,
    precision_recall_at,
    summarise,
)
from picfind.models import Model
from picfind.pipeline import Item, Pipeline, Source
from picfind.query import parse_query
from picfind.records import FileState, Hit
from picfind.scoring import NUM_CLASSES, QUERY_TOP_K
from picfind.search import MODES, check_mode, image_query, keyword_query
from picfind.stages.model import load_model
from picfind.store.base import Filter, Store, StoreQuery, Table

IMAGE_MODES: tuple[str, ...] = (*MODES, "paper")
"""Every store mode of search by image, and the paper's formula as a reference."""
BLOCK = 512
"""Queries scored per matrix product: bounds memory at BLOCK × N scores."""
SEARCH_BLOCK = 64
"""Queries per ``search_many`` call."""


# --- labels --------------------------------------------------------------------------


def label_of(path: str, root: str, pattern: re.Pattern[str] | None) -> str | None:
    """The label of one image: a regex group on its file name, else its top sub-folder."""
    if pattern is not None:
        m = pattern.search(os.path.basename(path))
        if m is None:
            return None
        return m.group(1) if m.groups() else m.group(0)
    rel = os.path.relpath(path, root)
    parts = Path(rel).parts
    return parts[0] if len(parts) > 1 else None


def compile_pattern(text: str | None) -> re.Pattern[str] | None:
    if text is None:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise UsageError(f"bad --label-pattern {text!r}: {exc}") from exc


@dataclass(frozen=True)
class WordQuery:
    """A keyword query and the labels whose images are its relevant answers."""

    words: str
    labels: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> WordQuery:
        """``WORDS=LABEL[,LABEL…]``, e.g. ``dog=dog`` or ``cat=Abyssinian,Bengal``."""
        words, sep, labels = text.rpartition("=")
        names = tuple(s.strip() for s in labels.split(",") if s.strip())
        if not sep or not words.strip() or not names:
            raise UsageError(f"bad --query {text!r}: expected WORDS=LABEL[,LABEL...]")
        return cls(words.strip(), names)

    @classmethod
    def for_label(cls, label: str) -> WordQuery:
        """A label used as its own query: ``golden_retriever`` → "golden retriever"."""
        return cls(label.replace("_", " "), (label,))


# --- by image ------------------------------------------------------------------------


def top_weights(probs: np.ndarray, k: int = QUERY_TOP_K) -> np.ndarray:
    """Each row keeps only its k highest classes: the paper's T_k(η) as dense weights."""
    out = np.zeros_like(probs, dtype=np.float32)
    if probs.shape[0] == 0:
        return out
    k = min(k, probs.shape[1])
    top = np.argpartition(-probs, k - 1, axis=1)[:, :k]
    rows = np.arange(probs.shape[0])[:, None]
    out[rows, top] = probs[rows, top]
    return out


Scorer = Callable[[np.ndarray], np.ndarray]
"""Scores of a block of query rows (indices) against every row: (len(block), N)."""


def paper_scorer(full_probs: np.ndarray) -> Scorer:
    """The paper's formula over all 1000 probabilities: 1 + Σ_{j∈T10(η)} η_j ξ_ij."""
    full = np.asarray(full_probs, dtype=np.float32)
    eta = top_weights(full)
    return lambda q: 1.0 + eta[q] @ full.T


def leave_one_out(
    score: Scorer,
    labels: Sequence[str],
    k: int = 10,
    block: int = BLOCK,
    queries: Sequence[int] | None = None,
) -> tuple[Summary, int]:
    """(summary over queries with a relevant image, queries without one).

    ``queries``: the rows that query (default: every row)."""
    lab = np.asarray(labels)
    n = lab.size
    codes = np.unique(lab, return_inverse=True)[1]
    counts = np.bincount(codes)
    rows: list[tuple[float, float, float, np.ndarray]] = []
    lonely = 0
    asked = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    for start in range(0, asked.size, block):
        q = asked[start : start + block]
        s = np.asarray(score(q), dtype=np.float64)
        s[np.arange(q.size), q] = -np.inf  # leave the query out
        order = np.argsort(-s, axis=1, kind="stable")[:, : n - 1]
        hits = codes[order] == codes[q][:, None]
        for i, row in enumerate(q):
            total = int(counts[codes[row]]) - 1
            if total == 0:
                lonely += 1
                continue
            p, r = precision_recall_at(hits[i], total, k)
            rows.append(
                (p, r, average_precision(hits[i], total), interpolated_curve(hits[i], total))
            )
    return summarise(rows), lonely


def rank_by_store(
    store: Store,
    queries: Sequence[StoreQuery],
    where: Sequence[Filter],
    limit: int,
) -> list[tuple[int, list[Hit]]]:
    """The store's answers to many queries, ``SEARCH_BLOCK`` at a time."""
    out: list[tuple[int, list[Hit]]] = []
    for start in range(0, len(queries), SEARCH_BLOCK):
        stop = start + SEARCH_BLOCK
        out += store.search_many(queries[start:stop], limit, where[start:stop])
    return out


def store_leave_one_out(
    store: Store,
    table: Table,
    labels: Sequence[str],
    mode: str,
    root: str,
    *,
    k: int = 10,
    queries: Sequence[int] | None = None,
    others: Sequence[str] = (),
) -> tuple[Summary, int]:
    """Leave one out through the store: each query row's image searches the folder.

    ``others``: ids under ``root`` that are not in the table (unlabelled images),
    left out of every ranking. P@k and R@k from the page of ``k`` a user would see,
    AP and the curve from the whole ranking.
    """
    lab = np.asarray(labels)
    codes = np.unique(lab, return_inverse=True)[1]
    counts = np.bincount(codes)
    code_of = dict(zip(table.ids, codes.tolist(), strict=True))
    rows_asked = list(range(len(table))) if queries is None else list(queries)
    checked = check_mode(mode)
    qs = [image_query(table.features[row], checked) for row in rows_asked]
    where = [Filter(under=root, exclude=(table.ids[row], *others)) for row in rows_asked]
    n = len(table)
    full = rank_by_store(store, qs, where, max(n - 1, 0))
    pages = full if k >= n - 1 else rank_by_store(store, qs, where, k)
    rows: list[tuple[float, float, float, np.ndarray]] = []
    lonely = 0
    for row, (_, ranking), (_, page) in zip(rows_asked, full, pages, strict=True):
        total = int(counts[codes[row]]) - 1
        if total == 0:
            lonely += 1
            continue
        mine = codes[row]
        hits = np.array([code_of.get(h.id) == mine for h in ranking], dtype=bool)
        first = np.array([code_of.get(h.id) == mine for h in page], dtype=bool)
        p, r = precision_recall_at(first, total, k)
        rows.append((p, r, average_precision(hits, total), interpolated_curve(hits, total)))
    return summarise(rows), lonely


# --- by words ------------------------------------------------------------------------


@dataclass
class WordResult:
    query: WordQuery
    relevant: int
    matched: int
    precision_at_k: float
    recall_at_k: float
    ap: float
    curve: np.ndarray = field(repr=False)
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "query": self.query.words,
            "labels": list(self.query.labels),
            "relevant": self.relevant,
            "matched": self.matched,
            "precision_at_k": round(self.precision_at_k, 6),
            "recall_at_k": round(self.recall_at_k, 6),
            "ap": round(self.ap, 6),
            "error": self.error,
        }


def word_result(
    query: WordQuery,
    ranked_labels: Iterable[str | None],
    label_counts: Mapping[str, int],
    k: int = 10,
) -> WordResult:
    """Metrics of one keyword query from the labels of its results, best first."""
    wanted = set(query.labels)
    hits = np.array([lab in wanted for lab in ranked_labels], dtype=bool)
    total = sum(label_counts.get(lab, 0) for lab in wanted)
    p, r = precision_recall_at(hits, total, k)
    return WordResult(
        query,
        total,
        int(hits.size),
        p,
        r,
        average_precision(hits, total),
        interpolated_curve(hits, total),
    )


def summarise_words(results: Sequence[WordResult]) -> Summary:
    rows = [(w.precision_at_k, w.recall_at_k, w.ap, w.curve) for w in results if w.relevant]
    return summarise(rows)


# --- the whole evaluation ------------------------------------------------------------


@dataclass
class Evaluation:
    """What ``picfind eval`` reports (``to_json`` is its ``--json`` shape)."""

    folder: str
    model: str
    k: int
    images: int
    unlabelled: int
    labels: dict[str, int]
    by_image: dict[str, Summary] = field(default_factory=dict)
    lonely_queries: int = 0
    words: list[WordResult] = field(default_factory=list)
    index: str | None = None
    unreadable: list[str] = field(default_factory=list)
    """Files the ``paper`` mode could not read again (scored as all-zero probabilities)."""

    @property
    def words_summary(self) -> Summary:
        return summarise_words(self.words)

    def to_json(self) -> dict[str, object]:
        return {
            "folder": self.folder,
            "index": self.index,
            "model": self.model,
            "k": self.k,
            "images": self.images,
            "unlabelled": self.unlabelled,
            "labels": self.labels,
            "by_image": {mode: s.to_json() for mode, s in self.by_image.items()},
            "queries_without_relevant_images": self.lonely_queries,
            "unreadable": self.unreadable,
            "by_words": {
                "summary": self.words_summary.to_json(),
                "queries": [w.to_json() for w in self.words],
            },
        }


def count_labels(labels: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(labels).items()))


def plot(evaluation: Evaluation, out: str | os.PathLike[str], max_word_curves: int = 8) -> None:
    """Precision–recall curves (interpolated, mean over queries) as a PNG.

    Draws on a bare ``Figure`` (Agg canvas), never through pyplot, so it leaves the
    caller's matplotlib backend alone (a notebook keeps showing its plots inline).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    ax = fig.subplots()
    for mode, s in evaluation.by_image.items():
        if s.queries:
            ax.plot(RECALL_LEVELS, s.curve, label=f"by image, {mode} (mAP {s.map:.3f})")
    words = [w for w in evaluation.words if w.relevant]
    if 0 < len(words) <= max_word_curves:
        for w in words:
            ax.plot(RECALL_LEVELS, w.curve, "--", label=f'words "{w.query.words}" (AP {w.ap:.3f})')
    elif words:
        s = evaluation.words_summary
        ax.plot(
            RECALL_LEVELS,
            s.curve,
            "--",
            label=f"by words, {s.queries} queries (mAP {s.map:.3f})",
        )
    ax.set_xlabel("recall")
    ax.set_ylabel("precision (interpolated)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(f"{os.path.basename(evaluation.folder.rstrip('/'))}: precision–recall")
    if ax.lines:
        ax.legend(fontsize="small", loc="lower left")
    try:
        fig.savefig(out, format="png")
    except OSError as exc:
        raise UsageError(f"cannot write plot {out}: {exc.strerror or exc}") from exc


class _Probabilities:
    """A stage: all 1000 class probabilities of each image (the index keeps 64)."""

    name = "probabilities"
    reads = Source.PIXELS
    writes: tuple[str, ...] = ()
    batched = True

    def __init__(self, model: Model) -> None:
        self.model = model

    def __call__(self, items: Sequence[Item]) -> None:
        batch = [i for i in items if i.pixels is not None]
        if batch:
            probs = self.model.run(np.stack([i.pixels for i in batch if i.pixels is not None]))
            for item, p in zip(batch, probs.probs, strict=True):
                item.scratch[self.name] = p


def full_probabilities(
    paths: Sequence[str], model_name: str, batch_size: int = 32
) -> tuple[np.ndarray, list[str]]:
    """All 1000 class probabilities, recomputed with the model through the pipeline.

    Files that no longer decode get a zero row and are returned as the second value.
    """
    model = load_model(model_name)
    out = np.zeros((len(paths), NUM_CLASSES), dtype=np.float32)
    failed: list[str] = []
    row_of = {p: n for n, p in enumerate(paths)}

    def sink(chunk: list[Item]) -> int:
        for item in chunk:
            probs = item.scratch.get(_Probabilities.name)
            if isinstance(probs, np.ndarray):
                out[row_of[item.path]] = probs
            else:
                failed.append(item.path)
        return len(chunk)

    items = [Item(FileState(p, 0, 0)) for p in paths]
    pipeline = Pipeline([_Probabilities(model)], input_size=model.input_size, batch_size=batch_size)
    pipeline.run(items, total=len(items), sink=sink)
    return out, failed


def evaluate_index(
    store: Store,
    folder: str | os.PathLike[str],
    *,
    pattern: re.Pattern[str] | None = None,
    modes: Sequence[str] = IMAGE_MODES,
    queries: Sequence[WordQuery] = (),
    labels_as_queries: bool = False,
    k: int = 10,
    batch_size: int = 32,
    sample: int | None = None,
) -> Evaluation:
    """Evaluate the images of ``folder`` held in an index, through its store (only read):
    ``picfind.open_index(DIR, read_only=True).store``, or a cluster's.

    ``sample``: by image, only this many query images (evenly spread; all by default).
    """
    if k < 1:
        raise UsageError("--k must be at least 1")
    if sample is not None and sample < 1:
        raise UsageError("--sample must be at least 1")
    unknown = set(modes) - set(IMAGE_MODES)
    if unknown:
        raise UsageError(f"unknown mode {sorted(unknown)[0]!r}; choose {', '.join(IMAGE_MODES)}")
    root = os.path.abspath(folder)
    every = list(store.rows(under=root, features=True))
    if not every:
        raise UsageError(f"the index holds no images inside {root}")
    all_labels = [label_of(r.path, root, pattern) for r in every]
    kept = [(r, lab) for r, lab in zip(every, all_labels, strict=True) if lab is not None]
    if not kept:
        how = (
            "match --label-pattern" if pattern else "sit in a sub-folder (or give --label-pattern)"
        )
        raise UsageError(f"no image inside {root} has a label: none {how}")
    table = Table.of(r for r, _ in kept)
    labels = [str(lab) for _, lab in kept]
    others = tuple(r.id for r, lab in zip(every, all_labels, strict=True) if lab is None)
    result = Evaluation(
        folder=root,
        model=store.model or "",
        k=k,
        images=len(table),
        unlabelled=len(others),
        labels=count_labels(labels),
    )
    asked = None
    if sample is not None and sample < len(table):
        asked = np.linspace(0, len(table) - 1, sample).round().astype(int).tolist()
    for mode in modes:
        if mode == "paper":
            full, result.unreadable = full_probabilities(table.paths, result.model, batch_size)
            summary, lonely = leave_one_out(paper_scorer(full), labels, k, queries=asked)
        else:
            summary, lonely = store_leave_one_out(
                store, table, labels, mode, root, k=k, queries=asked, others=others
            )
        result.by_image[mode], result.lonely_queries = summary, lonely
    counts = Counter(labels)
    word_queries = list(queries)
    if labels_as_queries:
        word_queries += [WordQuery.for_label(lab) for lab in sorted(counts)]
    label_of_id = dict(zip(table.ids, labels, strict=True))
    where = Filter(under=root, exclude=others)
    for q in word_queries:
        try:
            concepts = parse_query(q.words)
        except UsageError as exc:
            empty = np.zeros(0, dtype=bool)
            total = sum(counts.get(lab, 0) for lab in q.labels)
            result.words.append(
                WordResult(q, total, 0, 0.0, 0.0, 0.0, interpolated_curve(empty, total), str(exc))
            )
            continue
        _, hits = store.search(keyword_query(concepts), len(table), 0, where)
        result.words.append(word_result(q, [label_of_id.get(h.id) for h in hits], counts, k))
    return result
