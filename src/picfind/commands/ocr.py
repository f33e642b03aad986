"""``picfind ocr PATH...``: read the text in photos already indexed (the OCR pass alone).

``picfind index PATH --ocr`` runs the same pass right after indexing. The pass is
resumable: each batch is committed, an interrupted run keeps what it read, and a
re-run reads only the photos this reader version has not read. Without the ``ocr``
extra it is one line and exit 2, before anything is read.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from picfind.cli import cli, index_options, json_option, open_index_from
from picfind.errors import UsageError
from picfind.output import ProgressBar, emit_json, out, shown, warn

if TYPE_CHECKING:
    from picfind.api import Index
    from picfind.ocr import Reader
    from picfind.passes import PassReport


def load_reader() -> Reader:
    """The reader, loaded before any work (OcrUnavailableError: one line, exit 2)."""
    from picfind.ocr import Reader

    return Reader.load()


def text_pass(idx: Index, paths: list[str], reader: Reader, *, quiet: bool) -> PassReport:
    """The OCR pass with a progress bar (photos/s, ETA) on a terminal."""
    bar = ProgressBar(enabled=None if not quiet else False, unit="photos")
    try:
        return idx.read_text(paths, reader=reader, progress=bar)
    finally:
        bar.close()


def pass_json(report: PassReport) -> dict[str, object]:
    """The pass's summary (``--json``): rows read, pending at the start, skipped, rate."""
    rate = report.updated / report.seconds if report.seconds > 0 else 0.0
    return {**report.to_json(), "photos_per_second": round(rate, 2)}


def say_pass(report: PassReport, *, quiet: bool) -> None:
    """Skipped photos on stderr, one summary line on stdout."""
    if not quiet:
        for s in report.skipped:
            warn(f"skipping {shown(s.path)}: {s.reason}")
    rate = report.updated / report.seconds if report.seconds > 0 else 0.0
    out(
        f"read text in {report.updated} of {report.pending} photos, skipped "
        f"{len(report.skipped)} in {report.seconds:.1f} s ({rate:.2f} photos/s)"
    )


@cli.command(name="ocr")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@index_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, no skipped-photo lines.")
@json_option
def ocr(
    paths: tuple[str, ...], index_dir: str | None, url: str | None, quiet: bool, as_json: bool
) -> None:
    """Read the text in indexed photos (resumable; only photos not read yet are read)."""
    for path in paths:
        if not os.path.exists(path):
            raise UsageError(f"no such file or folder: {path}")
    reader = load_reader()
    idx = open_index_from(index_dir, url)
    try:
        report = text_pass(idx, list(paths), reader, quiet=quiet or as_json)
    finally:
        idx.close()
    if as_json:
        emit_json(pass_json(report))
    else:
        say_pass(report, quiet=quiet)
