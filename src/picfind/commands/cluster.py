"""``picfind reindex``: rebuild a cluster index and swap its alias atomically.

Searches keep answering from the old index until the alias moves in one
request; indexing runs are kept out meanwhile (it holds the lease on the whole index).
"""

from __future__ import annotations

import click

from picfind.cli import (
    cli,
    cluster_layout_options,
    cluster_options,
    cluster_options_from,
    json_option,
)
from picfind.errors import UsageError
from picfind.output import emit_json, out


@cli.command()
@click.option(
    "--url",
    envvar="PICFIND_URL",
    metavar="URL",
    help="The OpenSearch/Elasticsearch endpoint (env PICFIND_URL).",
)
@cluster_options
@cluster_layout_options
@click.option("--keep-old", is_flag=True, help="Keep the old index instead of deleting it.")
@json_option
def reindex(url: str | None, keep_old: bool, as_json: bool) -> None:
    """Copy a cluster index into a new one (new layout, shards, replicas) and swap the alias."""
    from picfind.store.cluster.store import ClusterStore

    if not url:
        raise UsageError("reindex needs --url (or PICFIND_URL): it works on cluster indexes only")
    opts = cluster_options_from()
    ctx = click.get_current_context()
    store = ClusterStore(url, opts)
    try:
        with store.writer_lock():
            summary = store.reindex(
                layout=ctx.meta.get("picfind.cluster.layout"),
                shards=ctx.meta.get("picfind.cluster.shards"),
                replicas=ctx.meta.get("picfind.cluster.replicas"),
                keep_old=keep_old,
            )
    finally:
        store.close()
    if as_json:
        emit_json(summary)
        return
    out(
        f"reindexed {summary['documents']} documents from {summary['old']} into "
        f"{summary['new']} ({summary['layout']} layout, {summary['shards']} shards, "
        f"{summary['replicas']} replicas) in {summary['seconds']} s; alias {store.alias!r} "
        f"now points to {summary['new']}"
    )
