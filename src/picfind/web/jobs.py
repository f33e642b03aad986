"""Indexing jobs started from the web page: one at a time, of configured roots only.

A job is a child process (``python -m picfind.web.jobrunner``) that runs
``Index.add`` on an ``Index`` of its own, so it writes exactly like a
``picfind index`` process would (its own SQLite connection and lock file)
while the server's searches keep reading the committed rows (SQLite WAL). It
reports progress as JSON lines on its stdout, which a thread here follows.

A process, not a thread, so that the server can always stop it: on shutdown
(SIGTERM, Ctrl-C) a running job is interrupted (SIGINT: it records the run as
interrupted, keeps every committed batch) and, if it has not ended within the
grace period — a read that never returns, a stopped process — killed. A
thread stuck in a read could be neither. Its memory (the model, decoded
photos) is its own, too. Requests name a root by its number in the server's
configuration, never by a path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from picfind.errors import JobBusyError, UsageError

if TYPE_CHECKING:
    from picfind.api import ClusterOptions

KEEP_FINISHED = 20
"""Finished jobs remembered for ``GET /api/jobs``."""
JOB_GRACE = 5.0
"""Seconds an interrupted job has to finish its batch and record the run before it is
killed (one batch of 32 on two busy cores: about 2 s)."""


@dataclass
class Job:
    """An indexing run and what it has reported so far."""

    id: str
    root: int
    path: str
    ocr: bool = False
    """Also read the text in the photos (the OCR pass, after indexing)."""
    phase: str = "index"  # index | text (the OCR pass)
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
            "ocr": self.ocr,
            "phase": self.phase,
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


@dataclass
class _Running:
    """A job's child process, the thread following it, and its captured stderr."""

    job: Job
    process: subprocess.Popen[str]
    errors: IO[str]
    stopping: bool = False
    interrupted_at: float = 0.0
    follower: threading.Thread = field(init=False)


class Jobs:
    """The server's indexing jobs over one index folder."""

    def __init__(
        self,
        target: list[str],
        roots: list[Path],
        model: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.target = target  # the jobrunner's index: [folder] or ["--url", URL]
        self.env = env
        self.roots = roots
        self.model = model
        self._jobs: dict[str, Job] = {}
        self._running: list[_Running] = []
        self._lock = threading.Lock()

    def start(self, root: int, ocr: bool = False) -> Job:
        if not 0 <= root < len(self.roots):
            raise UsageError(
                f"no configured folder number {root}; "
                f"this server has {len(self.roots)} (start it with --root FOLDER)"
            )
        with self._lock:
            if any(j.state == "running" for j in self._jobs.values()):
                raise JobBusyError("an indexing job is already running; wait for it to finish")
            job = Job(uuid.uuid4().hex[:12], root, str(self.roots[root]), ocr=ocr)
            errors = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by the follower
            command = [sys.executable, "-m", "picfind.web.jobrunner"]
            command += ["--ocr", *self.target] if ocr else self.target
            process = subprocess.Popen(
                [*command, job.path, self.model or ""],
                env={**os.environ, **self.env} if self.env else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                start_new_session=True,  # the server decides when it stops, not the terminal
            )
            running = _Running(job, process, errors)
            running.follower = threading.Thread(
                target=self._follow, args=(running,), name=f"picfind-job-{job.id}", daemon=True
            )
            self._jobs[job.id] = job
            self._running.append(running)
            finished = [j for j in self._jobs.values() if j.state != "running"]
            for old in finished[:-KEEP_FINISHED]:
                del self._jobs[old.id]
        running.follower.start()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.started_at, reverse=True)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for started jobs to end (tests)."""
        for running in list(self._running):
            running.follower.join(timeout)

    def interrupt(self) -> None:
        """Ask running jobs to stop (SIGINT, like Ctrl-C): safe in a signal handler."""
        for r in list(self._running):
            if not r.stopping and r.process.poll() is None:
                r.stopping = True
                r.interrupted_at = time.monotonic()
                r.process.send_signal(signal.SIGINT)

    def stop(self, grace: float = JOB_GRACE) -> None:
        """Interrupt running jobs; kill those still running ``grace`` seconds after."""
        self.interrupt()
        for r in list(self._running):
            try:
                r.process.wait(max(0.0, r.interrupted_at + grace - time.monotonic()))
            except subprocess.TimeoutExpired:
                r.process.kill()  # a read that never returns, a stopped process
                r.process.wait()
            r.follower.join(1.0)

    def _follow(self, running: _Running) -> None:
        """Read the child's JSON lines into the job until it ends."""
        job, process, errors = running.job, running.process, running.errors
        assert process.stdout is not None
        try:
            for line in process.stdout:
                _apply(job, line)
            code = process.wait()
            if job.state == "running":
                errors.seek(0)
                last = [text for text in errors.read().splitlines() if text.strip()][-1:]
                if running.stopping:
                    job.error = "interrupted: the server stopped; committed batches are kept"
                else:
                    why = f": {last[0][:300]}" if last else ""
                    job.error = f"the indexing process ended with code {code}{why}"
                job.state = "failed"
        finally:
            errors.close()
            process.stdout.close()
            job.finished_at = time.time()
            with self._lock:
                if running in self._running:
                    self._running.remove(running)


def _apply(job: Job, line: str) -> None:
    """One message from the child: progress, the final report, or an error."""
    try:
        message = json.loads(line)
    except ValueError:
        return  # not ours (a library printing to stdout): ignored
    if not isinstance(message, dict):
        return
    if "progress" in message:
        p = message["progress"]
        job.done, job.total = int(p["done"]), int(p["total"])
        job.indexed, job.skipped = int(p["indexed"]), int(p["skipped"])
        job.rate = float(p["rate"])
        job.phase = str(p.get("phase", "index"))
        job.eta = None if p["eta"] is None else float(p["eta"])
    elif "report" in message:
        report = message["report"]
        job.report = report
        job.indexed = int(report["indexed"])
        job.skipped = len(report["skipped"])
        job.done = max(job.done, job.total)
        job.eta = 0.0
        job.state = "done"
    elif "error" in message:
        job.error, job.state = str(message["error"]), "failed"


def job_env(cluster: ClusterOptions | None) -> dict[str, str]:
    """The cluster options as the ``PICFIND_*`` variables a job reads: credentials go
    through the environment, never the command line (``ps`` shows that)."""
    if cluster is None:
        return {}
    values = {
        "PICFIND_USER": cluster.user,
        "PICFIND_PASSWORD": cluster.password,
        "PICFIND_API_KEY": cluster.api_key,
        "PICFIND_CA_FILE": cluster.ca_file,
        "PICFIND_CLUSTER_INDEX": cluster.name,
    }
    return {k: v for k, v in values.items() if v is not None}
