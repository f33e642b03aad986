"""``picfind duplicates``: exact and near duplicates in an index (read only)."""

from __future__ import annotations

import csv
import io
import os

import click

from picfind.cli import cli, index_options, open_index_from
from picfind.errors import UsageError
from picfind.output import emit_json, out, shown, warn


@cli.command()
@index_options
@click.option(
    "--threshold",
    type=click.FloatRange(-1.0, 1.0),
    default=None,
    metavar="COS",
    help="Cosine of embeddings at or above which images are near duplicates [default: 0.85].",
)
@click.option(
    "--rotations",
    default="15,30",
    show_default=True,
    metavar="DEG[,DEG]",
    help="Also compare each image turned by these angles, to find rotated copies (reads the "
    "files and runs the model once per angle); 0 turns it off.",
)
@click.option("--exact-only", is_flag=True, help="Only files with identical content.")
@click.option("--near-only", is_flag=True, help="Only near duplicates (not identical files).")
@click.option("--under", metavar="FOLDER", help="Only images inside this folder.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: group, kind, similarity, path.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def duplicates(
    index_dir: str | None,
    url: str | None,
    threshold: float | None,
    rotations: str,
    exact_only: bool,
    near_only: bool,
    under: str | None,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Groups of identical files and of near-identical images (resized, recompressed,
    mirrored, slightly cropped or rotated copies). Reads the index, never changes it."""
    from picfind.duplicates import DEFAULT_THRESHOLD, duplicates_in_index

    if exact_only and near_only:
        raise UsageError("--exact-only and --near-only exclude each other")
    if as_csv and as_json:
        raise UsageError("choose one of --csv and --json")
    if under is not None and not os.path.isdir(under):
        raise UsageError(f"no such folder: {under}")
    try:
        angles = [float(a) for a in rotations.split(",") if a.strip()]
    except ValueError:
        raise UsageError(f"bad --rotations {rotations!r}: expected degrees like 15,30") from None
    angles = [a for a in angles if a % 360]
    with open_index_from(index_dir, url, read_only=True) as index:
        groups = duplicates_in_index(
            index.store,
            under=under,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            exact=not near_only,
            near=not exact_only,
            rotations=angles,
        )
    if as_json:
        emit_json({"groups": [g.to_json() for g in groups]})
        return
    if as_csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["group", "kind", "similarity", "path"])
        for n, g in enumerate(groups, 1):
            for path in g.paths:
                writer.writerow([n, g.kind, f"{g.similarity:.4f}", path])
        out(buf.getvalue().rstrip("\n"))
        return
    for n, g in enumerate(groups, 1):
        out(f"group {n}: {g.kind}, {len(g.paths)} files, similarity {g.similarity:.4f}")
        for path in g.paths:
            out(f"  {shown(path)}")
    warn(
        f"{len(groups)} groups ({sum(g.kind == 'exact' for g in groups)} exact, "
        f"{sum(g.kind == 'near' for g in groups)} near)"
    )
