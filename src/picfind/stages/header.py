"""The header stage: format and oriented size, from the file's header (nothing decoded).

It runs for every file an indexing run reads, including copies of known content
(whose features are reused but whose header is their own), and alone over stored
rows when their header fields need filling again (``Index.run_pass``).
"""

from __future__ import annotations

from collections.abc import Sequence

from picfind import imaging
from picfind.errors import ImageError
from picfind.pipeline import Item, Source


class HeaderStage:
    """Writes ``format``, ``width`` and ``height``."""

    name = "header"
    reads = Source.HEADER
    writes = ("format", "width", "height")
    batched = False

    def __call__(self, items: Sequence[Item]) -> None:
        for item in items:
            try:
                fmt, width, height = imaging.probe(item.data, name=item.path)
            except ImageError:
                # Not readable as an image: the decode says why (for a copy of known
                # content the header is cosmetic, and stays empty).
                continue
            item.fields.format, item.fields.width, item.fields.height = fmt, width, height
