"""The OCR stages: the text read in a photo (``picfind[ocr]``), a slow second pass.

Never inline: ``picfind index --ocr`` runs them after indexing, over the stored rows
whose text was not read by this reader version (``needs``), through ``Index.run_pass``
— each batch committed, so an interrupted pass keeps what it wrote and a re-run
resumes. Two stages, so decoding overlaps reading:

* :class:`TextDecodeStage` (per file, in the decode threads): the upright photo at
  the reader's ``max_side`` (a large JPEG draft-decoded, ``imaging.load_for_reading``);
* :class:`TextStage` (batched, main thread): the reader on the chunk's decoded
  photos, ``reader.parallel`` at a time in the reader's threads (``Reader.read_many``),
  so both cores read while the decode threads prepare the next chunk.

A photo whose text cannot be read stores the reason with the reader's version (a
re-run does not try it again; a new reader version does) and is listed in
``failed``, never ending the run.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from picfind import imaging
from picfind.errors import ImageError
from picfind.ocr import Reader
from picfind.pipeline import Item, Source, Stage
from picfind.records import ImageText, Skipped, StoredFile

_SCRATCH = "ocr"


class TextDecodeStage:
    """Decodes each file for reading (kept in ``item.scratch``); writes nothing itself."""

    name = "ocr-decode"
    reads = Source.BYTES
    writes: tuple[str, ...] = ()
    batched = False

    def __init__(self, max_side: int) -> None:
        self.max_side = max_side

    def __call__(self, items: Sequence[Item]) -> None:
        for item in items:
            try:
                item.scratch[_SCRATCH] = imaging.load_for_reading(
                    item.data, self.max_side, name=item.path
                )
            except ImageError as exc:
                item.scratch[_SCRATCH] = exc
            item.data = b""  # the pixels are all the reader needs


class TextStage:
    """Writes ``text``: what the reader reads in each decoded photo, or why it could not."""

    name = "ocr"
    reads = Source.BYTES
    writes = ("text",)
    batched = True

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.version = reader.version
        self.failed: list[Skipped] = []
        """Photos whose text could not be read in this run (path, reason)."""

    def __call__(self, items: Sequence[Item]) -> None:
        pending: list[tuple[Item, Image.Image]] = []
        for item in items:
            decoded = item.scratch.pop(_SCRATCH, None)
            if isinstance(decoded, Image.Image):
                pending.append((item, decoded))
            else:
                why = decoded if isinstance(decoded, ImageError) else None
                self._failed(item, why or ImageError(item.path, "not decoded for reading"))
        # The chunk's photos are read ``reader.parallel`` at a time: both cores busy.
        found = self.reader.read_many([(image, item.path) for item, image in pending])
        for (item, _), text in zip(pending, found, strict=True):
            if isinstance(text, ImageError):  # TextReadError mostly
                self._failed(item, text)
            else:
                item.fields.text = ImageText(self.version, text.text, text.to_dict())

    def _failed(self, item: Item, exc: ImageError) -> None:
        self.failed.append(Skipped(item.path, exc.reason, keep=True))
        item.fields.text = ImageText(self.version, "", None, exc.reason)

    def needs(self, row: StoredFile) -> bool:
        """A row this reader has not read yet (never read, or by another version)."""
        return row.text_version != self.version


def ocr_stages(reader: Reader) -> tuple[list[Stage], TextStage]:
    """The pass's stages in order, and the one that reads (its ``needs``, ``failed``)."""
    reading = TextStage(reader)
    return [TextDecodeStage(reader.settings.max_side), reading], reading


__all__ = ["TextDecodeStage", "TextStage", "ocr_stages"]
