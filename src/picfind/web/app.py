"""The ASGI application: settings, the app factory, and errors as JSON.

``create_app(Settings(index_dir=...))`` gives a FastAPI app serving the page
(``/``), an image's page (``/images/{id}``), the REST API (``/api/...``, see
``routes``) and its OpenAPI documentation (``/docs``). ``picfind serve`` runs
it with uvicorn; tests drive it in-process.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from picfind import api, imaging
from picfind.errors import (
    BusyError,
    ChangedFileError,
    EmptyIndexError,
    ImageError,
    JobBusyError,
    NotFoundError,
    PicfindError,
    QuerySyntaxError,
    UnknownConceptError,
    UsageError,
)
from picfind.web.jobs import Jobs, job_env
from picfind.web.security import Guard
from picfind.web.service import Service
from picfind.web.thumbs import Thumbnails
from picfind.web.uploads import UploadGoneError

HERE = Path(__file__).parent
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
"""Largest request body (an uploaded photo): 20 MiB holds any camera JPEG."""


@dataclass(frozen=True)
class Settings:
    """What ``picfind serve`` was started with."""

    index_dir: Path
    roots: tuple[Path, ...] = ()
    url: str | None = None
    """An OpenSearch/Elasticsearch endpoint instead of ``index_dir`` (``serve --url``)."""
    cluster: api.ClusterOptions | None = None
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_upload_pixels: int = imaging.DEFAULT_MAX_PIXELS
    page_size: int = 24
    warm_model: bool = True


def create_app(settings: Settings) -> FastAPI:
    """The web app over one index, embedded or on a cluster (created empty when roots
    are configured). Over a cluster, thumbnails are cached in ``index_dir``."""
    create = bool(settings.roots)
    if settings.url:
        index = api.open_index(url=settings.url, cluster=settings.cluster, create=create)
    else:
        index = api.open_index(settings.index_dir, create=create)
    service = Service(index, max_upload_pixels=settings.max_upload_pixels)
    app = FastAPI(
        title="picfind",
        summary="Search images by words and by image.",
        description=(
            "The REST API of `picfind serve`. Search results have the same shape as "
            "`picfind search --json`; errors are `{error, code}` objects, plus "
            "`suggestions` for an unknown word."
        ),
        version=_version(),
        lifespan=_lifespan,
        docs_url=None if _swagger_assets() else "/docs",
        redoc_url=None,
    )
    # A slash redirect would name the Host header's site; every address is exact instead.
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.service = service
    app.state.thumbs = Thumbnails(Path(settings.index_dir).expanduser() / "thumbs")
    target = (
        ["--url", settings.url] if settings.url else [str(Path(settings.index_dir).expanduser())]
    )
    app.state.jobs = Jobs(
        target, list(settings.roots), index.model_name, env=job_env(settings.cluster)
    )

    from picfind.web import pages, routes

    app.include_router(routes.router)
    app.include_router(pages.router)
    assets = _swagger_assets()
    if assets is not None:
        _offline_docs(app, assets)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _install_error_handlers(app)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-Picfind-Token", "Content-Type"],
        )
    app.add_middleware(
        Guard,
        token=settings.token,
        max_body=settings.max_upload_bytes,
        cors_origins=settings.cors_origins,
        allowed_hosts=settings.allowed_hosts,
    )

    if settings.warm_model:
        # Load the model while the first page is read, not on the first upload.
        threading.Thread(target=lambda: index.model, name="picfind-warm").start()
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.jobs.stop()  # a running job is interrupted, then killed: never waited for
    app.state.service.close()


def error_body(exc: Exception) -> tuple[int, dict[str, object]]:
    """HTTP status and JSON body for an exception of the library."""
    if isinstance(exc, UnknownConceptError):
        body: dict[str, object] = {
            "error": str(exc),
            "code": "unknown_word",
            "word": exc.term,
            "suggestions": exc.suggestions,
        }
        return 400, body
    if isinstance(exc, QuerySyntaxError):
        return 400, {"error": str(exc), "code": "query_syntax"}
    if isinstance(exc, EmptyIndexError):
        return 409, {"error": str(exc), "code": "empty_index"}
    if isinstance(exc, JobBusyError):
        return 409, {"error": str(exc), "code": "job_running"}
    if isinstance(exc, BusyError):
        return 503, {"error": str(exc), "code": "busy"}
    if isinstance(exc, UploadGoneError):
        return 404, {"error": str(exc), "code": "upload_expired"}
    if isinstance(exc, ChangedFileError):
        return 404, {"error": str(exc), "code": "file_unavailable"}
    if isinstance(exc, NotFoundError):
        return 404, {"error": str(exc), "code": "not_found"}
    if isinstance(exc, ImageError):
        if exc.reason.startswith("too many pixels"):
            return 413, {"error": f"the image has {exc.reason}", "code": "too_many_pixels"}
        return 422, {"error": f"cannot read the image: {exc.reason}", "code": "unreadable_image"}
    if isinstance(exc, UsageError):
        return 400, {"error": str(exc), "code": "bad_request"}
    return 500, {"error": str(exc), "code": "internal_error"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PicfindError)
    async def _picfind(request: Request, exc: PicfindError) -> JSONResponse:
        status, body = error_body(exc)
        return JSONResponse(body, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg', '')}"
            for e in exc.errors()
        ]
        return JSONResponse(
            {
                "error": "invalid request: " + "; ".join(problems),
                "code": "invalid_request",
                "detail": [
                    {"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()
                ],
            },
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, or the machine failing (disk, memory): the traceback goes to the
        # server's log (uvicorn logs the exception after this answer), the client
        # gets JSON like every other error, without the server's paths or details.
        return JSONResponse(
            {
                "error": f"internal error ({type(exc).__name__}); see the server's log",
                "code": "internal_error",
            },
            status_code=500,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return JSONResponse(
            {"error": str(exc.detail), "code": codes.get(exc.status_code, "http_error")},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


def _swagger_assets() -> Path | None:
    """Swagger UI's files from the ``fastapi-offline`` package: the machine may be offline."""
    try:
        import fastapi_offline  # type: ignore[import-untyped, unused-ignore]
    except ImportError:  # FastAPI's own /docs then loads Swagger UI from a CDN
        return None
    folder = Path(fastapi_offline.__file__).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def _offline_docs(app: FastAPI, assets: Path) -> None:
    from fastapi.openapi.docs import get_swagger_ui_html

    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="picfind REST API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("picfind")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"
