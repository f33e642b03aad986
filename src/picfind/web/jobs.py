"""Indexing jobs started from the web page: one at a time, of configured roots only.

A job runs ``Index.add`` in a thread of its own, on an ``Index`` of its own
(its own SQLite connection and lock file), so it writes exactly like a
``picfind index`` process would while the server's searches keep reading the
committed rows (SQLite WAL). Requests name a root by its number in the
server's configuration, never by a path.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from picfind import api
from picfind.errors import JobBusyError, PicfindError, UsageError
from picfind.records import Progress

KEEP_FINISHED = 20
"""Finished jobs remembered for ``GET /api/jobs``."""


@dataclass
class Job:
    """An indexing run and what it has reported so far."""

    id: str
    root: int
    path: str
    state: str = "running"  # running | done | failed
    done: int = 0
    total: int = 0
    indexed: int = 0
    skipped: int = 0
    rate: float = 0.0
    eta: float | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    report: dict[str, object] | None = None
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "root": self.root,
            "path": self.path,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "indexed": self.indexed,
            "skipped": self.skipped,
            "rate": round(self.rate, 2),
            "eta": round(self.eta, 1) if self.eta is not None else None,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "report": self.report,
            "error": self.error,
        }


class Jobs:
    """The server's indexing jobs over one index folder."""

    def __init__(self, index_dir: Path, roots: list[Path], model: str | None = None) -> None:
        self.index_dir = index_dir
        self.roots = roots
        self.model = model
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self, root: int) -> Job:
        if not 0 <= root < len(self.roots):
            raise UsageError(
                f"no configured folder number {root}; "
                f"this server has {len(self.roots)} (start it with --root FOLDER)"
            )
        with self._lock:
            if any(j.state == "running" for j in self._jobs.values()):
                raise JobBusyError("an indexing job is already running; wait for it to finish")
            job = Job(uuid.uuid4().hex[:12], root, str(self.roots[root]))
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.state != "running"]
            for old in finished[:-KEEP_FINISHED]:
                del self._jobs[old.id]
        thread = threading.Thread(
            target=self._run, args=(job,), name=f"picfind-job-{job.id}", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.started_at, reverse=True)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for started jobs (tests, and a server shutting down)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _run(self, job: Job) -> None:
        def progress(p: Progress) -> None:
            job.done, job.total, job.indexed, job.skipped = p.done, p.total, p.indexed, p.skipped
            job.rate, job.eta = p.rate, p.eta

        try:
            with api.open_index(self.index_dir, model=self.model, create=True) as index:
                report = index.add([job.path], progress=progress)
            job.report = report.to_json()
            job.indexed = report.indexed
            job.skipped = len(report.skipped)
            job.done = max(job.done, job.total)
            job.eta = 0.0
            job.state = "done"
        except PicfindError as exc:
            job.error, job.state = str(exc), "failed"
        except Exception as exc:  # a job thread must record, never vanish
            job.error, job.state = f"internal error: {type(exc).__name__}: {exc}", "failed"
        finally:
            job.finished_at = time.time()
