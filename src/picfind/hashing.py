"""The index's content key of a file's bytes, and the kinds of key an index may hold.

A key is ``"b3:"`` + BLAKE3 (128 bits, hex): BLAKE3 costs 1.3 ms of CPU for a 6.5 MB
HEIC where BLAKE2b cost 7 ms, the largest cost of an indexing run outside decoding
and the model (issue 14). Indexes written before it hold bare BLAKE2b-128 hex keys
(``LEGACY``), and keep them: a row's key says its own kind, so old rows stay valid
and nothing is rewritten. Content indexed under the old kind is still recognised
(a move, a copy, a touch) by computing the old key lazily — only for a file whose
size matches a stored old-kind row (``indexer``) — and the row then takes the new
key, so exact duplicates group under one key as the index is used.
"""

from __future__ import annotations

import hashlib

from blake3 import blake3

PREFIX = "b3:"
"""What every key written now starts with (an old key is bare hex, so never does)."""
LEGACY = "blake2b-128"
CURRENT = "blake3-128"
_DIGEST = 16


def digest(data: bytes) -> str:
    """BLAKE3-128 of ``data``, hex (releases the GIL: decode threads hash at once)."""
    return blake3(data).hexdigest(_DIGEST)


def content_hash(data: bytes) -> str:
    """The content key of ``data``: its kind, then its digest."""
    return PREFIX + digest(data)


def legacy_hash(data: bytes) -> str:
    """The key an index written before BLAKE3 holds for ``data``."""
    return hashlib.blake2b(data, digest_size=_DIGEST).hexdigest()


def kind_of(key: str) -> str:
    """``CURRENT`` or ``LEGACY``: which function made a stored key."""
    return CURRENT if key.startswith(PREFIX) else LEGACY


def is_legacy(key: str) -> bool:
    """Whether a stored key was made by the old kind (a non-empty key without prefix)."""
    return bool(key) and not key.startswith(PREFIX)


def same_content(data: bytes, key: str, stored: str) -> bool:
    """Whether ``data`` (whose current key is ``key``) is the content a row keyed
    ``stored`` was made from, whichever kind made that row."""
    if stored == key:
        return True
    return is_legacy(stored) and legacy_hash(data) == stored
