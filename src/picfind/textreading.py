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

Registered by ``readings.default_readers`` as :class:`TextFallback` (the concept
reader first, text where it reads nothing); the parser reads ``text:`` words and
quoted phrases nothing else reads with :meth:`TextReader.read_phrase`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from picfind import textnorm
from picfind.matchers import TextMatch
from picfind.readings import Reading, TermReader, read_all
from picfind.records import ImageText, StoredFile, Why
from picfind.textsearch import TEXT_SCORE, matches, text_match
from picfind.vocabulary import Vocabulary

FIELD = "text:"
"""A query word starting with this is searched in read text only."""
PREFIX = "*"


@dataclass(frozen=True)
class TextReader:
    """The text signal's reader of query words (see the module doc)."""

    holds_text: bool = True
    """Whether the index holds read text (``Store.stats().texts > 0``): plain words are
    read as text only then."""
    signal: str = "text"
    fallback: bool = True
    """Plain words are read only where no other reader reads them (:func:`read_with_fallback`)."""

    def read(self, words: Sequence[str]) -> list[Reading]:
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

    def read_phrase(self, phrase: str, *, words: int | None = None) -> list[Reading]:
        """The reading of a whole phrase as read text (a quoted phrase, ``text:"…"``'s
        value); ``words``: how many query words it stands for (default: its words)."""
        prefix = phrase.endswith(PREFIX)
        matcher = text_match(phrase.rstrip(PREFIX), prefix=prefix)
        if matcher is None:
            return []
        label = " ".join(matcher.words) + (PREFIX if prefix else "")
        size = words if words is not None else max(1, len(phrase.split()))
        detail: dict[str, object] = {"words": list(matcher.words), "prefix": prefix}
        return [Reading(self.signal, size, (matcher,), label, detail)]


Reader = Callable[[Sequence[str]], list[Any]]


def read_with_fallback(read_others: Reader, text: TextReader, words: Sequence[str]) -> list[Any]:
    """The hook's rule for the text signal: ``text:`` words are text only; otherwise the
    other readers' readings, and the text reading only when they read nothing."""
    if words and words[0].casefold().startswith(FIELD):
        return list(text.read(words))
    found = read_others(words)
    return found if found else list(text.read(words))


def text_readers(holds_text: bool) -> tuple[TextReader, ...]:
    """The text signal's reader alone (tests, a parser with its own rule)."""
    return (TextReader(holds_text=holds_text),)


@dataclass(frozen=True)
class TextFallback:
    """The text reader as the hook registers it: the words the other readers read are
    theirs; a word none of them reads is read as text (when the index holds text)."""

    others: tuple[TermReader, ...]
    text: TextReader
    signal: str = "text"

    def read(self, words: Sequence[str]) -> list[Reading]:
        return [] if read_all(self.others, words) else self.text.read(words)

    def read_phrase(self, phrase: str, *, words: int | None = None) -> list[Reading]:
        return self.text.read_phrase(phrase, words=words)


def explain_text_row(
    row: StoredFile, matcher: TextMatch, term: str, vocab: Vocabulary | None = None
) -> list[Why]:
    """``why.EXPLAINERS``' text case: the line read that holds the phrase (``row.text``,
    attached by the searcher for the page of results)."""
    return [
        Why("text", term, str(w["via"]), float(w["score"]))
        for w in explain_text(row.text, matcher, term)
    ]


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
    "TextFallback",
    "TextReader",
    "explain_text",
    "explain_text_row",
    "matched_lines",
    "read_with_fallback",
    "text_readers",
]
