"""The fusion methods that bench/fusion.py compares, over whole score matrices.

A ``PhotoSet`` holds what an index stores for a collection and the two signals
of every query against every row, computed with the stores' formulas: the class
term ``c = Σ_{j∈T10(η)} η_j ξ_ij`` of a query's ten stored classes against each
row's stored top 64, and the cosine of the float16-stored embeddings. A method
turns them into a score matrix; ``per_query`` measures it like ``picfind eval``
(each photo queries all the others; ties by path, i.e. by row).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from picfind.scoring import FUSED_CANDIDATES, HYBRID_WEIGHT, fuse, top_classes

K = 10


@dataclass
class PhotoSet:
    """A collection's stored features and both signals, every query × every row."""

    name: str
    labels: np.ndarray  # (n,) str; a label of one row only makes a lonely query
    group: np.ndarray  # (n,) str: the shared set a row comes from
    emb: np.ndarray  # (n, D) float32, unit
    xi: np.ndarray  # (n, 1000) stored classes, zero elsewhere
    eta: np.ndarray  # (n, 1000) each row's query weights: its top 10 stored classes
    c: np.ndarray  # (n, n) class term, without the paper's "1 +"
    cos: np.ndarray  # (n, n)
    pool: np.ndarray  # (n, n) bool: each query's candidates, the top 200 of each signal

    @classmethod
    def build(
        cls, name: str, labels: np.ndarray, group: np.ndarray, emb: np.ndarray, xi: np.ndarray
    ) -> PhotoSet:
        emb = np.asarray(emb, dtype=np.float32)
        xi = np.asarray(xi, dtype=np.float32)
        eta = top_classes(xi)
        c = (eta @ xi.T).astype(np.float64)  # float32 products, as evaluate.scorers
        cos = (emb @ emb.T).astype(np.float64)
        n = labels.shape[0]
        pool = np.zeros((n, n), dtype=bool)
        for s in (c, cos):
            np.put_along_axis(pool, rank_order(s)[:, :FUSED_CANDIDATES], True, axis=1)
        return cls(name, labels, group, emb, xi, eta, c, cos, pool)

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    @property
    def codes(self) -> np.ndarray:
        return np.unique(self.labels, return_inverse=True)[1]

    def subset(self, rows: np.ndarray, name: str) -> PhotoSet:
        return PhotoSet.build(
            name, self.labels[rows], self.group[rows], self.emb[rows], self.xi[rows]
        )


# --- measuring -------------------------------------------------------------------------


def rank_order(scores: np.ndarray) -> np.ndarray:
    """Each query's ranking of the other rows, best first (ties by row, like the store)."""
    s = np.array(scores, dtype=np.float64)
    np.fill_diagonal(s, -np.inf)
    order: np.ndarray = np.argsort(-s, axis=1, kind="stable")[:, : s.shape[1] - 1]
    return order


def per_query(scores: np.ndarray, ps: PhotoSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision@10, average precision, their rows) of the queries with a relevant row."""
    codes = ps.codes
    hits = codes[rank_order(scores)] == codes[:, None]
    relevant = np.bincount(codes)[codes] - 1
    found = np.cumsum(hits, axis=1)
    ap = np.where(hits, found / np.arange(1, hits.shape[1] + 1), 0).sum(1) / np.maximum(relevant, 1)
    keep = np.flatnonzero(relevant > 0)
    return hits[keep, :K].mean(axis=1), ap[keep], keep


def measure(scores: np.ndarray, ps: PhotoSet) -> dict[str, tuple[float, float]]:
    """(P@10, mAP) per shared set the queries come from (one entry for a plain set)."""
    p, ap, rows = per_query(scores, ps)
    out = {}
    for g in np.unique(ps.group[rows]):
        mine = ps.group[rows] == g
        out[str(g)] = (float(p[mine].mean()), float(ap[mine].mean()))
    return out


# --- the methods -----------------------------------------------------------------------

Method = Callable[..., np.ndarray]


def _masked(s: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, s, np.nan)


def _zscore(s: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = _masked(s, mask)
    sd = np.nanstd(m, axis=1, keepdims=True)
    return np.asarray((s - np.nanmean(m, axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0))


def _minmax(s: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = _masked(s, mask)
    lo, hi = np.nanmin(m, axis=1, keepdims=True), np.nanmax(m, axis=1, keepdims=True)
    return np.asarray((s - lo) / np.where(hi > lo, hi - lo, 1.0))


def _ranks(s: np.ndarray) -> np.ndarray:
    """1-based rank of every row in each query's list (the query itself last)."""
    order = rank_order(s)
    r = np.full(s.shape, s.shape[1], dtype=np.float64)
    np.put_along_axis(r, order, np.arange(1, order.shape[1] + 1, dtype=np.float64)[None], 1)
    return r


