"""Typed records that flow between the pipeline steps and out of the API.

The lowest layer of picfind besides ``errors``: plain data, no behaviour that
needs another module (so every other module may import it, and it imports none).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class SparseClasses:
    """A document's top classes, highest first; ``ids`` uint16, ``probs`` float32."""

    ids: npt.NDArray[np.uint16]
    probs: npt.NDArray[np.float32]


@dataclass(frozen=True)
class Features:
    """What the model says of one image, as the stores keep it."""

    classes: SparseClasses
    embedding: npt.NDArray[np.float32]  # (D,), unit norm

    def finite(self) -> bool:
        """Whether every number is finite as a store keeps it (the embedding in float16):
        NaN or infinity never enter a store."""
        with np.errstate(over="ignore", invalid="ignore"):
            stored = np.asarray(self.embedding, dtype=np.float16)
        return bool(np.isfinite(stored).all() and np.isfinite(self.classes.probs).all())


@dataclass(frozen=True)
class ImageText:
    """The text read in one image, as the stores keep it (docs/ocr.md, "Stored per photo").

    ``record`` is ``picfind.ocr.ReadText.to_dict()`` (lines, confidences, 0–1 boxes;
    None when reading failed, ``failure`` then says why); ``text`` the plain lines
    joined by newlines ('' when the photo shows none); ``version`` the reader's
    (``Reader.version``), so a new reader reads again. Kept with the content it was
    read from: a file whose content changes is a new row, without text.
    """

    version: str
    text: str
    record: dict[str, Any] | None = None
    failure: str | None = None


@dataclass(frozen=True)
class FileState:
    """What the walk saw of a file: enough to tell unchanged from changed."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class StoredFile:
    """A store's row for one indexed file; ``features`` only when they were asked for."""

    id: str
    path: str
    size: int
    mtime_ns: int
    content_hash: str
    width: int = 0
    height: int = 0
    format: str = ""
    features: Features | None = None
    meta_version: int = 0
    """Which metadata reader filled the row's capture fields (0: none yet, a v1 row)."""
    metadata: Capture | None = None
    """The capture metadata fields, only when asked for (``rows(metadata=True)``)."""
    text_version: str | None = None
    """The reader version of the text stored for this row (None: no text read yet)."""
    text: ImageText | None = None
    """The text read in the image, only when attached (``Store.texts``; the "why")."""


@dataclass(kw_only=True)
class Capture:
    """When, where and with what a photo was taken (``stages.metadata`` reads it from the
    file's header; docs/metadata.md); None where the file says nothing.

    The one declaration of the capture fields: :class:`Fields` (what the stages wrote)
    and :class:`ImageRecord` (what a store keeps) are both a ``Capture``, so the fields
    keep their flat names (``record.taken_day``) in the records, the stores and the JSON.
    """

    taken: str | None = None
    """Local wall-clock capture time as written, ISO: "2019-07-14T12:34:56"."""
    taken_day: int | None = None
    """The local calendar day as a number, 20190714: what date terms and ranges compare."""
    taken_md: int | None = None
    """Month × 100 + day, 714: what yearly terms (christmas, july) compare."""
    utc_offset: int | None = None
    """Minutes east of UTC, when the file says."""
    taken_source: str | None = None
    """The tag the date came from ("DateTimeOriginal", "xmp:CreateDate", …)."""
    lat: float | None = None
    lon: float | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    country_code: str | None = None
    place_label: str | None = None
    place_keys: tuple[str, ...] | None = None
    """Folded place names the photo answers to ("paris", "ile de france", "france", …)."""
    make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    camera: str | None = None
    camera_keys: tuple[str, ...] | None = None
    """Folded camera names ("apple", "apple iphone 12", "iphone 12", "iphone")."""
    meta_version: int | None = None
    """The metadata reader's version that filled these (always written by the stage)."""

    def metadata(self) -> dict[str, object]:
        """The capture fields by name (None where the file said nothing)."""
        return {name: getattr(self, name) for name in METADATA_FIELDS}


METADATA_FIELDS = tuple(f.name for f in dataclasses.fields(Capture))
"""The fields of capture metadata (``stages.metadata`` writes them; both stores keep them)."""


