"""The command line: parses, calls the library, formats. Nothing else lives here.

Results go to stdout (a table, or one JSON object with ``--json``); progress,
warnings and errors to stderr (all through ``picfind.output``). Errors are one
line; exit code 2 for a user's mistake, 1 for anything else, 130 when
interrupted.

Command modules (``picfind.commands``) build on the public helpers here: the
``cli`` group, the option decorators (``index_options``, ``index_dir_option``,
``cluster_options``, ``cluster_layout_options``, ``json_option``),
``open_index_from`` and ``cluster_options_from``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from picfind import api, sheet
from picfind.errors import PicfindError, UsageError
from picfind.models import DEFAULT_MODEL, MODELS, resolve_model_name
from picfind.output import OutputClosed, ProgressBar, emit_json, out, shown, warn
from picfind.records import SearchResults, Why
from picfind.search import DEFAULT_MODE, MODES, capture_filter
from picfind.store.base import SORTS

if TYPE_CHECKING:
    from picfind.store.cluster.connection import ClusterOptions

F = TypeVar("F", bound=Callable[..., Any])


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Keep a cluster option in ``ctx.meta`` (commands need not name them all)."""
    if value is not None:
        ctx.meta[f"picfind.cluster.{param.name}"] = value
    return value


def cluster_options(f: F) -> F:
    """Credentials and index name of an OpenSearch/Elasticsearch endpoint (with --url)."""
    for name, env, metavar, text in reversed(_CLUSTER_OPTIONS):
        f = click.option(
            name,
            envvar=env,
            metavar=metavar,
            expose_value=False,
            callback=_remember,
            help=text,
        )(f)
    return f


_CLUSTER_OPTIONS = (
    ("--user", "PICFIND_USER", "NAME", "Basic-auth user for --url (env PICFIND_USER)."),
    ("--password", "PICFIND_PASSWORD", "SECRET", "Basic-auth password (env PICFIND_PASSWORD)."),
    ("--api-key", "PICFIND_API_KEY", "KEY", "API key for --url (env PICFIND_API_KEY)."),
    ("--ca-file", "PICFIND_CA_FILE", "PEM", "CA certificate(s) for https (env PICFIND_CA_FILE)."),
    (
        "--cluster-index",
        "PICFIND_CLUSTER_INDEX",
        "NAME",
        "Alias of the index on the cluster (env PICFIND_CLUSTER_INDEX; default picfind).",
    ),
)


def cluster_layout_options(f: F) -> F:
    """How a new cluster index is laid out (index and reindex)."""
    f = click.option(
        "--replicas",
        type=click.IntRange(0),
        expose_value=False,
        callback=_remember,
        help="Replicas of a new cluster index (default: the cluster's).",
    )(f)
    f = click.option(
        "--shards",
        type=click.IntRange(1),
        expose_value=False,
        callback=_remember,
        help="Primary shards of a new cluster index (default: the cluster's).",
    )(f)
    return click.option(
        "--layout",
        type=click.Choice(["picfind", "paper"]),
        expose_value=False,
        callback=_remember,
        help="Mapping of a new cluster index: picfind (default) or the paper's script_score one.",
    )(f)


def cluster_options_from(ctx: click.Context | None = None) -> ClusterOptions:
    """The ClusterOptions the command line gave (for ``picfind.commands``)."""
    from picfind.store.cluster.connection import ClusterOptions

    ctx = ctx or click.get_current_context()
    given = {
        k.removeprefix("picfind.cluster."): v
        for k, v in ctx.meta.items()
        if k.startswith("picfind.cluster.")
    }
    given["name"] = given.pop("cluster_index", None)
    return ClusterOptions.from_env(**given)


def index_options(f: F) -> F:
    """--index and --url, shared by every command that reads or writes an index."""
    f = cluster_options(f)
    f = click.option(
        "--url",
        envvar="PICFIND_URL",
        metavar="URL",
        help="An OpenSearch/Elasticsearch endpoint instead of an embedded index (env PICFIND_URL).",
    )(f)
    return index_dir_option(f)


def index_dir_option(f: F) -> F:
    """--index alone, for commands that work on embedded indexes only."""
    return click.option(
        "--index",
        "index_dir",
        envvar="PICFIND_INDEX",
        metavar="DIR",
        type=click.Path(file_okay=False),
        help="Embedded index folder (env PICFIND_INDEX; default ~/.local/share/picfind/default).",
    )(f)