def _scope(ps: PhotoSet, scope: str) -> np.ndarray:
    return ~np.eye(ps.n, dtype=bool) if scope == "all" else ps.pool


def _below_pool(ps: PhotoSet, fused: np.ndarray) -> np.ndarray:
    """Candidates by ``fused``; the rest after them, by cosine (a store returns no more)."""
    return np.where(ps.pool, fused + 1e3, ps.cos)


def _evidence(ps: PhotoSet) -> np.ndarray:
    return fuse(ps.c, np.zeros_like(ps.c), weight=1.0)  # c/(c + κ), κ = the default


def confidence(ps: PhotoSet, kind: str) -> np.ndarray:
    """Per query: top-1 probability, concentration Σp²/(Σp)², or 1 − normalised entropy."""
    w = ps.eta
    if kind == "top-1":
        return np.asarray(w.max(axis=1))
    total = np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    if kind == "concentration":
        return np.asarray((w * w).sum(axis=1) / total[:, 0] ** 2)
    p = w / total
    h = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)
    return np.asarray(1.0 - h / np.log(10))


def expanded(ps: PhotoSet, first: np.ndarray, m: int, classes: bool) -> tuple[np.ndarray, ...]:
    """(cosine, class term) of each query moved to the mean of itself and its m best."""
    best = rank_order(first)[:, :m]
    v = ps.emb + ps.emb[best].sum(axis=1)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    c = ps.c
    if classes:
        weights = top_classes((ps.eta + ps.eta[best].sum(axis=1)) / (1 + m))
        c = (weights @ ps.xi.T).astype(np.float64)
    return (v @ ps.emb.T).astype(np.float64), c


def m_classes(ps: PhotoSet) -> np.ndarray:
    return 1.0 + ps.c


def m_embedding(ps: PhotoSet) -> np.ndarray:
    return ps.cos


def m_linear(ps: PhotoSet, lam: float) -> np.ndarray:
    return ps.cos + lam * ps.c


def m_zscore(ps: PhotoSet, w: float, scope: str) -> np.ndarray:
    mask = _scope(ps, scope)
    fused = _zscore(ps.cos, mask) + w * _zscore(ps.c, mask)
    return fused if scope == "all" else _below_pool(ps, fused)


def m_minmax(ps: PhotoSet, w: float, scope: str) -> np.ndarray:
    mask = _scope(ps, scope)
    fused = _minmax(ps.cos, mask) + w * _minmax(ps.c, mask)
    return fused if scope == "all" else _below_pool(ps, fused)


def m_combmnz(ps: PhotoSet) -> np.ndarray:
    """CombMNZ: min-max sum over the candidates × the number of lists a row is in."""
    lists = sum((_ranks(s) <= FUSED_CANDIDATES).astype(np.float64) for s in (ps.c, ps.cos))
    summed = _minmax(ps.cos, ps.pool) + _minmax(ps.c, ps.pool)
    return _below_pool(ps, summed * lists)


def m_borda(ps: PhotoSet, w: float) -> np.ndarray:
    return -_ranks(ps.cos) - w * _ranks(ps.c)


def m_rrf(ps: PhotoSet, k: int, depth: int) -> np.ndarray:
    """Reciprocal-rank fusion; a row below ``depth`` in a list gets nothing from it."""
    out = np.zeros(ps.c.shape)
    for s in (ps.cos, ps.c):
        r = _ranks(s)
        out += np.where(r <= depth, 1.0 / (k + r), 0.0)
    return out + 1e-9 * ps.cos  # rows in neither list: by cosine


def m_confidence(ps: PhotoSet, lam: float, kind: str, sat: bool) -> np.ndarray:
    term = _evidence(ps) if sat else ps.c
    return np.asarray(ps.cos + lam * confidence(ps, kind)[:, None] * term)


def m_saturated(ps: PhotoSet, lam: float, kappa: float) -> np.ndarray:
    return fuse(ps.c, ps.cos, weight=lam, saturation=kappa)


def m_log(ps: PhotoSet, w: float, eps: float) -> np.ndarray:
    return np.asarray(ps.cos + w * np.log(ps.c + eps))


