"""Retrieval metrics: average precision, precision and recall at k, interpolated curves.

Pure functions over rankings (``hits`` marks the relevant items in rank order);
``picfind eval`` (``evaluate``) applies them to what the store answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

RECALL_LEVELS = np.linspace(0.0, 1.0, 21)
"""Recall levels of the interpolated precision–recall curve."""


def average_precision(hits: np.ndarray, relevant_total: int) -> float:
    """AP of a ranking: ``hits`` marks relevant items in rank order; unretrieved ones count 0."""
    if relevant_total <= 0:
        return 0.0
    hits = np.asarray(hits, dtype=bool)
    ranks = np.flatnonzero(hits) + 1
    return float((np.arange(1, ranks.size + 1) / ranks).sum() / relevant_total)


def precision_recall_at(hits: np.ndarray, relevant_total: int, k: int) -> tuple[float, float]:
    """Precision@k (over k places, empty places count as misses) and recall@k."""
    found = int(np.count_nonzero(np.asarray(hits, dtype=bool)[:k]))
    return found / k, (found / relevant_total if relevant_total else 0.0)


def interpolated_curve(hits: np.ndarray, relevant_total: int) -> np.ndarray:
    """Interpolated precision at RECALL_LEVELS (0 beyond the recall the ranking reaches)."""
    hits = np.asarray(hits, dtype=bool)
    out = np.zeros(RECALL_LEVELS.size)
    if relevant_total <= 0 or hits.size == 0:
        return out
    found = np.cumsum(hits)
    precision = found / np.arange(1, hits.size + 1)
    recall = found / relevant_total
    # best precision at any recall ≥ r: a running max from the end
    best = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_LEVELS - 1e-12, side="left")
    ok = idx < hits.size
    out[ok] = best[idx[ok]]
    return out


@dataclass
class Summary:
    """Averages over queries, and the mean interpolated precision–recall curve."""

    queries: int
    precision_at_k: float
    recall_at_k: float
    map: float
    curve: np.ndarray = field(repr=False)

    def to_json(self) -> dict[str, object]:
        return {
            "queries": self.queries,
            "precision_at_k": round(self.precision_at_k, 6),
            "recall_at_k": round(self.recall_at_k, 6),
            "map": round(self.map, 6),
            "pr_curve": {
                "recall": [round(float(r), 4) for r in RECALL_LEVELS],
                "precision": [round(float(p), 6) for p in self.curve],
            },
        }


def summarise(rows: list[tuple[float, float, float, np.ndarray]]) -> Summary:
    if not rows:
        return Summary(0, 0.0, 0.0, 0.0, np.zeros(RECALL_LEVELS.size))
    p, r, ap, curves = zip(*rows, strict=True)
    return Summary(
        len(rows), float(np.mean(p)), float(np.mean(r)), float(np.mean(ap)), np.mean(curves, 0)
    )
