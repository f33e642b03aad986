"""Exact and near duplicates in an index: what ``picfind duplicates`` finds.

* **exact** — files with the same content key (``picfind.hashing``, which the
  indexer already stores; an old-kind row found again takes the current key, so
  one content has one key: ``legacy``).
* **near** — distinct contents whose embeddings have a cosine of at least a
  threshold (a resized, recompressed, mirrored, slightly cropped or rotated
  copy), joined into groups by single linkage (A~B and B~C puts A, B, C in one
  group). Every file of a content is listed, so a near group also shows the
  exact copies of its members.

Pairs are found with blocked matrix products (``BLOCK`` rows against the rows
after them, keeping only the entries above the threshold), so memory stays at
BLOCK × N scores and no Python loop runs over pairs of images. The default
threshold was chosen on generated copies of the shared photos
(docs/duplicates.md, bench/duplicates.py).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from picfind import imaging
from picfind.errors import ImageError, UsageError
from picfind.models import DEFAULT_MODEL, Model
from picfind.pipeline import Item, Pipeline, Source, Stage
from picfind.records import FileState
from picfind.stages.model import load_model
from picfind.store.base import Store, Table

DEFAULT_THRESHOLD = 0.85
"""Cosine of pooled embeddings above which two images are near duplicates."""
BLOCK = 1024
ROTATIONS = (15.0, 30.0)
"""Angles (degrees, counter-clockwise) each image is also turned by, to find rotated copies:
turning one image of a pair by θ meets a copy turned by θ, turning the copy meets one
turned by −θ, so positive angles cover both directions."""


@dataclass(frozen=True)
class Group:
    """Files that are copies of one another; ``similarity`` is the group's weakest link."""

    kind: str  # "exact" | "near"
    paths: tuple[str, ...]
    similarity: float

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "paths": list(self.paths),
            "similarity": round(self.similarity, 6),
        }


def similar_pairs(
    embeddings: np.ndarray, threshold: float, block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, cosine) for every i < j with cosine ≥ threshold, in blocks of rows."""
    emb = np.asarray(embeddings, dtype=np.float32)
    n = emb.shape[0]
    parts_i, parts_j, parts_s = [], [], []
    for start in range(0, n, block):
        stop = min(start + block, n)
        sims = emb[start:stop] @ emb[start:].T  # this block against itself and what follows
        rows, cols = np.nonzero(sims >= threshold)
        keep = cols > rows  # cols count from ``start``: upper triangle, no self-pairs
        rows, cols = rows[keep], cols[keep]
        parts_i.append(rows + start)
        parts_j.append(cols + start)
        parts_s.append(sims[rows, cols])
    if not parts_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return np.concatenate(parts_i), np.concatenate(parts_j), np.concatenate(parts_s)


def link(i: np.ndarray, j: np.ndarray, sims: np.ndarray) -> list[tuple[list[int], float]]:
    """Single-linkage groups of the edges (i, j, sim): (nodes, weakest link) per group.

    Union-find over the edges, strongest first, so the last union in a group is
    its weakest link (the lowest edge of its maximum spanning tree).
    """
    parent: dict[int, int] = {}
    weakest: dict[int, float] = {}

    def find(x: int) -> int:
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    order = np.argsort(-sims, kind="stable")
    for a, b, s in zip(i[order].tolist(), j[order].tolist(), sims[order].tolist(), strict=True):
        ra, rb = find(a), find(b)  # one step per pair found, never per pair of images
        if ra != rb:
            low, high = min(ra, rb), max(ra, rb)
            parent[high] = low
            weakest[low] = s
    members: dict[int, list[int]] = defaultdict(list)
    for node in sorted(parent):
        members[find(node)].append(node)
    return [(nodes, weakest[root]) for root, nodes in members.items()]


class TurnedViews:
    """A stage: each image turned by each angle, at the model's input size (per file)."""

    name = "turned-views"
    reads = Source.BYTES
    writes: tuple[str, ...] = ()
    batched = False

    def __init__(self, size: int, angles: Sequence[float]) -> None:
        self.size = size
        self.angles = tuple(angles)

    def __call__(self, items: Sequence[Item]) -> None:
        from PIL import Image

        s = self.size
        for item in items:
            try:
                im = imaging.open_image(item.data, name=item.path)
            except ImageError as exc:
                item.skip(exc.reason)
                continue
            im.thumbnail((2 * s, 2 * s), Image.Resampling.BILINEAR)
            views = [
                np.asarray(
                    im.rotate(a, resample=Image.Resampling.BICUBIC).resize(
                        (s, s), Image.Resampling.BILINEAR
                    ),
                    dtype=np.uint8,
                )
                for a in self.angles
            ]
            item.scratch[self.name] = np.stack(views)


class ViewEmbeddings:
    """A stage: the model's embeddings of the turned views (a batch at a time)."""

    name = "view-embeddings"
    reads = Source.BYTES
    writes: tuple[str, ...] = ()
    batched = True

    def __init__(self, model: Model) -> None:
        self.model = model

    def __call__(self, items: Sequence[Item]) -> None:
        stacks = [i.scratch[TurnedViews.name] for i in items]
        views = np.concatenate([v for v in stacks if isinstance(v, np.ndarray)])
        out = self.model.run(views).embedding
        start = 0
        for item, v in zip(items, stacks, strict=True):
            n = v.shape[0] if isinstance(v, np.ndarray) else 0
            item.scratch[self.name] = out[start : start + n]
            start += n


