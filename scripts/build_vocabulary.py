#!/usr/bin/env python3
"""Build picfind's vocabulary data file from WordNet 3.0 and the ImageNet-1k class list.

Run once by a developer (``python scripts/build_vocabulary.py``); the output,
``src/picfind/data/vocabulary.json.gz`` and ``WORDNET-LICENSE.txt``, is
committed so that nothing is downloaded or parsed from WordNet at run time.

Input: Debian's ``wordnet-base`` files (``data.noun``, ``index.noun``,
``noun.exc`` under ``/usr/share/wordnet``) and a TSV of the 1000 classes with
columns ``index, wnid, name`` in model output order. An ImageNet wnid is
``"n"`` + the 8-digit byte offset of the synset in ``data.noun``.

Output (gzip, mtime 0, JSON with sorted keys: byte-identical for identical
input) holds:

* ``classes``: ``[index, wnid, name, [lemmas]]`` in model order;
* ``concepts``: every class and every ancestor reached through hypernym
  (``@``) and instance-hypernym (``@i``) pointers, all paths, sorted by wnid:
  ``{"wnid", "lemmas", "ranks", "gloss", "parents"}`` where ``ranks[i]`` is the
  WordNet sense number of ``lemmas[i]`` for this synset (1 = most frequent) and
  ``parents`` lists the direct hypernym wnids; the library derives the classes
  under each concept from ``parents``, so they are not stored twice;
* ``exceptions``: irregular plurals from ``noun.exc`` whose base form is a
  vocabulary lemma (``{"geese": ["goose"]}``);
* ``license``/``source``: where the WordNet licence notice is.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WORDNET = Path("/usr/share/wordnet")
DEFAULT_CLASSES = REPO.parent / "shared" / "imagenet1k_classes.tsv"
DEFAULT_OUT_DIR = REPO / "src" / "picfind" / "data"
DATA_NAME = "vocabulary.json.gz"
LICENSE_NAME = "WORDNET-LICENSE.txt"
FORMAT_VERSION = 1
HYPERNYM_POINTERS = frozenset({"@", "@i"})


@dataclass
class Synset:
    """One noun synset as read from data.noun (only what the vocabulary needs)."""

    offset: int
    lemmas: list[str]
    hypernyms: list[int]
    gloss: str
    ranks: list[int] = field(default_factory=list)

    @property
    def wnid(self) -> str:
        return f"n{self.offset:08d}"


def parse_data_noun(path: Path) -> tuple[dict[int, Synset], str]:
    """Parse data.noun into synsets by offset, plus the licence header text.

    Line format (wndb(5WN)): offset lex_filenum ss_type w_cnt(hex) [word lex_id]...
    p_cnt [pointer_symbol offset pos source/target]... | gloss
    """
    synsets: dict[int, Synset] = {}
    header: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("  "):
                # Licence header: "  N text"; keep the text only.
                header.append(re.sub(r"^\s+\d+\s?", "", line).rstrip())
                continue
            body, _, gloss = line.partition(" | ")
            fields = body.split()
            offset = int(fields[0])
            w_cnt = int(fields[3], 16)
            words = [fields[4 + 2 * i] for i in range(w_cnt)]
            pos = 4 + 2 * w_cnt
            p_cnt = int(fields[pos])
            hypernyms: list[int] = []
            for i in range(p_cnt):
                symbol, target, target_pos = fields[pos + 1 + 4 * i : pos + 4 + 4 * i]
                if symbol in HYPERNYM_POINTERS and target_pos == "n":
                    hypernyms.append(int(target))
            synsets[offset] = Synset(offset, words, hypernyms, short_gloss(gloss))
    while header and not header[-1]:
        header.pop()
    return synsets, "\n".join(header) + "\n"


def short_gloss(gloss: str) -> str:
    """The definition part of a gloss, without the quoted usage examples."""
    gloss = gloss.strip()
    definition = re.split(r';\s*"', gloss, maxsplit=1)[0]
    return definition.strip().rstrip(";").strip()


def parse_index_noun(path: Path) -> dict[str, list[int]]:
    """Map lowercase lemma → synset offsets in WordNet sense order (most frequent first)."""
    senses: dict[str, list[int]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("  "):
                continue
            fields = line.split()
            lemma, synset_cnt, p_cnt = fields[0], int(fields[2]), int(fields[3])
            offsets = fields[4 + p_cnt + 2 :]
            if len(offsets) != synset_cnt:
                raise ValueError(f"malformed index.noun line for {lemma!r}")
            senses[lemma] = [int(o) for o in offsets]
    return senses


def parse_exceptions(path: Path) -> dict[str, list[str]]:
    """Map inflected form → base forms, from noun.exc."""
    exceptions: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) >= 2:
                exceptions.setdefault(fields[0], []).extend(fields[1:])
    return exceptions


def read_classes(path: Path) -> list[tuple[int, str, str]]:
    """Read (index, wnid, name) rows and check they are the model's 0..N-1 order."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [
            (int(r["index"]), r["wnid"].strip(), r["name"].strip())
            for r in csv.DictReader(fh, delimiter="\t")
        ]
    rows.sort()
    if [r[0] for r in rows] != list(range(len(rows))):
        raise ValueError(f"{path}: class indices are not 0..{len(rows) - 1}")
    return rows


