"""One indexing job: ``python -m picfind.web.jobrunner [--ocr] INDEX|--url URL ROOT [MODEL]``.

Started by :mod:`picfind.web.jobs`; not a command for people. It indexes ROOT
into the index at INDEX (or the cluster index at URL, its options from the
``PICFIND_*`` variables) like ``picfind index [--ocr]`` would, and writes one JSON
object per line to stdout: ``{"progress": {...}}`` after each batch (``phase``:
``index``, then ``text`` for the OCR pass), then ``{"report": <picfind index
--json>}`` or ``{"error": "one line"}``. With ``--ocr`` the reader is loaded
first, so a server without the ``ocr`` extra fails the job at once, nothing indexed. SIGINT
interrupts it the way Ctrl-C interrupts ``picfind index`` (committed batches
are kept, the run is recorded as interrupted). When the server is gone, the
next write fails and the job ends with it.
"""

from __future__ import annotations

import json
import sys

from picfind import api
from picfind.errors import PicfindError
from picfind.records import Progress


def _say(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _progress(p: Progress, phase: str = "index") -> None:
    fields = {"done": p.done, "total": p.total, "indexed": p.indexed, "skipped": p.skipped}
    _say({"progress": {**fields, "rate": p.rate, "eta": p.eta, "phase": phase}})


def _text_progress(p: Progress) -> None:
    _progress(p, "text")


def main(argv: list[str]) -> int:
    ocr = argv[:1] == ["--ocr"]
    argv = argv[1:] if ocr else argv
    url = argv[1] if argv[:1] == ["--url"] and len(argv) > 1 else None
    index_dir, root, model = ["", *argv[2:], ""][:3] if url else [*argv, ""][:3]
    try:
        from picfind.commands import ocr as text

        reader = text.load_reader() if ocr else None  # without the extra: fails here
        with _open(index_dir, url, model) as index:
            report = index.add([root], progress=_progress)
            read = None
            if reader is not None:
                read = index.read_text([root], reader=reader, progress=_text_progress)
    except KeyboardInterrupt:
        _say({"error": "interrupted: the server stopped; committed batches are kept"})
        return 130
    except PicfindError as exc:
        _say({"error": str(exc)})
        return 1
    except Exception as exc:  # a job must say why it failed, never vanish
        _say({"error": f"internal error: {type(exc).__name__}: {exc}"})
        return 1
    _say({"report": report.to_json() | ({"ocr": text.pass_json(read)} if read else {})})
    return 0


def _open(index_dir: str, url: str | None, model: str) -> api.Index:
    if url:
        return api.open_index(url=url, model=model or None, create=True)
    return api.open_index(index_dir, model=model or None, create=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