def json_option(f: F) -> F:
    """--json: print one JSON object instead of text."""
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(f)


def open_index_from(index_dir: str | None, url: str | None, **kwargs: Any) -> api.Index:
    """The index that --index / --url name (the cluster options from the command line)."""
    if url:
        return api.open_index(url=url, cluster=cluster_options_from(), **kwargs)
    return api.open_index(index_dir, **kwargs)


class _WordsCommand(click.Command):
    """A command whose free words may start with '-' (``picfind search dog -cat``).

    Tokens that are not declared options are words, kept in order after the
    options, so ``-cat`` is never read as ``-c -a -t`` and ``-hound`` not as ``-h``.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value: dict[str, bool] = {}
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                for name in [*param.opts, *param.secondary_opts]:
                    takes_value[name] = not (param.is_flag or param.count)
        options: list[str] = []
        words: list[str] = []
        it = iter(args)
        for token in it:
            if token == "--":
                words.extend(it)
                break
            name = token.split("=", 1)[0]
            if name in takes_value:
                options.append(token)
                if takes_value[name] and "=" not in token:
                    value = next(it, None)
                    if value is not None:
                        options.append(value)
            else:
                words.append(token)
        return super().parse_args(ctx, [*options, "--", *words])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="picfind")
def cli() -> None:
    """Find images by image and by words.

    Index folders once (picfind index ~/Pictures), then search them:
    picfind search dog, picfind search --image photo.jpg.
    """


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@index_options
@click.option(
    "--model",
    default=None,
    metavar="NAME",
    help=f"Model for a new index: {', '.join(MODELS)} (default {DEFAULT_MODEL}).",
)
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip matching files/folders.")
@click.option("--hidden", is_flag=True, help="Include hidden files and folders.")
@click.option(
    "--follow-outside-links",
    is_flag=True,
    help="Also index what symbolic links point to outside the given folders (skipped by default).",
)
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1, 1024))
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, no skipped-file lines.")
@cluster_layout_options
@json_option
def index(
    paths: tuple[str, ...],
    index_dir: str | None,
    url: str | None,
    model: str | None,
    exclude: tuple[str, ...],
    hidden: bool,
    follow_outside_links: bool,
    batch_size: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Index image files and folders (recursively); re-runs process only what changed."""
    for path in paths:  # checked before anything is created
        if not os.path.exists(path):
            raise UsageError(f"no such file or folder: {path}")
    if model is not None:
        model = resolve_model_name(model)
    idx = open_index_from(index_dir, url, model=model, create=True)
    bar = ProgressBar(enabled=None if not quiet else False)
    try:
        report = idx.add(
            list(paths),
            exclude=exclude,
            include_hidden=hidden,
            follow_outside_links=follow_outside_links,
            batch_size=batch_size,
            progress=bar,
        )
    finally:
        bar.close()
        idx.close()
    if as_json:
        emit_json(report.to_json())
        return
    if not quiet:
        for s in report.skipped:
            warn(f"skipping {shown(s.path)}: {s.reason}")
    backfilled = f", backfilled {report.backfilled}" if report.backfilled else ""
    out(
        f"indexed {report.indexed}, unchanged {report.unchanged}, moved {report.moved}, "
        f"removed {report.removed}, skipped {len(report.skipped)}{backfilled} "
        f"in {report.seconds:.1f} s ({report.images_per_second:.1f} images/s)"
    )


