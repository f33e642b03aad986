"""All of WordNet's nouns: what each of the ~118,000 noun lemmas means to picfind.

The core vocabulary (:mod:`picfind.vocabulary`) knows the lemmas of the classes and of
the concepts above them. Every other WordNet 3.0 noun is answered by the nearest
*answer* above it: a concept that has classes under it, or a synset that a photo-vocabulary
entry stands for (:mod:`picfind.photowords`). ``scripts/build_vocabulary.py`` computes that
once, by these rules, into ``data/wordnet_nouns.tsv.gz``:

* the senses considered are those WordNet has seen in tagged text (``tagsense_cnt`` of
  ``index.noun``: "puppy" the young dog, not the inexperienced young person), or every
  sense when none was tagged ("duckling": the food and the young duck);
* **hypernym** route: from a sense, up its hypernyms (and instance hypernyms), at most
  :data:`MAX_HOPS` steps; the first level with answers gives them ("puppy" → dog,
  "pony" → horse). An answer counts only if it is specific: at most :data:`MAX_SUBTREE`
  WordNet synsets under it, and at most :data:`SYNSETS_PER_CLASS` per class it stands
  for. So "teacher" does not become the 3 person classes of "person" (10,297 synsets
  under it), "idea" not the few classes under "abstraction", and a room not "patio", the
  one class among the 349 synsets under "area" (horse: 1 class, 99 synsets, counts);
* **definition** route, when the hypernyms reach only an over-broad answer: the genus
  of the sense's gloss (the head of its first noun phrase, in that phrase's most
  frequent sense), if it is a specific answer of the same kind, i.e. under that broad
  one ("kitten": *young domestic cat* → domestic cat, an animal; "piglet": *a young
  pig* → hog);
* named individuals (WordNet instances: Paris, Seurat) are not kinds of things a photo
  shows, and are skipped: places and dates are other signals' business;
* otherwise the word is **refused**: ``far`` (no answer within reach), ``broad`` (only
  over-broad ones) or ``name`` (only named individuals); the parser reports it with
  suggestions.

This module reads that table: keys, their senses' paths, and the names and glosses of
the synsets on the paths. Loading takes a few milliseconds and happens on the first
word the core vocabulary and the photo vocabulary do not know.
"""

from __future__ import annotations

import bisect
import gzip
import re
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Literal

DATA_NAME = "wordnet_nouns.tsv.gz"
FORMAT = "picfind-wordnet-nouns 1"
MAX_HOPS = 3
"""How many hypernym steps a word may climb to find an answer."""
MAX_SUBTREE = 500
"""An answer must have at most this many WordNet synsets under it (itself included)..."""
SYNSETS_PER_CLASS = 100
"""... and at most this many per class it stands for: its classes must cover it."""

NounRoute = Literal["hypernym", "definition"]
Refusal = Literal["far", "broad", "name"]
_ROUTES: dict[str, NounRoute] = {"h": "hypernym", "d": "definition"}


@dataclass(frozen=True)
class NounSense:
    """How one sense of a word reaches an answer.

    ``path`` runs from the word's own synset to the answer: WordNet ids, the last of
    which is a concept with classes or a photo-vocabulary sense, or ``"@word"``, a
    photo-vocabulary entry reached through the definition route.
    """

    route: NounRoute
    path: tuple[str, ...]

    @property
    def answer(self) -> str:
        return self.path[-1]


@dataclass(frozen=True)
class NounEntry:
    """One WordNet noun key: how often it is used and what it means here.

    ``core`` keys are answered by the core vocabulary; otherwise ``senses`` holds the
    senses that reach an answer, or, when none does, ``refusal`` says why (with the
    over-broad concept in ``broad``).
    """

    key: str
    frequency: int
    core: bool
    senses: tuple[NounSense, ...] = ()
    refusal: Refusal | None = None
    broad: str | None = None


