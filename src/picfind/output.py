"""How picfind's commands print: results on stdout, progress and warnings on stderr.

The public output layer of the CLI; every command module uses it:

* :func:`out` — one result line on stdout (a closed pipe, ``| head``, ends the run
  quietly through :class:`OutputClosed`);
* :func:`emit_json` — the one JSON object of ``--json``, exact: a file name that
  is not UTF-8 keeps its bytes as ``\\udcXX`` escapes, which ``json.loads`` and
  ``os.fsencode`` turn back into the original name;
* :func:`shown` — a path (or any text) made safe for a plain-text line: a newline,
  a tab, other control characters and undecodable bytes are escaped, so one
  file is always one line;
* :func:`warn` — a line on stderr;
* :class:`ProgressBar` — the one-line progress display on a terminal.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

import click

from picfind.records import Progress

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


class OutputClosed(Exception):
    """The reader of stdout went away (``picfind search dog | head``): not a failure."""


def shown(text: str) -> str:
    """``text`` for a plain-text line: control characters and stray bytes escaped."""
    if not _UNSAFE.search(text):
        return text

    def escape(m: re.Match[str]) -> str:
        c = m.group(0)
        if c in _NAMED:
            return _NAMED[c]
        code = ord(c)
        if 0xDC80 <= code <= 0xDCFF:  # a byte of a non-UTF-8 name (surrogateescape)
            return f"\\x{code - 0xDC00:02x}"
        return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"

    return _UNSAFE.sub(escape, text)


def out(text: str) -> None:
    """Every result line goes through here, so a closed pipe ends the run quietly."""
    if _SURROGATE.search(text):
        text = shown(text)
    try:
        click.echo(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing more can be said there
        raise OutputClosed from None


def emit_json(obj: object) -> None:
    """One JSON object on stdout; lone surrogates as ``\\uXXXX`` escapes (valid UTF-8)."""
    text = json.dumps(obj, ensure_ascii=False)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)
    out(text)


def warn(text: str) -> None:
    """A line on stderr (warnings, skipped files, summaries)."""
    click.echo(shown(text) if _SURROGATE.search(text) else text, err=True)


class ProgressBar:
    """A one-line progress display on a terminal: count, images/s, ETA."""

    def __init__(self, enabled: bool | None = None, unit: str = "img") -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.unit = unit
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.2 and p.done < p.total):
            return
        self.last = now
        width = 28
        filled = int(width * p.done / p.total) if p.total else width
        eta = f"ETA {int(p.eta // 60)}:{int(p.eta % 60):02d}" if p.eta is not None else ""
        line = (
            f"\r[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total} "
            f"{p.rate:5.1f} {self.unit}/s {eta}  "
        )
        click.echo(line, err=True, nl=False)

    def close(self) -> None:
        if self.enabled and self.last:
            click.echo("", err=True)
