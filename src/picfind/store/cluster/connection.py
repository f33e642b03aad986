"""Connecting to an OpenSearch or Elasticsearch endpoint, and what its failures mean.

The endpoint says what it is (``GET /`` → ``version.distribution``): OpenSearch
gets ``opensearch-py``, Elasticsearch 8/9 the ``elasticsearch`` client. Errors a
user can fix (wrong URL, refused connection, wrong credentials, a bad CA file)
become ``ClusterConnectionError`` (``picfind.errors``), a ``UsageError``: one line,
exit 2; everything else a ``StoreError``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any, TypeVar
from urllib.parse import urlsplit

from picfind.errors import ClusterConnectionError, StoreError, UsageError

T = TypeVar("T")


@dataclass(frozen=True)
class ClusterOptions:
    """How to reach and lay out a cluster index (CLI options / ``PICFIND_*`` variables)."""

    user: str | None = None
    password: str | None = None
    api_key: str | None = None
    ca_file: str | None = None
    name: str = "picfind"
    layout: str = "picfind"
    shards: int | None = None
    replicas: int | None = None
    timeout: float = 30.0

    @classmethod
    def from_env(cls, **overrides: Any) -> ClusterOptions:
        """Options from ``PICFIND_USER``, ``PICFIND_PASSWORD``, ``PICFIND_API_KEY``,
        ``PICFIND_CA_FILE``, ``PICFIND_CLUSTER_INDEX``; ``overrides`` that are not None win."""
        env: dict[str, Any] = {
            "user": os.environ.get("PICFIND_USER"),
            "password": os.environ.get("PICFIND_PASSWORD"),
            "api_key": os.environ.get("PICFIND_API_KEY"),
            "ca_file": os.environ.get("PICFIND_CA_FILE"),
            "name": os.environ.get("PICFIND_CLUSTER_INDEX"),
        }
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**{k: v for k, v in env.items() if v is not None})


@dataclass
class Engine:
    """A connected client and what the endpoint is."""

    client: Any
    distribution: str  # "opensearch" | "elasticsearch"
    version: str
    url: str

    @property
    def major(self) -> int:
        try:
            return int(self.version.split(".")[0])
        except ValueError:
            return 0


def _client_kwargs(url: str, opts: ClusterOptions) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClusterConnectionError(f"not an http(s) URL: {url!r}")
    if opts.ca_file and not os.path.isfile(opts.ca_file):
        raise ClusterConnectionError(f"no such CA file: {opts.ca_file}")
    kw: dict[str, Any] = {
        "hosts": [u.strip() for u in url.split(",") if u.strip()],
        "timeout": opts.timeout,
        "max_retries": 3,
        "retry_on_timeout": True,
    }
    if opts.ca_file:
        kw["ca_certs"] = opts.ca_file
    return kw


def _opensearch(url: str, opts: ClusterOptions) -> Any:
    from opensearchpy import OpenSearch

    kw = _client_kwargs(url, opts)
    if opts.user is not None:
        kw["http_auth"] = (opts.user, opts.password or "")
    if opts.api_key:
        kw["headers"] = {"Authorization": f"ApiKey {opts.api_key}"}
    if url.startswith("https") and opts.ca_file:
        kw["verify_certs"] = True
    kw["retry_on_status"] = (429, 502, 503, 504)
    return OpenSearch(**kw)


def _elasticsearch(url: str, opts: ClusterOptions, major: int) -> Any:
    from elasticsearch import Elasticsearch

    kw: dict[str, Any] = {
        "hosts": [u.strip() for u in url.split(",") if u.strip()],
        "request_timeout": opts.timeout,
        "max_retries": 3,
        "retry_on_timeout": True,
        "retry_on_status": (429, 502, 503, 504),
    }
    if opts.ca_file:
        kw["ca_certs"] = opts.ca_file
    if opts.user is not None:
        kw["basic_auth"] = (opts.user, opts.password or "")
    if opts.api_key:
        kw["api_key"] = opts.api_key
    client = Elasticsearch(**kw)
    try:
        client_major = int(package_version("elasticsearch").split(".")[0])
    except (PackageNotFoundError, ValueError):
        client_major = major
    if major and client_major > major:
        pin_compatible_with(client.transport, client_major, major)
    return client


def pin_compatible_with(transport: Any, client_major: int, server_major: int) -> None:
    """Make every request ask for the server's REST API major, not the client's.

    A client of major N sends ``Accept``/``Content-Type:
    application/vnd.elasticsearch+json; compatible-with=N`` on every request, and
    the endpoint's own headers override ``client.options(headers=...)``; a server
    of major N-1 refuses that (400 ``media_type_header_exception``). The headers
    are rewritten where they leave, in the transport the client's copies share.
    """
    old = f"compatible-with={client_major}"
    new = f"compatible-with={server_major}"
    send = transport.perform_request

    def perform_request(method: str, target: str, **kwargs: Any) -> Any:
        headers = kwargs.get("headers")
        if isinstance(headers, Mapping):
            pinned = headers.copy() if hasattr(headers, "copy") else dict(headers)
            for key, value in headers.items():
                if isinstance(value, str) and old in value:
                    pinned[key] = value.replace(old, new)
            kwargs["headers"] = pinned
        return send(method, target, **kwargs)

    transport.perform_request = perform_request


def connect(url: str, opts: ClusterOptions) -> Engine:
    """Ask the endpoint what it is and return the matching client."""
    probe = _opensearch(url, opts)
    try:
        info = guard(lambda: probe.info(), url, opening=True)
    except BaseException:
        probe.close()
        raise
    version = info.get("version") if isinstance(info, dict) else None
    if not isinstance(version, dict) or "number" not in version:
        probe.close()
        raise ClusterConnectionError(f"{url} is not an OpenSearch or Elasticsearch endpoint")
    distribution = str(version.get("distribution") or "elasticsearch")
    number = str(version.get("number") or "")
    if distribution == "opensearch":
        return Engine(probe, "opensearch", number, url)
    probe.close()
    major = int(number.split(".")[0]) if number[:1].isdigit() else 0
    if major and major < 8:
        raise ClusterConnectionError(
            f"{url} is Elasticsearch {number}; picfind needs Elasticsearch 8 or 9, or OpenSearch"
        )
    es = _elasticsearch(url, opts, major)
    try:
        guard(lambda: es.info(), url, opening=True)
    except BaseException:
        es.close()
        raise
    return Engine(es, "elasticsearch", number, url)


def guard(call: Callable[[], T], url: str, *, opening: bool = False) -> T:
    """Run one request; turn transport failures into picfind's errors.

    While opening, every failure is the user's to fix (exit 2); later, an
    unreachable cluster is a ``StoreError`` (the run failed, exit 1).
    """
    try:
        return call()
    except Exception as exc:
        raise translate(exc, url, opening=opening) from exc


def translate(exc: Exception, url: str, *, opening: bool = False) -> Exception:
    """The picfind error for a client exception (of either client library)."""
    name = type(exc).__name__
    status = status_of(exc)
    text = _reason(exc)
    if isinstance(exc, UsageError | StoreError):
        return exc
    if status == 401 or name == "AuthenticationException":
        return ClusterConnectionError(f"{url} refused the credentials (401 Unauthorized)")
    if status == 403 or name == "AuthorizationException":
        return ClusterConnectionError(f"{url}: permission denied (403): {text}")
    if name in ("SSLError", "TlsError") or "CERTIFICATE_VERIFY_FAILED" in text:
        return ClusterConnectionError(f"{url}: TLS failed: {text}")
    if name in ("ConnectionError", "ConnectionTimeout") or "Connection" in name:
        msg = f"cannot connect to {url}: {text}"
        return ClusterConnectionError(msg) if opening else StoreError(msg)
    if opening and (status in (404, 405) or name in ("NotFoundError", "SerializationError")):
        return ClusterConnectionError(f"{url} is not an OpenSearch or Elasticsearch endpoint")
    if opening and name == "UnsupportedProductError":
        return ClusterConnectionError(f"{url} is not an OpenSearch or Elasticsearch endpoint")
    return StoreError(f"{url}: {text}")


def status_of(exc: Exception) -> int | None:
    """The HTTP status of a client exception (either client library), if it has one."""
    for attr in ("status_code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    meta = getattr(exc, "meta", None)
    value = getattr(meta, "status", None)
    return value if isinstance(value, int) else None


def plain(resp: Any) -> Any:
    """elasticsearch-py wraps bodies (``ObjectApiResponse``/``HeadApiResponse``); unwrap."""
    body = getattr(resp, "body", resp)
    return bool(body) if type(resp).__name__ == "HeadApiResponse" else body


def _reason(exc: Exception) -> str:
    """A short, single-line reason."""
    info = getattr(exc, "info", None) or getattr(exc, "body", None)
    if isinstance(info, dict):
        err = info.get("error")
        if isinstance(err, dict):
            root = (err.get("root_cause") or [err])[0]
            return f"{root.get('type', '')}: {root.get('reason', '')}".strip(": ")
        if isinstance(err, str):
            return err
    text = str(exc)
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    if "timed out" in text.lower():
        return "timed out"
    return " ".join(text.split())[:300]
