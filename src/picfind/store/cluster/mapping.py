"""Index mappings and documents of the cluster store, in its two layouts.

* ``picfind`` (the default): metadata as keyword/numeric/date fields; the top
  classes as a ``rank_features`` field ``classes.<wnid>`` and the masses of the
  broad WordNet concepts as ``concepts.<wnid>`` (both read by ``rank_feature``
  queries through the inverted index); the embedding as ``knn_vector`` (Lucene
  HNSW, OpenSearch) or ``dense_vector`` with float HNSW (Elasticsearch).
* ``paper``: the LIARR paper's layout, ``synset.<words>.{wnid,words,score}``
  objects for all 1000 classes with ``index.mapping.total_fields.limit`` raised,
  searched with ``script_score`` over ``match_all``. Kept as a baseline for
  fidelity and the benchmark.

Both keep the exact top classes and the embedding in ``_source`` (``top``,
``embedding``): results show labels from them, ``search --image ID`` reads
features back, and the client re-scores candidates exactly from them.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np

from picfind import textnorm
from picfind.records import METADATA_FIELDS, Fields, ImageRecord, ImageText, SparseClasses
from picfind.store.codec import (
    KEY_FIELDS,
    concept_columns,
    dense_classes,
    encode_path,
    rounded_embedding,
)
from picfind.vocabulary import Vocabulary

SCHEMA_VERSION = 3
"""Bumped when documents or mappings change; recorded in ``_meta``. Version 2 added the
capture metadata (``capture_properties``): a version-1 index gets them by an additive
mapping update when opened (``handle.read_meta``), its documents untouched. Version 3:
content keys of a second kind (``picfind.hashing``: ``b3:`` BLAKE3 beside the older
bare BLAKE2b keys, which stay); an older index only has its ``_meta`` updated, and an
older picfind refuses a version-3 index instead of missing its moves."""
HASH_KINDS = {"current": "blake3-128", "prefix": "b3:", "unprefixed": "blake2b-128"}
LAYOUTS = ("picfind", "paper")
PAPER_FIELDS_LIMIT = 5000
TEXT_FIELDS = ["text", "text_words", "text_parts", "text_lines", "text_record", "text_version"]
TEXT_FIELDS += ["text_failure"]
TEXT_ANALYZER = "picfind_terms"
"""Whitespace tokens, lowercased and ASCII-folded: the tokens of ``textnorm.terms`` as
SQLite's FTS5 sees them (docs/ocr.md), so both stores match the same phrases."""


@functools.cache
def class_wnids() -> tuple[str, ...]:
    vocab = Vocabulary.load()
    return tuple(vocab.wnid_of(i) for i in range(len(vocab.classes)))


@functools.cache
def concept_matrix() -> np.ndarray:
    return concept_columns().matrix()


@functools.cache
def paper_field_names() -> tuple[str, ...]:
    """``synset.<words>`` key of each class: its words, made field-safe, unique."""
    vocab = Vocabulary.load()
    names: list[str] = []
    seen: set[str] = set()
    for i in range(len(vocab.classes)):
        words = re.sub(r"[^0-9A-Za-z]+", "_", vocab.class_name(i)).strip("_") or "class"
        if words in seen:  # "crane" and "maillot" name two classes each
            words = f"{words}_{vocab.wnid_of(i)}"
        seen.add(words)
        names.append(words)
    return tuple(names)


def _metadata_properties() -> dict[str, Any]:
    return {
        "id": {"type": "keyword"},
        "path": {"type": "keyword"},
        "content_hash": {"type": "keyword"},
        "size": {"type": "long"},
        "mtime_ns": {"type": "long"},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "format": {"type": "keyword"},
        "model": {"type": "keyword"},
        "indexed_at": {"type": "date", "format": "epoch_millis"},
        "top": {"type": "object", "enabled": False},
        **capture_properties(),
    }


