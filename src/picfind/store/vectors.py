"""The embedded store's in-memory side: features as NumPy arrays.

Rows live in two segments:

* **main** — built from every row up to some rowid and saved under
  ``cache/<n>/`` (postings of the top classes, the embeddings as float16 on disk,
  and, for large indexes, a 128-d PCA projection kept in memory);
* **delta** — rows added since, read from SQLite when the index is opened and
  scored densely.

Rows deleted since ``main`` was built are masked through the ``removed`` log.
When the delta or the deletions grow past a fraction of main, main is rebuilt.

Class scores and keyword masses are exact. Embedding search is exact up to
``EXACT_LIMIT`` rows (the full vectors are in memory); above, it takes its
candidates from a 128-d projection and re-scores them exactly: the PCA scores
pick ``RERANK`` candidates per query whose exact cosines are then read from the
float16 file with ``pread`` (so memory stays near 1.3 KB per image). Its recall@10
against brute force is measured, not assumed: ``bench/recall.py`` on real photos,
``bench/query.py`` on synthetic ones (docs/evaluation.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from picfind.scoring import ConceptColumns, Postings, dense_dot, indicator, rows_dot
from picfind.store.codec import embeddings_from_blobs, padded_classes

log = logging.getLogger(__name__)

CACHE_VERSION = 3
EXACT_LIMIT = 8192
"""Up to this many rows, main keeps full float32 embeddings and needs no rerank."""
PCA_DIM = 128
RERANK = 1000
"""Candidates per query re-scored exactly when main is projected."""
PCA_SAMPLE = 20000
MIN_MAIN = 2000
"""Below this many rows everything stays in the delta: no cache files at all."""
REBUILD_FRACTION = 0.25
LOOKUP_MIN = 4096
"""From this many rows a segment finds rowids through a lookup table (``positions_of``)."""
LOOKUP_SPAN = 4
"""… when its rowids span at most this many times its rows (4 bytes per rowid spanned)."""
MAX_DELTA = 100_000
"""Rows scored densely at most: past this, main is rebuilt whatever its size."""


@dataclass
class Segment:
    """Rows scored together; ``rowids`` ascending, ``alive`` false for deleted rows."""

    rowids: np.ndarray
    alive: np.ndarray
    approximate = False
    """Whether ``coarse_cosine`` approximates (then candidates are re-scored exactly)."""

    @property
    def n(self) -> int:
        return int(self.rowids.shape[0])

    def class_dot(self, weights: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def concept_mass(self, classes: tuple[int, ...]) -> np.ndarray:
        """Σ of the stored probabilities of ``classes``, per row."""
        return self.class_dot(indicator(classes))

    def coarse_cosine(self, vector: np.ndarray) -> np.ndarray:
        """Cosine, exact or approximate (``approximate`` tells)."""
        raise NotImplementedError

    def exact_cosine(self, positions: np.ndarray, vector: np.ndarray) -> np.ndarray:
        return rows_dot(self.vectors(positions), vector)

    def vectors(self, positions: np.ndarray) -> np.ndarray:
        """The stored embeddings (float16 precision, as float32) of some rows, (m, D)."""
        raise NotImplementedError

    def class_dot_rows(self, weights: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``class_dot`` of some rows only (a re-ranking needs a few hundred, not all)."""
        raise NotImplementedError

    def positions_of(self, rowids: np.ndarray) -> np.ndarray:
        """Positions of those of the given rowids that are in this segment."""
        if self.n == 0 or rowids.size == 0:
            return np.zeros(0, dtype=np.int64)
        table = self._lookup()
        if table is not None:  # one gather instead of a binary search per rowid
            first = int(self.rowids[0])
            rowids = rowids[(rowids >= first) & (rowids < first + table.shape[0])]
            found = table[rowids - first]
            out_: np.ndarray = found[found >= 0].astype(np.int64)
            return out_
        pos = np.searchsorted(self.rowids, rowids)
        inside = pos < self.n
        pos, rowids = pos[inside], rowids[inside]
        out: np.ndarray = pos[self.rowids[pos] == rowids]
        return out

    def _lookup(self) -> np.ndarray | None:
        """Position by rowid − first rowid (−1: none) for a large segment whose rowids are
        dense enough (a span of at most ``LOOKUP_SPAN`` times its rows); made once."""
        table: np.ndarray | None = getattr(self, "_table", None)
        if table is not None or self.n < LOOKUP_MIN:
            return table
        span = int(self.rowids[-1] - self.rowids[0]) + 1
        if span > LOOKUP_SPAN * self.n:
            return None
        table = np.full(span, -1, dtype=np.int32)
        table[self.rowids - self.rowids[0]] = np.arange(self.n, dtype=np.int32)
        self._table = table
        return table


