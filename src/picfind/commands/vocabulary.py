"""``picfind vocabulary WORD``: what a word means to picfind, and why.

The route that answers it (photo vocabulary, class, WordNet concept, WordNet hypernym
or definition, after a spelling correction if any), the concepts and WordNet path, and
the classes a search for it sums, heaviest first. A word nothing answers is the same
one-line error as in ``picfind search``.
"""

from __future__ import annotations

import click

from picfind.cli import cli, json_option
from picfind.errors import UsageError
from picfind.output import emit_json, out

ROUTE_NAMES = {
    "photo": "photo vocabulary",
    "class": "class name",
    "concept": "WordNet concept (every class under it)",
    "hypernym": "WordNet hypernym (the nearest concept above it with classes)",
    "definition": "WordNet definition (its genus has classes)",
}


@cli.command(name="vocabulary")
@click.argument("words", nargs=-1, required=True)
@click.option(
    "--limit", "-n", default=10, show_default=True, type=click.IntRange(0),
    help="How many classes to list (--json lists them all).",
)  # fmt: skip
@json_option
def vocabulary(words: tuple[str, ...], limit: int, as_json: bool) -> None:
    """What a word means: route, concepts, WordNet path and classes (picfind vocabulary puppy)."""
    from picfind.resolve import Resolver

    text = " ".join(words).strip()
    if not text:
        raise UsageError("give a word, e.g. picfind vocabulary puppy")
    resolver = Resolver.load()
    described = resolver.describe(resolver.resolve(text))
    if as_json:
        emit_json(described)
        return
    for line in _lines(described, limit):
        out(line)


def _lines(d: dict[str, object], limit: int) -> list[str]:
    """The description for people: one fact a line, labels in a column."""
    lines = []
    correction = d["correction"]
    if isinstance(correction, dict):
        edits = "1 edit" if correction["distance"] == 1 else f"{correction['distance']} edits"
        lines.append(f"{d['word']} → {d['key']}  (spelling corrected, {edits})")
    else:
        lines.append(str(d["key"]))
    lines.append(f"  route       {ROUTE_NAMES[str(d['route'])]}")
    if d["definition"]:
        lines.append(f"  definition  {d['definition']}")
    for path in d["paths"]:  # type: ignore[attr-defined]
        lines.append("  path        " + " → ".join(f"{s['name']} ({s['wnid']})" for s in path))
    entry = d["photo_word"]
    if isinstance(entry, dict):
        lines.append(f"  entry       {' | '.join(entry['words'])}")
    concepts = d["concepts"]
    if concepts:
        shown = ", ".join(f"{c['name']} ({c['wnid']})" for c in concepts)  # type: ignore[attr-defined]
        lines.append(f"  concepts    {shown}")
    classes = d["classes"]
    top = ", ".join(
        f"{c['name']} {c['weight']:.2f}" if c["weight"] < 1 else str(c["name"])
        for c in classes[:limit]  # type: ignore[index]
    )
    more = f" … (+{d['class_count'] - limit})" if d["class_count"] > limit else ""  # type: ignore[operator]
    lines.append(f"  classes     {d['class_count']}: {top}{more}")
    return lines