def build(
    synsets: dict[int, Synset],
    senses: dict[str, list[int]],
    exceptions: dict[str, list[str]],
    classes: list[tuple[int, str, str]],
) -> dict[str, object]:
    """Assemble the vocabulary document (pure; no I/O)."""
    wanted: set[int] = set()
    stack = []
    for _, wnid, _ in classes:
        offset = int(wnid[1:])
        if not wnid.startswith("n") or offset not in synsets:
            raise ValueError(f"class {wnid} is not a WordNet 3.0 noun synset")
        stack.append(offset)
    while stack:
        offset = stack.pop()
        if offset in wanted:
            continue
        wanted.add(offset)
        stack.extend(synsets[offset].hypernyms)

    concepts = []
    lemma_keys: set[str] = set()
    for offset in sorted(wanted):
        s = synsets[offset]
        ranks = []
        for lemma in s.lemmas:
            order = senses.get(lemma.lower(), [])
            ranks.append(order.index(offset) + 1 if offset in order else 0)
            lemma_keys.add(lemma.lower())
        concepts.append(
            {
                "wnid": s.wnid,
                "lemmas": [w.replace("_", " ") for w in s.lemmas],
                "ranks": ranks,
                "gloss": s.gloss,
                "parents": sorted(synsets[h].wnid for h in set(s.hypernyms)),
            }
        )

    kept_exceptions = {
        form.replace("_", " "): sorted({b.replace("_", " ") for b in bases})
        for form, bases in sorted(exceptions.items())
        if any(b.lower() in lemma_keys for b in bases)
    }
    return {
        "format": FORMAT_VERSION,
        "source": "WordNet 3.0, Princeton University (Debian wordnet-base)",
        "license": LICENSE_NAME,
        "classes": [
            [index, wnid, name, [w.replace("_", " ") for w in synsets[int(wnid[1:])].lemmas]]
            for index, wnid, name in classes
        ],
        "concepts": concepts,
        "exceptions": kept_exceptions,
    }


def encode(document: dict[str, object]) -> bytes:
    """Deterministic gzip'd JSON: sorted keys, no whitespace, mtime 0, no file name."""
    raw = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(raw.encode("ascii"))
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet", type=Path, default=DEFAULT_WORDNET, help="WordNet dict dir")
    parser.add_argument("--classes", type=Path, default=DEFAULT_CLASSES, help="classes TSV")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="output directory")
    args = parser.parse_args(argv)

    synsets, license_text = parse_data_noun(args.wordnet / "data.noun")
    senses = parse_index_noun(args.wordnet / "index.noun")
    exceptions = parse_exceptions(args.wordnet / "noun.exc")
    classes = read_classes(args.classes)
    document = build(synsets, senses, exceptions, classes)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    data = encode(document)
    (args.out_dir / DATA_NAME).write_bytes(data)
    notice = (
        "picfind's vocabulary data (vocabulary.json.gz) is derived from WordNet 3.0,\n"
        "distributed under the following licence:\n\n" + license_text
    )
    (args.out_dir / LICENSE_NAME).write_text(notice, encoding="utf-8")
    n_concepts = len(document["concepts"])  # type: ignore[arg-type]
    print(
        f"wrote {args.out_dir / DATA_NAME} ({len(data)} bytes, "
        f"{len(classes)} classes, {n_concepts} concepts)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