@dataclass
class Fields(Capture):
    """Document fields the pipeline's stages write; None means "not written".

    Each stage declares which of these it writes. Every field here is also a field
    of :class:`ImageRecord` (``tests/test_pipeline.py`` checks), so a new signal
    adds its fields to both, and its columns to the stores.
    """

    format: str | None = None
    width: int | None = None
    height: int | None = None
    features: Features | None = None
    # and the capture fields of ``Capture``
    text: ImageText | None = None

    def written(self) -> dict[str, object]:
        """The fields a stage has set, by name (what a partial update writes)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }


@dataclass
class ImageRecord(Capture):
    """One indexed image: a file, its capture metadata and its features.

    Not frozen only because ``Capture`` is shared with the mutable ``Fields`` (a dataclass
    cannot mix both); nothing changes a record once built."""

    id: str
    path: str
    content_hash: str
    size: int
    mtime_ns: int
    width: int
    height: int
    format: str
    features: Features
    # … and the capture fields of ``Capture``
    text: ImageText | None = None

    @classmethod
    def build(
        cls, image_id: str, file: FileState, content_hash: str, fields: Fields
    ) -> ImageRecord:
        """A record from what the stages wrote (features are required)."""
        if fields.features is None:
            raise ValueError(f"no features for {file.path}")
        return cls(
            image_id,
            file.path,
            content_hash,
            file.size,
            file.mtime_ns,
            fields.width or 0,
            fields.height or 0,
            fields.format or "",
            fields.features,
            **{name: getattr(fields, name) for name in METADATA_FIELDS},
            text=fields.text,
        )


@dataclass(frozen=True)
class Label:
    """An ImageNet class (a WordNet synset) with its probability."""

    wnid: str
    name: str
    score: float

    def to_json(self) -> dict[str, object]:
        """The label as the JSON contract shows it."""
        return {"wnid": self.wnid, "name": self.name, "score": round(float(self.score), 6)}


@dataclass(frozen=True)
class Why:
    """One reason a result matched: a query term, the signal and what in the stored
    document it matched (``via``: a class, a place, a date, a word read), and the
    score that match contributed ("dog" via "boxer" 0.99)."""

    signal: str
    term: str
    via: str
    score: float

    def to_json(self) -> dict[str, object]:
        """The reason as the JSON contract shows it."""
        return {
            "signal": self.signal,
            "term": self.term,
            "via": self.via,
            "score": round(float(self.score), 6),
        }

    def __str__(self) -> str:
        return f"{self.term} ← {self.via} {self.score:.2f}"


@dataclass(frozen=True)
class Hit:
    """A store's answer for one document: its id and score."""

    id: str
    score: float


@dataclass(frozen=True)
class Result:
    """One ranked search result, as the CLI's JSON contract shows it."""

    rank: int
    id: str
    path: str
    score: float
    labels: list[Label]
    why: list[Why] | None = None
    """Why it matched, best reason first (a words search; None for search by image)."""

    def to_json(self) -> dict[str, object]:
        """The result as the JSON contract shows it (``why`` for a words search)."""
        out: dict[str, object] = {
            "rank": self.rank,
            "id": self.id,
            "path": self.path,
            "score": round(float(self.score), 6),
            "labels": [label.to_json() for label in self.labels],
        }
        if self.why is not None:
            out["why"] = [w.to_json() for w in self.why]
        return out


@dataclass(frozen=True)
class SearchResults:
    """A page of results; ``total`` counts every match, not just this page."""

    mode: str
    total: int
    results: list[Result]
    query: str = ""
    parsed: dict[str, object] | None = None
    """A words search: how each term was read (``text``, ``clauses`` of ``terms`` with
    their ``readings``), as plain JSON data."""
    corrections: list[dict[str, object]] = field(default_factory=list)
    """A words search: the spelling corrections made ("retreiver" → retriever)."""

    def to_json(self) -> dict[str, object]:
        """The page as the JSON contract shows it (a words search adds ``query``, how
        the words were read, and ``corrections``)."""
        out: dict[str, object] = {
            "mode": self.mode,
            "total": self.total,
            "results": [r.to_json() for r in self.results],
        }
        if self.parsed is not None:
            out["query"] = self.parsed
            out["corrections"] = self.corrections
        return out


@dataclass(frozen=True)
class Skipped:
    """A path an indexing run did not index, and why.

    ``keep`` marks a failure to *read* (permission denied, an I/O error, a folder
    that could not be listed): the rows the index holds at or under the path are
    kept, because the file may well still be there. Other skips (not an image, too
    large) mean the file's content cannot be indexed, so its old row goes.
    """

    path: str
    reason: str
    keep: bool = False


