"""Query words read as text in photos: the text signal's reader, and why a photo matched.

The term-readings hook (PLAN.md; ``picfind.readings`` from the words work) asks every
signal's reader what it reads at the start of the query's words. :class:`TextReader`
is the text signal's:

* ``text:WORD`` (and ``text:"a phrase"``, whose phrase the parser hands to
  :meth:`TextReader.read_phrase`): text only, always, even before anything was read;
* a plain word: read as text only as a **fallback** — when the index holds read text
  and no other reader reads the word (:func:`read_with_fallback` is that rule, for the
  parser) — so a concept word keeps its meaning and an unknown word ("gate",
  "espresso" misspelt as on a menu) still finds the photos showing it;
* a word ending in ``*`` (``birth*``): a prefix, at least ``textsearch.PREFIX_MIN``
  letters.

Why a photo matched (:func:`explain_text`) is computed from its stored text: the
line read that holds the phrase (two or more lines when the phrase runs across
them), with the line's box: ``{"signal": "text", "term": "birthday", "via": "Happy
Birthday", "score": 1.0, "box": [[x, y], ...]}``.

Until the hook is on main, :class:`TextReading` stands in for ``readings.Reading``
(the same fields); registering the reader is :func:`text_readers`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from picfind import textnorm
from picfind.matchers import Matcher, TextMatch
from picfind.records import ImageText
from picfind.textsearch import TEXT_SCORE, matches, text_match

FIELD = "text:"
"""A query word starting with this is searched in read text only."""
PREFIX = "*"


@dataclass(frozen=True)
class TextReading:
    """One way the text signal reads the first ``words`` query words (``readings.Reading``)."""

    signal: str
    words: int = field(compare=False)
    matchers: tuple[Matcher, ...]
    label: str
    detail: dict[str, object] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, object]:
        return {"signal": self.signal, "label": self.label, **self.detail}


@dataclass(frozen=True)
class TextReader:
    """The text signal's reader of query words (see the module doc)."""

    holds_text: bool = True
    """Whether the index holds read text (``Store.stats().texts > 0``): plain words are
    read as text only then."""
    signal: str = "text"
    fallback: bool = True
    """Plain words are read only where no other reader reads them (:func:`read_with_fallback`)."""

    def read(self, words: Sequence[str]) -> list[TextReading]:
        """The reading of the first word: ``text:…`` always, a plain word when the index
        holds text; ``[]`` otherwise."""
        if not words:
            return []
        first = words[0]
        if first.casefold().startswith(FIELD):
            return self.read_phrase(first[len(FIELD) :], words=1)
        if not self.holds_text:
            return []
        return self.read_phrase(first, words=1)

    def read_phrase(self, phrase: str, *, words: int | None = None) -> list[TextReading]:
        """The reading of a whole phrase as read text (a quoted phrase, ``text:"…"``'s
        value); ``words``: how many query words it stands for (default: its words)."""
        prefix = phrase.endswith(PREFIX)
        matcher = text_match(phrase.rstrip(PREFIX), prefix=prefix)
        if matcher is None:
            return []
        label = " ".join(matcher.words) + (PREFIX if prefix else "")
        size = words if words is not None else max(1, len(phrase.split()))
        detail: dict[str, object] = {"words": list(matcher.words), "prefix": prefix}
        return [TextReading(self.signal, size, (matcher,), label, detail)]


Reader = Callable[[Sequence[str]], list[Any]]


def read_with_fallback(read_others: Reader, text: TextReader, words: Sequence[str]) -> list[Any]:
    """The hook's rule for the text signal: ``text:`` words are text only; otherwise the
    other readers' readings, and the text reading only when they read nothing."""
    if words and words[0].casefold().startswith(FIELD):
        return list(text.read(words))
    found = read_others(words)
    return found if found else list(text.read(words))


def text_readers(holds_text: bool) -> tuple[TextReader, ...]:
    """What ``readings.default_readers`` adds for the text signal (registration)."""
    return (TextReader(holds_text=holds_text),)


def matched_lines(text: str, matcher: TextMatch) -> tuple[int, int] | None:
    """(first line, how many lines) of the shortest run of read lines that holds the
    phrase — one line mostly, more when it runs across lines; None when none does."""
    lines = text.splitlines()
    for n in range(1, len(lines) + 1):
        for start in range(len(lines) - n + 1):
            terms = textnorm.terms("\n".join(lines[start : start + n]))
            if matches(matcher, terms.words, terms.parts):
                return start, n
    return None


def explain_text(text: ImageText | None, matcher: TextMatch, term: str) -> list[dict[str, Any]]:
    """Why a photo matched a text matcher, from its stored text: the line(s) read, with
    the first line's box when the record has it; ``[]`` when the text does not hold it."""
    if text is None or not text.text:
        return []
    found = matched_lines(text.text, matcher)
    if found is None:
        return []
    start, n = found
    lines = text.text.splitlines()[start : start + n]
    why: dict[str, Any] = {
        "signal": "text",
        "term": term,
        "via": " / ".join(lines),
        "score": TEXT_SCORE,
    }
    stored = (text.record or {}).get("lines") or []
    if start < len(stored) and isinstance(stored[start], dict) and "box" in stored[start]:
        why["box"] = stored[start]["box"]
    return [why]


__all__ = [
    "FIELD",
    "TextReader",
    "TextReading",
    "explain_text",
    "matched_lines",
    "read_with_fallback",
    "text_readers",
]
