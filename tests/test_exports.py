"""The public API is what __all__ says, and every name in it resolves."""

import picfind


def test_every_exported_name_resolves() -> None:
    for name in picfind.__all__:
        assert getattr(picfind, name) is not None, name


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