def rotated_embeddings(
    paths: Sequence[str], model_name: str, angles: Sequence[float], batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of each image turned by each angle: (row of each, embeddings).

    Pooled CNN features are not rotation invariant (a 30° turn of a photo drops
    its cosine to ~0.6); comparing turned versions with the stored embeddings
    finds such copies. Files that cannot be read are left out.
    """
    model = load_model(model_name)
    # Each file becomes len(angles) images: batches of files sized to keep the model's
    # batches near ``batch_size`` images.
    files_per_batch = max(1, batch_size // max(1, len(angles)))
    stages: list[Stage] = [TurnedViews(model.input_size, angles), ViewEmbeddings(model)]
    rows: list[int] = []
    out: list[np.ndarray] = []
    row_of = {p: n for n, p in enumerate(paths)}

    def sink(chunk: list[Item]) -> int:
        for item in chunk:
            emb = item.scratch.get(ViewEmbeddings.name)
            if item.skipped is None and isinstance(emb, np.ndarray):
                rows.extend([row_of[item.path]] * emb.shape[0])
                out.append(emb)
        return len(chunk)

    items = [Item(FileState(p, 0, 0)) for p in paths]
    Pipeline(stages, batch_size=files_per_batch).run(items, total=len(items), sink=sink)
    if not out:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    return np.array(rows, dtype=np.int64), np.concatenate(out).astype(np.float32)


def cross_pairs(
    queries: np.ndarray,
    owners: np.ndarray,
    embeddings: np.ndarray,
    threshold: float,
    block: int = BLOCK,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(owner, j, cosine) where an extra view of ``owner`` meets row j ≠ owner above threshold."""
    parts_i, parts_j, parts_s = [], [], []
    emb = np.asarray(embeddings, dtype=np.float32)
    for start in range(0, queries.shape[0], block):
        sims = queries[start : start + block] @ emb.T
        r, c = np.nonzero(sims >= threshold)
        own = owners[start + r]
        keep = own != c
        parts_i.append(own[keep])
        parts_j.append(c[keep])
        parts_s.append(sims[r[keep], c[keep]])
    if not parts_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return np.concatenate(parts_i), np.concatenate(parts_j), np.concatenate(parts_s)


def find_duplicates(
    paths: Sequence[str],
    hashes: Sequence[str],
    embeddings: np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    exact: bool = True,
    near: bool = True,
    turned: tuple[np.ndarray, np.ndarray] | None = None,
    block: int = BLOCK,
) -> list[Group]:
    """Exact groups (same hash) then near groups (cosine ≥ threshold), largest first.

    ``turned`` = (row, embedding) of extra views of images (rotated copies, from
    :func:`rotated_embeddings`): a view that meets another image above the
    threshold links its image to it.
    """
    if not -1.0 <= threshold <= 1.0:
        raise UsageError(f"--threshold must be between -1 and 1, got {threshold}")
    by_hash: dict[str, list[int]] = defaultdict(list)
    for row, h in enumerate(hashes):
        by_hash[h].append(row)
    groups: list[Group] = []
    if exact:
        for rows in by_hash.values():
            if len(rows) > 1:
                groups.append(Group("exact", tuple(sorted(paths[r] for r in rows)), 1.0))
    if near and len(by_hash) > 1:
        contents = list(by_hash.values())  # one representative row per distinct content
        content_of = np.zeros(len(paths), dtype=np.int64)
        for c, rows in enumerate(contents):
            content_of[rows] = c
        reps = np.array([rows[0] for rows in contents])
        emb = np.asarray(embeddings, dtype=np.float32)[reps]
        i, j, s = similar_pairs(emb, threshold, block)
        if turned is not None and turned[0].size:
            ti, tj, ts = cross_pairs(turned[1], content_of[turned[0]], emb, threshold, block)
            i, j, s = np.r_[i, ti], np.r_[j, tj], np.r_[s, ts]
        for nodes, weakest in link(i, j, s):
            files = sorted(paths[r] for node in nodes for r in contents[node])
            groups.append(Group("near", tuple(files), min(1.0, float(weakest))))
    groups.sort(key=lambda g: (g.kind != "exact", -len(g.paths), g.paths))
    return groups


def duplicates_in_index(
    store: Store,
    *,
    under: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    exact: bool = True,
    near: bool = True,
    rotations: Sequence[float] = ROTATIONS,
) -> list[Group]:
    """Duplicates among the images of an index, read through the store (never changed).

    With ``rotations``, the image files are read and run through the model once
    per angle (the index itself is not touched).
    """
    data = Table.of(store.rows(under=os.path.abspath(under) if under else None, features=True))
    turned = None
    if near and rotations and len(data) > 1:
        first: dict[str, int] = {}
        for row, h in enumerate(data.hashes):
            first.setdefault(h, row)
        reps = sorted(first.values())
        model = store.model or DEFAULT_MODEL
        rows, views = rotated_embeddings([data.paths[r] for r in reps], model, rotations)
        turned = (np.asarray(reps, dtype=np.int64)[rows] if rows.size else rows, views)
    return find_duplicates(
        data.paths,
        data.hashes,
        data.embeddings,
        threshold=threshold,
        exact=exact,
        near=near,
        turned=turned,
    )
