"""The photo vocabulary: everyday words people type, mapped by hand to classes and concepts.

WordNet names what the 1000 classes *are* ("bathtub", "dock"); people search for what
their photos *show* ("bathroom", "harbour"). ``data/photo_words.tsv`` bridges the two:
each entry maps a headword and its variants to classes and WordNet concepts, with a weight
per class, and names the WordNet senses the word stands for so that WordNet nouns under
them can fall back to it (see :mod:`picfind.nouns`). The file's header documents its format.

:func:`parse` reads the text (a malformed line is a :class:`PhotoWordsError`);
:class:`PhotoWords` resolves every entry against the :class:`~picfind.vocabulary.Vocabulary`;
:func:`check` lists every problem of a file without raising, for the checker script and
the tests, so a broken file is caught before it ships, never at search time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

from picfind.vocabulary import Vocabulary, normalize

DATA_NAME = "photo_words.tsv"
_WNID = re.compile(r"n\d{8}")
_TARGET = re.compile(r"(?P<ref>[^:]+?)\s*(?::\s*(?P<weight>[0-9.]+))?")


class PhotoWordsError(ValueError):
    """A photo-vocabulary line that cannot be read or refers to nothing."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(f"{DATA_NAME} line {line}: {message}")


@dataclass(frozen=True)
class Target:
    """One target as written: a class name, a WordNet id or ``@word``, and its weight."""

    ref: str
    weight: float = 1.0


@dataclass(frozen=True)
class Entry:
    """One line of the file: words (headword first), senses and targets."""

    words: tuple[str, ...]
    senses: tuple[str, ...]
    targets: tuple[Target, ...]
    line: int

    @property
    def headword(self) -> str:
        return self.words[0]


@dataclass(frozen=True)
class PhotoWord:
    """An entry resolved against the classes: what a search for the word scores.

    ``classes`` is sorted and ``weights`` is aligned with it; ``concepts`` holds the
    entry's senses and the concepts it names as targets, in file order.
    """

    entry: Entry
    classes: tuple[int, ...]
    weights: tuple[float, ...]
    concepts: tuple[str, ...]


