"""``picfind serve``: the web page and REST API over an index (needs picfind[web])."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import click

from picfind.cli import cli, cluster_options_from, index_options
from picfind.errors import UsageError


def cluster_cache_dir(url: str, alias: str) -> Path:
    """Where a server over a cluster keeps its thumbnails: a local cache, keyed by the
    endpoint and the alias (``$XDG_CACHE_HOME/picfind/cluster/...``)."""
    import hashlib
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    key = hashlib.blake2b(f"{url}\n{alias}".encode(), digest_size=8).hexdigest()
    return Path(base) / "picfind" / "cluster" / f"{alias}-{key}"


@cli.command()
@index_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token",
    envvar="PICFIND_TOKEN",
    metavar="TOKEN",
    help="Secret every request must carry (env PICFIND_TOKEN); required off 127.0.0.1.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Allow this web origin to call the API (repeatable); none by default.",
)
@click.option(
    "--root",
    "roots",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    metavar="FOLDER",
    help="A folder the page may start indexing (repeatable).",
)
def serve(
    index_dir: str | None,
    url: str | None,
    host: str,
    port: int,
    token: str | None,
    cors_origins: tuple[str, ...],
    roots: tuple[str, ...],
) -> None:
    """A local web page and REST API: search by words or by a photo (http://127.0.0.1:8000)."""
    try:
        from picfind import api
        from picfind.web import Settings, create_app
        from picfind.web.security import is_loopback
        from picfind.web.server import run
    except ImportError as exc:
        raise UsageError(
            f"picfind serve needs the web extra: pip install 'picfind[web]' ({exc})"
        ) from None
    if not is_loopback(host) and not token:
        raise UsageError(
            f"serving on {host} (not this machine only) needs a token: --token SECRET "
            "or PICFIND_TOKEN; every request must then carry it"
        )
    cluster = cluster_options_from() if url else None
    if url and cluster is not None:
        index = cluster_cache_dir(url, cluster.name)  # thumbnails only
    else:
        index = api.default_index_dir() if index_dir is None else Path(index_dir).expanduser()
    settings = Settings(
        index_dir=index,
        url=url or None,
        cluster=cluster,
        roots=tuple(Path(r).absolute() for r in roots),
        token=token or None,
        cors_origins=cors_origins,
        allowed_hosts=(host,),
    )
    app = create_app(settings)
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/" + (f"?token={quote(token)}" if token else "")
    what = f"{cluster.name!r} at {url}" if url and cluster is not None else str(index)
    click.echo(f"picfind: serving {what} at {address} (Ctrl-C to stop)", err=True)
    run(app, host, port)
