"""The REST API's JSON shapes, for the OpenAPI documentation at ``/docs``.

Search results are exactly ``picfind search --json`` (``mode``, ``total``,
``results`` of ``rank, id, path, score, labels``), with ``query`` added; stats
are ``picfind stats --json``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LabelOut(BaseModel):
    wnid: str = Field(description="WordNet id of the ImageNet class", examples=["n02099601"])
    name: str = Field(examples=["golden retriever"])
    score: float = Field(description="the class probability")


class WhyOut(BaseModel):
    signal: str = Field(description="what matched: concept (place, date, camera, text to come)")
    term: str = Field(description="the query term", examples=["dog"])
    via: str = Field(description="what in the photo matched it", examples=["boxer"])
    score: float = Field(description="what that match contributed (a class probability)")


class DuplicateOut(BaseModel):
    id: str
    path: str
    kind: str = Field(description="exact (same content) or near (a cosine ≥ 0.85 look-alike)")


class ResultOut(BaseModel):
    rank: int = Field(description="1-based position in the whole ranking")
    id: str = Field(description="the image's stable id")
    path: str
    score: float = Field(description="higher is better; comparable within one query only")
    labels: list[LabelOut] = Field(description="the image's top classes")
    why: list[WhyOut] | None = Field(
        None, description="keyword search: why it matched, best reason of each term first"
    )
    duplicates: list[DuplicateOut] | None = Field(
        None, description="with `group`: its copies folded behind it, best first"
    )


class SearchOut(BaseModel):
    mode: str = Field(description="keyword, or hybrid / classes / embedding / fused for an image")
    total: int = Field(description="every match, not just this page")
    results: list[ResultOut]
    query: str = Field("", description="the words as understood (keyword search)")
    parsed: dict[str, object] | None = Field(
        None, description="keyword search: how each term was read (picfind search --json's query)"
    )
    corrections: list[dict[str, object]] | None = Field(
        None, description="keyword search: spelling corrections (typed, corrected, distance)"
    )
    upload: str | None = Field(
        None, description="search by an uploaded photo: its key, for /api/uploads/{key}/…"
    )
    grouped: bool | None = Field(
        None, description="duplicates folded (`group`): total counts tiles"
    )
    ungrouped_total: int | None = Field(None, description="with `group`: every match, unfolded")


class TimelineItemOut(BaseModel):
    rank: int = Field(description="1-based position in the timeline")
    id: str
    path: str
    taken: str | None = Field(
        description="local capture time, ISO (2019-07-14T10:00:00); None: no date"
    )
    month: str = Field(description="the month group: 2019-07, or none", examples=["2019-07"])
    month_label: str = Field(examples=["July 2019", "No date"])
    labels: list[LabelOut] = Field(description="the image's top 3 classes")


class TimelineOut(BaseModel):
    mode: str = Field("timeline")
    total: int = Field(description="every photo the filters allow")
    results: list[TimelineItemOut]


class ImageOut(BaseModel):
    id: str
    path: str
    size: int = Field(description="bytes")
    modified: str = Field(description="the file's modification time, ISO 8601 UTC")
    mtime_ns: int
    width: int | None = Field(description="None when the file is not available")
    height: int | None
    format: str | None = Field(examples=["JPEG"])
    available: bool = Field(description="the file is still there, as it was indexed")
    labels: list[LabelOut] = Field(description="top 10 classes with probabilities")
    taken: dict[str, object] | None = Field(
        None, description="capture time: {local, utc_offset_minutes, source} (picfind show)"
    )
    place: dict[str, object] | None = Field(
        None, description="where: {label, city, region, country, country_code, lat, lon, keys}"
    )
    camera: dict[str, object] | None = Field(None, description="{name, make, model, lens, keys}")
    text: dict[str, object] | None = Field(
        None, description="text read in the photo: {text, lines, width, height, version, failure}"
    )


class ConceptsOut(BaseModel):
    prefix: str
    concepts: list[str] = Field(examples=[["golden retriever", "golf ball", "goldfish"]])


class StatsOut(BaseModel):
    images: int
    model: str
    index_bytes: int
    last_run: dict[str, object] | None = None


class RootOut(BaseModel):
    id: int = Field(description="what POST /api/jobs takes as root")
    path: str


class RootsOut(BaseModel):
    roots: list[RootOut]


class JobIn(BaseModel):
    # Strict: ``true`` is not root 1 and ``"0"`` is not 0; unknown fields are refused.
    model_config = ConfigDict(strict=True, extra="forbid")

    root: int = Field(0, description="the number of a configured root (GET /api/roots)")
    ocr: bool = Field(
        False, description="then read the text in the photos (picfind index --ocr; picfind[ocr])"
    )


class JobOut(BaseModel):
    id: str
    root: int
    path: str
    ocr: bool = Field(False, description="the OCR pass follows the indexing")
    phase: str = Field("index", description="index, or text (the OCR pass) when ocr")
    state: str = Field(description="running, done or failed")
    done: int
    total: int
    indexed: int
    skipped: int
    rate: float = Field(description="files per second")
    eta: float | None = Field(description="seconds left")
    started_at: float
    finished_at: float | None
    report: dict[str, object] | None = Field(
        description="picfind index --json, once done (with ``ocr``: the pass's summary)"
    )
    error: str | None


class JobsOut(BaseModel):
    jobs: list[JobOut]


class ErrorOut(BaseModel):
    error: str = Field(description="one readable line")
    code: str = Field(examples=["unknown_word"])
    suggestions: list[str] | None = Field(None, description="close known words")
