"""The visual vocabulary: the 1000 ImageNet classes and the WordNet 3.0 concepts above them.

A query word names *concepts* (WordNet noun synsets that are classes or
hypernyms of classes); a concept covers the classes under it, all paths of
WordNet's multiple inheritance included. The data comes from
``data/vocabulary.json.gz``, generated once by ``scripts/build_vocabulary.py``
(WordNet 3.0 licence: ``data/WORDNET-LICENSE.txt``), so nothing is parsed from
WordNet or downloaded at run time.

Lookup rules, chosen so that what people type finds what they mean:

* keys are case-folded; hyphens, underscores and runs of whitespace are one
  space; apostrophes, periods and other punctuation are dropped
  ("Sports-Car" → "sports car", "judge's robe" → "judges robe");
* an exact key wins; otherwise plural forms are folded like WordNet's morphy
  for nouns (noun.exc exceptions such as "geese" → "goose", then the suffix
  rules) and a folded form counts only if it is a known key;
* a word that names several synsets ("crane": the bird and the machine;
  "cat": cat.n.01 and big cat) names all of them, most frequent sense first,
  and a query for it covers the union of their classes.
"""

from __future__ import annotations

import difflib
import gzip
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from typing import Any

import numpy as np

DATA_PACKAGE = "picfind"
DATA_NAME = "vocabulary.json.gz"

#: Morphy's noun detachment rules (suffix → replacement), in morphy's order.
NOUN_SUFFIX_RULES: tuple[tuple[str, str], ...] = (
    ("s", ""),
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
)

_SPACE_LIKE = re.compile(r"[\s_\-]+")
_DROPPED = re.compile(r"[^\w ]|_")
_PLAIN = re.compile(r"[a-z0-9]+(?: [a-z0-9]+)*")


def normalize(text: str) -> str:
    """Fold a term to its lookup key ("Sports-Car" → "sports car")."""
    folded = text.casefold()
    if _PLAIN.fullmatch(folded):  # already a key: most lemmas and query words
        return folded
    folded = _SPACE_LIKE.sub(" ", folded)
    folded = _DROPPED.sub("", folded)
    return " ".join(folded.split())


@dataclass(frozen=True)
class ClassInfo:
    """One model output class."""

    index: int
    wnid: str
    name: str
    lemmas: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Concept:
    """A WordNet synset in the vocabulary and the sorted class indices under it.

    Compared by identity: concepts are owned by one cached ``Vocabulary``.
    """

    wnid: str
    name: str
    lemmas: tuple[str, ...]
    gloss: str
    classes: np.ndarray = field(repr=False)
    class_index: int | None = None

    @property
    def is_class(self) -> bool:
        """True when the concept is itself one of the model's classes."""
        return self.class_index is not None


@dataclass(frozen=True)
class Match:
    """How a term resolved: the key it matched and its concepts (most frequent sense first)."""

    key: str
    concepts: tuple[Concept, ...]

    @property
    def classes(self) -> np.ndarray:
        """Sorted union of the class indices under all matched concepts."""
        return union_classes(self.concepts)


def union_classes(concepts: Iterable[Concept]) -> np.ndarray:
    """Sorted, de-duplicated class indices under any of ``concepts``."""
    arrays = [c.classes for c in concepts]
    if not arrays:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate(arrays))


