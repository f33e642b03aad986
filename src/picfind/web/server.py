"""The HTTP server under ``picfind serve``: uvicorn, with deadlines an attacker cannot stretch.

uvicorn alone waits for a request's headers forever (its keep-alive timer is
cancelled by every byte that arrives, so one byte every few seconds holds a
connection), and on SIGTERM it waits for every open request to finish. Here:

* **headers** — each request's headers must be complete within
  ``HEADER_TIMEOUT`` seconds of the connection opening (or of the previous
  response): 1,000 half-open connections are all closed after that, however
  slowly they trickle. The same deadline closes a connection whose request
  body the app did not read (a GET with a body sent byte by byte). The time a
  body may take is the guard's (``security.MIN_BODY_RATE``).
* **shutdown** — on SIGTERM or Ctrl-C a running indexing job is interrupted at
  once (``Jobs.interrupt``), requests still open get ``GRACEFUL_SHUTDOWN``
  seconds, then the app's shutdown kills the job if it has not ended within
  ``jobs.JOB_GRACE`` (``Jobs.stop``): the server is gone within ~6 s.
* **header size** — h11's bound on an incomplete request (16 KiB).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from picfind.web.jobs import Jobs

HEADER_TIMEOUT = 5.0
GRACEFUL_SHUTDOWN = 3
KEEP_ALIVE = 5
MAX_HEADER_BYTES = 16 * 1024


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's headers."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._handling():
            self._disarm()  # headers are in; the app (and its guard) has the request

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._handling():
            self._arm()  # the next request's headers (or the rest of an unread body)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _handling(self) -> bool:
        """A request whose headers are complete is being answered."""
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete and not cycle.disconnected

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(HEADER_TIMEOUT, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self._handling() and not self.transport.is_closing():
            self.transport.close()


def config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    """uvicorn's configuration for ``picfind serve``."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=DeadlineProtocol,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )


class _Server(uvicorn.Server):
    """uvicorn's server, telling the jobs as soon as a stop signal arrives."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._on_exit()


def run(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` until SIGTERM or Ctrl-C (then within seconds, job or not)."""
    jobs: Jobs = app.state.jobs
    _Server(config(app, host, port), jobs.interrupt).run()
