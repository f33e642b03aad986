"""``picfind reindex``: rebuild a cluster index and swap its alias atomically.

Searches keep answering from the old index until the alias moves in one
request; an indexing run is kept out by the writer lock meanwhile.
"""

from __future__ import annotations

import click

from picfind.cli import (
    _cluster_layout_options,
    _cluster_options,
    _emit_json,
    _json_option,
    _out,
    cli,
    cluster_options_from,
)
from picfind.errors import UsageError


@cli.command()
@click.option(
    "--url",
    envvar="PICFIND_URL",
    metavar="URL",
    help="The OpenSearch/Elasticsearch endpoint (env PICFIND_URL).",
)
@_cluster_options
@_cluster_layout_options
@click.option("--keep-old", is_flag=True, help="Keep the old index instead of deleting it.")
@_json_option
def reindex(url: str | None, keep_old: bool, as_json: bool) -> None:
    """Copy a cluster index into a new one (new layout, shards, replicas) and swap the alias."""
    from picfind.store.cluster import ClusterStore

    if not url:
        raise UsageError("reindex needs --url (or PICFIND_URL): it works on cluster indexes only")
    opts = cluster_options_from()
    ctx = click.get_current_context()
    store = ClusterStore(url, opts)
    try:
        with store.writer_lock():
            out = store.reindex(
                layout=ctx.meta.get("picfind.cluster.layout"),
                shards=ctx.meta.get("picfind.cluster.shards"),
                replicas=ctx.meta.get("picfind.cluster.replicas"),
                keep_old=keep_old,
            )
    finally:
        store.close()
    if as_json:
        _emit_json(out)
        return
    _out(
        f"reindexed {out['documents']} documents from {out['old']} into {out['new']} "
        f"({out['layout']} layout, {out['shards']} shards, {out['replicas']} replicas) "
        f"in {out['seconds']} s; alias {store.alias!r} now points to {out['new']}"
    )
