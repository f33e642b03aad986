"""Content indexed under the old kind of content key, found again (``picfind.hashing``).

A file's current key (BLAKE3) cannot match a row written before it (BLAKE2b). So for
the files of a chunk whose current key the store does not know, the store is asked
once for the rows of their sizes; only a file whose size an old-kind row has is
hashed the old way (7 ms of CPU for a 6.5 MB HEIC: paid once per such file, while an
index still holds old rows), and the old-kind rows with its old key are its content —
a touch, a move or a copy as for any known content. The indexer then gives those rows
the current key (``Touch``/``Move.content_hash``), so the next run finds them by it
and exact duplicates share one key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from picfind.hashing import is_legacy, legacy_hash
from picfind.pipeline import Item
from picfind.records import StoredFile
from picfind.store.base import Store


def old_kind_matches(store: Store, items: Sequence[Item]) -> dict[int, list[StoredFile]]:
    """For each item (by ``id(item)``) read whole, the old-kind rows holding its content;
    items without any are left out. One store request, whatever the number of items."""
    whole = [i for i in items if i.content_hash and i.data]
    if not whole:
        return {}
    by_size: dict[int, list[StoredFile]] = defaultdict(list)
    for row in store.rows(sizes=sorted({len(i.data) for i in whole})):
        if is_legacy(row.content_hash):
            by_size[row.size].append(row)
    found: dict[int, list[StoredFile]] = {}
    for item in whole:
        candidates = by_size.get(len(item.data))
        if not candidates:
            continue
        key = legacy_hash(item.data)
        rows = [row for row in candidates if row.content_hash == key]
        if rows:
            found[id(item)] = rows
    return found