def capture_properties() -> dict[str, Any]:
    """Capture metadata (docs/metadata.md): a date, a geo_point, keyword arrays of names."""
    keyword = {"type": "keyword"}
    return {
        "taken": {"type": "date", "format": "strict_date_hour_minute_second"},
        "taken_day": {"type": "integer"},
        "taken_md": {"type": "short"},
        "utc_offset": {"type": "short"},
        "taken_source": keyword,
        "location": {"type": "geo_point"},
        "city": keyword,
        "region": keyword,
        "country": keyword,
        "country_code": keyword,
        "place_label": {"type": "keyword", "index": False},
        "place_keys": keyword,
        "make": keyword,
        "camera_model": keyword,
        "lens": keyword,
        "camera": keyword,
        "camera_keys": keyword,
        "meta_version": {"type": "short"},
    }


def capture_source(fields: dict[str, object]) -> dict[str, Any]:
    """The document fields of capture metadata given by name (``lat``/``lon`` → ``location``;
    keys as lists)."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name in ("lat", "lon"):
            continue
        out[name] = list(value) if isinstance(value, tuple) else value
    if "lat" in fields or "lon" in fields:
        lat, lon = fields.get("lat"), fields.get("lon")
        out["location"] = {"lat": lat, "lon": lon} if lat is not None and lon is not None else None
    return out


def source_capture(source: dict[str, Any]) -> Fields:
    """Capture metadata back from a document's ``_source``."""
    values: dict[str, Any] = {}
    for name in METADATA_FIELDS:
        value = source.get(name)
        if name in KEY_FIELDS:
            value = tuple(value) if value else None
        values[name] = value
    location = source.get("location") or {}
    values["lat"], values["lon"] = location.get("lat"), location.get("lon")
    return Fields(**values)


def _text_properties() -> dict[str, Any]:
    """Read text (the OCR pass): terms to match, plain text and lines to show."""
    prefixes = {"min_chars": 3, "max_chars": 10}
    return {
        "text": {"type": "text", "analyzer": "standard"},
        "text_words": {"type": "text", "analyzer": TEXT_ANALYZER, "index_prefixes": prefixes},
        "text_parts": {"type": "text", "analyzer": TEXT_ANALYZER, "index_prefixes": prefixes},
        "text_lines": {"type": "integer"},
        "text_record": {"type": "object", "enabled": False},
        "text_version": {"type": "keyword"},
        "text_failure": {"type": "keyword", "index": False},
    }


def text_fields(text: ImageText) -> dict[str, Any]:
    """The document fields of an image's read text (all of them: an update replaces)."""
    terms = textnorm.terms(text.text)
    lines = len(text.text.splitlines()) if text.text else 0
    return {
        "text": text.text,
        "text_words": terms.words,
        "text_parts": terms.parts,
        "text_lines": lines,
        "text_record": text.record,
        "text_version": text.version,
        "text_failure": text.failure,
    }


def source_text(source: dict[str, Any]) -> ImageText | None:
    """A document's read text from its ``_source`` (None when none was read)."""
    version = source.get("text_version")
    if version is None:
        return None
    return ImageText(
        str(version), str(source.get("text") or ""), source.get("text_record"),
        source.get("text_failure"),
    )  # fmt: skip


