"""Build picfind's table of all WordNet nouns (``data/wordnet_nouns.tsv.gz``).

Used by ``build_vocabulary.py``; the rules are described in ``picfind.nouns``, whose
constants they use. Pure functions over parsed WordNet data, so tests can call them.

The table is plain text in gzip, five blocks separated by blank lines:

1. a header of ``#`` lines (format, provenance, licence, rules);
2. every noun key (normalised lemma), sorted, one a line;
3. for each key, in the same order, ``frequency<TAB>spec``, where frequency is the
   lemma's count in WordNet's tagged texts (empty for 0) and spec is ``=`` (answered by
   the core vocabulary), ``-far``, ``-name`` or ``-broad WNID`` (refused), or the senses that reach
   an answer, ``|``-separated, each ``h PATH`` (hypernym route) or ``d PATH``
   (definition route), PATH being WordNet ids joined by ``>`` from the word's synset to
   the answer (a photo-vocabulary entry reached by its word is ``@word``);
4. ``wnid<TAB>lemma<TAB>gloss`` for every synset on a path or standing for a
   photo-vocabulary word that the core vocabulary does not already hold;
5. ``form<TAB>bases`` for every irregular plural of ``noun.exc`` ("geese" → goose).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from picfind.nouns import FORMAT, MAX_HOPS, MAX_SUBTREE, SYNSETS_PER_CLASS
from picfind.photowords import PhotoWords
from picfind.vocabulary import Vocabulary, normalize, noun_base_forms


class SynsetLike(Protocol):
    """What the table needs of a synset (``build_vocabulary.Synset`` has it)."""

    lemmas: list[str]
    hypernyms: list[int]
    gloss: str
    instance: bool


def parse_tagged_senses(path: Path) -> dict[str, int]:
    """Lemma → how many of its senses WordNet saw in tagged text (``tagsense_cnt``)."""
    tagged: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("  "):
                continue
            fields = line.split()
            p_cnt = int(fields[3])
            tagged[fields[0]] = int(fields[5 + p_cnt])
    return tagged


def parse_cntlist(path: Path) -> dict[str, int]:
    """Noun lemma → total count of its senses in WordNet's tagged texts (``cntlist.rev``)."""
    counts: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            sense_key, _, count = line.split()
            lemma, _, rest = sense_key.partition("%")
            if rest.startswith("1:"):
                counts[lemma] = counts.get(lemma, 0) + int(count)
    return counts


_PARENTHESES = re.compile(r"\([^()]*\)")
_LEAD = re.compile(
    r"^(?:(?:a|an|the|any|one|some|each|either|of|various|several|numerous|many|certain)\s+)*"
    r"(?:(?:kinds?|types?|sorts?|forms?|variety|varieties|breeds?|species|members?|genus"
    r"|group|class|strain|race|version|young|offspring)\s+of\s+"
    r"(?:(?:a|an|the|various|several|numerous|many|certain)\s+)*)?"
)
# Words that end a gloss's first noun phrase ("a young pig *that* ...").
# fmt: off
_BOUNDARY = frozenset({
    "of", "that", "which", "who", "whose", "with", "without", "for", "in", "on", "at", "by",
    "from", "to", "into", "used", "having", "has", "especially", "usually", "typically",
    "often", "or", "and", "but", "as", "when", "where", "while", "like", "resembling", "than",
    "consisting", "containing", "made", "found", "native", "known", "bred", "kept", "called",
    "being", "is", "are", "was", "were",
})
# fmt: on


def genus_phrases(gloss: str) -> list[str]:
    """Candidate heads of a gloss's first noun phrase, longest first.

    A WordNet definition names the genus first ("young domestic cat", "a young pig");
    the candidates are the trailing word sequences of that phrase, each ending in its
    head noun: ["young domestic cat", "domestic cat", "cat"].
    """
    text = _PARENTHESES.sub(" ", gloss.lower())
    text = re.split(r"[;:,]", text, maxsplit=1)[0]
    text = _LEAD.sub("", " ".join(re.findall(r"[a-z0-9][a-z0-9'-]*", text)))
    phrase: list[str] = []
    for word in text.split():
        if word in _BOUNDARY:
            break
        phrase.append(word)
    return [" ".join(phrase[i:]) for i in range(len(phrase))]


