"""What a query word means: the route that answers it, and a record that explains it.

A word is looked up as typed, then in its singular forms (WordNet's morphy: "geese" →
goose, "puppies" → puppy); each form goes through the routes in this order and the
first that knows it answers:

========== ============================================================ ==============
route      source                                                       example
========== ============================================================ ==============
photo      the photo vocabulary (:mod:`picfind.photowords`)             harbour
class      a class name or lemma of one of the 1000 classes             espresso
concept    a WordNet concept with classes under it                      dog, vehicle
hypernym   any other WordNet noun, through the concept above it         puppy → dog
definition ... or through the genus of its gloss (:mod:`picfind.nouns`) kitten → cat
========== ============================================================ ==============

A word that no route knows is spelled (:mod:`picfind.spelling`): if one known word
is clearly best it is searched instead and :attr:`Resolution.correction` says so;
otherwise :class:`~picfind.errors.UnknownConceptError` carries suggestions, and for a
WordNet noun that reaches nothing useful (``idea``, ``thing``) the reason. A quoted
phrase is never corrected, only suggested for.

:class:`Resolver` holds the vocabularies; :meth:`Resolver.load` gives the packaged
ones. The photo vocabulary is read with it; the WordNet noun table and the speller
only when a word needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from typing import Literal

import numpy as np

from picfind.errors import UnknownConceptError
from picfind.nouns import MAX_HOPS, NounEntry, NounTable
from picfind.photowords import PhotoWord, PhotoWords
from picfind.spelling import Speller, prior
from picfind.vocabulary import Concept, Match, Vocabulary, normalize, noun_base_forms, union_classes

Route = Literal["photo", "class", "concept", "hypernym", "definition"]
ROUTES: tuple[Route, ...] = ("photo", "class", "concept", "hypernym", "definition")
SEARCHED_WORD_BONUS = 2.0
"""Spelling prior bonus for class names and photo-vocabulary words (what people search)."""
LEMMA_BONUS = 1.0
"""Spelling prior bonus for the other lemmas of the classes and of the concepts above them."""
SUGGESTIONS = 5
GENERAL_DEPTH = 2
"""Concepts this close to WordNet's root are too general to search for ("object", "matter")."""
GENERAL_SHARE = 0.5
"""... and so are concepts over more than this share of the classes ("whole", "artifact")."""


@dataclass(frozen=True)
class Step:
    """One synset on a WordNet path, or a photo-vocabulary entry (``wnid`` ``@word``)."""

    wnid: str
    name: str


@dataclass(frozen=True)
class Correction:
    """A misspelt word and the known word searched instead."""

    typed: str
    corrected: str
    distance: int
    others: tuple[str, ...] = ()
    """Other known words as close or nearly as close (for "did you mean")."""

    def to_json(self) -> dict[str, object]:
        return {
            "typed": self.typed,
            "corrected": self.corrected,
            "distance": self.distance,
            "others": list(self.others),
        }


@dataclass(frozen=True)
class Resolution:
    """How one query word resolved, with all an explanation needs.

    ``key`` is the normalised form that answered (singular, corrected); ``classes`` are
    sorted model output indices with their ``weights`` (how typical each class is of
    the word, 1.0 unless the photo vocabulary says less); ``concepts`` the WordNet ids
    the word stands for; ``paths`` one WordNet path per sense for the hypernym and
    definition routes, from the word's own synset to the concept that answered.
    """

    typed: str
    key: str
    route: Route
    concepts: tuple[str, ...]
    classes: tuple[int, ...]
    weights: tuple[float, ...]
    paths: tuple[tuple[Step, ...], ...] = ()
    photo_word: str | None = None
    """The photo-vocabulary headword that answered (directly or at the end of a path)."""
    correction: Correction | None = None

    @property
    def routes(self) -> tuple[str, ...]:
        """The route, preceded by ``"spelling"`` when the word was corrected first."""
        return ("spelling", self.route) if self.correction else (self.route,)

    def weight_vector(self, num_classes: int = 1000) -> np.ndarray:
        """Per-class weights as a dense float32 vector (0 for classes not under the word)."""
        vector = np.zeros(num_classes, dtype=np.float32)
        vector[list(self.classes)] = self.weights
        return vector

    def to_json(self) -> dict[str, object]:
        return {
            "typed": self.typed,
            "key": self.key,
            "route": self.route,
            "routes": list(self.routes),
            "concepts": list(self.concepts),
            "classes": [
                {"index": i, "weight": round(w, 3)}
                for i, w in zip(self.classes, self.weights, strict=True)
            ],
            "paths": [[{"wnid": s.wnid, "name": s.name} for s in path] for path in self.paths],
            "photo_word": self.photo_word,
            "correction": self.correction.to_json() if self.correction else None,
        }