def parse(text: str) -> list[Entry]:
    """The entries of a photo-vocabulary text, in file order."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        fields = raw.split("\t")
        if len(fields) != 3:
            raise PhotoWordsError(number, f"expected 3 tab-separated fields, got {len(fields)}")
        words = tuple(w.strip() for w in fields[0].split("|"))
        if not all(normalize(w) for w in words):
            raise PhotoWordsError(number, f"an empty word in {fields[0]!r}")
        senses = () if fields[1].strip() == "-" else tuple(fields[1].split())
        for sense in senses:
            if not _WNID.fullmatch(sense):
                raise PhotoWordsError(number, f"sense {sense!r} is not a WordNet id (n########)")
        targets = tuple(_target(number, t) for t in fields[2].split(",") if t.strip())
        if not targets:
            raise PhotoWordsError(number, f"{words[0]!r} has no targets")
        entries.append(Entry(words, senses, targets, number))
    return entries


def _target(line: int, text: str) -> Target:
    m = _TARGET.fullmatch(text.strip())
    if m is None:
        raise PhotoWordsError(line, f"cannot read target {text.strip()!r}")
    weight = 1.0
    if m["weight"] is not None:
        try:
            weight = float(m["weight"])
        except ValueError:
            raise PhotoWordsError(line, f"weight {m['weight']!r} is not a number") from None
        if not 0 < weight <= 1:
            raise PhotoWordsError(line, f"weight {weight} of {m['ref']!r} is not in (0, 1]")
    return Target(m["ref"].strip(), weight)


class PhotoWords:
    """Every entry of a photo vocabulary, resolved; look words up by :meth:`get`."""

    def __init__(self, entries: list[Entry], vocab: Vocabulary) -> None:
        self.entries = entries
        self._vocab = vocab
        self._class_names = _class_names(vocab)
        self._entry_of: dict[str, Entry] = {}
        for entry in entries:
            for word in entry.words:
                key = normalize(word)
                if key in self._entry_of:
                    other = self._entry_of[key].line
                    raise PhotoWordsError(entry.line, f"{word!r} is also defined on line {other}")
                self._entry_of[key] = entry
        self._resolved: dict[int, PhotoWord] = {}
        for entry in entries:
            self._resolve(entry, ())
        self._by_sense: dict[str, PhotoWord] = {}
        for entry in entries:
            for sense in entry.senses:
                self._by_sense.setdefault(sense, self._resolved[entry.line])
        self.max_phrase_words = max((len(k.split()) for k in self._entry_of), default=1)
        self._prefixes = {
            tuple(k.split()[:n]) for k in self._entry_of for n in range(1, len(k.split()) + 1)
        }

    @classmethod
    @cache
    def load(cls) -> PhotoWords:
        """The packaged photo vocabulary, parsed once per process."""
        text = resources.files("picfind").joinpath("data").joinpath(DATA_NAME).read_text("utf-8")
        return cls(parse(text), Vocabulary.load())

    def get(self, key: str) -> PhotoWord | None:
        """The entry for a normalised key (a headword or a variant), if any."""
        entry = self._entry_of.get(key)
        return self._resolved[entry.line] if entry is not None else None

    def by_sense(self, wnid: str) -> PhotoWord | None:
        """The entry that stands for WordNet synset ``wnid`` (the first, if several do)."""
        return self._by_sense.get(wnid)

    def is_prefix(self, words: tuple[str, ...]) -> bool:
        """True if some key starts with (or is) these normalised words."""
        return words in self._prefixes

    def words(self) -> Iterator[str]:
        """Every normalised word of every entry."""
        return iter(self._entry_of)

    def __contains__(self, key: object) -> bool:
        return key in self._entry_of

    def _resolve(self, entry: Entry, stack: tuple[int, ...]) -> PhotoWord:
        done = self._resolved.get(entry.line)
        if done is not None:
            return done
        if entry.line in stack:
            raise PhotoWordsError(entry.line, f"{entry.headword!r} includes itself through @")
        weights: dict[int, float] = {}
        concepts = list(entry.senses)
        for target in entry.targets:
            classes, concept = self._target_classes(entry, target, (*stack, entry.line))
            if concept and concept not in concepts:
                concepts.append(concept)
            for index, weight in classes.items():
                weights[index] = max(weights.get(index, 0.0), weight * target.weight)
        order = sorted(weights)
        word = PhotoWord(entry, tuple(order), tuple(weights[i] for i in order), tuple(concepts))
        self._resolved[entry.line] = word
        return word

    def _target_classes(
        self, entry: Entry, target: Target, stack: tuple[int, ...]
    ) -> tuple[dict[int, float], str | None]:
        """(class → weight before the target's own weight, the concept it names if any)."""
        ref = target.ref
        if ref.startswith("@"):
            other = self._entry_of.get(normalize(ref[1:]))
            if other is None:
                raise PhotoWordsError(entry.line, f"{ref!r} names no entry")
            included = self._resolve(other, stack)
            return dict(zip(included.classes, included.weights, strict=True)), None
        if _WNID.fullmatch(ref):
            index = self._vocab.index_of(ref)
            if index is not None:
                return {index: 1.0}, None
            concept = self._vocab.concepts.get(ref)
            if concept is None:
                raise PhotoWordsError(entry.line, f"{ref} is neither a class nor a concept")
            return {int(i): 1.0 for i in concept.classes}, ref
        indices = self._class_names.get(ref)
        if indices is None:
            raise PhotoWordsError(entry.line, f"{ref!r} is not a class name")
        if len(indices) > 1:
            ids = ", ".join(self._vocab.wnid_of(i) for i in indices)
            raise PhotoWordsError(entry.line, f"{ref!r} names {len(indices)} classes: use {ids}")
        return {indices[0]: 1.0}, None


def _class_names(vocab: Vocabulary) -> dict[str, list[int]]:
    names: dict[str, list[int]] = {}
    for info in vocab.classes:
        names.setdefault(info.name, []).append(info.index)
    return names


def check(text: str, vocab: Vocabulary | None = None) -> list[str]:
    """Every problem of a photo-vocabulary text, one readable line each (empty if none).

    Each entry is checked alone (so one bad line does not hide the next), then the
    whole file (duplicate words, ``@`` cycles). A word that maps to nothing cannot
    pass: every target must name at least one class.
    """
    vocab = vocab or Vocabulary.load()
    try:
        entries = parse(text)
    except PhotoWordsError as exc:
        return [str(exc)]
    problems = []
    known = {normalize(w) for e in entries for w in e.words}
    for entry in entries:
        alone = [
            Entry(entry.words, entry.senses, (t,), entry.line)
            for t in entry.targets
            if not (t.ref.startswith("@") and normalize(t.ref[1:]) in known)
        ]
        for single in alone:
            try:
                PhotoWords([single], vocab)
            except PhotoWordsError as exc:
                problems.append(str(exc))
    if not problems:
        try:
            PhotoWords(entries, vocab)
        except PhotoWordsError as exc:
            problems.append(str(exc))
    return problems
