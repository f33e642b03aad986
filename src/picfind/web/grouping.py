"""Duplicates folded in results: exact and near copies behind one tile with a count.

``picfind.duplicates`` finds the groups (same content hash; embeddings with a cosine of
at least its threshold, joined by single linkage) among the first ``WINDOW`` results of
a search; each group shows as its best-ranked member, the others listed under it.
Results past the window are not folded (each is its own tile), so the folded ranking
is exact for the first ``WINDOW`` results and the raw one after them. Pages of the
folded ranking are slices of one computation, kept ``KEEP_SECONDS`` per search.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from picfind.duplicates import DEFAULT_THRESHOLD, find_duplicates
from picfind.records import Result, SearchResults
from picfind.store.base import Store, Table

WINDOW = 500
"""Results folded per search: a group's copies rank close to each other."""
KEEP = 32
KEEP_SECONDS = 60.0

Run = Callable[[int, int], SearchResults]
"""A search as (limit, offset) → its page."""


@dataclass(frozen=True)
class Folded:
    """A search's first results with their duplicates folded: each entry is a result and
    the copies behind it, each ``exact`` (the same content) or ``near``."""

    first: SearchResults
    entries: list[tuple[Result, list[tuple[Result, str]]]]


def fold(results: SearchResults, store: Store, threshold: float = DEFAULT_THRESHOLD) -> Folded:
    """Group the page's results that are copies of one another (in rank order)."""
    rows = {r.id: r for r in store.rows(ids=[r.id for r in results.results], features=True)}
    kept = [r for r in results.results if r.id in rows]
    table = Table.of(rows[r.id] for r in kept)
    groups = find_duplicates(table.paths, table.hashes, table.embeddings, threshold=threshold)
    parent = list(range(len(kept)))  # a path can be in an exact and a near group: union them

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    row_of = {p: i for i, p in enumerate(table.paths)}
    for g in groups:
        members = [row_of[p] for p in g.paths]
        for m in members[1:]:
            a, b = find(members[0]), find(m)
            parent[max(a, b)] = min(a, b)  # the root is the best-ranked member
    entries: list[tuple[Result, list[tuple[Result, str]]]] = []
    at: dict[int, int] = {}
    for i, r in enumerate(kept):
        root = find(i)
        if root not in at:
            at[root] = len(entries)
            entries.append((r, []))
        else:
            kind = "exact" if table.hashes[i] == table.hashes[root] else "near"
            entries[at[root]][1].append((r, kind))
    return Folded(results, entries)


class Grouper:
    """Folded searches, recent ones kept so that further pages are slices, not re-runs."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._kept: OrderedDict[tuple[object, ...], tuple[float, Folded]] = OrderedDict()
        self._lock = threading.Lock()

    def page(self, key: tuple[object, ...], run: Run, limit: int, offset: int) -> SearchResults:
        """One page of the folded ranking: ``total`` counts the tiles (a group is one),
        ``results`` carry ``duplicates`` (their folded copies)."""
        folded = self._folded(key, run)
        raw = folded.first
        entries = folded.entries
        tail = max(0, raw.total - WINDOW)  # results past the window: not folded
        page = entries[offset : offset + limit]
        results: list[Result] = [lead for lead, _ in page]
        copies = {lead.id: c for lead, c in page if c}
        if len(results) < limit and tail and offset + len(results) >= len(entries):
            start = WINDOW + max(0, offset - len(entries))
            results += run(limit - len(results), start).results
        return GroupedResults(
            raw.mode, len(entries) + tail, results, raw.query, raw.parsed, raw.corrections,
            copies=copies, ungrouped=raw.total,
        )  # fmt: skip

    def _folded(self, key: tuple[object, ...], run: Run) -> Folded:
        now = time.monotonic()
        with self._lock:
            hit = self._kept.get(key)
            if hit is not None and now - hit[0] < KEEP_SECONDS:
                self._kept.move_to_end(key)
                return hit[1]
        folded = fold(run(WINDOW, 0), self.store)
        with self._lock:
            self._kept[key] = (now, folded)
            while len(self._kept) > KEEP:
                self._kept.popitem(last=False)
        return folded


@dataclass(frozen=True)
class GroupedResults(SearchResults):
    """A page of folded results: each result's copies, and the count before folding."""

    copies: dict[str, list[tuple[Result, str]]] | None = None
    ungrouped: int = 0

    def to_json(self) -> dict[str, object]:
        out = super().to_json()
        copies = self.copies or {}
        for r in out["results"]:  # type: ignore[attr-defined]
            folded = copies.get(r["id"], [])
            r["duplicates"] = [{"id": c.id, "path": c.path, "kind": k} for c, k in folded]
        out["grouped"] = True
        out["ungrouped_total"] = self.ungrouped
        return out
