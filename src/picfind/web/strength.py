"""Where strong matches end in a results grid: one score, one rule per kind of search.

A words search's score is a probability (the geometric mean of each term's concept
mass, :mod:`picfind.scoring`), so one fixed line means the same on every query: at
``STRONG_WORDS`` the classifier puts more than half its belief on every term. A
search by image has no such scale (cosine, hybrid and fused scores differ per query
and per mode), so its line is relative: ``STRONG_SHARE`` of the best hit's score
above what every result scores anyway (1 in classes mode, the paper's ``1 + Σ``).
Pure functions; ``strongCut`` in ``static/app.js`` applies the same threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

STRONG_WORDS = 0.5
"""A words search's strong match: every term's concept mass above one half (the same
"is it" line as ``scoring.NOT_THRESHOLD``)."""
STRONG_SHARE = 0.8
"""A search by image's strong match: a score at least this share of the best hit's."""
BASE_SCORE = {"classes": 1.0}
"""What a mode's score starts from (classes: ``1 + Σ η ξ``); 0 for the others."""
CUT_LABEL = "Weaker matches below"


def strong_threshold(by_words: bool, best: float | None, mode: str = "") -> float | None:
    """The score under which a result is weak; None when it cannot be known (a page
    of a search by image that does not start at the best hit, or a best at the base)."""
    if by_words:
        return STRONG_WORDS
    base = BASE_SCORE.get(mode, 0.0)
    if best is None or not best > base:
        return None
    return base + STRONG_SHARE * (best - base)


def first_weak(scores: Sequence[float], threshold: float | None, at_top: bool) -> int | None:
    """Where the line goes on a page of results best first: before its first weak score,
    unless that is the page's first and the page does not start the ranking (``at_top``):
    then the line was on an earlier page."""
    if threshold is None:
        return None
    i = next((i for i, s in enumerate(scores) if s < threshold), None)
    return None if i is None or (i == 0 and not at_top) else i


def shown_score(score: float, by_words: bool) -> str:
    """A score as a tile shows it: a words search's is a probability, so a percentage
    ("91%"); a search by image's has no such scale, so the number (``shownScore`` in
    app.js)."""
    return f"{score * 100:.0f}%" if by_words else f"{score:.3f}"


def cut_html(threshold: float, by_words: bool = False) -> str:
    """The separator: a row of its own across the grid, its words visible and read out
    (``cutHtml`` in app.js)."""
    under = shown_score(threshold, by_words)
    return (
        '<li class="cut" id="strong-cut"><div role="separator" '
        f'aria-label="{CUT_LABEL}: score under {under}">'
        f'{CUT_LABEL} <span class="cut-score">(score under {under})</span></div></li>'
    )