class NounTable:
    """The generated table, read once; keys are normalised (see ``vocabulary.normalize``)."""

    def __init__(self, text: str) -> None:
        blocks = text.removesuffix("\n").split("\n\n")
        if len(blocks) != 5:
            raise ValueError(f"{DATA_NAME}: expected 5 blocks, found {len(blocks)}")
        header, keys, self._value_block, self._synset_block, self._exception_block = blocks
        if not header.startswith(f"# {FORMAT}"):
            raise ValueError(f"{DATA_NAME}: not a {FORMAT} table")
        self._keys = keys.split("\n")
        values = self._value_block.count("\n") + 1
        if len(self._keys) != values:
            raise ValueError(f"{DATA_NAME}: {len(self._keys)} keys, {values} values")
        words = re.search(r"^# max_words (\d+)$", header, re.M)
        self.max_phrase_words = int(words[1]) if words else 1

    @cached_property
    def _values(self) -> list[str]:
        """One value per key, split on first lookup: a search whose words the core
        vocabulary answers reads only the keys (phrase prefixes)."""
        return self._value_block.split("\n")

    @cached_property
    def _synsets(self) -> dict[str, tuple[str, str]]:
        """wnid → (lemma, gloss), parsed on first use: only explanations need it."""
        table: dict[str, tuple[str, str]] = {}
        for line in filter(None, self._synset_block.split("\n")):
            wnid, name, gloss = line.split("\t")
            table[wnid] = (name, gloss)
        return table

    @cached_property
    def exceptions(self) -> dict[str, tuple[str, ...]]:
        """Irregular plural → its singular forms, for every noun ("geese" → goose)."""
        table: dict[str, tuple[str, ...]] = {}
        for line in filter(None, self._exception_block.split("\n")):
            form, bases = line.split("\t")
            table[form] = tuple(bases.split("|"))
        return table

    def _find(self, key: str) -> int | None:
        i = bisect.bisect_left(self._keys, key)
        return i if i < len(self._keys) and self._keys[i] == key else None

    @classmethod
    @cache
    def load(cls) -> NounTable:
        """The packaged table, parsed once per process."""
        blob = resources.files("picfind").joinpath("data").joinpath(DATA_NAME).read_bytes()
        return cls(gzip.decompress(blob).decode("utf-8"))

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) is not None

    def get(self, key: str) -> NounEntry | None:
        """The entry of a normalised key, or None if WordNet has no such noun."""
        i = self._find(key)
        return None if i is None else _entry(key, self._values[i])

    def frequency(self, key: str) -> int:
        """How often the key was seen in WordNet's tagged texts (0 if never or unknown)."""
        i = self._find(key)
        if i is None:
            return 0
        count = self._values[i].partition("\t")[0]
        return int(count) if count else 0

    def synset(self, wnid: str) -> tuple[str, str] | None:
        """(first lemma, gloss) of a synset on some path, if the table holds it."""
        return self._synsets.get(wnid)

    def is_prefix(self, words: tuple[str, ...]) -> bool:
        """True if some key is, or starts with, these normalised words."""
        phrase = " ".join(words)
        if phrase in self:
            return True
        i = bisect.bisect_left(self._keys, phrase + " ")
        return i < len(self._keys) and self._keys[i].startswith(phrase + " ")

    def words(self) -> list[str]:
        """Every key, sorted."""
        return list(self._keys)

    def answering_keys(self) -> list[tuple[str, int]]:
        """(key, frequency) of the keys whose senses reach an answer (not core, not
        refused), sorted by key."""
        found = []
        for key, value in zip(self._keys, self._values, strict=True):
            count, _, spec = value.partition("\t")
            if spec[:1] not in ("=", "-"):
                found.append((key, int(count) if count else 0))
        return found


def _entry(key: str, value: str) -> NounEntry:
    count, _, spec = value.partition("\t")
    frequency = int(count) if count else 0
    if spec == "=":
        return NounEntry(key, frequency, core=True)
    if spec.startswith("-"):
        reason, _, broad = spec[1:].partition(" ")
        refusal: Refusal = "broad" if reason == "broad" else "name" if reason == "name" else "far"
        return NounEntry(key, frequency, False, refusal=refusal, broad=broad or None)
    senses = []
    for part in spec.split("|"):
        route, _, path = part.partition(" ")
        senses.append(NounSense(_ROUTES[route], tuple(path.split(">"))))
    return NounEntry(key, frequency, False, tuple(senses))