GRAB_BAGS: dict[str, str] = {
    "n04377057": "system",
    "n03892891": "part",
    "n09385911": "part",
    "n04359589": "support",
    "n04602044": "workplace",
    "n03391770": "framework",
    "n09816771": "associate",
    "n02727825": "apparatus",
    "n03091374": "connection",
    "n09366017": "natural_depression",
    "n14940386": "liquid",
    "n04341414": "structural_member",
    "n04188643": "sheet",
    "n03302121": "excavation",
    "n03932203": "piece",
    "n03096960": "control",
    "n03959936": "plate",
    "n03659292": "lever",
    "n02856463": "board",
    "n04317420": "stick",
    "n06254669": "medium",
    "n02788689": "bar",
    "n13865483": "round_shape",
    "n06873571": "visual_signal",
    "n03873064": "padding",
    "n03430959": "gear",
    "n03839993": "obstruction",
    "n04100174": "rod",
    "n04060904": "receptacle",
    "n02676261": "acoustic_device",
    "n03665366": "light",
    "n04191595": "shelter",
    "n07560652": "fare",
    "n03282591": "emblem",
    "n04081844": "restraint",
    "n03050026": "cloth_covering",
    "n03932670": "piece_of_cloth",
    "n03961939": "platform",
    "n02681518": "adornment",
    "n03546340": "housing",
    "n03277771": "electronic_device",
    "n03656484": "lens",
    "n07800091": "feed",
    "n07710283": "root_vegetable",
}
"""Concepts whose few classes are a grab-bag, no picture of what is under them: the
"workplace" of WordNet has one class, the bakery, under it, and a lumberyard is no
bakery; "root vegetable" has only mashed potato. They never answer a word that falls
back on them (chosen by reading the concepts that absorbed the most nouns); searched
for by name they still mean their classes."""


@dataclass(frozen=True)
class Answers:
    """The synsets a word may resolve to, and how specific each is."""

    classes: Mapping[int, int]
    """offset → number of classes it stands for (core concepts and photo senses)."""
    subtree: Mapping[int, int]
    """offset → number of synsets under it, itself included."""
    grab_bags: frozenset[int] = frozenset()

    def specific(self, offset: int) -> bool:
        """An answer is specific when its classes cover its subtree well enough."""
        size = self.subtree[offset]
        if offset in self.grab_bags:
            return False
        return size <= MAX_SUBTREE and size <= SYNSETS_PER_CLASS * self.classes[offset]


def find_answers(
    synsets: Mapping[int, SynsetLike], vocab: Vocabulary, photo: PhotoWords
) -> Answers:
    """Core concepts and photo-vocabulary senses, with their class counts and subtrees."""
    classes: dict[int, int] = {int(w[1:]): len(c.classes) for w, c in vocab.concepts.items()}
    for entry in photo.entries:
        word = photo.get(normalize(entry.headword))
        assert word is not None
        for sense in entry.senses:
            offset = int(sense[1:])
            if offset not in synsets:
                raise ValueError(f"photo word {entry.headword!r}: {sense} is not a noun synset")
            classes[offset] = max(classes.get(offset, 0), len(word.classes))
    children: dict[int, list[int]] = {}
    for offset, synset in synsets.items():
        for parent in synset.hypernyms:
            children.setdefault(parent, []).append(offset)
    subtree = {offset: _count_under(offset, children) for offset in classes}
    grab_bags = frozenset(int(w[1:]) for w in GRAB_BAGS)
    for wnid, name in GRAB_BAGS.items():  # a typo in the list must not pass silently
        found = synsets.get(int(wnid[1:]))
        if found is not None and found.lemmas[0] != name:
            raise ValueError(f"grab-bag {wnid} is {found.lemmas[0]}, not {name}")
    return Answers(classes, subtree, grab_bags)


def _count_under(offset: int, children: Mapping[int, list[int]]) -> int:
    seen = {offset}
    stack = [offset]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return len(seen)


def climb(
    offset: int, synsets: Mapping[int, SynsetLike], answers: Answers
) -> tuple[list[list[int]], int | None]:
    """Paths from ``offset`` to the nearest specific answers (hypernym route).

    Returns ([], broad) when the nearest answers are all over-broad (``broad`` is the
    least broad of them) and ([], None) when none is within MAX_HOPS.
    """
    parent: dict[int, int | None] = {offset: None}
    frontier = [offset]
    for _ in range(MAX_HOPS + 1):
        hits = sorted(x for x in frontier if x in answers.classes)
        if hits:
            good = [x for x in hits if answers.specific(x)]
            if good:
                return [_path(x, parent) for x in good], None
            return [], min(hits, key=lambda x: (answers.subtree[x], x))
        following = []
        for node in frontier:
            for up in synsets[node].hypernyms:
                if up not in parent:
                    parent[up] = node
                    following.append(up)
        frontier = following
    return [], None


def _path(end: int, parent: Mapping[int, int | None]) -> list[int]:
    path = [end]
    while (up := parent[path[-1]]) is not None:
        path.append(up)
    return path[::-1]