def noun_base_forms(key: str, exceptions: Mapping[str, Sequence[str]]) -> list[str]:
    """Candidate singular forms of a normalised key, like WordNet's morphy for nouns.

    The last word is folded: first by the irregular forms of ``noun.exc`` (whole key,
    then last word), then by the suffix rules. Candidates are not checked against any
    vocabulary; callers keep those they know, in this order.
    """
    head, _, last = key.rpartition(" ")
    prefix = f"{head} " if head else ""
    forms: list[str] = []
    forms.extend(exceptions.get(key, ()))
    forms.extend(prefix + base for base in exceptions.get(last, ()))
    for suffix, repl in NOUN_SUFFIX_RULES:
        if last.endswith(suffix) and len(last) > len(suffix):
            forms.append(prefix + last[: -len(suffix)] + repl)
    return list(dict.fromkeys(f for f in forms if f != key))


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (typos incl. swaps), or ``limit + 1`` once exceeded."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def derive_index(document: Mapping[str, Any]) -> dict[str, Any]:
    """What a vocabulary computes from its document, as JSON: the sorted classes under
    each concept (every path of multiple inheritance), each key's concepts (most frequent
    sense first) and its display text.

    ``scripts/build_vocabulary.py`` stores it in the document (``"index"``) so that
    loading reads it instead of walking WordNet's graph and folding every lemma again;
    a document without it (a test's) is derived here, by the same function.
    """
    classes = document["classes"]
    raw = {c["wnid"]: c for c in document["concepts"]}
    ancestors: dict[str, frozenset[str]] = {}

    def above(wnid: str) -> frozenset[str]:
        """The concept and every concept above it, all paths (memoised)."""
        found = ancestors.get(wnid)
        if found is None:
            found = frozenset({wnid}).union(*(above(p) for p in raw[wnid]["parents"]))
            ancestors[wnid] = found
        return found

    under: dict[str, set[int]] = {wnid: set() for wnid in raw}
    for index, wnid, _, _ in classes:
        for concept in above(wnid):
            under[concept].add(int(index))
    ranked: dict[str, list[tuple[int, str]]] = {}
    display: dict[str, tuple[int, str]] = {}
    for wnid, c in raw.items():
        for lemma, rank in zip(c["lemmas"], c["ranks"], strict=True):
            key = normalize(lemma)
            ranked.setdefault(key, []).append((rank or 999, wnid))
            display[key] = min(display.get(key, (999, lemma)), (rank or 999, lemma))
    for _, wnid, name, _ in classes:  # display names are searchable even if not lemmas
        key = normalize(name)
        if all(w != wnid for _, w in ranked.get(key, [])):
            ranked.setdefault(key, []).append((999, wnid))
            display.setdefault(key, (999, name))
    return {
        "under": {wnid: sorted(under[wnid]) for wnid in sorted(raw)},
        "keys": {key: [w for _, w in sorted(set(pairs))] for key, pairs in sorted(ranked.items())},
        "display": {key: display[key][1] for key in sorted(display)},
    }


