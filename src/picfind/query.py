"""The keyword query language: words → a conjunction of clauses of WordNet concepts.

Grammar (informal)::

    query   := item+                       items are ANDed ("AND"/"and" optional)
    item    := ["-" | "NOT"] group         negation applies to the whole group
    group   := atom ("OR" atom)*           OR ("or", "|") binds tighter than AND
    atom    := term | "(" group ")"        parentheses hold OR-lists only
    term    := word+ | '"' phrase '"'

Adjacent plain words are grouped greedily into the longest known lemma
("golden retriever", "sports car") before operators apply, so quotes are
rarely needed. Stop words ("a", "the", "on", ...) that are not part of a lemma
are ignored, so "sports car on a seashore" works. Operators are
case-insensitive. The result is in conjunctive normal form because the scorer
needs exactly that: per clause, the probability mass of its classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from picfind.errors import QuerySyntaxError, UnknownConceptError
from picfind.vocabulary import Vocabulary, normalize

STOP_WORDS: frozenset[str] = frozenset(
    {"a", "an", "the", "on", "in", "of", "with", "at", "by", "near", "and"}
)
OPERATORS: frozenset[str] = frozenset({"or", "and", "not"})
_SPECIAL = '"()|'


@dataclass(frozen=True)
class Term:
    """One matched word or phrase: its normalised text, concept wnids and class indices."""

    text: str
    concepts: tuple[str, ...]
    class_indices: tuple[int, ...]

    @cached_property
    def classes(self) -> np.ndarray:
        """Class indices as a sorted int64 array (cached; do not mutate)."""
        return np.asarray(self.class_indices, dtype=np.int64)

    def __str__(self) -> str:
        plain = " " not in self.text and self.text not in STOP_WORDS | OPERATORS
        return self.text if plain else f'"{self.text}"'


@dataclass(frozen=True)
class Clause:
    """A disjunction of terms, possibly negated."""

    terms: tuple[Term, ...]
    negated: bool = False

    @cached_property
    def class_indices(self) -> tuple[int, ...]:
        """Sorted union of the terms' class indices."""
        return tuple(sorted({i for t in self.terms for i in t.class_indices}))

    @cached_property
    def classes(self) -> np.ndarray:
        """Sorted union of the terms' class indices as an int64 array."""
        return np.asarray(self.class_indices, dtype=np.int64)

    def __str__(self) -> str:
        body = " OR ".join(str(t) for t in self.terms)
        if len(self.terms) > 1:
            body = f"({body})"
        return f"-{body}" if self.negated else body


@dataclass(frozen=True)
class ConceptQuery:
    """A parsed keyword query: every positive clause must match, no negated one may."""

    clauses: tuple[Clause, ...]
    vocab: Vocabulary | None = field(default=None, compare=False, repr=False)

    @property
    def positive(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if not c.negated)

    @property
    def negative(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.negated)

    def __str__(self) -> str:
        """Canonical text that parses back to an equal query.

        A bare word right after another bare word is quoted when the two
        could be regrouped into one lemma (e.g. ``hound "dog"``).
        """
        vocab = self.vocab or Vocabulary.load()
        parts: list[str] = []
        previous: str | None = None  # text of the previous clause if it is one bare word
        for clause in self.clauses:
            text = str(clause)
            single = len(clause.terms) == 1 and not text.endswith('"')
            word = clause.terms[0].text if single else None
            if word and previous and not clause.negated:
                pair = [previous, word]
                if vocab.is_phrase_prefix(pair) or vocab.match(" ".join(pair)):
                    text, word = f'"{word}"', None
            parts.append(text)
            previous = word
        return " ".join(parts)


# --- tokenizer -----------------------------------------------------------------

# Token kinds: "WORD" (raw text), "PHRASE" (quoted), "OR", "NOT", "(", ")". AND stays a
# WORD: it is a stop word, and lemmas such as "black and gold garden spider" contain it.
Token = tuple[str, str]


