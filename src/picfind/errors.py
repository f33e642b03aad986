"""Exceptions raised by picfind's library.

The library never prints or exits; the CLI maps these to one line on stderr
and an exit code (``UsageError`` and its children → 2, anything else → 1)::

    PicfindError
    ├── UsageError                 the user asked for something that cannot be done
    │   ├── NotFoundError          a path, index or image id that does not exist
    │   │   └── ChangedFileError   an indexed file that is no longer the content indexed
    │   ├── ImageError             a file that cannot be read as an image (.path, .reason)
    │   │   └── TextReadError      its pixels decode, but its text cannot be read
    │   ├── UnknownModelError      a model name picfind does not know
    │   ├── ModelMismatchError     an index built with another model
    │   ├── QuerySyntaxError       a keyword query that does not parse
    │   ├── UnknownConceptError    a word that names no known concept (.suggestions)
    │   ├── EmptyIndexError        a search on an index that holds no images yet
    │   ├── JobBusyError           an indexing job is already running (web page)
    │   ├── ClusterConnectionError an endpoint that cannot be reached or refuses us
    │   └── OcrUnavailableError    reading text was asked for without picfind[ocr]
    ├── BusyError                  the server is too busy (uploads waiting to decode); retry
    ├── ModelError                 weights missing, refused (unsafe pickle) or malformed
    └── StoreError                 the index is damaged or cannot be read or written
                                   (every sqlite3 and cluster failure becomes one)
"""

from __future__ import annotations

from pathlib import Path


class PicfindError(Exception):
    """Base of every error picfind raises on purpose."""


class UsageError(PicfindError):
    """The request cannot be satisfied as given; the user can fix it."""


class NotFoundError(UsageError):
    """A path, index directory or image id that does not exist."""


class ChangedFileError(NotFoundError):
    """The file at an indexed path is no longer the content that was indexed."""


class ImageError(UsageError):
    """A file that cannot be read as an image; ``reason`` is short and specific."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class TextReadError(ImageError):
    """An image whose pixels could be decoded but whose text could not be read.

    A child of ImageError so that a pass over many photos skips it with its
    reason (``path: reading text failed: …``) like any unreadable file.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(path, f"reading text failed: {reason}")


class OcrUnavailableError(UsageError):
    """Reading text needs the ``ocr`` extra (its models and OpenCV); says how to install it."""


class UnknownModelError(UsageError):
    """A model name that is not in the registry."""


class ModelMismatchError(UsageError):
    """The index was built with a different model than the one requested."""


class QuerySyntaxError(UsageError):
    """A keyword query that does not parse (e.g. a dangling OR)."""


class UnknownConceptError(UsageError):
    """A query word that matches no concept; carries close known concepts.

    ``reason`` says why a word that is known (a WordNet noun) still cannot be searched
    ("names nothing a photo shows within 3 steps"); None for a word nobody knows.
    """

    def __init__(self, term: str, suggestions: list[str], reason: str | None = None) -> None:
        self.term = term
        self.suggestions = suggestions
        self.reason = reason
        why = f" ({reason})" if reason else ""
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"unknown word {term!r}{why}{hint}")


class EmptyIndexError(UsageError):
    """A search on an index with no images: the user has to index something first."""


class JobBusyError(UsageError):
    """An indexing job is already running on this index (the web page's jobs)."""


class ClusterConnectionError(UsageError):
    """The endpoint cannot be reached or refuses us (URL, credentials, TLS)."""


class BusyError(PicfindError):
    """Too many uploads are waiting to be decoded; the client may try again."""


class ModelError(PicfindError):
    """Model weights that are missing, unsafe or malformed."""


class StoreError(PicfindError):
    """An index that is damaged or cannot be read or written (disk full, read-only…)."""


__all__ = [
    "BusyError",
    "ChangedFileError",
    "ClusterConnectionError",
    "EmptyIndexError",
    "ImageError",
    "JobBusyError",
    "ModelError",
    "ModelMismatchError",
    "NotFoundError",
    "OcrUnavailableError",
    "PicfindError",
    "QuerySyntaxError",
    "StoreError",
    "TextReadError",
    "UnknownConceptError",
    "UnknownModelError",
    "UsageError",
]
