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


UNWEIGHTED_FLOOR = 0.7
"""An unweighted class-mass search (today's store) uses a word's classes of at least this
weight ("typical"), or its heaviest ones if none is that typical: adding every weaker
class at full weight ranked "church" organs and "restaurant" plates above churches and
menus (mean AP on the development words: 0.82 with every class, 0.92 with these; a store
that weighs every class by :meth:`Clause.weight_vector` measured 0.92 too)."""


@dataclass(frozen=True)
class Term:
    """One matched word or phrase: its normalised text, concept wnids and class indices.

    ``class_indices`` are the classes an unweighted search sums (see
    :data:`UNWEIGHTED_FLOOR`); ``resolution`` records how the word was matched (route,
    path, every class with its weight, spelling). Terms compare by what they match,
    not by how the user typed them.
    """

    text: str
    concepts: tuple[str, ...]
    class_indices: tuple[int, ...]
    resolution: Resolution | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, resolution: Resolution) -> Term:
        floor = min(UNWEIGHTED_FLOOR, max(resolution.weights, default=1.0))
        typical = tuple(
            i for i, w in zip(resolution.classes, resolution.weights, strict=True) if w >= floor
        )
        return cls(resolution.key, resolution.concepts, typical, resolution)

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
                if resolver.is_phrase_prefix(pair) or resolver.lookup(" ".join(pair)):
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


def _group_words(words: list[str], resolver: Resolver) -> list[Term]:
    """Greedy longest-key grouping of a run of plain words; drops stop words.

    At each word: the longest known phrase starting there; else, when the word starts
    a phrase and the next word is unknown, the phrase spelt right ("golden retreiver");
    else the word itself, spelt right if need be.
    """
    # A raw word like "sports-car" is several normalised words; keep the raw
    # word each came from for error messages.
    flat: list[tuple[str, str]] = [(w, raw) for raw in words for w in normalize(raw).split()]
    terms: list[Term] = []
    i = 0
    while i < len(flat):
        phrase = _phrase_at(flat, i, resolver)
        if phrase is not None:
            found, size = phrase
            terms.append(Term.of(found))
            i += size
            continue
        word, raw = flat[i]
        i += 1
        if word in STOP_WORDS:
            continue
        single = resolver.lookup(word) or resolver.correct(word)
        if single is None:
            raise resolver.unknown(raw)
        terms.append(Term.of(single))
    return terms


def _phrase_at(
    flat: list[tuple[str, str]], i: int, resolver: Resolver
) -> tuple[Resolution, int] | None:
    """The longest phrase (2+ words) known at ``flat[i]``, or one spelt right, with its size."""
    words = [w for w, _ in flat[i:]]
    longest = min(resolver.max_phrase_words, len(words))
    for size in range(longest, 1, -1):
        window = words[:size]
        if resolver.is_phrase_prefix(window[:-1]):
            found = resolver.lookup(" ".join(window))
            if found is not None:
                return found, size
    if len(words) < 2 or words[1] in STOP_WORDS or not resolver.is_phrase_prefix(words[:1]):
        return None
    if resolver.lookup(words[1]) is not None:
        return None
    for size in range(min(3, len(words)), 1, -1):
        found = resolver.correct(" ".join(words[:size]))
        if found is not None and " " in found.key:
            return found, size
    return None


def _resolve(tokens: list[Token], resolver: Resolver) -> list[tuple[str, Term | None]]:
    """Replace WORD runs and PHRASEs by TERM tokens."""
    out: list[tuple[str, Term | None]] = []
    run: list[str] = []

    def flush() -> None:
        out.extend(("TERM", t) for t in _group_words(run, resolver))
        run.clear()

    for kind, value in tokens:
        if kind == "WORD":
            run.append(value)
            continue
        flush()
        if kind == "PHRASE":
            if not normalize(value):
                raise QuerySyntaxError(f"empty quoted phrase {value!r}")
            out.append(("TERM", Term.of(resolver.resolve(value, correct=False))))
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
) -> ConceptQuery:
    """Parse a keyword query (a string or argv-style words) into a :class:`ConceptQuery`.

    Raises UnknownConceptError for a word that names no concept (with
    suggestions) and QuerySyntaxError for an empty query, a query with only
    negated terms, a dangling OR, or unbalanced quotes or parentheses.
    ``resolver`` chooses the routes (default: all of them, with spelling).
    """
    resolver = resolver or _resolver_for(vocab)
    joined = text if isinstance(text, str) else " ".join(text)
    resolved = _resolve(tokenize(joined), resolver)
    clauses = tuple(dict.fromkeys(_Parser(resolved).query()))
    if not clauses:
        raise QuerySyntaxError("empty query: give at least one word, e.g. 'dog'")
    if all(c.negated for c in clauses):
        raise QuerySyntaxError("a query needs at least one term that is not negated")
    corrections = tuple(
        t.correction for kind, t in resolved if t is not None and t.correction is not None
    )
    return ConceptQuery(clauses, resolver.vocab, resolver, corrections)
