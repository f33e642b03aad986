"""Creating and rebuilding cluster indexes: ``set_model``, ``reindex``, every record.

An alias ``NAME`` points at one concrete index ``NAME-vN`` whose mapping ``_meta``
carries the schema version, model, layout and embedding size. ``reindex`` fills
``NAME-vN+1`` from ``_source`` and moves the alias in one ``_aliases`` request, so
searches answer from the old index until the new one is complete.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from picfind.errors import ModelMismatchError, NotFoundError, StoreError, UsageError
from picfind.models import MODELS
from picfind.records import METADATA_FIELDS, ImageRecord
from picfind.store.cluster.handle import IndexHandle
from picfind.store.cluster.mapping import (
    LAYOUTS,
    TEXT_FIELDS,
    capture_properties,
    mapping,
    source_capture,
    source_text,
)
from picfind.store.cluster.writes import REFRESH_SECONDS, Writer
from picfind.store.codec import decode_path


def set_model(handle: IndexHandle, name: str) -> None:
    """Creates the index (the embedding's dimension comes from the model). Another
    machine may create it at the same moment: then its index is the one."""
    if handle.exists():
        _same_model(handle, name)
        return
    spec = MODELS.get(name)
    if spec is None:
        raise ModelMismatchError(f"unknown model {name!r}")
    try:
        create_index(handle, next_name(handle), name, spec.embedding_dim, alias=True)
    except StoreError:
        if not handle.exists():
            raise
        _same_model(handle, name)
        return
    handle.meta = handle.read_meta()


def _same_model(handle: IndexHandle, name: str) -> None:
    model = (handle.meta or {}).get("model")
    if model != name:
        raise ModelMismatchError(f"this index was built with {model}, not {name}")


def create_index(
    handle: IndexHandle,
    index: str,
    model: str,
    dim: int,
    *,
    alias: bool,
    layout: str | None = None,
    shards: int | None = None,
    replicas: int | None = None,
) -> None:
    """A concrete index with picfind's mapping (and the alias when ``alias``)."""
    opts = handle.options
    body = mapping(
        handle.engine.distribution,
        layout or opts.layout,
        dim,
        model,
        opts.shards if shards is None else shards,
        opts.replicas if replicas is None else replicas,
        REFRESH_SECONDS,
    )
    if alias:
        body["aliases"] = {handle.alias: {}}
    handle.call(handle.client.indices.create, index=index, body=body)
    handle.call(handle.client.cluster.health, index=index, wait_for_status="yellow")


def next_name(handle: IndexHandle) -> str:
    existing = handle.call(
        handle.client.indices.get, index=f"{handle.alias}-v*", allow_no_indices=True
    )
    numbers = [
        int(name.rsplit("-v", 1)[1]) for name in existing if name.rsplit("-v", 1)[1].isdigit()
    ]
    return f"{handle.alias}-v{max(numbers, default=0) + 1}"


def records(handle: IndexHandle) -> Iterator[ImageRecord]:
    """Every stored image as a record (features from ``_source``), in path order."""
    # named, not `_source: true`: Elasticsearch 9.2+ leaves vectors out of that
    fields = ["id", "path", "size", "mtime_ns", "content_hash", "width", "height", "format"]
    capture = list(capture_properties())
    extra = TEXT_FIELDS if handle.meta and handle.meta.get("text") else []
    source = [*fields, "top", "embedding", *capture, *extra]
    for src in handle.scan({"match_all": {}}, source, page=500):
        meta = source_capture(src)
        yield ImageRecord(
            src["id"],
            decode_path(src["path"]),
            src.get("content_hash", ""),
            int(src.get("size", 0)),
            int(src.get("mtime_ns", 0)),
            int(src.get("width", 0)),
            int(src.get("height", 0)),
            src.get("format", ""),
            handle.features(src, src["id"]),
            **{name: getattr(meta, name) for name in METADATA_FIELDS},
            text=source_text(src),
        )


def reindex(
    handle: IndexHandle,
    writer: Writer,
    *,
    layout: str | None = None,
    shards: int | None = None,
    replicas: int | None = None,
    keep_old: bool = False,
) -> dict[str, object]:
    """Copy every document into a new index, then swap the alias atomically."""
    if handle.meta is None:
        raise NotFoundError(f"no picfind index {handle.alias!r} at {handle.url}")
    layout = layout or handle.layout
    if layout not in LAYOUTS:
        raise UsageError(f"unknown layout {layout!r}; choose picfind or paper")
    client = handle.client
    old = handle.concrete
    settings = handle.call(client.indices.get_settings, index=old)[old]["settings"]
    if shards is None:
        shards = int(settings["index"]["number_of_shards"])
    if replicas is None:
        replicas = int(settings["index"]["number_of_replicas"])
    new = next_name(handle)
    started = time.perf_counter()
    model = str(handle.meta["model"])
    dim = int(handle.meta.get("dim") or MODELS[model].embedding_dim)
    create_index(
        handle, new, model, dim, alias=False, layout=layout, shards=shards, replicas=replicas
    )
    try:
        copied = writer.load(records(handle), index=new, layout=layout)
        handle.call(client.indices.refresh, index=new)
        n_old = int(handle.call(client.count, index=old)["count"])
        n_new = int(handle.call(client.count, index=new)["count"])
        if n_new != n_old:
            raise StoreError(f"reindex copied {n_new} of {n_old} documents; alias not moved")
    except BaseException:
        with contextlib.suppress(Exception):
            client.indices.delete(index=new)
        raise
    handle.call(
        client.indices.update_aliases,
        body={
            "actions": [
                {"remove": {"index": old, "alias": handle.alias}},
                {"add": {"index": new, "alias": handle.alias}},
            ]
        },
    )
    if not keep_old:
        handle.call(client.indices.delete, index=old)
    handle.meta = handle.read_meta()
    return {
        "old": old,
        "new": new,
        "documents": copied,
        "layout": layout,
        "shards": shards,
        "replicas": replicas,
        "seconds": round(time.perf_counter() - started, 3),
    }