def mapping(
    engine: str,
    layout: str,
    dim: int,
    model: str,
    shards: int | None,
    replicas: int | None,
    refresh_seconds: float | None = None,
) -> dict[str, Any]:
    """The body of a create-index request for one engine and layout (``refresh_seconds``:
    the engine's own refresh interval; picfind's writers refresh when a run ends)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")
    props = _metadata_properties()
    settings: dict[str, Any] = {}
    if refresh_seconds is not None:
        settings["refresh_interval"] = f"{refresh_seconds:g}s"
    if shards is not None:
        settings["number_of_shards"] = shards
    if replicas is not None:
        settings["number_of_replicas"] = replicas
    if layout == "picfind":
        props.update(_text_properties())
        settings["analysis"] = {
            "analyzer": {
                TEXT_ANALYZER: {
                    "type": "custom",
                    "tokenizer": "whitespace",
                    "filter": ["lowercase", "asciifolding"],
                }
            }
        }
        props["classes"] = {"type": "rank_features"}
        props["concepts"] = {"type": "rank_features"}
        if engine == "opensearch":
            settings["index.knn"] = True
            props["embedding"] = {
                "type": "knn_vector",
                "dimension": dim,
                "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"},
            }
        else:
            # Float HNSW, like OpenSearch's Lucene engine: Elasticsearch's default
            # (int8_hnsw from 8.14, bbq_hnsw from 9.0 for ≥ 384 dims) quantises the
            # vectors, and its scores then stray from (1 + cos) / 2 and reorder results.
            props["embedding"] = {
                "type": "dense_vector",
                "dims": dim,
                "index": True,
                "similarity": "cosine",
                "index_options": {"type": "hnsw"},
            }
    else:
        settings["index.mapping.total_fields.limit"] = PAPER_FIELDS_LIMIT
        props["embedding"] = {"type": "object", "enabled": False}
        synset = {
            name: {
                "properties": {
                    "wnid": {"type": "keyword"},
                    "words": {"type": "text"},
                    "score": {"type": "float"},
                }
            }
            for name in paper_field_names()
        }
        props["synset"] = {"properties": synset}
    meta: dict[str, Any] = {
        "picfind_schema": SCHEMA_VERSION, "model": model, "layout": layout, "dim": dim,
        "content_hash": HASH_KINDS,
    }  # fmt: skip
    if layout == "picfind":
        meta["text"] = 1  # holds the read-text fields (indices made before them do not)
    return {
        "settings": settings,
        "mappings": {"dynamic": "strict", "_meta": meta, "properties": props},
    }


def document(rec: ImageRecord, model: str, layout: str, now_ms: int) -> dict[str, Any]:
    """The ``_source`` of one image; ``_id`` is ``rec.id``."""
    ids = rec.features.classes.ids.astype(np.int64)
    probs = rec.features.classes.probs.astype(np.float32)
    emb = rounded_embedding(rec.features.embedding)  # both stores rank the same vectors
    doc: dict[str, Any] = {
        "id": rec.id,
        "path": encode_path(rec.path),
        "content_hash": rec.content_hash,
        "size": rec.size,
        "mtime_ns": rec.mtime_ns,
        "width": rec.width,
        "height": rec.height,
        "format": rec.format,
        "model": model,
        "indexed_at": now_ms,
        "top": {"ids": ids.tolist(), "probs": [float(p) for p in probs]},
        "embedding": [float(x) for x in emb],
        **capture_source(rec.metadata()),
    }
    wnids = class_wnids()
    if layout == "picfind":
        # rank_features needs strictly positive values
        doc["classes"] = {wnids[i]: float(p) for i, p in zip(ids, probs, strict=True) if p > 0}
        masses = dense_classes(rec.features.classes) @ concept_matrix()
        cols = concept_columns().wnids
        doc["concepts"] = {cols[j]: float(masses[j]) for j in np.flatnonzero(masses > 0)}
        if rec.text is not None:
            doc.update(text_fields(rec.text))
    else:
        names = paper_field_names()
        vocab = Vocabulary.load()
        doc["synset"] = {
            names[i]: {"wnid": wnids[i], "words": vocab.class_name(int(i)), "score": float(p)}
            for i, p in zip(ids, probs, strict=True)
        }
    return doc


def source_classes(source: dict[str, Any]) -> SparseClasses:
    """A document's exact top classes, from its ``top``."""
    top = source.get("top") or {}
    return SparseClasses(
        np.asarray(top.get("ids", []), dtype=np.uint16),
        np.asarray(top.get("probs", []), dtype=np.float32),
    )