class DeltaSegment(Segment):
    """Recent rows, dense: (n, K) padded top classes and full embeddings."""

    def __init__(
        self,
        rowids: np.ndarray,
        class_ids: np.ndarray,
        class_probs: np.ndarray,
        embeddings: np.ndarray,
    ) -> None:
        super().__init__(rowids, np.ones(rowids.shape[0], dtype=bool))
        self.class_ids = class_ids
        self.class_probs = class_probs
        self.embeddings = embeddings

    def class_dot(self, weights: np.ndarray) -> np.ndarray:
        return dense_dot(self.class_ids, self.class_probs, weights)

    def coarse_cosine(self, vector: np.ndarray) -> np.ndarray:
        if self.n == 0:
            return np.zeros(0, dtype=np.float32)
        out: np.ndarray = self.embeddings @ vector
        return out

    def vectors(self, positions: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.embeddings[positions]
        return out

    def class_dot_rows(self, weights: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return dense_dot(self.class_ids[positions], self.class_probs[positions], weights)


class MainSegment(Segment):
    """The bulk of the rows, loaded from ``cache/<n>/``."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        rowids = np.load(folder / "rowids.npy")
        super().__init__(rowids, np.ones(rowids.shape[0], dtype=bool))
        self.folder = folder
        self.manifest = manifest
        self.dim = int(manifest["dim"])
        self.upto = int(manifest["max_rowid"])
        self.removed_seq = int(manifest["removed_seq"])
        index_id = manifest.get("index_id")
        self.index_id = str(index_id) if index_id is not None else None
        """The database this segment was built from (see ``sqlite.INDEX_ID``)."""
        self.postings = Postings(
            np.load(folder / "post_offsets.npy"),
            np.load(folder / "post_rows.npy"),
            np.load(folder / "post_probs.npy"),
        )
        self.approximate = bool(manifest["pca"])
        self.columns = ConceptColumns(
            tuple(w for w, _ in manifest["columns"]),
            tuple(frozenset(m) for _, m in manifest["columns"]),
        )
        self.concepts = np.load(folder / "concepts.npy", mmap_mode="r")
        self._fd = os.open(folder / "embeddings.f16", os.O_RDONLY)
        if self.approximate:
            self.z = np.load(folder / "z.npy")
            pca = np.load(folder / "pca.npz")
            self.mean, self.components = pca["mean"], pca["components"]
        else:
            raw = np.fromfile(folder / "embeddings.f16", dtype=np.float16)
            self.full = raw.reshape(self.n, self.dim).astype(np.float32)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:  # segments are shared by searches; the last one closes
        self.close()

    def class_dot(self, weights: np.ndarray) -> np.ndarray:
        return self.postings.dot(weights, self.n)

    def concept_mass(self, classes: tuple[int, ...]) -> np.ndarray:
        columns, rest = self.columns.cover(classes)
        mass = self.postings.dot(indicator(rest), self.n) if rest else np.zeros(self.n)
        for j in columns:
            mass += self.concepts[j]
        return mass

    def coarse_cosine(self, vector: np.ndarray) -> np.ndarray:
        out: np.ndarray
        if not self.approximate:
            out = self.full @ vector
            return out
        # q·x ≈ q·μ + (Pq)·P(x − μ); the first term is the same for every row.
        out = self.z @ (self.components @ vector) + float(vector @ self.mean)
        return out

    def vectors(self, positions: np.ndarray) -> np.ndarray:
        out: np.ndarray
        if not self.approximate:
            out = self.full[positions]
            return out
        row_bytes = self.dim * 2
        order = np.argsort(positions)
        rows = np.empty((positions.shape[0], self.dim), dtype=np.float16)
        for i in order:  # pread: candidates are read, never mapped, so memory stays flat
            data = os.pread(self._fd, row_bytes, int(positions[i]) * row_bytes)
            rows[i] = np.frombuffer(data, dtype=np.float16)
        out = rows.astype(np.float32)
        return out

    def class_dot_rows(self, weights: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return self.postings.dot_rows(weights, positions)


class RowSubset(Segment):
    """Some rows of another segment (the candidates a selective filter, place, date or
    read text leaves): scored on their own, a query costs what its candidates do, not
    what the whole segment does. Scores are those of the same rows in ``base``, summed
    in the same order."""

    def __init__(self, base: Segment, positions: np.ndarray) -> None:
        super().__init__(base.rowids[positions], np.ones(positions.shape[0], dtype=bool))
        self.base = base
        self.positions = positions
        self.approximate = base.approximate

    def class_dot(self, weights: np.ndarray) -> np.ndarray:
        return self.base.class_dot_rows(weights, self.positions)

    def concept_mass(self, classes: tuple[int, ...]) -> np.ndarray:
        base = self.base
        if not isinstance(base, MainSegment):
            return base.class_dot_rows(indicator(classes), self.positions)
        columns, rest = base.columns.cover(classes)
        mass = base.postings.dot_rows(indicator(rest), self.positions) if rest else np.zeros(self.n)
        for j in columns:
            mass += base.concepts[j][self.positions]
        return mass

    def coarse_cosine(self, vector: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.base.coarse_cosine(vector)[self.positions]
        return out

    def vectors(self, positions: np.ndarray) -> np.ndarray:
        return self.base.vectors(self.positions[positions])

    def class_dot_rows(self, weights: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return self.base.class_dot_rows(weights, self.positions[positions])


# --- building and loading ------------------------------------------------------------


def read_delta(conn: sqlite3.Connection, after_rowid: int, k: int, dim: int) -> DeltaSegment:
    rows = conn.execute(
        "SELECT rowid, class_ids, class_probs, embedding FROM images WHERE rowid > ? "
        "ORDER BY rowid",
        (after_rowid,),
    ).fetchall()
    rowids = np.array([r[0] for r in rows], dtype=np.int64)
    ids, probs, _ = padded_classes([(r[1], r[2]) for r in rows], k)
    return DeltaSegment(rowids, ids, probs, embeddings_from_blobs([r[3] for r in rows], dim))


def build_main(
    conn: sqlite3.Connection,
    cache_dir: Path,
    upto_rowid: int,
    removed_seq: int,
    k: int,
    dim: int,
    columns: ConceptColumns,
    index_id: str | None,
) -> MainSegment:
    """Write a new main segment from every row ≤ upto_rowid (hold ``build_lock``)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    folder = cache_dir / f"main-{upto_rowid}-{removed_seq}-{secrets.token_hex(4)}"
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    cur = conn.execute(
        "SELECT rowid, class_ids, class_probs, embedding FROM images WHERE rowid <= ? "
        "ORDER BY rowid",
        (upto_rowid,),
    )
    rowid_parts, id_parts, prob_parts, len_parts, mass_parts = [], [], [], [], []
    member_matrix = columns.matrix()
    n = 0
    with open(tmp / "embeddings.f16", "wb") as emb_file:
        while batch := cur.fetchmany(5000):
            rowid_parts.append(np.array([r[0] for r in batch], dtype=np.int64))
            ids, probs, lengths = padded_classes([(r[1], r[2]) for r in batch], k)
            mask = np.arange(k)[None, :] < lengths[:, None]
            id_parts.append(ids[mask])
            prob_parts.append(probs[mask])
            len_parts.append(lengths)
            dense = np.zeros((len(batch), member_matrix.shape[0]), dtype=np.float32)
            dense[np.nonzero(mask)[0], ids[mask]] = probs[mask]
            mass_parts.append(dense @ member_matrix)
            emb_file.write(b"".join(r[3] for r in batch))
            n += len(batch)
    rowids = np.concatenate(rowid_parts) if rowid_parts else np.zeros(0, np.int64)
    np.save(tmp / "rowids.npy", rowids)
    postings = Postings.build(
        np.concatenate(id_parts).astype(np.int64) if id_parts else np.zeros(0, np.int64),
        np.concatenate(prob_parts) if prob_parts else np.zeros(0, np.float32),
        np.concatenate(len_parts) if len_parts else np.zeros(0, np.int64),
    )
    np.save(tmp / "post_offsets.npy", postings.offsets)
    np.save(tmp / "post_rows.npy", postings.rows)
    np.save(tmp / "post_probs.npy", postings.probs)
    masses = np.concatenate(mass_parts) if mass_parts else np.zeros((0, len(columns.wnids)))
    np.save(tmp / "concepts.npy", np.ascontiguousarray(masses.T, dtype=np.float32))
    del masses, mass_parts
    pca = n > EXACT_LIMIT
    if pca:
        _write_projection(tmp, n, dim)
    manifest = {
        "version": CACHE_VERSION,
        "index_id": index_id,
        "max_rowid": upto_rowid,
        "removed_seq": removed_seq,
        "n": n,
        "dim": dim,
        "pca": pca,
        "columns": [[w, sorted(m)] for w, m in zip(columns.wnids, columns.members, strict=True)],
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    os.replace(tmp, folder)
    segment = MainSegment(folder, manifest)  # loaded before anyone may delete it
    current = cache_dir / "CURRENT"
    pointer = cache_dir / f"CURRENT.{os.getpid()}.tmp"
    pointer.write_text(folder.name)
    os.replace(pointer, current)
    for old in cache_dir.iterdir():  # loaded segments keep their open files; unlinking is safe
        if old.is_dir() and old.name != folder.name:
            shutil.rmtree(old, ignore_errors=True)
    return segment


@contextlib.contextmanager
def build_lock(cache_dir: Path) -> Iterator[None]:
    """One builder at a time per index; the others wait, then reuse its result."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / "build.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_projection(folder: Path, n: int, dim: int) -> None:
    """PCA of the embeddings (fit on a sample), and every row projected to PCA_DIM."""
    emb = np.memmap(folder / "embeddings.f16", dtype=np.float16, mode="r", shape=(n, dim))
    rng = np.random.default_rng(0)
    sample_idx = np.sort(rng.choice(n, size=min(n, PCA_SAMPLE), replace=False))
    sample = np.asarray(emb[sample_idx], dtype=np.float64)
    # A row that is not finite (stored by an older picfind) must not poison the fit: it
    # projects to NaN itself and is masked out of every search, the others stay exact.
    sample = sample[np.isfinite(sample).all(axis=1)]
    if sample.shape[0] == 0:
        sample = np.zeros((1, dim))
    mean = sample.mean(axis=0)
    centred = sample - mean
    cov = centred.T @ centred / max(1, sample.shape[0] - 1)
    _, vecs = np.linalg.eigh(cov)
    d = min(PCA_DIM, dim)
    components = np.ascontiguousarray(vecs[:, ::-1][:, :d].T).astype(np.float32)
    mean32 = mean.astype(np.float32)
    z = np.lib.format.open_memmap(folder / "z.npy", mode="w+", dtype=np.float32, shape=(n, d))
    for start in range(0, n, 65536):
        block = np.asarray(emb[start : start + 65536], dtype=np.float32) - mean32
        z[start : start + block.shape[0]] = block @ components.T
    z.flush()
    del z
    np.savez(folder / "pca.npz", mean=mean32, components=components)


def load_main(cache_dir: Path) -> MainSegment | None:
    """The current main segment, or None if there is none or it is unreadable."""
    try:
        name = (cache_dir / "CURRENT").read_text().strip()
        folder = cache_dir / name
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("version") != CACHE_VERSION:
            return None
        return MainSegment(folder, manifest)
    except (OSError, ValueError, KeyError) as exc:
        log.debug("no usable cache in %s: %s", cache_dir, exc)
        return None