@cli.command(cls=_WordsCommand)
@click.argument("words", nargs=-1)
@click.option("--image", "image", metavar="FILE|ID", help="Search by image: a file or an id.")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default=DEFAULT_MODE,
    show_default=True,
    help="How images are compared (search by image).",
)
@click.option("--limit", "-n", default=10, show_default=True, type=click.IntRange(0, 10000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@click.option("--under", metavar="FOLDER", help="Only results inside this folder.")
@click.option("--after", metavar="DATE", help="Taken on or after YYYY, YYYY-MM or YYYY-MM-DD.")
@click.option("--before", metavar="DATE", help="Taken before YYYY, YYYY-MM or YYYY-MM-DD.")
@click.option("--place", metavar="NAME", help='Taken in or near a place ("paris", "japan").')
@click.option("--camera", metavar="NAME", help='Taken with a camera ("iphone", "nikon d750").')
@click.option(
    "--sort",
    type=click.Choice(SORTS),
    default="relevance",
    show_default=True,
    help="Order of a words search: best match, or newest capture first.",
)
@click.option("--sheet", "sheet_path", metavar="OUT.jpg", help="Write a contact sheet image.")
@click.option("--why", "show_why", is_flag=True, help="Show every reason each result matched.")
@index_options
@json_option
def search(
    words: tuple[str, ...],
    image: str | None,
    mode: str,
    limit: int,
    offset: int,
    under: str | None,
    after: str | None,
    before: str | None,
    place: str | None,
    camera: str | None,
    sort: str,
    sheet_path: str | None,
    show_why: bool,
    index_dir: str | None,
    url: str | None,
    as_json: bool,
) -> None:
    """Search by words (picfind search golden retriever) or by image (--image FILE),
    optionally only photos taken in a date range, a place or with a camera."""
    if image and words:
        raise UsageError("give either words or --image, not both")
    if not image and not words:
        raise UsageError("give words to search for, or --image FILE")
    where = capture_filter(after=after, before=before, place=place, camera=camera, sort=sort)
    with open_index_from(index_dir, url) as idx:
        if image:
            results = idx.search_image(
                image,
                mode=mode,  # type: ignore[arg-type]
                limit=limit,
                offset=offset,
                under=under,
                where=where,
            )
        else:
            results = idx.search_words(
                list(words), limit=limit, offset=offset, under=under, where=where
            )
    if sheet_path:
        _write_sheet(sheet_path, results, image, " ".join(words))
    if as_json:
        emit_json(results.to_json())
        return
    _print_results(results, show_why)


def _print_results(results: SearchResults, show_why: bool = False) -> None:
    """One line per result (a words search: the best reason of each term before the
    labels); ``show_why``: every reason on the lines after it."""
    for c in results.corrections:
        warn(f"searching {c['corrected']} for {c['typed']} (spelling)")
    for r in results.results:
        labels = ", ".join(f"{label.name} {label.score:.2f}" for label in r.labels)
        best: dict[str, Why] = {}
        for w in r.why or []:
            best.setdefault(w.term, w)  # reasons come best first within each term
        reason = "  " + "; ".join(str(w) for w in best.values()) if best else ""
        out(f"{r.rank:>4}  {r.score:8.4f}  {shown(r.path)}{reason}  [{labels}]")
        if show_why:
            for w in r.why or []:
                out(f"{'':>16}{w.signal}: {w}")
    count = len(results.results)
    query = f" for {results.query}" if results.query else ""
    warn(f"{count} of {results.total} results ({results.mode}){query}")


def _write_sheet(out: str, results: SearchResults, image: str | None, words: str) -> None:
    tiles = []
    if image and os.path.exists(image):
        tiles.append(sheet.Tile(image, ("query", os.path.basename(image))))
    for r in results.results:
        top = r.labels[0].name if r.labels else ""
        tiles.append(sheet.Tile(r.path, (f"#{r.rank}  {r.score:.3f}", top)))
    if not tiles:
        raise UsageError("no results to put on a contact sheet")
    title = f"picfind: {words or image} ({results.mode}, {results.total} matches)"
    sheet.save(sheet.render(tiles, title=title), out)


@cli.command()
@click.argument("file", type=click.Path())
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--model", default=DEFAULT_MODEL, show_default=True, metavar="NAME")
@json_option
def predict(file: str, top: int, model: str, as_json: bool) -> None:
    """Top ImageNet classes of one image (WordNet id, words, probability)."""
    if not os.path.exists(file):
        raise UsageError(f"no such file: {file}")
    prediction = api.predict(file, model=model, top=top)
    if as_json:
        emit_json(prediction.to_json())
        return
    for label in prediction.labels:
        out(f"{label.score:8.4f}  {label.wnid}  {label.name}")


@cli.command()
@index_options
@json_option
def stats(index_dir: str | None, url: str | None, as_json: bool) -> None:
    """Images, model, index size and the last indexing run."""
    with open_index_from(index_dir, url) as idx:
        s = idx.stats()
    if as_json:
        emit_json(s.to_json())
        return
    out(f"images      {s.images}")
    out(f"model       {s.model}")
    out(f"index size  {s.index_bytes / 1e6:.1f} MB")
    if s.schema is not None:
        migrated = ""
        if s.migrated:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(s.migrated["at"])))  # type: ignore[arg-type]
            migrated = f" (migrated from {s.migrated['from']} on {when})"
        out(f"schema      {s.schema}{migrated}")
    if s.metadata is not None:
        m = s.metadata
        pending = f", {m.pending} to read on the next 'picfind index'" if m.pending else ""
        out(
            f"metadata    read {m.read}{pending}; dated {m.dated}, with a place {m.placed}, "
            f"with a camera {m.camera}"
        )
    if s.last_run:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(s.last_run["finished_at"])))  # type: ignore[arg-type]
        out(
            f"last run    {when}: indexed {s.last_run.get('indexed')}, "
            f"skipped {s.last_run.get('skipped')}, removed {s.last_run.get('removed')}"
        )


