"""Searching read text: a :class:`~picfind.matchers.TextMatch` in each store's terms.

Both stores index the same two strings per image, ``textnorm.terms(text)`` (words and
parts, space-separated, folded), and a query phrase is its ``textnorm.query_words``,
so a match is the same everywhere: the phrase's words occur consecutively in the
words or in the parts; with ``prefix``, the last one may be the start of a longer
word. Three forms of that one rule live here, side by side:

* ``fts_match``: an SQLite FTS5 ``MATCH`` string (the embedded store);
* ``cluster_query``: an OpenSearch/Elasticsearch query on ``text_words`` and
  ``text_parts`` (whitespace tokens, as stored);
* ``matches``: the rule itself on stored strings (the cluster store re-scores its
  candidates with it; tests check the other two against it).

A match scores :data:`TEXT_SCORE`: the text says the word or it does not (OCR's
confidence already decided which lines were kept).
"""

from __future__ import annotations

from typing import Any

from picfind import textnorm
from picfind.matchers import TextMatch

TEXT_SCORE = 1.0
"""The score of an image whose read text holds the phrase (a concept's mass is ≤ 1)."""

PREFIX_MIN = 3
"""A prefix needs at least this many characters (FTS5 keeps prefix indexes of 3 and 4)."""

PHRASE_PREFIX_EXPANSIONS = 1000
"""Words a phrase's last prefix may stand for in the cluster (``match_phrase_prefix``)."""


def text_match(term: str, *, prefix: bool = False) -> TextMatch | None:
    """The matcher of a query term ("happy birthday", "Gate23", "birth" with ``prefix``);
    None when the term has no word to look for (or a prefix too short)."""
    found = tuple(textnorm.query_words(term))
    if not found or (prefix and len(found[-1]) < PREFIX_MIN):
        return None
    return TextMatch(found, prefix)


def fts_match(matcher: TextMatch) -> str:
    """The FTS5 MATCH string: the words quoted as one phrase (a ``*`` after it: prefix).

    Built from folded words only (never raw user text), each ``"`` doubled, so no input
    can change the query's syntax.
    """
    phrase = " ".join(matcher.words).replace('"', '""')
    return f'"{phrase}"' + (" *" if matcher.prefix else "")


def cluster_query(matcher: TextMatch) -> dict[str, Any]:
    """A query that matches the documents whose ``text_words`` or ``text_parts`` hold it."""
    phrase = " ".join(matcher.words)
    fields = ("text_words", "text_parts")
    should: list[dict[str, Any]]
    if not matcher.prefix:
        should = [{"match_phrase": {f: {"query": phrase}}} for f in fields]
    elif len(matcher.words) == 1:  # exact: a prefix query expands to every word
        should = [{"prefix": {f: {"value": phrase}}} for f in fields]
    else:
        should = [
            {
                "match_phrase_prefix": {
                    f: {"query": phrase, "max_expansions": PHRASE_PREFIX_EXPANSIONS}
                }
            }
            for f in fields
        ]
    return {"bool": {"should": should, "minimum_should_match": 1}}


def matches(matcher: TextMatch, words: str, parts: str) -> bool:
    """Whether stored terms (``textnorm.terms``: words, parts) hold the matcher's phrase."""
    return _holds(words.split(), matcher) or _holds(parts.split(), matcher)


def _holds(tokens: list[str], matcher: TextMatch) -> bool:
    want = matcher.words
    n = len(want)
    for start in range(len(tokens) - n + 1):
        window = tokens[start : start + n]
        if window[:-1] != list(want[:-1]):
            continue
        last = window[-1]
        if last == want[-1] or (matcher.prefix and last.startswith(want[-1])):
            return True
    return False


__all__ = [
    "PREFIX_MIN",
    "TEXT_SCORE",
    "cluster_query",
    "fts_match",
    "matches",
    "text_match",
]
