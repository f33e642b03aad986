"""Imports run one way: files → bytes → pixels → signals → store → results → interfaces.

Every ``import`` in ``src/picfind`` (at module level or inside a function) is
parsed; a module may import modules of its own layer or of lower ones, never of
a higher one. A few seams are held on top of the layers: only the factory
(``api``) and the cluster's own command name a store implementation; the web
layer never reaches into the indexer.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "picfind"

LAYERS: list[tuple[str, ...]] = [
    ("errors",),
    ("records",),
    (
        "heif",
        "raw",
        "exif",
        "cameras",
        "places",
        "nouns",
        "textnorm",
        "quantize",
        "dates",
        "allocator",
        "hashing",
    ),
    ("matchers", "metrics", "scoring", "vocabulary", "onnx_graph", "torchfile", "kerasfile"),
    ("textsearch",),
    ("photowords", "spelling", "placenames", "containers"),
    ("resolve", "metadata", "imaging", "effnet", "vgg"),
    (
        "query",
        "readings",
        "capturewords",
        "why",
        "textreading",
        "walk",
        "reading",
        "models",
        "ocr",
        "ocr.*",
    ),
    ("store", "store.*"),
    ("pipeline",),
    ("stages", "stages.*", "passes", "legacy"),
    ("search", "indexer", "evaluate", "duplicates", "sheet"),
    ("api",),
    ("output",),
    ("cli", "commands", "commands.*", "web", "web.*", "__main__", "__init__"),
]
"""Lowest first. A module imports its own layer or lower ones."""

ONLY_FROM: dict[str, tuple[str, ...]] = {
    # The store seam: implementations are named by the factory and by themselves.
    "store.embedded": ("store.*", "api"),
    # ClusterOptions: the options of a cluster index, which serve passes to its app and jobs.
    "store.cluster.connection": ("store.*", "api", "cli", "commands.*", "web.app", "web.jobs"),
    "store.cluster.*": ("store.*", "api", "commands.cluster"),
    "store.sqlite": ("store.*",),
    "store.vectors": ("store.*",),
    # The web layer goes through the API, never through the indexer or the pipeline.
    "indexer": ("api",),
    "pipeline": (
        "stages",
        "stages.*",
        "passes",
        "legacy",
        "indexer",
        "evaluate",
        "duplicates",
        "api",
    ),
}
"""Modules that only the listed modules may import (the first pattern that matches)."""


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts
    return ".".join(parts[:-1]) if parts[-1] == "__init__" and len(parts) > 1 else ".".join(parts)


def is_module(name: str) -> bool:
    base = SRC.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(path: Path) -> set[str]:
    """picfind modules imported by a file (names relative to ``picfind``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for full in names:
            if full == "picfind" or not full.startswith("picfind."):
                continue
            name = full.removeprefix("picfind.")
            if is_module(name):
                found.add(name)
    return found


def layer_of(name: str) -> int:
    for n, patterns in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return n
    raise AssertionError(f"picfind.{name} has no layer in tests/test_layers.py: give it one")


def edges() -> list[tuple[str, str]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        me = module_name(path)
        out += [(me, other) for other in sorted(imports(path)) if other != me]
    return out


def test_every_module_has_a_layer() -> None:
    for path in SRC.rglob("*.py"):
        layer_of(module_name(path))


def test_imports_never_go_up_a_layer() -> None:
    back = [
        f"picfind.{a} (layer {layer_of(a)}) imports picfind.{b} (layer {layer_of(b)})"
        for a, b in edges()
        if layer_of(b) > layer_of(a)
    ]
    assert not back, "back edges:\n" + "\n".join(back)


def test_seams_hold() -> None:
    broken = []
    for a, b in edges():
        if a == "__init__":  # the package's re-exports
            continue
        target = next((t for t in ONLY_FROM if fnmatch.fnmatchcase(b, t)), None)
        if target is not None and not any(fnmatch.fnmatchcase(a, p) for p in ONLY_FROM[target]):
            broken.append(f"picfind.{a} imports picfind.{b}")
    assert not broken, "\n".join(broken)


def test_the_rules_can_fail() -> None:
    """The checker sees a back edge where there is one (it is not vacuous)."""
    assert ("records", "scoring") not in edges()
    assert layer_of("scoring") > layer_of("records")
    assert any(a == "api" and b == "indexer" for a, b in edges())
    assert ("web.service", "api") in edges()
