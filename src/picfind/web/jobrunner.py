"""The process of one indexing job: ``python -m picfind.web.jobrunner INDEX ROOT [MODEL]``.

Started by :mod:`picfind.web.jobs`; not a command for people. It indexes ROOT
into the index at INDEX like ``picfind index`` would, and writes one JSON
object per line to stdout: ``{"progress": {...}}`` after each batch, then
``{"report": <picfind index --json>}`` or ``{"error": "one line"}``. SIGINT
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


def _progress(p: Progress) -> None:
    fields = {"done": p.done, "total": p.total, "indexed": p.indexed, "skipped": p.skipped}
    _say({"progress": {**fields, "rate": p.rate, "eta": p.eta}})


def main(argv: list[str]) -> int:
    index_dir, root, model = [*argv, ""][:3]
    try:
        with api.open_index(index_dir, model=model or None, create=True) as index:
            report = index.add([root], progress=_progress)
    except KeyboardInterrupt:
        _say({"error": "interrupted: the server stopped; committed batches are kept"})
        return 130
    except PicfindError as exc:
        _say({"error": str(exc)})
        return 1
    except Exception as exc:  # a job must say why it failed, never vanish
        _say({"error": f"internal error: {type(exc).__name__}: {exc}"})
        return 1
    _say({"report": report.to_json()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
