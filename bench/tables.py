"""Every stored row of an embedded index as arrays, read through the store seam."""

from __future__ import annotations

from pathlib import Path

import picfind
from picfind.store.base import Table


def read_index(folder: Path) -> Table:
    """Ids, paths, hashes, embeddings (float16 precision) and dense classes, in path order."""
    with picfind.open_index(folder, read_only=True) as idx:
        return Table.of(idx.store.rows(features=True))
