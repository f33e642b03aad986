"""The public API is what ``__all__`` says, in the manner of httpx's test_exported_members.

* every name in ``__all__`` resolves, and the package holds no other public name
  (``vars(picfind)`` once everything is loaded, submodules aside);
* every type used in a public signature — of an exported function, or of a
  public method, property or field of an exported class — is itself exported;
* every exported name is documented: a docstring of its own, and a line in
  docs/api.md.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from pathlib import Path

import picfind

REPO = Path(__file__).resolve().parents[1]
API_DOC = REPO / "docs" / "api.md"


def _load_all() -> dict[str, object]:
    return {name: getattr(picfind, name) for name in picfind.__all__}


def test_every_exported_name_resolves() -> None:
    for name, value in _load_all().items():
        assert value is not None, name


def test_exports_are_the_documented_api() -> None:
    assert set(picfind.__all__) >= {
        "Index",
        "open_index",
        "predict",
        "SearchResults",
        "IndexReport",
        "PicfindError",
        "UsageError",
    }
    assert not [n for n in picfind.__all__ if n.startswith("_") and n != "__version__"]


def test_all_lists_exactly_the_lazy_exports() -> None:
    assert picfind.__all__ == sorted([*picfind._EXPORTS, "__version__"])


def test_all_imports_are_exported() -> None:
    """httpx's rule: the package's public members are exactly ``__all__``."""
    _load_all()
    public = sorted(
        name
        for name, value in vars(picfind).items()
        if (not name.startswith("_") or name == "__version__")
        and not isinstance(value, types.ModuleType)  # picfind.api, picfind.store …
        and name not in {"annotations", "importlib", "TYPE_CHECKING", "Any"}
    )
    assert public == sorted(picfind.__all__)


def _hints(obj: object) -> dict[str, object]:
    namespace = {**vars(picfind), **_load_all()}
    module = inspect.getmodule(obj)
    if module is not None:
        namespace = {**vars(module), **namespace}
    try:
        return typing.get_type_hints(obj, globalns=namespace, include_extras=False)
    except TypeError:  # not something with annotations
        return {}


def _classes_in(hint: object) -> set[type]:
    """Every class a type hint names (through unions, generics, Callable, Literal…)."""
    found: set[type] = set()
    if isinstance(hint, type):
        found.add(hint)
    for arg in typing.get_args(hint):
        if isinstance(arg, list):  # Callable[[A, B], C]
            for a in arg:
                found |= _classes_in(a)
        elif not isinstance(arg, str | int | float | bool | type(None)):
            found |= _classes_in(arg)
    origin = typing.get_origin(hint)
    if isinstance(origin, type):
        found.add(origin)
    return found


def _signature_types(obj: object) -> set[type]:
    found: set[type] = set()
    if inspect.isclass(obj):
        found |= {c for h in _hints(obj).values() for c in _classes_in(h)}
        for name, member in vars(obj).items():
            if name.startswith("_") and name != "__init__":
                continue
            if isinstance(member, property):
                member = member.fget
            elif isinstance(member, classmethod | staticmethod):
                member = member.__func__
            if inspect.isfunction(member):
                found |= {c for h in _hints(member).values() for c in _classes_in(h)}
    elif callable(obj):
        found |= {c for h in _hints(obj).values() for c in _classes_in(h)}
    return found


def test_every_type_in_a_public_signature_is_exported() -> None:
    exported = {id(v) for v in _load_all().values()}
    missing: dict[str, set[str]] = {}
    for name, value in _load_all().items():
        for cls in _signature_types(value):
            if cls.__module__.startswith("picfind") and id(cls) not in exported:
                missing.setdefault(f"{cls.__module__}.{cls.__qualname__}", set()).add(name)
    assert not missing, f"types in public signatures that picfind does not export: {missing}"


def test_every_public_name_is_documented() -> None:
    doc = API_DOC.read_text(encoding="utf-8")
    for name, value in _load_all().items():
        if name == "__version__":
            continue
        assert re.search(rf"`{re.escape(name)}`", doc), f"{name} is not in docs/api.md"
        if inspect.isclass(value) or inspect.isfunction(value):
            text = value.__doc__ or ""
            generated = dataclasses.is_dataclass(value) and text.startswith(f"{value.__name__}(")
            assert text.strip() and not generated, f"{name} has no docstring of its own"