def define(
    gloss: str,
    kind: int,
    synsets: Mapping[int, SynsetLike],
    vocab: Vocabulary,
    photo: PhotoWords,
    answers: Answers,
    first_sense: Mapping[str, int],
    exceptions: Mapping[str, Sequence[str]],
) -> list[str]:
    """Answers named by the genus of a gloss (definition route): wnids or ``@word``.

    Tried only for a sense whose hypernyms reached ``kind``, an answer too broad to use
    (kitten → young mammal → ... → animal), and an answer counts only if it is a kind of
    ``kind`` too: the definition makes a broad ancestor precise, never changes the
    subject. The first candidate phrase that names anything decides; a phrase that is a
    WordNet noun counts only in its most frequent sense (``first_sense``), so "a young
    pig" is the hog, and a photo-vocabulary word only if it stands for that sense.
    """
    for phrase in genus_phrases(gloss):
        for form in [phrase, *noun_base_forms(phrase, exceptions)]:
            first = first_sense.get(form)
            word = photo.get(form)
            if word is not None:
                senses = [int(s[1:]) for s in word.entry.senses]
                ok = bool(senses) and (first is None or first in senses)
                ok = ok and all(answers.specific(s) and _under(s, kind, synsets) for s in senses)
                return [f"@{form}"] if ok else []
            found = vocab.match(form)
            if found is not None and found.key == form:
                return [
                    c.wnid
                    for c in found.concepts
                    if (first is None or c.wnid == f"n{first:08d}")
                    and answers.specific(int(c.wnid[1:]))
                    and _under(int(c.wnid[1:]), kind, synsets)
                ]
    return []


def _under(offset: int, ancestor: int, synsets: Mapping[int, SynsetLike]) -> bool:
    """True if ``ancestor`` is ``offset`` or above it in WordNet."""
    seen = {offset}
    stack = [offset]
    while stack:
        node = stack.pop()
        if node == ancestor:
            return True
        for up in synsets[node].hypernyms:
            if up not in seen:
                seen.add(up)
                stack.append(up)
    return False


def considered_senses(offsets: Sequence[int], tagged: int) -> Sequence[int]:
    """The senses of a lemma that count: those seen in tagged text, or all if none was."""
    return offsets[:tagged] if tagged > 0 else offsets


def build_nouns(
    synsets: Mapping[int, SynsetLike],
    senses: Mapping[str, list[int]],
    tagged: Mapping[str, int],
    counts: Mapping[str, int],
    exceptions: Mapping[str, Sequence[str]],
    vocab: Vocabulary,
    photo: PhotoWords,
    header: Iterable[str],
) -> str:
    """The table's text (see the module doc); deterministic for identical input."""
    answers = find_answers(synsets, vocab, photo)
    folded_exceptions = {
        normalize(form): [normalize(b) for b in bases] for form, bases in exceptions.items()
    }
    core = set(vocab.keys)
    merged: dict[str, list[str]] = {}
    for lemma in senses:
        merged.setdefault(normalize(lemma), []).append(lemma)
    first_sense = {key: senses[lemmas[0]][0] for key, lemmas in merged.items()}
    specs: dict[str, str] = {}
    on_paths: set[str] = set()
    for key, lemmas in merged.items():
        if not key:
            continue
        count = sum(counts.get(lemma, 0) for lemma in lemmas)
        if key in core:
            specs[key] = f"{count or ''}\t="
            continue
        offsets = list(dict.fromkeys(o for lemma in lemmas for o in senses[lemma]))
        considered = considered_senses(offsets, max(tagged.get(lemma, 0) for lemma in lemmas))
        parts: list[str] = []
        broad: int | None = None
        for offset in considered:
            if synsets[offset].instance:
                continue  # a named person, place or work: not a kind of thing a photo shows
            paths, too_broad = climb(offset, synsets, answers)
            if paths:
                parts.extend("h " + ">".join(f"n{o:08d}" for o in p) for p in paths)
                continue
            if too_broad is None:
                continue
            broad = too_broad if broad is None else broad
            gloss = synsets[offset].gloss
            for answer in define(
                gloss, too_broad, synsets, vocab, photo, answers, first_sense, folded_exceptions
            ):
                parts.append(f"d n{offset:08d}>{answer}")
        parts = list(dict.fromkeys(parts))
        if parts:
            specs[key] = f"{count or ''}\t" + "|".join(parts)
            on_paths.update(w for p in parts for w in p[2:].split(">") if w.startswith("n"))
        elif broad is not None:
            specs[key] = f"{count or ''}\t-broad n{broad:08d}"
            on_paths.add(f"n{broad:08d}")
        elif all(synsets[o].instance for o in considered):
            specs[key] = f"{count or ''}\t-name"
        else:
            specs[key] = f"{count or ''}\t-far"
    keys = sorted(specs)
    on_paths.update(sense for entry in photo.entries for sense in entry.senses)
    synset_lines = []
    for wnid in sorted(on_paths - set(vocab.concepts)):
        s = synsets[int(wnid[1:])]
        synset_lines.append(f"{wnid}\t{s.lemmas[0].replace('_', ' ')}\t{s.gloss}")
    max_words = max(k.count(" ") for k in keys) + 1
    exception_lines = [
        f"{form}\t{'|'.join(bases)}" for form, bases in sorted(folded_exceptions.items()) if form
    ]
    blocks = [
        "\n".join([f"# {FORMAT}", *(f"# {line}" for line in header), f"# max_words {max_words}"]),
        "\n".join(keys),
        "\n".join(specs[k] for k in keys),
        "\n".join(synset_lines),
        "\n".join(exception_lines),
    ]
    return "\n\n".join(blocks) + "\n"
