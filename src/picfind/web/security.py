"""The server's guard: token, Host and Origin checks, and a bound on request bodies.

One ASGI middleware in front of everything (pages, API, docs, static files):

* **token** — when the server has one (required to bind anywhere but loopback),
  every request must carry it: ``Authorization: Bearer T``, ``X-Picfind-Token: T``
  or the ``picfind_token`` cookie, which opening ``/?token=T`` once sets (and
  the token is then dropped from the address bar). Compared in constant time.
* **Host** — without a token, only loopback host names are answered, so a web
  page elsewhere cannot reach the server through DNS rebinding.
* **Origin** — a POST from a page of another origin (a cross-site form) is
  refused unless that origin was allowed with ``--cors-origin``.
* **body size** — request bodies are read here, up to ``max_body`` bytes; a
  larger one is answered 413 before any parser sees it.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "picfind_token"
TOKEN_HEADER = "x-picfind-token"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


class Guard:
    """ASGI middleware enforcing the rules in the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        max_body: int,
        cors_origins: tuple[str, ...] = (),
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body
        self.cors_origins = frozenset(o.rstrip("/") for o in cors_origins)
        self.allowed_hosts = frozenset(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.token is None and not self._host_allowed(host):
            await _error(send, 421, "host_refused", f"this server does not answer for {host!r}")
            return
        if self.token is not None and not self._authorised(headers):
            if self._token_in_query(scope):
                await self._set_cookie_and_redirect(scope, send)
                return
            if scope["method"] == "OPTIONS" and headers.get("origin", "") in self.cors_origins:
                await self.app(scope, receive, send)  # a CORS preflight carries no token
                return
            await _error(
                send,
                401,
                "token_required",
                "this server needs its token: open the address it printed (…/?token=…), "
                "or send the header 'Authorization: Bearer TOKEN'",
            )
            return
        if scope["method"] in UNSAFE_METHODS and not self._origin_allowed(headers, scope):
            await _error(send, 403, "origin_refused", "requests from another site are refused")
            return
        if scope["method"] in UNSAFE_METHODS:
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await _too_large(send, self.max_body)
                return
            body = await _read_body(receive, self.max_body)
            if body is None:
                await _too_large(send, self.max_body)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    # -- checks ------------------------------------------------------------------------
    def _host_allowed(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return is_loopback(name) or name in self.allowed_hosts or host in self.allowed_hosts

    def _authorised(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        candidates = []
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            candidates.append(auth[7:].strip())
        if TOKEN_HEADER in headers:
            candidates.append(headers[TOKEN_HEADER])
        if "cookie" in headers:
            jar = SimpleCookie()
            try:
                jar.load(headers["cookie"])
            except Exception:  # a malformed cookie header is just no token
                jar = SimpleCookie()
            if COOKIE in jar:
                candidates.append(jar[COOKIE].value)
        return any(self._matches(c) for c in candidates)

    def _matches(self, candidate: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(candidate.encode(), self.token.encode())

    def _token_in_query(self, scope: Scope) -> bool:
        if scope["method"] != "GET":
            return False
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        return any(k == "token" and self._matches(v) for k, v in query)

    def _origin_allowed(self, headers: dict[str, str], scope: Scope) -> bool:
        origin = headers.get("origin")
        if origin is None:  # not sent by a browser for a same-origin form, nor by tools
            return True
        if origin.rstrip("/") in self.cors_origins:
            return True
        scheme = scope.get("scheme", "http")
        return origin == f"{scheme}://{headers.get('host', '')}"

    async def _set_cookie_and_redirect(self, scope: Scope, send: Send) -> None:
        """``/?token=T`` → the same address without the token, with the cookie set."""
        assert self.token is not None
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        path = "/" + scope["path"].lstrip("/")  # never "//host": no redirect off the site
        location = scope.get("root_path", "") + path + (f"?{rest}" if rest else "")
        cookie = SimpleCookie()
        cookie[COOKIE] = self.token
        cookie[COOKIE]["httponly"] = True
        cookie[COOKIE]["samesite"] = "Strict"
        cookie[COOKIE]["path"] = "/"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1")),
                    (b"set-cookie", cookie[COOKIE].OutputString().encode("latin-1")),
                    (b"cache-control", b"no-store"),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _too_large(send: Send, limit: int) -> None:
    await _error(send, 413, "too_large", f"the request is larger than {limit} bytes")


async def _error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": message, "code": code}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
