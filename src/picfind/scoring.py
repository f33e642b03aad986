"""Scoring: pure functions over feature arrays, shared by every store.

The formulas (see docs/architecture.md):

* classes (the LIARR paper): ``1 + Σ_{j ∈ T_k(η)} η_j ξ_ij`` over the query's
  k highest classes;
* embedding: cosine of L2-normalised pooled CNN features;
* hybrid: ``cosine + HYBRID_WEIGHT · Σ_{j ∈ T_k(η)} η_j ξ_ij``, the weight chosen
  by leave-one-out precision on the shared photo sets (docs/evaluation.md);
* fused (issue 16): ``cosine + λ · c/(c + κ)`` with c the class term above, scored
  twice: the m best of a first pass join the query (their mean embedding and
  the top k of their mean class weights) and the expanded query scores the
  candidates again. Never worse than the better of classes and embedding on
  the shared sets (docs/evaluation.md, "Fusing the two signals");
* keyword: per clause, the probability mass of the classes under its concepts
  (summed over each image's stored classes); an image matches when
  every positive clause has at least ``MATCH_THRESHOLD`` of mass and no
  negated clause has ``NOT_THRESHOLD``; the score is the geometric mean of the
  positive clause masses.

Documents keep only their top classes (``sparse_top``): the paper indexed its
top ``featuresize`` too, and the mass beyond them is too small to reorder the
top results (measured in docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from picfind.records import SparseClasses

Mask = npt.NDArray[np.bool_]

NUM_CLASSES = 1000
QUERY_TOP_K = 10
"""k of T_k(η): how many of the query's classes take part (the paper's default)."""
STORED_CLASSES = 64
"""How many classes each document keeps at most: enough for the classes top-10
to match the full 1000-class formula (docs/evaluation.md)."""
PRECOMPUTED_MIN_CLASSES = 8
"""Concepts with at least this many classes get a precomputed mass per image."""
MIN_STORED_PROB = 1e-4
"""Classes below this probability are not stored: they cannot move a ranking."""
HYBRID_WEIGHT = 0.1
"""λ in hybrid = cosine + λ·(classes − 1); chosen in docs/evaluation.md."""
MATCH_THRESHOLD = 0.01
"""Mass a keyword clause needs for an image to count as a match."""
NOT_THRESHOLD = 0.5
"""Mass of a negated clause that excludes an image: ``-poodle`` drops the photos
that are more likely poodles than not, not every dog with a trace of poodle."""
KEYWORD_FLOOR = 0.02
"""The relevance floor of a words search (``--min-score``'s default): each word must
carry this much (weighted) mass. The highest floor within 0.005 of the best mean AP on
the development words that keeps "dog" and "cat" on catsdogs ≥ 0.95 AP
(bench/thresholds.py; docs/evaluation.md)."""
KEYWORD_NOT = 0.4
"""The ``-word`` threshold of a words search: the lowest within 0.001 of the best mean
AP of "A -B" queries (bench/thresholds.py); excludes a photo whose top label is the
word at 0.4 or more ("cat -tabby" drops the tabby at 0.48)."""


def sparse_top(probs: npt.ArrayLike, k: int = STORED_CLASSES) -> SparseClasses:
    """Keep the k most probable classes (above MIN_STORED_PROB) of one image."""
    p = np.asarray(probs, dtype=np.float32)
    k = min(k, p.shape[0])
    top = np.argpartition(-p, k - 1)[:k]
    top = top[np.argsort(-p[top], kind="stable")]
    keep = top[p[top] >= MIN_STORED_PROB]
    if keep.size == 0:  # a flat distribution still keeps its best class
        keep = top[:1]
    return SparseClasses(keep.astype(np.uint16), p[keep].astype(np.float32))


def query_weights(classes: SparseClasses, k: int = QUERY_TOP_K) -> npt.NDArray[np.float32]:
    """Dense (1000,) weights η_j on the query's top-k classes, zero elsewhere."""
    w = np.zeros(NUM_CLASSES, dtype=np.float32)
    w[classes.ids[:k].astype(np.intp)] = classes.probs[:k]
    return w


def indicator(class_ids: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Dense (1000,) 0/1 weights: summing with them gives a concept's mass."""
    w = np.zeros(NUM_CLASSES, dtype=np.float32)
    w[np.asarray(class_ids, dtype=np.intp)] = 1.0
    return w


# --- the two layouts of class scores -------------------------------------------------


@dataclass(frozen=True)
class Postings:
    """Class → (row, probability) lists: the inverted index of the paper's idea.

    ``offsets[j]:offsets[j+1]`` slices ``rows``/``probs`` for class j. A query
    reads only the lists of its classes, never every document.
    """

    offsets: np.ndarray  # int64 (NUM_CLASSES + 1,)
    rows: np.ndarray  # int32
    probs: np.ndarray  # float32

    @classmethod
    def build(cls, ids: np.ndarray, probs: np.ndarray, lengths: np.ndarray) -> Postings:
        """From per-row top classes: flat ``ids``/``probs`` with ``lengths`` per row."""
        rows = np.repeat(np.arange(lengths.shape[0], dtype=np.int32), lengths)
        order = np.argsort(ids, kind="stable")
        counts = np.bincount(ids, minlength=NUM_CLASSES)
        offsets = np.zeros(NUM_CLASSES + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return cls(offsets, rows[order], probs[order].astype(np.float32))

    def dot(self, weights: np.ndarray, n_rows: int) -> np.ndarray:
        """Σ_j w_j ξ_ij for every row, reading only classes with w_j ≠ 0."""
        nz = np.flatnonzero(weights)
        if nz.size == 0:
            return np.zeros(n_rows, dtype=np.float64)
        starts, ends = self.offsets[nz], self.offsets[nz + 1]
        # Runs of adjacent classes (WordNet keeps breeds together) are one slice.
        runs = np.flatnonzero(np.r_[True, nz[1:] != nz[:-1] + 1])
        run_ends = np.r_[runs[1:], nz.size]
        parts_rows, parts_vals = [], []
        for a, b in zip(runs, run_ends, strict=True):
            lo, hi = starts[a], ends[b - 1]
            if hi == lo:
                continue
            parts_rows.append(self.rows[lo:hi])
            w = weights[nz[a:b]]
            if np.all(w == w[0]):
                parts_vals.append(self.probs[lo:hi] * w[0])
            else:
                parts_vals.append(self.probs[lo:hi] * np.repeat(w, ends[a:b] - starts[a:b]))
        if not parts_rows:
            return np.zeros(n_rows, dtype=np.float64)
        rows = np.concatenate(parts_rows) if len(parts_rows) > 1 else parts_rows[0]
        vals = np.concatenate(parts_vals) if len(parts_vals) > 1 else parts_vals[0]
        return np.bincount(rows, weights=vals, minlength=n_rows)

    def dot_rows(self, weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Σ_j w_j ξ_ij for the given rows only: a re-ranking needs a few hundred, not all.

        Each class's list holds its rows in ascending order (``build`` sorts stably),
        so one binary search per class with w_j ≠ 0 finds the rows' entries.
        """
        # the lists' own dtype: searchsorted would otherwise copy each list to convert it
        rows = np.asarray(rows).astype(self.rows.dtype, copy=False)
        out = np.zeros(rows.shape[0], dtype=np.float64)
        for j in np.flatnonzero(weights):
            lo, hi = int(self.offsets[j]), int(self.offsets[j + 1])
            if hi == lo or rows.size == 0:
                continue
            listed = self.rows[lo:hi]
            pos = np.minimum(np.searchsorted(listed, rows), hi - lo - 1)
            found = listed[pos] == rows
            out[found] += weights[j] * self.probs[lo + pos[found]]
        return out


def dense_dot(ids: np.ndarray, probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ_j w_j ξ_ij from padded per-row top classes (ids (n,K), probs (n,K), 0-padded)."""
    if ids.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    out: np.ndarray = (weights[ids.astype(np.intp)] * probs).sum(axis=1, dtype=np.float64)
    return out


# --- concept masses -----------------------------------------------------------------


@dataclass(frozen=True)
class ConceptColumns:
    """Concepts whose masses a store precomputes per image, one column each.

    A keyword clause over a broad concept ("dog": 118 classes, "animal": 398)
    would read the postings of every class under it; a precomputed column is
    one contiguous read instead. ``cover`` splits any class set into columns
    that partition part of it, plus the classes left to sum from postings.
    """

    wnids: tuple[str, ...]
    members: tuple[frozenset[int], ...]

    @classmethod
    def from_concepts(
        cls, concepts: dict[str, np.ndarray], min_classes: int = PRECOMPUTED_MIN_CLASSES
    ) -> ConceptColumns:
        unique: dict[frozenset[int], str] = {}
        for wnid in sorted(concepts):  # concepts sharing a class set need one column
            if len(concepts[wnid]) >= min_classes:
                unique.setdefault(frozenset(int(i) for i in concepts[wnid]), wnid)
        ordered = sorted(unique.items(), key=lambda t: (-len(t[0]), t[1]))
        return cls(tuple(w for _, w in ordered), tuple(m for m, _ in ordered))

    def matrix(self) -> np.ndarray:
        """(NUM_CLASSES, n_columns) 0/1: class probabilities @ matrix = masses."""
        m = np.zeros((NUM_CLASSES, len(self.wnids)), dtype=np.float32)
        for j, members in enumerate(self.members):
            m[list(members), j] = 1.0
        return m

    def cover(self, classes: tuple[int, ...]) -> tuple[list[int], tuple[int, ...]]:
        """(columns whose class sets are disjoint subsets of ``classes``, the rest)."""
        left = set(classes)
        columns = []
        for j, members in enumerate(self.members):  # largest first
            if len(members) <= len(left) and members <= left:
                columns.append(j)
                left -= members
        return columns, tuple(sorted(left))


# --- combining ----------------------------------------------------------------------


def clause_scores(parts: Sequence[tuple[np.ndarray, Mask]]) -> tuple[np.ndarray, Mask]:
    """A clause of matchers, from each matcher's (scores, matches): it matches where any
    matcher matches and scores the best score among the matchers that match."""
    if not parts:
        raise ValueError("a clause needs at least one matcher")
    score, match = parts[0]
    if len(parts) == 1:
        return score, match
    best = np.where(match, score, 0.0)
    any_match = match.copy()
    for s, m in parts[1:]:
        best = np.maximum(best, np.where(m, s, 0.0))
        any_match |= m
    return best, any_match


def words_scores(
    positive: Sequence[tuple[np.ndarray, Mask]], negative: Sequence[Mask]
) -> tuple[np.ndarray, Mask]:
    """(scores, matches) of a query from its clauses: every positive clause matches,
    no negated one does; the score is the geometric mean of the positive clause scores."""
    if not positive:
        raise ValueError("a keyword query needs at least one positive clause")
    score, match = positive[0]
    match = match.copy()
    product = score
    for s, m in positive[1:]:
        match &= m
        product = product * s
    for m in negative:
        match &= ~m
    scores = product if len(positive) == 1 else np.power(product, 1.0 / len(positive))
    return scores, match


def keyword_scores(
    positive: list[np.ndarray],
    negative: list[np.ndarray],
    threshold: float = MATCH_THRESHOLD,
    not_threshold: float = NOT_THRESHOLD,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, matches) from clause masses: geometric mean of positives, AND/NOT by threshold."""
    return words_scores(
        [(mass, mass >= threshold) for mass in positive],
        [mass >= not_threshold for mass in negative],
    )


def ranked(scores: np.ndarray) -> np.ndarray:
    """Scores fit for ranking: NaN and ±infinity (a poisoned row) become −∞, so they
    sort last and never take the place of a real score (or empty a page)."""
    s = np.asarray(scores)
    if s.size and not np.isfinite(s).all():
        return np.where(np.isfinite(s), s, -np.inf)
    return s


def top_k(scores: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k best scores (ties by index), best first; masked-out rows never.

    Non-finite scores rank as −∞ (see :func:`ranked`)."""
    if mask is not None:
        candidates = np.flatnonzero(mask)
        picked: np.ndarray = candidates[top_k(scores[candidates], k)]
        return picked
    scores = ranked(scores)
    n = scores.shape[0]
    if k <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if k < n:
        # The lowest score is often shared by most rows (1.0 for every image without
        # the query's classes, 0 mass): set it aside, or partitioning crawls on it.
        floor = scores.min()
        above = np.flatnonzero(scores > floor)
        if above.size >= k:
            part = above[_partition_top(scores[above], k)]
        else:
            ties = np.flatnonzero(scores == floor)[: k - above.size]
            part = np.concatenate([above, ties])
    else:
        part = np.arange(n)
    # lexsort: primary key score descending, then index ascending for stable ties
    order = np.lexsort((part, -scores[part]))
    best: np.ndarray = part[order].astype(np.int64)
    return best


def _partition_top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best, ties at the k-th going to the lowest positions."""
    n = scores.shape[0]
    if k >= n:
        return np.arange(n)
    kth = np.partition(scores, n - k)[n - k]
    above = np.flatnonzero(scores > kth)
    ties = np.flatnonzero(scores == kth)[: k - above.size]
    return np.concatenate([above, ties])


# --- fused: search by image that is never worse than its better signal ---------------

FUSED_WEIGHT = 0.5
"""λ in fused = cosine + λ·c/(c + κ): a full class match is worth half a cosine."""
FUSED_SATURATION = 0.003
"""κ: the class term c = Σ η_j ξ_ij at which shared classes count half (docs/evaluation.md)."""
FUSED_EXPANSION = 5
"""m: the best results of a first fused pass that join the query for the second."""
FUSED_CANDIDATES = 200
"""K: a store re-ranks the K best by cosine together with the K best by the class term."""


def _positive(saturation: float) -> None:
    """κ must be positive: c/(c + κ) at κ ≤ 0 is not a saturation (and divides by zero)."""
    if not saturation > 0:
        raise ValueError(f"saturation must be positive, got {saturation}")


def class_evidence(class_scores: np.ndarray, saturation: float = FUSED_SATURATION) -> np.ndarray:
    """c / (c + κ): near 1 for any real class match, 0 for none.

    Two tench photos are both tench whether they share 0.02 or 0.8 of their
    probability; past a little, more of the class term says little, while the
    cosine still says which photo looks more alike. Saturating lets shared
    classes lift a photo above those that share none, and lets the cosine order
    the photos that share them.
    """
    _positive(saturation)
    out: np.ndarray = np.maximum(np.asarray(class_scores, dtype=np.float64), 0.0)
    np.divide(out, out + saturation, out=out)  # in place: a store runs this over every row
    return out


def fuse(
    class_scores: np.ndarray,
    cosines: np.ndarray,
    *,
    weight: float = FUSED_WEIGHT,
    saturation: float = FUSED_SATURATION,
) -> np.ndarray:
    """cosine + λ · c/(c + κ), element by element.

    Pointwise (a score needs nothing but its own two signals), so every store
    scores any candidate set alike; increasing in both signals.
    """
    out = class_evidence(class_scores, saturation)
    out *= weight
    out += np.asarray(cosines, dtype=np.float64)
    return out


def rows_dot(rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """rows @ vector for a few thousand candidate rows, on this thread alone.

    The BLAS product wakes its worker threads, which on a busy machine costs more
    than the product itself: 10 ms against 0.27 ms for 1,000 × 1280 inside a 1M
    search under load (docs/evaluation.md). The whole-segment scans keep BLAS.
    """
    out: np.ndarray = np.einsum("ij,j->i", rows, vector)
    return out


def fused_order(
    class_scores: np.ndarray,
    cosines: np.ndarray,
    *,
    weight: float = FUSED_WEIGHT,
    saturation: float = FUSED_SATURATION,
) -> np.ndarray:
    """Scores that rank rows as ``fuse`` does, for picking candidates among a million.

    fuse − λ = cosine − λκ/(c + κ), in float32 with one scratch array: a third of
    the memory traffic of ``fuse`` over every row, which is what the first pass of
    a large segment costs beyond hybrid's. Only an order: the candidates it picks
    are scored with ``fuse``; float32 moves a score by ~1e-7, so at most a row tied
    at the last candidate's place changes.
    """
    _positive(saturation)
    c = np.asarray(class_scores)
    out: np.ndarray = np.maximum(c, 0.0, dtype=np.float32)  # NaN stays NaN
    out += np.float32(saturation)
    np.divide(np.float32(-weight * saturation), out, out=out)
    out[np.isinf(c)] = np.nan  # fuse gives inf/inf there: not finite, like a poisoned row
    out += np.asarray(cosines, dtype=np.float32)
    return out


def top_classes(weights: np.ndarray, k: int = QUERY_TOP_K) -> np.ndarray:
    """The k largest weights of each row (last axis), zero elsewhere; ties to the lower class."""
    w = np.asarray(weights, dtype=np.float32)
    top = np.argsort(-w, axis=-1, kind="stable")[..., :k]
    out = np.zeros_like(w)
    np.put_along_axis(out, top, np.take_along_axis(w, top, axis=-1), axis=-1)
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero); one formula for 1-D and 2-D."""
    norm = np.sqrt(np.sum(v * v, axis=-1, keepdims=True))
    out: np.ndarray = np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)
    return out


def expand_query(
    embedding: np.ndarray,
    weights: np.ndarray,
    neighbour_embeddings: np.ndarray,
    neighbour_weights: np.ndarray,
    k: int = QUERY_TOP_K,
) -> tuple[np.ndarray, np.ndarray]:
    """The query moved to the mean of itself and its best results (average query expansion).

    ``embedding`` (D,) and ``weights`` (1000,) are the query's; the neighbours' are
    (m, D) and (m, 1000), each a result's own query weights (``query_weights`` of
    its stored classes). Returns the unit mean embedding and the top-k classes of
    the mean weights: a query like any other, as cheap to score.
    """
    e = np.asarray(embedding, dtype=np.float32)
    total = e + np.asarray(neighbour_embeddings, dtype=np.float32).sum(axis=0)
    vector = _unit(total)
    if not np.any(vector):
        vector = e
    n = 1 + np.asarray(neighbour_embeddings).shape[0]
    w = np.asarray(weights, dtype=np.float32) + np.asarray(neighbour_weights, np.float32).sum(0)
    return vector, top_classes(w / np.float32(n), k)


@dataclass(frozen=True)
class Fusion:
    """The fused mode's parameters; the defaults are measured in docs/evaluation.md."""

    weight: float = FUSED_WEIGHT
    saturation: float = FUSED_SATURATION
    expansion: int = FUSED_EXPANSION
    k: int = QUERY_TOP_K
    """How many classes the expanded query keeps, like any query (T_k)."""

    def score(self, class_scores: np.ndarray, cosines: np.ndarray) -> np.ndarray:
        return fuse(class_scores, cosines, weight=self.weight, saturation=self.saturation)

    def order(self, class_scores: np.ndarray, cosines: np.ndarray) -> np.ndarray:
        """``score``'s order over every row of a large segment (``fused_order``)."""
        return fused_order(class_scores, cosines, weight=self.weight, saturation=self.saturation)


DEFAULT_FUSION = Fusion()


def fused_candidates(
    class_scores: np.ndarray,
    cosines: np.ndarray,
    k: int = FUSED_CANDIDATES,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Rows to re-rank, ascending: the k best by the class term with the k best by cosine."""
    both: np.ndarray = np.union1d(top_k(class_scores, k, mask), top_k(cosines, k, mask))
    return both


def fused_rerank(
    embedding: np.ndarray,
    weights: np.ndarray,
    embeddings: np.ndarray,
    class_ids: np.ndarray,
    class_probs: np.ndarray,
    params: Fusion = DEFAULT_FUSION,
) -> np.ndarray:
    """Fused scores of candidates held as arrays (embeddings (n, D), padded classes (n, K)).

    A first fused pass; its ``params.expansion`` best join the query (``expand_query``,
    each with the first k of its classes, which are stored highest first); the
    expanded query scores the same candidates again. Ties are the caller's: rank
    with ``top_k``, which breaks them by candidate position.
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    query = np.asarray(embedding, dtype=np.float32)
    first = params.score(dense_dot(class_ids, class_probs, weights), emb @ query)
    if params.expansion <= 0 or first.size == 0:
        return first
    best = top_k(first, params.expansion)
    k = params.k
    rows = np.repeat(np.arange(best.size), min(k, class_ids.shape[1]))
    own = np.zeros((best.size, NUM_CLASSES), dtype=np.float32)
    np.add.at(
        own, (rows, class_ids[best, :k].astype(np.intp).ravel()), class_probs[best, :k].ravel()
    )
    vector, expanded = expand_query(query, weights, emb[best], own, k)
    return params.score(dense_dot(class_ids, class_probs, expanded), emb @ vector)


def fused_block(
    queries: np.ndarray,
    embeddings: np.ndarray,
    stored: np.ndarray,
    class_weights: np.ndarray,
    params: Fusion = DEFAULT_FUSION,
) -> np.ndarray:
    """Fused scores (len(queries), n) of indexed images against every row, for whole-set analyses.

    ``stored`` (n, 1000) holds the stored classes densely, ``class_weights`` their
    ``top_classes`` (each row's query weights). As search by an indexed image
    (``picfind eval``): a query's own row never joins its expansion; leaving it
    out of the ranking is the caller's.
    """
    q = np.asarray(queries, dtype=np.intp)
    emb = np.asarray(embeddings, dtype=np.float32)
    xi = np.asarray(stored, dtype=np.float32)
    eta = np.asarray(class_weights, dtype=np.float32)
    first = params.score(eta[q] @ xi.T, emb[q] @ emb.T)
    if params.expansion <= 0 or q.size == 0:
        return first
    first[np.arange(q.size), q] = -np.inf
    best = np.argsort(-first, axis=1, kind="stable")[:, : params.expansion]
    vectors = _unit(emb[q] + emb[best].sum(axis=1))
    vectors = np.where(np.any(vectors, axis=1, keepdims=True), vectors, emb[q])
    n = np.float32(1 + best.shape[1])
    expanded = top_classes((eta[q] + eta[best].sum(axis=1)) / n, params.k)
    return params.score(expanded @ xi.T, vectors @ emb.T)
