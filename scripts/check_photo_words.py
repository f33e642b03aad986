#!/usr/bin/env python3
"""Check picfind's photo vocabulary (src/picfind/data/photo_words.tsv).

    python scripts/check_photo_words.py [FILE]

Every class name and WordNet id must exist (a class, or a concept with classes under
it), every ``@word`` must name an entry without a cycle, every weight must be in
(0, 1], no word may be defined twice and every word must reach at least one class.
The senses must be WordNet noun synsets: with the packaged noun table they are
checked against it (it holds every synset a path or a photo word uses). Prints one
line per problem and exits 1 if there is any, else prints a summary and exits 0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from picfind.nouns import NounTable
from picfind.photowords import DATA_NAME, PhotoWords, check, parse
from picfind.vocabulary import Vocabulary

DEFAULT = Path(__file__).resolve().parents[1] / "src" / "picfind" / "data" / DATA_NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    args = parser.parse_args(argv)
    text = args.file.read_text(encoding="utf-8")
    vocab = Vocabulary.load()
    problems = check(text, vocab)
    if not problems:
        nouns = NounTable.load()
        for entry in parse(text):
            for sense in entry.senses:
                if sense not in vocab.concepts and nouns.synset(sense) is None:
                    problems.append(
                        f"{DATA_NAME} line {entry.line}: sense {sense} of {entry.headword!r} "
                        "is not a WordNet noun synset the noun table knows "
                        "(run scripts/build_vocabulary.py after editing the file)"
                    )
    for problem in problems:
        print(problem)
    if problems:
        return 1
    words = PhotoWords(parse(text), vocab)
    n_words = sum(1 for _ in words.words())
    print(f"{args.file.name}: {len(words.entries)} entries, {n_words} words, all good")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
