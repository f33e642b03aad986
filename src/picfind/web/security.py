"""The server's guard: token, Host and Origin checks, and bounds on request bodies.

One ASGI middleware in front of everything (pages, API, docs, static files):

* **token** — when the server has one (required to bind anywhere but loopback),
  every request must carry it: ``Authorization: Bearer T``, ``X-Picfind-Token: T``
  or the ``picfind_token`` cookie, which opening ``/?token=T`` once sets (and
  the token is then dropped from the address bar, by a redirect to the same
  path, percent-encoded: never to another site). Compared in constant time.
* **Host** — without a token, only loopback host names are answered, so a web
  page elsewhere cannot reach the server through DNS rebinding: ``localhost``
  exactly, or an IP literal that is loopback (``127.0.0.1``, ``[::1]``), with an
  optional port — parsed, not matched by prefix (``127.evil.example`` is not
  loopback) — or the name the server was told to listen on.
* **Origin** — a POST from a page of another origin (a cross-site form) is
  refused unless that origin was allowed with ``--cors-origin``.
* **bodies** — read here, before any parser sees them: at most ``max_body``
  bytes for a multipart upload and 1 MiB for anything else (413), kept in
  memory up to 1 MiB and spooled to a temporary file past that, and they must
  arrive at ``MIN_BODY_RATE`` after a grace of ``BODY_GRACE`` seconds (408): a
  body sent at 1 byte/s is not waited for. (Slow *headers* are the server's
  business: ``picfind.web.server``.)
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import IO, Any
from urllib.parse import parse_qsl, quote, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "picfind_token"
TOKEN_HEADER = "x-picfind-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_OTHER_BODY = 1024 * 1024
"""Bodies that are not multipart uploads (JSON for ``POST /api/jobs``) are tiny."""
SPOOL_BYTES = 1024 * 1024
"""A body is kept in memory up to this, then in a temporary file."""
BODY_GRACE = 10.0
MIN_BODY_RATE = 16 * 1024
"""After ``BODY_GRACE`` seconds a body must have come at this many bytes per second
(20 MiB in 22 minutes): a slow link passes, a connection held open byte by byte does not."""
CHUNK = 64 * 1024
_PATH_SAFE = "/!$&'()*+,;=:@-._~"


def is_loopback(name: str) -> bool:
    """``localhost`` or a loopback IP literal; ``name`` is a host without its port."""
    name = name.lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str | None:
    """The name in a ``Host`` header, lower-case, without its port; None if malformed.

    ``[::1]:8000`` → ``::1``; ``127.0.0.1:8000`` → ``127.0.0.1``; ``a:b:c`` → None.
    """
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, port = host[1:].partition("]")
        if not bracket:
            return None
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return None
    else:
        name, colon, port = host.partition(":")
        port = colon + port
    if port and not (port[0] == ":" and port[1:].isascii() and port[1:].isdigit()):
        return None
    return name or None


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
        self.allowed_hosts = frozenset(host_name(h) or h.lower() for h in allowed_hosts)

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
        if scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        multipart = headers.get("content-type", "").lower().startswith("multipart/form-data")
        limit = self.max_body if multipart else min(self.max_body, MAX_OTHER_BODY)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _too_large(send, limit)
            return
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            try:
                size = await _spool_body(receive, limit, spool)
            except _Disconnected:
                return
            except _TooLarge:
                await _too_large(send, limit)
                return
            except _TooSlow:
                await _error(
                    send,
                    408,
                    "too_slow",
                    f"the request body came slower than {MIN_BODY_RATE} bytes per second",
                )
                return
            await self.app(scope, _replay(spool, size, receive), send)

    # -- checks ------------------------------------------------------------------------
    def _host_allowed(self, host: str) -> bool:
        name = host_name(host)
        return name is not None and (is_loopback(name) or name in self.allowed_hosts)

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
        location = same_site_path(scope["path"]) + (f"?{rest}" if rest else "")
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


def same_site_path(path: str) -> str:
    """A decoded request path as a Location that stays on this site.

    Percent-encoded (no backslash, tab, newline or space left for a browser to
    read as ``//``) and starting with exactly one slash: ``/\\evil.example`` →
    ``/%5Cevil.example``, ``//evil.example`` → ``/evil.example``.
    """
    return "/" + quote(path, safe=_PATH_SAFE).lstrip("/")


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class _Disconnected(Exception):
    pass


async def _spool_body(receive: Receive, limit: int, spool: IO[bytes]) -> int:
    """Copy the request body into ``spool``; its size. Raises past ``limit`` bytes, when
    it comes too slowly (see ``MIN_BODY_RATE``) or when the client goes away."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    size = 0
    while True:
        left = started + BODY_GRACE + size / MIN_BODY_RATE - loop.time()
        if left <= 0:
            raise _TooSlow
        try:
            message = await asyncio.wait_for(receive(), left)
        except TimeoutError:
            raise _TooSlow from None
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        spool.write(chunk)
        if not message.get("more_body", False):
            spool.seek(0)
            return size


def _replay(spool: IO[bytes], size: int, receive: Receive) -> Receive:
    """The spooled body as ``receive`` messages of ``CHUNK`` bytes, then the real stream
    (which only says when the client disconnects)."""
    left = size
    done = False

    async def replay() -> Message:
        nonlocal left, done
        if done:
            return await receive()
        chunk = spool.read(min(CHUNK, left))
        left -= len(chunk)
        done = left <= 0 or not chunk
        return {"type": "http.request", "body": chunk, "more_body": not done}

    return replay


async def _too_large(send: Send, limit: int) -> None:
    message = f"the request is larger than {binary_size(limit)}, the most this server takes"
    await _error(send, 413, "too_large", message)


def binary_size(n: int) -> str:
    """``20971520`` → ``20 MiB``: a limit as people read it (a page showed the raw count)."""
    if n < 1024:
        return f"{n} bytes"
    size = n / 1024
    return f"{size:.3g} KiB" if size < 1024 else f"{size / 1024:.3g} MiB"


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