@dataclass
class Resolver:
    """Resolves words through the vocabularies it was given (see the module doc).

    Without ``photo`` or ``nouns`` those routes are off, and ``spelling=False`` turns
    correction off: ``Resolver(vocab, spelling=False)`` resolves exactly as picfind did
    before the photo vocabulary and the noun table (the keyword benchmark's baseline).
    """

    vocab: Vocabulary
    photo: PhotoWords | None = None
    nouns_loader: Callable[[], NounTable] | None = field(default=None, repr=False)
    spelling: bool = True

    @classmethod
    @cache
    def load(cls) -> Resolver:
        """Every route and spelling over the packaged data (cached; the noun table and
        the speller are read on first need)."""
        return cls(Vocabulary.load(), PhotoWords.load(), NounTable.load)

    @cached_property
    def nouns(self) -> NounTable | None:
        """The noun table, read on first use (None when that route is off)."""
        return self.nouns_loader() if self.nouns_loader is not None else None

    @cached_property
    def max_phrase_words(self) -> int:
        """Longest key in words, over every route."""
        n = self.vocab.max_phrase_words
        if self.photo is not None:
            n = max(n, self.photo.max_phrase_words)
        if self.nouns is not None:
            n = max(n, self.nouns.max_phrase_words)
        return n

    # --- lookup (no spelling) ----------------------------------------------------------

    def is_phrase_prefix(self, words: list[str] | tuple[str, ...]) -> bool:
        """True if the normalised words start (or are) a key of some route."""
        folded = tuple(w for word in words for w in normalize(word).split())
        if not folded:
            return False
        if self.vocab.is_phrase_prefix(folded) or (
            self.photo is not None and self.photo.is_prefix(folded)
        ):
            return True
        return self.nouns is not None and self.nouns.is_prefix(folded)

    def lookup(self, text: str) -> Resolution | None:
        """The resolution of ``text`` as typed or singular, without spelling; None if unknown.

        The form as typed wins over a singular ("glasses" the spectacles, not drinking
        glasses); among singulars the photo vocabulary, then the core vocabulary (which
        unites every base it knows: "axes" is ax and axis), then the noun table.
        """
        key = normalize(text)
        if not key:
            return None
        exact = self._exact(text, key)
        if exact is not None:
            return exact
        bases = noun_base_forms(key, self._exceptions)
        if self.photo is not None:
            for base in bases:
                word = self.photo.get(base)
                if word is not None:
                    return _photo_resolution(text, base, word)
        match = self.vocab.match(key)
        if match is not None:
            return self._core(text, match)
        if self.nouns is not None:
            for base in bases:
                entry = self.nouns.get(base)
                if entry is not None and entry.senses:
                    return self._noun(text, entry)
        return None

    def _exact(self, typed: str, key: str) -> Resolution | None:
        if self.photo is not None:
            word = self.photo.get(key)
            if word is not None:
                return _photo_resolution(typed, key, word)
        if self.vocab.is_key(key):
            match = self.vocab.match(key)
            if match is not None:
                return self._core(typed, match)
        if self.nouns is not None:
            entry = self.nouns.get(key)
            if entry is not None and entry.senses:
                return self._noun(typed, entry)
        return None

    @cached_property
    def _exceptions(self) -> dict[str, tuple[str, ...]]:
        table = dict(self.vocab.exceptions)
        if self.nouns is not None:
            for form, bases in self.nouns.exceptions.items():
                table.setdefault(form, bases)
        return table

    def too_general(self, concept: Concept) -> bool:
        """True for a concept that says nothing about a photo ("entity", "object", "whole")."""
        share = len(concept.classes) / len(self.vocab.classes)
        return self.vocab.depth(concept.wnid) <= GENERAL_DEPTH or share > GENERAL_SHARE

    def _core(self, typed: str, match: Match) -> Resolution | None:
        concepts = [c for c in match.concepts if not self.too_general(c)]
        if not concepts:
            return None
        classes = tuple(int(i) for i in union_classes(concepts))
        route: Route = "class" if all(c.is_class for c in concepts) else "concept"
        return Resolution(
            typed=typed,
            key=match.key,
            route=route,
            concepts=tuple(c.wnid for c in concepts),
            classes=classes,
            weights=(1.0,) * len(classes),
        )

    def _general(self, key: str) -> Concept | None:
        """The too-general concept a key names, if that is all it names."""
        match = self.vocab.match(key)
        if match is None or not all(self.too_general(c) for c in match.concepts):
            return None
        return match.concepts[0]

    def _noun(self, typed: str, entry: NounEntry) -> Resolution:
        weights: dict[int, float] = {}
        concepts: list[str] = []
        paths = []
        photo_word = None
        for sense in entry.senses:
            answer = self._answer(sense.answer)
            if isinstance(answer, PhotoWord):
                pairs = list(zip(answer.classes, answer.weights, strict=True))
                photo_word = photo_word or answer.entry.headword
                stands_for = answer.concepts if sense.answer.startswith("@") else (sense.answer,)
            else:
                pairs = [(int(i), 1.0) for i in answer]
                stands_for = (sense.answer,)
            for index, weight in pairs:
                weights[index] = max(weights.get(index, 0.0), weight)
            concepts.extend(c for c in stands_for if c not in concepts)
            paths.append(tuple(Step(w, self.name_of(w)) for w in sense.path))
        order = sorted(weights)
        return Resolution(
            typed=typed,
            key=entry.key,
            route=entry.senses[0].route,
            concepts=tuple(concepts),
            classes=tuple(order),
            weights=tuple(weights[i] for i in order),
            paths=tuple(paths),
            photo_word=photo_word,
        )

    def _answer(self, ref: str) -> PhotoWord | np.ndarray:
        """What a path's last element stands for: a photo word or a concept's classes."""
        if self.photo is not None:
            word = self.photo.get(ref[1:]) if ref.startswith("@") else self.photo.by_sense(ref)
            if word is not None:
                return word
        concept = self.vocab.concepts.get(ref)
        if concept is None:
            raise KeyError(f"{ref} answers a noun but is neither a concept nor a photo word")
        return concept.classes

    def name_of(self, ref: str) -> str:
        """A readable name for a wnid on a path (or ``@word``)."""
        if ref.startswith("@"):
            return ref[1:]
        concept = self.vocab.concepts.get(ref)
        if concept is not None:
            return concept.name
        found = self.nouns.synset(ref) if self.nouns is not None else None
        return found[0] if found else ref

    def gloss_of(self, ref: str) -> str:
        """The WordNet definition of a wnid, if known here ("" otherwise)."""
        concept = self.vocab.concepts.get(ref)
        if concept is not None:
            return concept.gloss
        found = self.nouns.synset(ref) if self.nouns is not None else None
        return found[1] if found else ""

    def describe(self, resolution: Resolution) -> dict[str, object]:
        """Everything a person needs to see what a word means here, as plain data.

        The resolution's fields, with names and definitions: each concept's WordNet
        gloss, each class's wnid and name (heaviest first), each path step named, and
        the photo-vocabulary entry that answered (its words, senses and targets).
        """
        order = sorted(
            zip(resolution.classes, resolution.weights, strict=True),
            key=lambda cw: (-cw[1], self.vocab.class_name(cw[0]).casefold()),
        )
        entry = None
        if resolution.photo_word is not None and self.photo is not None:
            word = self.photo.get(normalize(resolution.photo_word))
            if word is not None:
                entry = {
                    "headword": word.entry.headword,
                    "words": list(word.entry.words),
                    "senses": list(word.entry.senses),
                    "targets": [{"ref": t.ref, "weight": t.weight} for t in word.entry.targets],
                }
        own = resolution.paths[0][0].wnid if resolution.paths else None
        first = own or (resolution.concepts[0] if resolution.concepts else "")
        return {
            "word": resolution.typed,
            "key": resolution.key,
            "route": resolution.route,
            "routes": list(resolution.routes),
            "definition": self.gloss_of(first) if first else "",
            "correction": resolution.correction.to_json() if resolution.correction else None,
            "concepts": [
                {"wnid": w, "name": self.name_of(w), "gloss": self.gloss_of(w)}
                for w in resolution.concepts
            ],
            "class_count": len(resolution.classes),
            "classes": [
                {
                    "index": i,
                    "wnid": self.vocab.wnid_of(i),
                    "name": self.vocab.class_name(i),
                    "weight": round(w, 3),
                }
                for i, w in order
            ],
            "paths": [
                [{"wnid": s.wnid, "name": s.name} for s in path] for path in resolution.paths
            ],
            "photo_word": entry,
        }

    # --- spelling and refusal ----------------------------------------------------------

    def resolve(self, text: str, *, correct: bool = True) -> Resolution:
        """The resolution of ``text``, correcting its spelling if allowed and clear.

        Raises UnknownConceptError (with suggestions, and a reason for a known word
        that reaches nothing) when nothing answers.
        """
        found = self.lookup(text)
        if found is not None:
            return found
        corrected = self.correct(text) if correct else None
        if corrected is not None:
            return corrected
        raise self.unknown(text)

    def correct(self, text: str) -> Resolution | None:
        """The resolution of the clearly best spelling of ``text``, or None.

        A word WordNet knows (even one that answers nothing) is never corrected.
        """
        key = normalize(text)
        if not self.spelling or not key or self.refusal(key) is not None:
            return None
        if self._general(key) is not None:
            return None
        spelling = self.speller.spell(key)
        if spelling.best is None:
            return None
        found = self.lookup(spelling.best.word)
        if found is None:  # cannot happen: the speller knows only words that answer
            return None
        others = tuple(c.word for c in spelling.candidates if c is not spelling.best)
        correction = Correction(key, found.key, spelling.best.distance, others[: SUGGESTIONS - 1])
        return replace(found, typed=text, correction=correction)

    def refusal(self, key: str) -> NounEntry | None:
        """The noun-table entry of a WordNet noun (or its singular) that answers nothing."""
        if self.nouns is None:
            return None
        for form in (key, *noun_base_forms(key, self._exceptions)):
            entry = self.nouns.get(form)
            if entry is not None and entry.refusal is not None:
                return entry
        return None

    def unknown(self, text: str) -> UnknownConceptError:
        """The error for a word nothing answers: suggestions, and why if WordNet knows it."""
        key = normalize(text)
        general = self._general(key) if key else None
        if general is not None:
            n = len(general.classes)
            reason = (
                f"too general: {general.name} covers {n} of the {len(self.vocab.classes)} classes"
            )
            return UnknownConceptError(text, [], reason)
        entry = self.refusal(key) if key else None
        if entry is not None:  # spelt right: only a word one letter away may be what was meant
            near = self.speller.candidates(key, 1) if self.spelling else []
            suggestions = [self.vocab.display(c.word) for c in near[:SUGGESTIONS]]
            return UnknownConceptError(text, suggestions, self._reason(entry))
        return UnknownConceptError(text, self.suggest(text))

    def suggest(self, text: str, n: int = SUGGESTIONS) -> list[str]:
        """Known words close to ``text``: typos (closest, most used first), else look-alikes
        and completions of the class and concept names."""
        key = normalize(text)
        close: list[str] = []
        if self.spelling and key:
            close = [c.word for c in self.speller.candidates(key)]
        if not close:
            close = [normalize(s) for s in self.vocab.suggest(text, n)]
        return [self.vocab.display(k) for k in dict.fromkeys(close)][:n]

    def _reason(self, entry: NounEntry | None) -> str | None:
        if entry is None:
            return None
        if entry.refusal == "name":
            return "WordNet knows it only as the name of a particular person, place or thing"
        if entry.refusal == "broad" and entry.broad is not None:
            broad = self.name_of(entry.broad).replace("_", " ")
            return f"WordNet knows it only as a kind of {broad}, too broad to search"
        return f"a WordNet noun, but no photo class is within {MAX_HOPS} steps of it"

    @cached_property
    def speller(self) -> Speller:
        """Every key that answers, with its spelling prior (built on first need)."""
        uses = self.nouns.frequency if self.nouns is not None else (lambda key: 0)
        priors: dict[str, float] = {}
        groups: dict[str, object] = {}
        class_names = {normalize(c.name) for c in self.vocab.classes}
        if self.photo is not None:
            for key in self.photo.words():
                priors[key] = prior(uses(key), SEARCHED_WORD_BONUS)
                groups[key] = ("photo", self.photo.get(key).entry.line)  # type: ignore[union-attr]
        for key in self.vocab.keys:
            if key not in priors:
                bonus = SEARCHED_WORD_BONUS if key in class_names else LEMMA_BONUS
                priors[key] = prior(uses(key), bonus)
                groups[key] = tuple(c.wnid for c in self.vocab.concepts_for(key))
        if self.nouns is not None:
            for key, count in self.nouns.answering_keys():
                if key not in priors:
                    priors[key] = prior(count)
                    groups[key] = key
        words = list(priors)
        return Speller(words, [priors[w] for w in words], [groups[w] for w in words])


def _photo_resolution(typed: str, key: str, word: PhotoWord) -> Resolution:
    return Resolution(
        typed=typed,
        key=key,
        route="photo",
        concepts=word.concepts,
        classes=word.classes,
        weights=word.weights,
        photo_word=word.entry.headword,
    )
