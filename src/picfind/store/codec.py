"""What both stores share: image ids, paths as stored text, features as bytes and vectors.

One module so the embedded and the cluster store cannot drift apart in how they
name, encode or decode a document.

Paths. A file name need not be UTF-8 (``os.fsdecode`` turns the stray bytes into
lone surrogates, U+DC80–U+DCFF), but neither SQLite's text nor JSON can carry
lone surrogates. :func:`encode_path` maps each one to two characters — the
escape U+10FFFD and a code point of plane 16 — and the escape itself to two
escapes; :func:`decode_path` undoes it exactly, so ``os.fsencode`` of a stored
path gives back the original bytes. The mapping works character by character
and leaves "/" alone, so a folder's prefix is still a prefix of its files.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from picfind.errors import StoreError
from picfind.records import METADATA_FIELDS, Fields, ImageRecord, SparseClasses
from picfind.scoring import NUM_CLASSES, ConceptColumns
from picfind.vocabulary import Vocabulary

_ESCAPE = "\U0010fffd"
_PLANE16 = 0x100000
_NEEDS_ESCAPE = re.compile("[\ud800-\udfff\U0010fffd]")
_ESCAPED = re.compile("\U0010fffd(.)", re.DOTALL)


def make_id(content_hash: str, path: str, salt: int = 0) -> str:
    """A stable id: fixed at first indexing, kept when the file moves."""
    text = f"{content_hash}\0{path}\0{salt}"
    try:
        data = text.encode("utf-8", "surrogateescape")  # a non-UTF-8 name: its own bytes
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def folder_prefix(folder: str) -> str:
    """What every path inside ``folder`` starts with ("/a/cat" never matches "/a/cats/x")."""
    return folder.rstrip("/") + "/"


def under_prefix(folder: str) -> tuple[str, str]:
    """The [low, high) range of stored path text inside ``folder``."""
    base = encode_path(folder_prefix(folder))
    return base, base[:-1] + chr(ord("/") + 1)


def encode_path(path: str) -> str:
    """A path as stored text: valid Unicode whatever bytes the file name had."""
    if not _NEEDS_ESCAPE.search(path):
        return path

    def escape(m: re.Match[str]) -> str:
        c = m.group(0)
        if c == _ESCAPE:
            return _ESCAPE + _ESCAPE
        return _ESCAPE + chr(_PLANE16 + ord(c) - 0xD800)

    return _NEEDS_ESCAPE.sub(escape, path)


def decode_path(text: str) -> str:
    """The path (with lone surrogates for non-UTF-8 bytes) back from stored text."""
    if _ESCAPE not in text:
        return text

    def unescape(m: re.Match[str]) -> str:
        c = m.group(1)
        if c == _ESCAPE:
            return _ESCAPE
        return chr(0xD800 + ord(c) - _PLANE16)

    return _ESCAPED.sub(unescape, text)


# --- features ---------------------------------------------------------------------------


def class_blobs(classes: SparseClasses) -> tuple[bytes, bytes]:
    """(uint16 ids, float32 probabilities) as bytes, most probable first."""
    return (
        np.asarray(classes.ids, dtype=np.uint16).tobytes(),
        np.asarray(classes.probs, dtype=np.float32).tobytes(),
    )


def classes_from_blobs(ids: bytes, probs: bytes) -> SparseClasses:
    return SparseClasses(
        np.frombuffer(ids, dtype=np.uint16).copy(), np.frombuffer(probs, dtype=np.float32).copy()
    )


def padded_classes(
    blobs: Sequence[tuple[bytes, bytes]], k: int
) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Many rows' class blobs as padded (n, k) ids and probabilities, and each row's length."""
    n = len(blobs)
    ids = np.zeros((n, k), dtype=np.uint16)
    probs = np.zeros((n, k), dtype=np.float32)
    lengths = np.zeros(n, dtype=np.int64)
    for i, (id_blob, prob_blob) in enumerate(blobs):
        row_ids = np.frombuffer(id_blob, dtype=np.uint16)
        m = row_ids.shape[0]
        ids[i, :m] = row_ids
        probs[i, :m] = np.frombuffer(prob_blob, dtype=np.float32)
        lengths[i] = m
    return ids, probs, lengths


def embedding_blob(embedding: npt.ArrayLike) -> bytes:
    """float16: both stores rank the same rounded vectors."""
    return np.asarray(embedding, dtype=np.float16).tobytes()


def embedding_from_blob(blob: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


def embeddings_from_blobs(blobs: Sequence[bytes], dim: int) -> npt.NDArray[np.float32]:
    """Many rows' embedding blobs as one (n, dim) float32 matrix."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return (
        np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), dim).astype(np.float32)
    )


def rounded_embedding(embedding: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The embedding as a store keeps it (float16 precision), as float32."""
    return np.asarray(embedding, dtype=np.float16).astype(np.float32)


def dense_classes(classes: SparseClasses) -> npt.NDArray[np.float32]:
    """(NUM_CLASSES,) probabilities: the stored top classes, zero elsewhere."""
    dense = np.zeros(NUM_CLASSES, dtype=np.float32)
    dense[np.asarray(classes.ids, dtype=np.intp)] = classes.probs
    return dense


def dense_weights(weights: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Query weights η as a checked (NUM_CLASSES,) float32 vector."""
    w = np.asarray(weights, dtype=np.float32)
    if w.shape != (NUM_CLASSES,):
        raise ValueError(f"class weights must have shape ({NUM_CLASSES},), got {w.shape}")
    return w


@functools.cache
def concept_columns() -> ConceptColumns:
    """The broad WordNet concepts (≥ 8 classes) whose masses both stores precompute."""
    vocab = Vocabulary.load()
    return ConceptColumns.from_concepts({w: c.classes for w, c in vocab.concepts.items()})


UPDATABLE_FIELDS = ("format", "width", "height", *METADATA_FIELDS)
"""Fields a stage may write on a stored row (a new signal adds its own, and its columns)."""


def updated_fields(fields: Fields) -> dict[str, object]:
    """What an update writes: the fields set, which must be updatable (features never are:
    they change only with new content, which is a new row). Capture metadata is one
    record: when ``meta_version`` is written, every capture field is, None included, so a
    re-read clears what a file no longer says."""
    written = fields.written()
    if "meta_version" in written:
        written.update({name: getattr(fields, name) for name in METADATA_FIELDS})
    unknown = set(written) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)} of a stored row")
    return written


def refuse_non_finite(records: Iterable[ImageRecord]) -> None:
    """NaN or infinity never enter a store: they would empty or poison every ranking."""
    bad = [r.path for r in records if not r.features.finite()]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise StoreError(f"refused to store features that are not finite (NaN or inf): {shown}")


KEY_FIELDS = {"place_keys": "place", "camera_keys": "camera"}
"""Metadata fields that are lists of folded names (a keys table, a keyword array), by kind."""
META_COLUMNS = tuple(f for f in METADATA_FIELDS if f not in KEY_FIELDS)
"""Metadata fields that are one value each (a column, a field)."""
