"""Exact and near duplicates in an index: what ``picfind duplicates`` finds.

* **exact** — files with the same content hash (BLAKE2b of the bytes, which
  the indexer already stores).
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

from picfind.errors import UsageError

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


def rotated_embeddings(
    paths: Sequence[str], model_name: str, angles: Sequence[float], batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of each image turned by each angle: (row of each, embeddings).

    Pooled CNN features are not rotation invariant (a 30° turn of a photo drops
    its cosine to ~0.6); comparing turned versions with the stored embeddings
    finds such copies. Files that cannot be read are left out.
    """
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    from picfind import imaging
    from picfind.api import load_model
    from picfind.errors import ImageError

    model = load_model(model_name)
    size = model.input_size

    def turned(path: str) -> list[np.ndarray] | None:
        try:
            im = imaging.open_image(path)
        except (ImageError, OSError):
            return None
        im.thumbnail((2 * size, 2 * size), Image.Resampling.BILINEAR)
        return [
            np.asarray(
                im.rotate(a, resample=Image.Resampling.BICUBIC).resize(
                    (size, size), Image.Resampling.BILINEAR
                ),
                dtype=np.uint8,
            )
            for a in angles
        ]

    rows: list[int] = []
    out: list[np.ndarray] = []
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        for start in range(0, len(paths), batch_size):
            chunk = list(pool.map(turned, paths[start : start + batch_size]))
            pixels = []
            for n, views in enumerate(chunk):
                if views is not None:
                    rows += [start + n] * len(views)
                    pixels += views
            for b in range(0, len(pixels), batch_size):
                out.append(model.run(np.stack(pixels[b : b + batch_size])).embedding)
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
    index_dir: str | os.PathLike[str],
    *,
    under: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    exact: bool = True,
    near: bool = True,
    rotations: Sequence[float] = ROTATIONS,
) -> list[Group]:
    """Duplicates among the images of an embedded index (the index is only read).

    With ``rotations``, the image files are read and run through the model once
    per angle (the index itself is not touched).
    """
    from picfind.stored import read_index

    data = read_index(index_dir, under=under, classes=False)
    turned = None
    if near and rotations and len(data) > 1:
        first: dict[str, int] = {}
        for row, h in enumerate(data.hashes):
            first.setdefault(h, row)
        reps = sorted(first.values())
        rows, views = rotated_embeddings([data.paths[r] for r in reps], data.model, rotations)
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
