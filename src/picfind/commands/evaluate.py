"""``picfind eval``: retrieval quality on a labelled folder (see picfind.evaluate)."""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any

import click

from picfind.cli import cli, cluster_options, open_index_from
from picfind.errors import UsageError
from picfind.models import DEFAULT_MODEL, MODELS, resolve_model_name
from picfind.output import ProgressBar, emit_json, out
from picfind.search import MODES

if TYPE_CHECKING:
    from picfind.evaluate import Evaluation


@cli.command(name="eval")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option(
    "--index",
    "index_dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Evaluate this existing index (read only) instead of indexing FOLDER into a "
    "temporary one.",
)
@click.option(
    "--url",
    envvar="PICFIND_URL",
    metavar="URL",
    help="Evaluate this OpenSearch/Elasticsearch index (read only) instead (env PICFIND_URL).",
)
@cluster_options
@click.option(
    "--model",
    default=None,
    metavar="NAME",
    help=f"Model for the temporary index: {', '.join(MODELS)} (default {DEFAULT_MODEL}).",
)
@click.option(
    "--label-pattern",
    metavar="REGEX",
    help="Label = this regex's first group on the file name (default: the sub-folder name).",
)
@click.option(
    "--mode",
    "modes",
    multiple=True,
    type=click.Choice((*MODES, "paper")),
    help="By-image mode to measure; repeatable (default: all of them).",
)
@click.option(
    "--by-image/--no-by-image",
    default=True,
    show_default=True,
    help="Measure search by image (leave one out).",
)
@click.option(
    "--query",
    "queries",
    multiple=True,
    metavar="WORDS=LABEL[,LABEL]",
    help="A keyword query and the labels of its relevant images; repeatable.",
)
@click.option(
    "--labels-as-queries",
    is_flag=True,
    help="Also query every label by its own name ('_' read as a space).",
)
@click.option(
    "-k",
    "--k",
    "k",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Cut-off of precision@k and recall@k.",
)
@click.option(
    "--sample",
    type=click.IntRange(1),
    metavar="N",
    help="By image, only N query images, evenly spread (default: every labelled image).",
)
@click.option("--plot", "plot_path", metavar="OUT.png", help="Write precision-recall curves.")
@click.option(
    "--batch-size",
    default=32,
    show_default=True,
    type=click.IntRange(1, 1024),
    help="Images per model batch.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def eval_command(
    folder: str,
    index_dir: str | None,
    url: str | None,
    model: str | None,
    label_pattern: str | None,
    modes: tuple[str, ...],
    by_image: bool,
    queries: tuple[str, ...],
    labels_as_queries: bool,
    k: int,
    sample: int | None,
    plot_path: str | None,
    batch_size: int,
    as_json: bool,
) -> None:
    """Precision@k, recall@k and mAP of search by image and by words on a labelled folder.

    Labels come from sub-folder names, or from --label-pattern on file names
    (e.g. '^([a-z]+)\\.' for cat.1.jpg). Without --index, FOLDER is indexed
    into a temporary index that is deleted afterwards.
    """
    from picfind import evaluate

    if not os.path.isdir(folder):
        raise UsageError(f"no such folder: {folder}")
    pattern = evaluate.compile_pattern(label_pattern)
    words = [evaluate.WordQuery.parse(q) for q in queries]
    chosen = (modes or evaluate.IMAGE_MODES) if by_image else ()
    if not chosen and not words and not labels_as_queries:
        raise UsageError("nothing to measure: give --query, --labels-as-queries or --by-image")
    if plot_path is not None and not plot_path.lower().endswith(".png"):
        raise UsageError(f"--plot writes a PNG: {plot_path} should end in .png")
    options: dict[str, Any] = {
        "pattern": pattern,
        "modes": chosen,
        "queries": words,
        "labels_as_queries": labels_as_queries,
        "k": k,
        "batch_size": batch_size,
        "sample": sample,
    }
    if index_dir is not None or url:
        if model is not None:
            raise UsageError("--model is for the temporary index; an --index keeps its own model")
        with open_index_from(index_dir, url, read_only=True) as idx:
            result = evaluate.evaluate_index(idx.store, folder, **options)
        result.index = url or os.path.abspath(str(index_dir))
    else:
        result = _evaluate_fresh(folder, model, batch_size, options, quiet=as_json)
        result.index = None
    if plot_path is not None:
        evaluate.plot(result, plot_path)
    if as_json:
        emit_json(result.to_json())
        return
    _print_table(result)


def _evaluate_fresh(
    folder: str, model: str | None, batch_size: int, options: dict[str, Any], quiet: bool
) -> Evaluation:
    from picfind import api, evaluate

    name = resolve_model_name(model) if model else DEFAULT_MODEL
    with tempfile.TemporaryDirectory(prefix="picfind-eval-") as tmp:
        bar = ProgressBar(enabled=None if not quiet else False)
        with api.open_index(tmp, model=name, create=True) as idx:
            try:
                idx.add([folder], batch_size=batch_size, progress=bar)
            finally:
                bar.close()
            return evaluate.evaluate_index(idx.store, folder, **options)


def _print_table(result: Evaluation) -> None:
    labels = ", ".join(f"{name} {n}" for name, n in list(result.labels.items())[:8])
    more = f" … ({len(result.labels)} labels)" if len(result.labels) > 8 else ""
    out(f"{result.images} labelled images ({labels}{more}); {result.unlabelled} unlabelled")
    k = result.k
    if result.by_image:
        out("")
        out(f"{'by image':<12} {'queries':>7} {f'P@{k}':>8} {f'R@{k}':>8} {'mAP':>8}")
        for mode, s in result.by_image.items():
            out(
                f"{mode:<12} {s.queries:>7} {s.precision_at_k:>8.4f} "
                f"{s.recall_at_k:>8.4f} {s.map:>8.4f}"
            )
        if result.lonely_queries:
            out(f"({result.lonely_queries} images are alone with their label: not queries)")
    if result.words:
        out("")
        width = min(30, max(len("by words"), *(len(w.query.words) for w in result.words)))
        out(f"{'by words':<{width}} {'relevant':>8} {'matched':>8} {f'P@{k}':>8} {'AP':>8}")
        for w in result.words[:50]:
            note = f"  ({w.error})" if w.error else ""
            out(
                f"{w.query.words[:width]:<{width}} {w.relevant:>8} {w.matched:>8} "
                f"{w.precision_at_k:>8.4f} {w.ap:>8.4f}{note}"
            )
        if len(result.words) > 50:
            out(f"… {len(result.words) - 50} more queries (see --json)")
        s = result.words_summary
        out(f"{'mean':<{width}} {s.queries:>8} {'':>8} {s.precision_at_k:>8.4f} {s.map:>8.4f}")