@dataclass
class IndexReport:
    """The summary of an ``index`` run (the CLI's ``--json`` contract)."""

    indexed: int = 0
    unchanged: int = 0
    moved: int = 0
    removed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    backfilled: int = 0
    """Rows already indexed whose capture metadata this run read (from an older schema)."""

    @property
    def images_per_second(self) -> float:
        """Images indexed per second of the run."""
        return self.indexed / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, object]:
        """The report as the JSON contract shows it."""
        return {
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "moved": self.moved,
            "removed": self.removed,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 2),
            "backfilled": self.backfilled,
        }


@dataclass(frozen=True)
class Progress:
    """How far a pipeline run is: reported after each batch."""

    done: int
    total: int
    indexed: int
    skipped: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Files finished per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far (None before there is a rate)."""
        return (self.total - self.done) / self.rate if self.rate > 0 else None


@dataclass(frozen=True)
class Stats:
    """What ``picfind stats`` shows of an index."""

    images: int
    model: str
    index_bytes: int
    last_run: dict[str, object] | None = None
    schema: int | None = None
    """The store's schema version (SQLite ``user_version``, the cluster's ``_meta``)."""
    migrated: dict[str, object] | None = None
    """The last migration: ``{"from": 1, "to": 2, "at": epoch seconds}``."""
    metadata: MetadataCoverage | None = None
    texts: int = 0
    """Images with text read in them (the OCR pass)."""

    def to_json(self) -> dict[str, object]:
        """The stats as the JSON contract shows them."""
        out: dict[str, object] = {
            "images": self.images,
            "model": self.model,
            "index_bytes": self.index_bytes,
            "texts": self.texts,
        }
        if self.last_run is not None:
            out["last_run"] = self.last_run
        if self.schema is not None:
            out["schema"] = self.schema
        if self.migrated is not None:
            out["migrated"] = self.migrated
        if self.metadata is not None:
            out["metadata"] = dataclasses.asdict(self.metadata)
        return out


@dataclass(frozen=True)
class MetadataCoverage:
    """How many rows carry each capture signal, and how many still wait for a backfill."""

    read: int
    """Rows whose header the metadata stage has read."""
    pending: int
    """Rows not read yet (indexed before schema 2): the next ``picfind index`` reads them."""
    dated: int
    placed: int
    camera: int


@dataclass(frozen=True)
class ImageDetails:
    """Everything an index stores about one image (``picfind show``)."""

    row: StoredFile
    labels: list[Label]

    def to_json(self) -> dict[str, object]:
        """``picfind show --json``: the file, its top classes, capture time, place, camera."""
        r, m = self.row, self.row.metadata or Capture()
        taken = None
        if m.taken is not None:
            taken = {"local": m.taken, "utc_offset_minutes": m.utc_offset, "source": m.taken_source}
        place = None
        if m.lat is not None or m.place_keys:
            place = {
                "label": m.place_label, "city": m.city, "region": m.region,
                "country": m.country, "country_code": m.country_code,
                "lat": m.lat, "lon": m.lon, "keys": list(m.place_keys or ()),
            }  # fmt: skip
        camera = None
        if m.camera is not None or m.make is not None or m.lens is not None:
            camera = {
                "name": m.camera, "make": m.make, "model": m.camera_model, "lens": m.lens,
                "keys": list(m.camera_keys or ()),
            }  # fmt: skip
        return {
            "id": r.id,
            "path": r.path,
            "size": r.size,
            "mtime_ns": r.mtime_ns,
            "content_hash": r.content_hash,
            "width": r.width,
            "height": r.height,
            "format": r.format,
            "labels": [label.to_json() for label in self.labels],
            "taken": taken,
            "place": place,
            "camera": camera,
            "meta_version": r.meta_version,
            "text": _text_json(r.text),
        }


def _text_json(text: ImageText | None) -> dict[str, object] | None:
    """``picfind show --json``'s read text: the lines with confidences and boxes (0–1
    corners in reading order, and each word's), or why reading failed; None: not read."""
    if text is None:
        return None
    record = text.record or {}
    return {
        "text": text.text,
        "lines": list(record.get("lines", [])),
        "width": record.get("width"),
        "height": record.get("height"),
        "version": text.version,
        "failure": text.failure,
    }