class Vocabulary:
    """Classes, concepts and the term index; build with :meth:`load` (cached)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.classes: list[ClassInfo] = [
            ClassInfo(int(i), wnid, name, tuple(lemmas))
            for i, wnid, name, lemmas in document["classes"]
        ]
        self._index_of: dict[str, int] = {c.wnid: c.index for c in self.classes}
        raw = {c["wnid"]: c for c in document["concepts"]}
        index = document.get("index") or derive_index(document)
        under: dict[str, list[int]] = index["under"]
        self.concepts: dict[str, Concept] = {}
        for wnid, c in sorted(raw.items()):
            at = self._index_of.get(wnid)
            name = self.classes[at].name if at is not None else c["lemmas"][0]
            self.concepts[wnid] = Concept(
                wnid=wnid,
                name=name,
                lemmas=tuple(c["lemmas"]),
                gloss=c["gloss"],
                classes=np.array(under[wnid], dtype=np.int64),
                class_index=at,
            )
        self._parents: dict[str, tuple[str, ...]] = {w: tuple(c["parents"]) for w, c in raw.items()}
        self._keys: dict[str, tuple[Concept, ...]] = {
            key: tuple(self.concepts[w] for w in wnids) for key, wnids in index["keys"].items()
        }
        self._display: dict[str, str] = dict(index["display"])
        self._prefixes: set[tuple[str, ...]] = set()
        for key in self._keys:
            words = tuple(key.split())
            for n in range(1, len(words) + 1):
                self._prefixes.add(words[:n])
        self.max_phrase_words: int = max(len(k.split()) for k in self._keys)
        self._exceptions: dict[str, tuple[str, ...]] = {
            normalize(form): tuple(normalize(b) for b in bases)
            for form, bases in document["exceptions"].items()
        }

    def depth(self, wnid: str) -> int:
        """Fewest hypernym steps from a concept up to WordNet's root (entity: 0)."""
        return self._depths[wnid]

    @cached_property
    def _depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}

        def depth(wnid: str) -> int:
            if wnid not in depths:
                parents = self._parents[wnid]
                depths[wnid] = 1 + min(depth(p) for p in parents) if parents else 0
            return depths[wnid]

        for wnid in self._parents:
            depth(wnid)
        return depths

    @cached_property
    def _class_count(self) -> dict[str, int]:
        """Classes under each key (for ranking suggestions; computed on first use)."""
        return {
            k: len(v[0].classes) if len(v) == 1 else len(union_classes(v))
            for k, v in self._keys.items()
        }

    @classmethod
    @cache
    def load(cls) -> Vocabulary:
        """The packaged vocabulary, parsed once per process."""
        blob = resources.files(DATA_PACKAGE).joinpath("data").joinpath(DATA_NAME).read_bytes()
        return cls(json.loads(gzip.decompress(blob)))

    # --- classes -------------------------------------------------------------

    def class_name(self, index: int) -> str:
        """Display name of model output ``index``."""
        return self.classes[index].name

    def wnid_of(self, index: int) -> str:
        """WordNet id of model output ``index``."""
        return self.classes[index].wnid

    def index_of(self, wnid: str) -> int | None:
        """Model output index of a class wnid, or None if the wnid is not a class."""
        return self._index_of.get(wnid)

    @property
    def keys(self) -> list[str]:
        """Every lookup key (normalised lemmas and class names), sorted."""
        return list(self._keys)

    def is_key(self, key: str) -> bool:
        """True if the normalised ``key`` is a lookup key as it is (no folding)."""
        return key in self._keys

    @property
    def exceptions(self) -> dict[str, tuple[str, ...]]:
        """Irregular plurals whose singular is a key ("geese" → goose), normalised."""
        return dict(self._exceptions)

    # --- lookup --------------------------------------------------------------

    def _fold_candidates(self, key: str) -> list[str]:
        """Known base forms of ``key`` per morphy's noun rules (exact key first)."""
        if key in self._keys:
            return [key]
        return [f for f in noun_base_forms(key, self._exceptions) if f in self._keys]

    def match(self, term: str) -> Match | None:
        """Resolve a term to its concepts, or None if it names none.

        When plural folding finds several bases ("axes" → ax, axis) the match
        holds all their concepts; ``key`` is then the normalised input.
        """
        key = normalize(term)
        if not key:
            return None
        bases = self._fold_candidates(key)
        if not bases:
            return None
        concepts: dict[str, Concept] = {}
        for base in bases:
            for c in self._keys[base]:
                concepts.setdefault(c.wnid, c)
        return Match(bases[0] if len(bases) == 1 else key, tuple(concepts.values()))

    def concepts_for(self, term: str) -> list[Concept]:
        """All concepts a term names (empty if unknown); see the module doc for rules."""
        found = self.match(term)
        return list(found.concepts) if found else []

    def classes_for(self, term: str) -> np.ndarray:
        """Sorted class indices under every concept the term names."""
        return union_classes(self.concepts_for(term))

    def is_phrase_prefix(self, words: Sequence[str]) -> bool:
        """True if the normalised words start (or are) some known key, word by word."""
        normalised = tuple(w for word in words for w in normalize(word).split())
        return bool(normalised) and normalised in self._prefixes

    def display(self, key: str) -> str:
        """The WordNet spelling of a key ("german shepherd" → "German shepherd")."""
        return self._display.get(key, key)

    # --- help for people -----------------------------------------------------

    def suggest(self, term: str, n: int = 5) -> list[str]:
        """Known names close to a misspelt or unknown term, for error messages."""
        key = normalize(term)
        if not key or n <= 0:
            return []
        # Typos first (edit distance with transpositions), then difflib's
        # similar-looking names, then names that start with the term.
        limit = 1 if len(key) <= 4 else 2
        by_edit = sorted(
            (d, -self._class_count[k], k)
            for k in self._keys
            if abs(len(k) - len(key)) <= limit and (d := edit_distance(key, k, limit)) <= limit
        )
        close = [k for *_, k in by_edit]
        close += difflib.get_close_matches(key, self._keys, n=n, cutoff=0.6)
        close += self._completion_keys(key, n)
        close = list(dict.fromkeys(close))[:n]
        return [self.display(k) for k in close]

    def complete(self, prefix: str, n: int = 10) -> list[str]:
        """Names starting with ``prefix``, best first, for autocompletion.

        Order: an exact name, then whole-name prefix matches, then matches of a later word;
        then class names before broader concepts; broader concepts by the
        number of classes under them (more first); then alphabetically.
        """
        return [self.display(k) for k in self._completion_keys(normalize(prefix), n)]

    def _completion_keys(self, prefix: str, n: int) -> list[str]:
        if not prefix or n <= 0:
            return []
        hits = []
        for key in self._keys:
            if key == prefix:
                tier = 0
            elif key.startswith(prefix):
                tier = 1
            elif f" {prefix}" in f" {key}":
                tier = 2
            else:
                continue
            is_class = any(c.is_class for c in self._keys[key])
            hits.append((tier, not is_class, -self._class_count[key], key))
        chosen: list[str] = []
        seen: set[tuple[str, ...]] = set()
        for *_, key in sorted(hits):
            # "golf cart"/"golfcart", "dog sled"/"dog sleigh" name the same synsets:
            # offer only the best-ranked of them.
            ident = tuple(c.wnid for c in self._keys[key])
            if ident not in seen:
                seen.add(ident)
                chosen.append(key)
            if len(chosen) == n:
                break
        return chosen
