"""Spelling: the known words closest to a word nobody knows, and when to trust the best.

A query word that no vocabulary knows is compared with every word that would answer
(optimal string alignment distance: insertions, deletions, substitutions and swaps of
two neighbours cost 1). The allowance grows with length: none up to
:data:`SHORTEST` - 1 letters, 1 up to 4 letters, 2 beyond. Of the words at the smallest
distance, the best is **clearly best** (and searched instead) when it is the only one,
or when its prior beats the runner-up's by :data:`CLEAR_MARGIN`; otherwise the words
are only suggested. A word's prior is ``log(1 + uses)`` of its count in WordNet's
tagged texts plus a bonus for the words people search photos with (class names and
photo-vocabulary words): "retreiver" → retriever (alone at distance 1), "dgo" → dog
("duo" is much rarer), "brid" stays a suggestion (bird? bride?). Words that mean the
same (one ``group``: "harbor" and "harbour", "ship" and "ships") are one candidate.

Pure and deterministic; the index is built once (numpy letter counts prune the
candidates by length and letters before any distance is computed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from picfind.vocabulary import edit_distance

SHORTEST = 3
"""Words shorter than this are never corrected."""
CLEAR_MARGIN = 2.0
"""How much higher (in prior) the best candidate must be than the next to be clearly best:
2.0 is a word used about 7 times as often ("carr" → car, not cart; "kat" stays hat? cat?)."""
_BINS = 27  # a-z, everything else
_FEW = 40  # below this many candidates, one at a time is faster than all at once


def allowance(word: str) -> int:
    """The largest edit distance at which ``word`` may have been meant as another word."""
    if len(word) < SHORTEST:
        return 0
    return 1 if len(word) <= 4 else 2


def prior(uses: int, bonus: float = 0.0) -> float:
    """How likely a word is to be typed: ``log(1 + uses) + bonus``."""
    return math.log1p(max(uses, 0)) + bonus


@dataclass(frozen=True)
class Candidate:
    """A known word close to the typed one."""

    word: str
    distance: int
    prior: float


@dataclass(frozen=True)
class Spelling:
    """What the speller makes of a word: the close words, best first, and the verdict.

    ``best`` is set only when the first candidate is clearly best (see the module doc).
    """

    typed: str
    candidates: tuple[Candidate, ...]
    best: Candidate | None


class Speller:
    """An index of the known words (normalised keys) and their priors.

    Words are kept sorted by length, so the words of a plausible length are one slice;
    within it a bitmask of the letters each word holds, then the counts of its letters,
    prune the candidates (an edit changes at most two letters' presence and counts)
    before the edit distance is computed for the survivors all at once.
    """

    def __init__(
        self,
        words: Sequence[str],
        priors: Sequence[float],
        groups: Sequence[object] | None = None,
    ) -> None:
        if len(words) != len(priors) or (groups is not None and len(groups) != len(words)):
            raise ValueError("one prior (and one group, if any) per word")
        by_word = np.array(words, dtype=str) if words else np.zeros(0, dtype=str)
        lengths = np.fromiter((len(w) for w in words), dtype=np.int32, count=len(words))
        order = np.lexsort((by_word, lengths)).tolist()  # by length, then alphabetically
        self.words = [words[i] for i in order]
        self.priors = np.asarray([priors[i] for i in order], dtype=np.float64)
        self.groups = [groups[i] for i in order] if groups is not None else list(self.words)
        self.lengths = np.fromiter((len(w) for w in self.words), dtype=np.int32)
        self.counts = _letter_counts(self.words, self.lengths)
        self.masks = _masks(self.counts)
        self.codes = _padded_codes(self.words, self.lengths)

    def __len__(self) -> int:
        return len(self.words)

    def candidates(self, typed: str, limit: int | None = None) -> list[Candidate]:
        """Known words within ``limit`` edits (default :func:`allowance`), best first."""
        limit = allowance(typed) if limit is None else limit
        if limit <= 0 or not typed:
            return []
        lo = int(np.searchsorted(self.lengths, len(typed) - limit, side="left"))
        hi = int(np.searchsorted(self.lengths, len(typed) + limit, side="right"))
        mine = _letter_counts([typed], np.array([len(typed)], dtype=np.int32))
        rows = lo + np.flatnonzero(_popcount(self.masks[lo:hi] ^ _masks(mine)[0]) <= 2 * limit)
        rows = rows[np.abs(self.counts[rows] - mine[0]).sum(axis=1) <= 2 * limit]
        if rows.size <= _FEW:  # a handful: the plain distance, which stops early, is cheaper
            distances = np.array([edit_distance(typed, self.words[i], limit) for i in rows])
        else:
            distances = _distances(typed, self.codes[rows], self.lengths[rows])
        found = []
        for i, d in zip(rows[distances <= limit], distances[distances <= limit], strict=True):
            word = self.words[i]
            if word != typed:
                found.append((Candidate(word, int(d), float(self.priors[i])), self.groups[i]))
        found.sort(key=lambda f: (f[0].distance, -f[0].prior, f[0].word))
        seen: set[object] = set()
        best = []
        for candidate, group in found:  # one candidate per meaning: the nearest, most used
            if group not in seen:
                seen.add(group)
                best.append(candidate)
        return best

    def spell(self, typed: str) -> Spelling:
        """The candidates for ``typed`` and, if one is clearly best, that one."""
        found = self.candidates(typed)
        best = None
        if found:
            nearest = [c for c in found if c.distance == found[0].distance]
            if len(nearest) == 1 or nearest[0].prior - nearest[1].prior >= CLEAR_MARGIN:
                best = nearest[0]
        return Spelling(typed, tuple(found), best)


def _masks(counts: np.ndarray) -> np.ndarray:
    """One bit per letter bin a word holds (int64)."""
    bits = np.left_shift(np.int64(1), np.arange(counts.shape[1], dtype=np.int64))
    masks: np.ndarray = ((counts > 0).astype(np.int64) * bits).sum(axis=1)
    return masks


_BYTE_BITS = np.array([bin(b).count("1") for b in range(256)], dtype=np.int64)


def _popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each int64 (numpy ≥ 2 has this built in)."""
    if hasattr(np, "bitwise_count"):
        counted: np.ndarray = np.bitwise_count(values).astype(np.int64)
        return counted
    as_bytes = np.ascontiguousarray(values).view(np.uint8).reshape(-1, 8)
    summed: np.ndarray = _BYTE_BITS[as_bytes].sum(axis=1)
    return summed


def _padded_codes(words: Sequence[str], lengths: np.ndarray) -> np.ndarray:
    """(len(words), longest) uint32 code points, padded with 0 (no word holds NUL)."""
    codes = np.zeros((len(words), int(lengths.max(initial=0))), dtype=np.uint32)
    flat = np.frombuffer("".join(words).encode("utf-32-le"), dtype=np.uint32)
    rows = np.repeat(np.arange(len(words)), lengths)
    cols = np.arange(flat.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    codes[rows, cols] = flat
    return codes


def _distances(typed: str, codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Optimal string alignment distance from ``typed`` to each row of ``codes``, at once.

    The row-by-row dynamic programme of :func:`picfind.vocabulary.edit_distance`, run
    for every candidate together: each row of the table is a few array operations
    (insertions along a row are a running minimum), so a thousand candidates cost
    about what twenty cost one at a time.
    """
    m = codes.shape[0]
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    width = int(lengths.max())
    q = np.frombuffer(typed.encode("utf-32-le"), dtype=np.uint32)
    differ = codes[:, :width, None] != q[None, None, :]  # (m, width, len(typed))
    swap = ~differ[:, :-1, 1:] & ~differ[:, 1:, :-1]  # c[j-2] == q[i-1] and c[j-1] == q[i-2]
    steps = np.arange(width + 1, dtype=np.int16)
    prev2 = np.zeros((m, width + 1), dtype=np.int16)
    prev = np.broadcast_to(steps, (m, width + 1)).copy()
    base = np.empty_like(prev)
    for i in range(1, q.size + 1):
        base[:, 0] = i
        np.minimum(prev[:, 1:] + 1, prev[:, :-1] + differ[:, :, i - 1], out=base[:, 1:])
        if i > 1 and width > 1:
            np.minimum(base[:, 2:], prev2[:, :-2] + 1, out=base[:, 2:], where=swap[:, :, i - 2])
        # an insertion moves along the row: new[j] = min_k (base[k] + j - k)
        row = np.minimum.accumulate(base - steps, axis=1) + steps
        prev2, prev = prev, row
    distances: np.ndarray = prev[np.arange(m), lengths].astype(np.int64)
    return distances


def _letter_counts(words: Sequence[str], lengths: np.ndarray) -> np.ndarray:
    """(len(words), 27) int16 counts of a..z and of every other character."""
    codes = np.frombuffer("".join(words).encode("utf-32-le"), dtype=np.uint32)
    bins = codes.astype(np.int64) - ord("a")
    bins[(bins < 0) | (bins >= _BINS - 1)] = _BINS - 1
    rows = np.repeat(np.arange(len(words), dtype=np.int64), lengths)
    flat = np.bincount(rows * _BINS + bins, minlength=len(words) * _BINS)
    return flat.reshape(len(words), _BINS).astype(np.int16)
