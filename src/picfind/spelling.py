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
    """An index of the known words (normalised keys) and their priors."""

    def __init__(
        self,
        words: Sequence[str],
        priors: Sequence[float],
        groups: Sequence[object] | None = None,
    ) -> None:
        if len(words) != len(priors) or (groups is not None and len(groups) != len(words)):
            raise ValueError("one prior (and one group, if any) per word")
        order = sorted(range(len(words)), key=lambda i: words[i])
        self.words = [words[i] for i in order]
        self.priors = np.asarray([priors[i] for i in order], dtype=np.float64)
        self.groups = [groups[i] for i in order] if groups is not None else list(self.words)
        self.lengths = np.fromiter((len(w) for w in self.words), dtype=np.int32)
        self.counts = _letter_counts(self.words, self.lengths)

    def __len__(self) -> int:
        return len(self.words)

    def candidates(self, typed: str, limit: int | None = None) -> list[Candidate]:
        """Known words within ``limit`` edits (default :func:`allowance`), best first."""
        limit = allowance(typed) if limit is None else limit
        if limit <= 0 or not typed:
            return []
        near = np.abs(self.lengths - len(typed)) <= limit
        # An edit changes the letter counts by at most 2 (a swap by 0): prune on that.
        mine = _letter_counts([typed], np.array([len(typed)], dtype=np.int32))[0]
        rows = np.flatnonzero(near)
        rows = rows[np.abs(self.counts[rows] - mine).sum(axis=1) <= 2 * limit]
        found = []
        for i in rows:
            word = self.words[i]
            if word == typed:
                continue
            d = edit_distance(typed, word, limit)
            if d <= limit:
                found.append((Candidate(word, d, float(self.priors[i])), self.groups[i]))
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


def _letter_counts(words: Sequence[str], lengths: np.ndarray) -> np.ndarray:
    """(len(words), 27) int16 counts of a..z and of every other character."""
    codes = np.frombuffer("".join(words).encode("utf-32-le"), dtype=np.uint32)
    bins = codes.astype(np.int64) - ord("a")
    bins[(bins < 0) | (bins >= _BINS - 1)] = _BINS - 1
    rows = np.repeat(np.arange(len(words), dtype=np.int64), lengths)
    flat = np.bincount(rows * _BINS + bins, minlength=len(words) * _BINS)
    return flat.reshape(len(words), _BINS).astype(np.int16)
