"""The keyword query language: words → a conjunction of clauses of WordNet concepts.

Grammar (informal)::

    query   := item+                       items are ANDed ("AND"/"and" optional)
    item    := ["-" | "NOT"] group         negation applies to the whole group
    group   := atom ("OR" atom)*           OR ("or", "|") binds tighter than AND
    atom    := term | "(" group ")"        parentheses hold OR-lists only
    term    := word+ | '"' phrase '"'

Adjacent plain words are grouped greedily into the longest known key
("golden retriever", "sports car", "living room") before operators apply, so
quotes are rarely needed. Stop words ("a", "the", "on", "photos", "my", ...)
that are not part of a key are ignored, so "photos of a sports car on a
seashore" works. Operators are case-insensitive. The result is in conjunctive
normal form because the scorer needs exactly that: per clause, the probability
mass of its classes.

Each term is resolved by :mod:`picfind.resolve` (photo vocabulary, classes,
WordNet concepts, the rest of WordNet's nouns) and keeps its
:class:`~picfind.resolve.Resolution`, so callers can say how every word was
understood. A misspelt word is corrected when one known word is clearly best
("golden retreiver" → golden retriever: :attr:`ConceptQuery.corrections`); a
run of words is corrected as a phrase first when its first word starts a
known phrase and the next is unknown. A quoted phrase is taken as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from picfind.errors import QuerySyntaxError
from picfind.matchers import ConceptMatch, Matcher
from picfind.readings import (
    UNWEIGHTED_FLOOR,
    Reading,
    TermReader,
    concept_reading,
    default_readers,
    read_all,
    typical_classes,
)
from picfind.resolve import Correction, Resolution, Resolver
from picfind.vocabulary import Vocabulary, normalize

STOP_WORDS: frozenset[str] = frozenset(
    {"a", "an", "the", "on", "in", "of", "with", "at", "by", "near", "and", "for", "from"}
    | {"my", "our", "your", "his", "her", "their", "some", "this", "that", "these", "those"}
    | {"photo", "photos", "picture", "pictures", "pic", "pics", "image", "images"}
)
"""Words ignored unless part of a key ("photo booth", "bird of prey")."""
OPERATORS: frozenset[str] = frozenset({"or", "and", "not"})
_SPECIAL = '"()|'

__all__ = ["UNWEIGHTED_FLOOR", "Clause", "ConceptQuery", "Term", "parse_query", "tokenize"]


@dataclass(frozen=True)
class Term:
    """One matched word or phrase: its normalised text, concept wnids and class indices,
    and the readings of other signals.

    ``class_indices`` are the classes an unweighted search sums (see
    :data:`~picfind.readings.UNWEIGHTED_FLOOR`); ``resolution`` records how the word was
    matched as a concept (route, path, every class with its weight, spelling); ``others``
    are the readings of other signals (a place, a date …) of the same words. Terms
    compare by what they match, not by how the user typed them.
    """

    text: str
    concepts: tuple[str, ...]
    class_indices: tuple[int, ...]
    resolution: Resolution | None = field(default=None, compare=False, repr=False)
    others: tuple[Reading, ...] = ()

    @classmethod
    def of(cls, resolution: Resolution, others: tuple[Reading, ...] = ()) -> Term:
        """The term of a concept resolution (and of other signals' readings, if any)."""
        return cls(
            resolution.key, resolution.concepts, typical_classes(resolution), resolution, others
        )

    @classmethod
    def read(cls, text: str, readings: Sequence[Reading]) -> Term:
        """The term of every reading of the same words (the concept one, if any, first)."""
        concept = next(
            (r for r in readings if r.signal == "concept" and isinstance(r.source, Resolution)),
            None,
        )
        others = tuple(r for r in readings if r is not concept)
        if concept is not None and isinstance(concept.source, Resolution):
            return cls.of(concept.source, others)
        return cls(text, (), (), None, others)

    @property
    def readings(self) -> tuple[Reading, ...]:
        """Every reading of the term: the concept one (if it has classes), then the others."""
        own: tuple[Reading, ...] = ()
        if self.class_indices:
            own = (concept_reading(self.text, self.class_indices, self.resolution),)
        return own + self.others

    @cached_property
    def classes(self) -> np.ndarray:
        """Class indices as a sorted int64 array (cached; do not mutate)."""
        return np.asarray(self.class_indices, dtype=np.int64)

    @property
    def weighted(self) -> tuple[tuple[int, float], ...]:
        """Every class of the word with its weight (``class_indices`` at 1.0 without a
        resolution)."""
        if self.resolution is None:
            return tuple((i, 1.0) for i in self.class_indices)
        return tuple(zip(self.resolution.classes, self.resolution.weights, strict=True))

    @property
    def correction(self) -> Correction | None:
        return self.resolution.correction if self.resolution is not None else None

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

    @cached_property
    def matchers(self) -> tuple[Matcher, ...]:
        """What the clause asks of a store: one concept matcher over the union of its
        terms' classes (the mass of "dog OR cat" is that of both), then every other
        reading's matchers, in order, each once."""
        found: list[Matcher] = [ConceptMatch(self.class_indices)] if self.class_indices else []
        for term in self.terms:
            for reading in term.others:
                found.extend(m for m in reading.matchers if m not in found)
        return tuple(found)

    def weight_vector(self, num_classes: int = 1000) -> np.ndarray:
        """Dense float32 weight per class, the highest any term gives it (0 off the clause).

        For a store that scores a clause by weighted class mass, Σ_j w_j ξ_ij, over every
        class of its words instead of the unweighted sum over ``class_indices``.
        """
        vector = np.zeros(num_classes, dtype=np.float32)
        for term in self.terms:
            for index, weight in term.weighted:
                vector[index] = max(vector[index], weight)
        return vector

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
    resolver: Resolver | None = field(default=None, compare=False, repr=False)
    corrections: tuple[Correction, ...] = field(default=(), compare=False)
    """The spelling corrections made while parsing ("retreiver" → retriever), in order."""
    readers: tuple[TermReader, ...] = field(default=(), compare=False, repr=False)
    """The readers that read the words (for regrouping checks in ``str``)."""

    @property
    def positive(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if not c.negated)

    @property
    def negative(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.negated)

    @property
    def terms(self) -> tuple[Term, ...]:
        """Every term of every clause, in order."""
        return tuple(t for c in self.clauses for t in c.terms)

    def to_json(self) -> dict[str, object]:
        """How the words were read, as plain data: the canonical ``text`` and, per clause,
        its terms with every reading (signal, label, and the signal's details)."""
        return {
            "text": str(self),
            "clauses": [
                {
                    "negated": c.negated,
                    "terms": [
                        {"text": t.text, "readings": [r.to_json() for r in t.readings]}
                        for t in c.terms
                    ],
                }
                for c in self.clauses
            ],
        }

    def __str__(self) -> str:
        """Canonical text that parses back to an equal query.

        A bare word right after another bare word is quoted when the two
        could be regrouped into one lemma (e.g. ``hound "dog"``).
        """
        resolver = self.resolver or _resolver_for(self.vocab)
        parts: list[str] = []
        previous: str | None = None  # text of the previous clause if it is one bare word
        for clause in self.clauses:
            text = str(clause)
            single = len(clause.terms) == 1 and not text.endswith('"')
            word = clause.terms[0].text if single else None
            if word and previous and not clause.negated:
                pair = [previous, word]
                regroups = any(r.words == 2 for r in read_all(self.readers, pair))
                if regroups or resolver.is_phrase_prefix(pair) or resolver.lookup(" ".join(pair)):
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


def _group_words(words: list[str], resolver: Resolver, readers: Sequence[TermReader]) -> list[Term]:
    """Greedy longest-span grouping of a run of plain words; drops stop words.

    At each word: the longest span any reader reads there (2+ words), with every
    reading of it; else, when the word starts a phrase and no reader reads the next
    word, the phrase spelt right ("golden retreiver"); else the word's own readings;
    else (no reader reads it) the word spelt right.
    """
    # A raw word like "sports-car" is several normalised words; keep the raw
    # word each came from for error messages.
    flat: list[tuple[str, str]] = [(w, raw) for raw in words for w in normalize(raw).split()]
    terms: list[Term] = []
    i = 0
    while i < len(flat):
        rest = [w for w, _ in flat[i:]]
        readings = read_all(readers, rest)
        size = readings[0].words if readings else 0
        if size < 2:
            spelt = _phrase_spelt(rest, resolver, readers)
            if spelt is not None:
                terms.append(_corrected(spelt[0], readers))
                i += spelt[1]
                continue
        word, raw = flat[i]
        if size >= 2 or (size == 1 and word not in STOP_WORDS):
            terms.append(Term.read(" ".join(rest[:size]), readings))
            i += size
            continue
        i += 1
        if word in STOP_WORDS:
            continue
        single = resolver.correct(word)
        if single is None:
            raise resolver.unknown(raw)
        terms.append(_corrected(single, readers))
    return terms


def _corrected(resolution: Resolution, readers: Sequence[TermReader]) -> Term:
    """The term of a word spelt right: its concept, and what other signals read in the
    corrected words ("wintr" → winter: the concept and the season), so that the query's
    text parses back to the same query."""
    words = resolution.key.split()
    others = tuple(
        r for r in read_all(readers, words) if r.words == len(words) and r.signal != "concept"
    )
    return Term.of(resolution, others)


def _phrase_spelt(
    words: list[str], resolver: Resolver, readers: Sequence[TermReader]
) -> tuple[Resolution, int] | None:
    """A phrase spelt right at the start of ``words``, with its size: only when the first
    word starts a known phrase and no reader reads the next one."""
    if len(words) < 2 or words[1] in STOP_WORDS or not resolver.is_phrase_prefix(words[:1]):
        return None
    if read_all(readers, words[1:]):
        return None
    for size in range(min(3, len(words)), 1, -1):
        found = resolver.correct(" ".join(words[:size]))
        if found is not None and " " in found.key:
            return found, size
    return None


def _phrase_term(value: str, resolver: Resolver, readers: Sequence[TermReader]) -> Term:
    """A quoted phrase: every reading of all its words, never corrected."""
    words = normalize(value).split()
    if not words:
        raise QuerySyntaxError(f"empty quoted phrase {value!r}")
    readings = [r for r in read_all(readers, words) if r.words == len(words)]
    if not readings:
        raise resolver.unknown(value)
    return Term.read(" ".join(words), readings)


def _resolve(
    tokens: list[Token], resolver: Resolver, readers: Sequence[TermReader]
) -> list[tuple[str, Term | None]]:
    """Replace WORD runs and PHRASEs by TERM tokens."""
    out: list[tuple[str, Term | None]] = []
    run: list[str] = []

    def flush() -> None:
        out.extend(("TERM", t) for t in _group_words(run, resolver, readers))
        run.clear()

    for kind, value in tokens:
        if kind == "WORD":
            run.append(value)
            continue
        flush()
        if kind == "PHRASE":
            out.append(("TERM", _phrase_term(value, resolver, readers)))
        else:
            out.append((kind, None))
    flush()
    return out


def _resolver_for(vocab: Vocabulary | None) -> Resolver:
    """Every route for the packaged vocabulary; the class and concept routes for another."""
    if vocab is None or vocab is Vocabulary.load():
        return Resolver.load()
    return Resolver(vocab)


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


def parse_query(
    text: str | Sequence[str],
    vocab: Vocabulary | None = None,
    *,
    resolver: Resolver | None = None,
    readers: Sequence[TermReader] | None = None,
) -> ConceptQuery:
    """Parse a keyword query (a string or argv-style words) into a :class:`ConceptQuery`.

    Raises UnknownConceptError for a word that names no concept (with
    suggestions) and QuerySyntaxError for an empty query, a query with only
    negated terms, a dangling OR, or unbalanced quotes or parentheses.
    ``resolver`` chooses the routes (default: all of them, with spelling) and spells;
    ``readers`` read the words (default: ``readings.default_readers(resolver)``).
    """
    resolver = resolver or _resolver_for(vocab)
    readers = tuple(readers) if readers is not None else default_readers(resolver)
    joined = text if isinstance(text, str) else " ".join(text)
    resolved = _resolve(tokenize(joined), resolver, readers)
    clauses = tuple(dict.fromkeys(_Parser(resolved).query()))
    if not clauses:
        raise QuerySyntaxError("empty query: give at least one word, e.g. 'dog'")
    if all(c.negated for c in clauses):
        raise QuerySyntaxError("a query needs at least one term that is not negated")
    corrections = tuple(
        t.correction for kind, t in resolved if t is not None and t.correction is not None
    )
    return ConceptQuery(clauses, resolver.vocab, resolver, corrections, readers)
