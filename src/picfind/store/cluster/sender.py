"""Bulk writes sent by a background thread, in order, so the model runs while they travel.

An indexing run alternates inference (the main thread) and one store write per
batch. On a cluster a write is a network round trip and JSON encoding of ~25 KB
a document; done inline it stalls the model. The :class:`Sender` takes a job and
returns at once, sending the jobs one at a time in submission order (a removal
or a move never overtakes the write it follows). At most ``DEPTH`` jobs wait
behind the one being sent: a caller submitting faster than the cluster takes
them waits (backpressure), so memory stays bounded.

Failures are not lost: the first job that fails is kept with its error, the
jobs queued behind it are not sent (the run is ending) and are named in the
same error, which is raised by the next ``submit``, ``flush`` or ``check``.
``flush`` waits until every job is sent; what must see the writes (a refresh, a
read of a folder, the end of a run, closing) flushes first. The thread exists
only while there is work, so an interpreter that exits waits for the jobs in
flight (bounded) and never for an idle thread; ``kill -9`` loses only jobs
never acknowledged, which the next run finds missing and writes again.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from picfind.errors import StoreError

DEPTH = 1
"""Jobs waiting behind the one in flight (one batch is inferred while one is sent)."""


@dataclass
class Job:
    """One write: its bulk actions and, for failure reports, the path of each id."""

    actions: list[dict[str, Any]]
    labels: dict[str, str] = field(default_factory=dict)
    keep: dict[str, str] = field(default_factory=dict)
    """path → the id that must be the only document at it (others there are deleted)."""
    removing: frozenset[str] = frozenset()


class Sender:
    """One ordered background lane of jobs, ``send`` run on each."""

    def __init__(self, send: Callable[[Job], None], depth: int = DEPTH) -> None:
        self._send = send
        self.depth = depth
        self._jobs: deque[Job] = deque()
        self._busy = False
        """Whether a thread is running (sending a job or about to take the next)."""
        self._error: StoreError | None = None
        self._cond = threading.Condition()
        self.sent = 0
        """Jobs sent successfully (tests and benchmarks count them)."""

    def submit(self, job: Job) -> None:
        """Queue a job (waiting while ``depth`` are queued); raise an earlier job's error."""
        with self._cond:
            while len(self._jobs) >= self.depth and self._error is None:
                self._cond.wait()
            self._raise_locked()
            self._jobs.append(job)
            if not self._busy:
                self._busy = True
                threading.Thread(target=self._run, name="picfind-bulk", daemon=False).start()

    def flush(self) -> None:
        """Wait until every queued job is sent; raise the first failure, if any."""
        self.drain()
        with self._cond:
            self._raise_locked()

    def drain(self) -> None:
        """Wait until every queued job is sent (a failure stays for the next caller)."""
        with self._cond:
            while self._busy:
                self._cond.wait()

    def check(self) -> None:
        """Raise an earlier job's failure now, without waiting for the others."""
        with self._cond:
            self._raise_locked()

    @property
    def idle(self) -> bool:
        with self._cond:
            return not self._busy

    def _raise_locked(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._jobs or self._error is not None:
                    self._busy = False
                    self._cond.notify_all()
                    return
                job = self._jobs.popleft()
                self._cond.notify_all()  # room for a waiting submit
            try:
                self._send(job)
            except Exception as exc:  # kept for the caller; never dies with the thread
                self._fail(exc)
            else:
                with self._cond:
                    self.sent += 1

    def _fail(self, exc: Exception) -> None:
        with self._cond:
            dropped = list(self._jobs)
            self._jobs.clear()
            message = str(exc) if isinstance(exc, StoreError) else f"bulk write failed: {exc}"
            unsent = sum(len(j.actions) for j in dropped)
            if unsent:
                message += f"; the {unsent} changes queued after them were not sent either"
            error = StoreError(message)
            error.__cause__ = exc
            self._error = error