def tokenize(text: str) -> list[Token]:
    """Split query text into tokens; only an unbalanced quote is an error here."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QuerySyntaxError(f"unbalanced quote in query {text!r}")
            tokens.append(("PHRASE", text[i + 1 : end]))
            i = end + 1
        elif ch in "()":
            tokens.append((ch, ch))
            i += 1
        elif ch == "|":
            tokens.append(("OR", ch))
            i += 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in _SPECIAL:
                j += 1
            word = text[i:j]
            i = j
            while word.startswith("-"):
                tokens.append(("NOT", "-"))
                word = word[1:]
            if not word:
                continue
            upper = word.upper()
            if upper in {"OR", "NOT"}:
                tokens.append((upper, word))
            else:
                tokens.append(("WORD", word))
    return tokens


# --- parser --------------------------------------------------------------------


def _make_term(text: str, vocab: Vocabulary, raw: str) -> Term:
    found = vocab.match(text)
    if found is None:
        raise UnknownConceptError(raw, vocab.suggest(raw))
    return Term(
        text=normalize(text),
        concepts=tuple(c.wnid for c in found.concepts),
        class_indices=tuple(int(i) for i in found.classes),
    )


def _group_words(words: list[str], vocab: Vocabulary) -> list[Term]:
    """Greedy longest-lemma grouping of a run of plain words; drops stop words."""
    # A raw word like "sports-car" is several normalised words; keep the raw
    # word each came from for error messages.
    flat: list[tuple[str, str]] = [(w, raw) for raw in words for w in normalize(raw).split()]
    terms: list[Term] = []
    i = 0
    while i < len(flat):
        longest = min(vocab.max_phrase_words, len(flat) - i)
        for size in range(longest, 1, -1):
            window = [w for w, _ in flat[i : i + size]]
            if vocab.is_phrase_prefix(window[:-1]) and vocab.match(" ".join(window)):
                terms.append(_make_term(" ".join(window), vocab, " ".join(window)))
                i += size
                break
        else:
            word, raw = flat[i]
            if word not in STOP_WORDS:
                terms.append(_make_term(word, vocab, raw))
            i += 1
    return terms


def _resolve(tokens: list[Token], vocab: Vocabulary) -> list[tuple[str, Term | None]]:
    """Replace WORD runs and PHRASEs by TERM tokens."""
    out: list[tuple[str, Term | None]] = []
    run: list[str] = []

    def flush() -> None:
        out.extend(("TERM", t) for t in _group_words(run, vocab))
        run.clear()

    for kind, value in tokens:
        if kind == "WORD":
            run.append(value)
            continue
        flush()
        if kind == "PHRASE":
            if not normalize(value):
                raise QuerySyntaxError(f"empty quoted phrase {value!r}")
            out.append(("TERM", _make_term(value, vocab, value)))
        else:
            out.append((kind, None))
    flush()
    return out


class _Parser:
    """Recursive descent over resolved tokens (see the module grammar)."""

    def __init__(self, tokens: list[tuple[str, Term | None]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def query(self) -> list[Clause]:
        clauses: list[Clause] = []
        while self.peek() is not None:
            negated = False
            if self.peek() == "NOT":
                self.pos += 1
                negated = True
                if self.peek() == "NOT":
                    raise QuerySyntaxError("double negation ('- -' or 'NOT NOT') is not allowed")
                if self.peek() in (None, "OR", ")"):
                    raise QuerySyntaxError("'-' or NOT must be followed by a term")
            if self.peek() == ")":
                raise QuerySyntaxError("unbalanced parenthesis: ')' without '('")
            clauses.append(Clause(self.group(), negated))
        return clauses

    def group(self) -> tuple[Term, ...]:
        terms = list(self.atom())
        while self.peek() == "OR":
            self.pos += 1
            terms.extend(self.atom())
        return tuple(dict.fromkeys(terms))

    def atom(self) -> tuple[Term, ...]:
        kind = self.peek()
        if kind == "TERM":
            term = self.tokens[self.pos][1]
            self.pos += 1
            assert term is not None
            return (term,)
        if kind == "(":
            self.pos += 1
            if self.peek() == ")":
                raise QuerySyntaxError("empty parentheses")
            terms = self.group()
            if self.peek() is None:
                raise QuerySyntaxError("unbalanced parenthesis: '(' without ')'")
            if self.peek() != ")":
                raise QuerySyntaxError(
                    "parentheses may only hold terms joined by OR, e.g. (seashore OR lakeside)"
                )
            self.pos += 1
            return terms
        if kind == "NOT":
            raise QuerySyntaxError("negation inside an OR or parentheses is not supported")
        raise QuerySyntaxError("OR needs a term on both sides")


def parse_query(text: str | Sequence[str], vocab: Vocabulary | None = None) -> ConceptQuery:
    """Parse a keyword query (a string or argv-style words) into a :class:`ConceptQuery`.

    Raises UnknownConceptError for a word that names no concept (with
    suggestions) and QuerySyntaxError for an empty query, a query with only
    negated terms, a dangling OR, or unbalanced quotes or parentheses.
    """
    vocab = vocab or Vocabulary.load()
    joined = text if isinstance(text, str) else " ".join(text)
    resolved = _resolve(tokenize(joined), vocab)
    clauses = tuple(dict.fromkeys(_Parser(resolved).query()))
    if not clauses:
        raise QuerySyntaxError("empty query: give at least one word, e.g. 'dog'")
    if all(c.negated for c in clauses):
        raise QuerySyntaxError("a query needs at least one term that is not negated")
    return ConceptQuery(clauses, vocab)
