"""An HTTP proxy in front of a real node, for tests that watch or bend what goes on the wire.

``Proxy`` forwards every request unchanged and records it; a subclass overrides
``answer`` to change some (``test_attacks.FaultyProxy`` fails chosen bulk items).
"""

from __future__ import annotations

import http.client
import http.server
import threading
import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    bytes: int


class Proxy:
    """Forwards every request to ``upstream``; ``requests`` records them in order."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.requests: list[Request] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.requests.append(Request(self.command, self.path, len(body)))
                status, out = proxy.answer(self.command, self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """The status and body sent back (here: the node's own answer)."""
        return self.forward(method, path, body)

    def forward(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        host = self.upstream.hostname or "127.0.0.1"
        conn = http.client.HTTPConnection(host, self.upstream.port, timeout=120)
        try:
            headers = {"Content-Type": "application/json"} if body else {}
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def take(self) -> list[Request]:
        """The requests recorded so far, and a fresh record."""
        taken, self.requests = self.requests, []
        return taken

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
