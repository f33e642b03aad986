"""The metadata stage: capture date, place (GPS → names, offline) and camera, from the header.

Cheap (tens of microseconds without GPS, a few hundred with it: docs/metadata.md),
so every indexing run runs it inline, for new files and copies of known content;
and ``Index.run_pass`` runs it alone to backfill rows indexed before schema 2
(only each file's first 256 KiB are read, where EXIF lives). Values a file gets
wrong are dropped with a note in the run's log (``logging``), never a failure:
the photo is indexed either way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from picfind.metadata import CaptureInfo, read_capture
from picfind.pipeline import Item, Source
from picfind.places import reverse_geocode
from picfind.records import METADATA_FIELDS, Fields

log = logging.getLogger(__name__)

META_VERSION = 1
"""Bumped when the stage reads more or reads differently: rows below it are backfilled."""


def capture_fields(info: CaptureInfo, fields: Fields) -> None:
    """Fill ``fields`` from what the file said (pure, apart from the bundled gazetteer)."""
    if info.taken is not None:
        fields.taken = info.taken.isoformat(timespec="seconds")
        fields.taken_day = info.taken.year * 10000 + info.taken.month * 100 + info.taken.day
        fields.taken_md = info.taken.month * 100 + info.taken.day
        fields.taken_source = info.taken_source
        fields.utc_offset = info.utc_offset_minutes
    if info.latitude is not None and info.longitude is not None:
        fields.lat, fields.lon = info.latitude, info.longitude
        place = reverse_geocode(info.latitude, info.longitude)
        if place is not None:
            fields.city = place.city or place.metro
            fields.region = place.region
            fields.country = place.country
            fields.country_code = place.country_code
            fields.place_label = place.label or None
            fields.place_keys = place.keys or None
    fields.make, fields.camera_model, fields.lens = info.make, info.model, info.lens
    fields.camera = info.camera
    fields.camera_keys = info.camera_keys or None
    fields.meta_version = META_VERSION


class MetadataStage:
    """Writes the capture fields of ``records.METADATA_FIELDS`` (``meta_version`` always)."""

    name = "metadata"
    reads = Source.HEADER
    writes = METADATA_FIELDS
    batched = False

    def __call__(self, items: Sequence[Item]) -> None:
        for item in items:
            info = read_capture(item.data)
            for note in info.notes:
                log.info("%s: %s", item.path, note)
            capture_fields(info, item.fields)
