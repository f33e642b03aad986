"""The pipeline's stages, one module each, and which of them an indexing run runs.

How to add a stage (docs/architecture.md has the longer version):

1. Write ``picfind/stages/<name>.py`` with a class that has ``name``, ``reads``
   (``Source.BYTES``, ``Source.HEADER`` or ``Source.PIXELS``), ``writes`` (names
   of ``records.Fields``), ``batched`` and ``__call__(items)`` filling
   ``item.fields`` (or ``item.skip(reason)`` for a file it cannot handle).
2. Add the fields it writes to ``records.Fields`` and ``records.ImageRecord``,
   and their columns to each store (``store/schema.py`` migration, the cluster
   mapping, and ``store.codec.UPDATABLE_FIELDS`` if a pass may update them).
3. A cheap stage that every run should run inline: add it to
   :func:`inline_stages`. It then also runs alone over rows already indexed,
   without the model: ``Index.run_pass(paths, [YourStage()])`` (a header-only
   stage reads only each file's head).
4. A slow stage (OCR): do not register it inline; run it as its own resumable
   pass, ``Index.run_pass(paths, [stage], needs=lambda row: <lacks its field>)``,
   which commits every batch and skips rows that already have the signal.
"""

from __future__ import annotations

from picfind.pipeline import Stage
from picfind.records import StoredFile
from picfind.stages.header import HeaderStage
from picfind.stages.metadata import META_VERSION, MetadataStage


def inline_stages() -> list[Stage]:
    """The cheap stages every indexing run runs before the model, in order."""
    return [HeaderStage(), MetadataStage()]


def backfill_stages() -> list[Stage]:
    """The stages an indexing run runs alone over unchanged rows that lack their fields
    (rows from an older schema): header-only, never the model."""
    return [MetadataStage()]


def needs_backfill(row: StoredFile) -> bool:
    """Whether a stored row lacks what :func:`backfill_stages` write."""
    return row.meta_version < META_VERSION


__all__ = ["HeaderStage", "MetadataStage", "backfill_stages", "inline_stages", "needs_backfill"]