def m_selective(ps: PhotoSet, lam: float, tau: float) -> np.ndarray:
    """Saturated class term weighted like IDF: −log(share of the rows that share the classes)."""
    own = (ps.eta * ps.xi).sum(axis=1)
    share = (ps.c >= tau * own[:, None]).sum(axis=1) / ps.n
    idf = -np.log(np.maximum(share, 1.0 / ps.n))
    return np.asarray(ps.cos + lam * idf[:, None] * _evidence(ps))


def m_expanded_embedding(ps: PhotoSet, m: int) -> np.ndarray:
    return expanded(ps, ps.cos, m, classes=False)[0]


def m_fused(ps: PhotoSet, lam: float, kappa: float, m: int, classes: bool = True) -> np.ndarray:
    first = fuse(ps.c, ps.cos, weight=lam, saturation=kappa)
    cos, c = expanded(ps, first, m, classes)
    return fuse(c, cos, weight=lam, saturation=kappa)


def grid(**axes: list[Any]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, v, strict=True)) for v in itertools.product(*axes.values())]


@dataclass(frozen=True)
class Family:
    name: str
    formula: str
    method: Method
    configs: list[dict[str, Any]]


# fmt: off
FAMILIES = [
    Family("classes", "1 + c (the paper)", m_classes, [{}]),
    Family("embedding", "cos", m_embedding, [{}]),
    Family("hybrid", "cos + λ·c (today: λ = 0.1)", m_linear,
           grid(lam=[HYBRID_WEIGHT, 0.25, 0.5, 1, 2, 4])),
    Family("z-score, all rows", "z(cos) + w·z(c)", m_zscore,
           grid(w=[0.25, 0.5, 1, 2], scope=["all"])),
    Family("z-score, candidates", "z(cos) + w·z(c) over the top 200 of each", m_zscore,
           grid(w=[0.25, 0.5, 1, 2], scope=["pool"])),
    Family("min-max, all rows", "mm(cos) + w·mm(c)", m_minmax,
           grid(w=[0.25, 0.5, 1, 2], scope=["all"])),
    Family("CombSUM", "mm(cos) + w·mm(c) over the candidates", m_minmax,
           grid(w=[0.25, 0.5, 1, 2], scope=["pool"])),
    Family("CombMNZ", "CombSUM × lists the row is in", m_combmnz, [{}]),
    Family("Borda", "−rank(cos) − w·rank(c)", m_borda, grid(w=[0.5, 1, 2])),
    Family("RRF, full lists", "Σ 1/(k + rank)", m_rrf, grid(k=[1, 10, 60], depth=[10**9])),
    Family("RRF, top 200", "Σ 1/(k + rank), rank ≤ 200", m_rrf,
           grid(k=[1, 10, 60], depth=[FUSED_CANDIDATES])),
    Family("confidence-weighted", "cos + λ·conf(η)·c", m_confidence,
           grid(lam=[1, 2, 4, 8], kind=["top-1", "concentration", "entropy"], sat=[False])),
    Family("log class term", "cos + w·log(c + ε)", m_log,
           grid(w=[0.02, 0.05, 0.1], eps=[1e-4, 1e-3])),
    Family("saturated", "cos + λ·c/(c + κ)", m_saturated,
           grid(lam=[0.1, 0.25, 0.5, 1], kappa=[0.001, 0.003, 0.01, 0.03])),
    Family("saturated, confidence", "cos + λ·conf(η)·c/(c + κ)", m_confidence,
           grid(lam=[1, 2, 4], kind=["top-1", "concentration", "entropy"], sat=[True])),
    Family("saturated, selectivity", "cos + λ·(−log share)·c/(c + κ)", m_selective,
           grid(lam=[0.1, 0.2, 0.3, 0.5], tau=[0.02, 0.1])),
    Family("embedding + expansion", "cos of the query averaged with its m best",
           m_expanded_embedding, grid(m=[3, 5, 10])),
    Family("saturated + embedding expansion", "fused, classes not expanded", m_fused,
           grid(lam=[0.3, 0.5, 0.75], kappa=[0.001, 0.003, 0.01], m=[5], classes=[False])),
    Family("fused", "saturated, both signals expanded by the m best", m_fused,
           grid(lam=[0.25, 0.5, 0.75, 1], kappa=[0.001, 0.003, 0.01], m=[3, 5, 8])),
]
# fmt: on