@cli.command()
@click.argument("ref", metavar="ID|PATH")
@index_options
@json_option
def show(ref: str, index_dir: str | None, url: str | None, as_json: bool) -> None:
    """Everything the index holds about one image: file, classes, date, place, camera."""
    with open_index_from(index_dir, url) as idx:
        details = idx.show(ref)
    doc = details.to_json()
    if as_json:
        emit_json(doc)
        return
    out(f"id          {doc['id']}")
    out(f"path        {shown(details.row.path)}")
    out(f"file        {doc['format'] or '?'} {doc['width']}x{doc['height']}, {doc['size']} bytes")
    modified = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(details.row.mtime_ns / 1e9))
    out(f"modified    {modified} (file time, not the capture time)")
    for label in details.labels:
        out(f"class       {label.score:.3f}  {label.name}")
    for line in _capture_lines(doc):
        out(line)


def _capture_lines(doc: dict[str, Any]) -> list[str]:
    """``picfind show``'s lines for capture time, place and camera."""
    lines: list[str] = []
    taken, place, camera = doc["taken"], doc["place"], doc["camera"]
    if taken is None:
        read = (
            "not read yet: run 'picfind index'" if not doc["meta_version"] else "none in the file"
        )
        lines.append(f"taken       ({read})")
    else:
        offset = taken["utc_offset_minutes"]
        zone = (
            ""
            if offset is None
            else f" {'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
        )
        lines.append(f"taken       {taken['local'].replace('T', ' ')}{zone} ({taken['source']})")
    if place is not None:
        gps = f"GPS {place['lat']:.5f}, {place['lon']:.5f}" if place["lat"] is not None else ""
        lines.append(f"place       {', '.join(p for p in (place['label'], gps) if p)}")
    if camera is not None:
        name = camera["name"] or camera["make"] or ""
        lines.append(f"camera      {name}" + (f", lens {camera['lens']}" if camera["lens"] else ""))
    return lines


@cli.command()
@index_options
@json_option
def prune(index_dir: str | None, url: str | None, as_json: bool) -> None:
    """Drop entries whose files are gone from disk."""
    with open_index_from(index_dir, url) as idx:
        removed = idx.prune()
    if as_json:
        emit_json({"removed": removed})
    else:
        out(f"removed {removed}")


def _load_commands() -> None:
    """Attach the commands of ``picfind.commands.*`` (each registers itself on ``cli``)."""
    import picfind.commands

    for module in pkgutil.iter_modules(picfind.commands.__path__):
        importlib.import_module(f"picfind.commands.{module.name}")


_load_commands()


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this; ``main`` exits with it)."""
    try:
        code = cli.main(args=argv, prog_name="picfind", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("picfind: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except UsageError as exc:
        warn(f"picfind: error: {shown(str(exc))}")
        return 2
    except PicfindError as exc:
        warn(f"picfind: error: {shown(str(exc))}")
        return 1
    except KeyboardInterrupt:
        click.echo(
            "\npicfind: interrupted; what was committed is kept, run again to resume", err=True
        )
        return 130
    except OutputClosed:
        return 0
    except Exception as exc:
        if os.environ.get("PICFIND_DEBUG"):
            traceback.print_exc()
        warn(
            f"picfind: internal error: {type(exc).__name__}: {shown(str(exc))} "
            "(set PICFIND_DEBUG=1 for a traceback)"
        )
        return 1
    return code if isinstance(code, int) else 0
