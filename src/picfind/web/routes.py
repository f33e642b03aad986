"""The REST API under ``/api``: thin wrappers over ``Service``, ``Thumbnails`` and ``Jobs``.

Handlers that search or read files are plain ``def``: FastAPI runs them in its
thread pool, so model inference and disk reads never block the event loop and
other requests are answered meanwhile.
"""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from PIL import Image

from picfind.errors import NotFoundError, UsageError
from picfind.search import DEFAULT_MODE, Mode
from picfind.store.base import Filter
from picfind.web import download, schemas
from picfind.web.jobs import Jobs
from picfind.web.service import Service, search_filter
from picfind.web.thumbs import SIZES, Thumbnails

router = APIRouter(prefix="/api", tags=["api"])

MAX_LIMIT = 200
ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": schemas.ErrorOut, "description": "unknown word (with suggestions), bad query"},
    404: {"model": schemas.ErrorOut, "description": "no such image id, or its file is gone"},
    408: {"model": schemas.ErrorOut, "description": "the request body came too slowly"},
    409: {"model": schemas.ErrorOut, "description": "the index is empty"},
    413: {"model": schemas.ErrorOut, "description": "upload too large (bytes, pixels or a side)"},
    422: {"model": schemas.ErrorOut, "description": "unreadable upload, invalid parameters"},
    503: {"model": schemas.ErrorOut, "description": "too many uploads waiting to be decoded"},
}
CACHE = "private, max-age=3600"

Limit = Annotated[int, Query(ge=0, le=MAX_LIMIT, description="results per page")]
Offset = Annotated[int, Query(ge=0, le=100_000, description="skip this many results")]


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def capture(
    after: Annotated[
        str | None, Query(max_length=40, description="taken on or after (ISO date: 2019-07-01)")
    ] = None,
    before: Annotated[
        str | None, Query(max_length=40, description="taken before (ISO date: 2020-01-01)")
    ] = None,
    place: Annotated[
        str | None, Query(max_length=100, description="a city, region or country (or its code)")
    ] = None,
    camera: Annotated[
        str | None, Query(max_length=100, description="a camera or its maker: iphone, canon")
    ] = None,
    folder: Annotated[
        str | None, Query(max_length=1000, description="only photos under this folder")
    ] = None,
    sort: Annotated[
        str | None, Query(max_length=20, description="relevance (default) or date (words)")
    ] = None,
) -> Filter | None:
    """The capture filters, validated as the CLI does (a bad one: 400 and one line)."""
    given = {"after": after, "before": before, "place": place, "camera": camera}
    return search_filter({**given, "folder": folder, "sort": sort})


Where = Annotated[Filter | None, Depends(capture)]
Group = Annotated[
    bool, Query(description="fold exact and near duplicates behind one result (`duplicates`)")
]


@router.get(
    "/search", response_model=schemas.SearchOut, response_model_exclude_none=True, responses=ERRORS
)
def search_words(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=500, description="words, e.g. dog OR cat")],
    limit: Limit = 20,
    offset: Offset = 0,
    min_score: Annotated[
        float | None, Query(gt=0, le=1, description="the mass each word must reach")
    ] = None,
    where: Where = None,
    group: Group = False,
) -> dict[str, object]:
    """Search by words: the same query language and results as `picfind search WORDS`,
    optionally only photos taken in a date range, a place, with a camera, under a folder,
    newest first with `sort=date`; with `group`, copies of a photo behind it."""
    results = _service(request).search_words(q, limit, offset, min_score, where, group)
    return {**results.to_json(), "query": results.query, "parsed": results.parsed}


@router.get("/timeline", response_model=schemas.TimelineOut, responses=ERRORS)
def timeline(
    request: Request, limit: Limit = 24, offset: Offset = 0, where: Where = None
) -> dict[str, object]:
    """The whole collection, newest capture first (undated photos last, by path), a page at
    a time: the home page's timeline. The capture filters restrict it; `sort` is ignored."""
    return _service(request).timeline(limit, offset, where).to_json()


@router.post(
    "/search/image",
    response_model=schemas.SearchOut,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def search_upload(
    request: Request,
    file: Annotated[UploadFile, File(description="an image (at most 20 MiB, 67 megapixels)")],
    mode: Annotated[Mode, Form()] = DEFAULT_MODE,
    limit: Annotated[int, Form(ge=0, le=MAX_LIMIT)] = 20,
    offset: Annotated[int, Form(ge=0, le=100_000)] = 0,
    where: Where = None,
    group: Group = False,
) -> dict[str, object]:
    """Search by an uploaded image (more like this). Its features and a small preview are
    kept in memory by content hash (`upload` in the answer), never its bytes."""
    name = os.path.basename(file.filename or "upload")
    # The spooled file, not its bytes: they are read when a decode slot is free.
    key, results = await run_in_threadpool(
        _service(request).search_upload, file.file, name, mode, limit, offset, where, group
    )
    return {**results.to_json(), "upload": key}


@router.get(
    "/uploads/{key}/similar",
    response_model=schemas.SearchOut,
    response_model_exclude_none=True,
    responses=ERRORS,
)
def search_uploaded(
    request: Request,
    key: str,
    mode: Mode = DEFAULT_MODE,
    limit: Limit = 20,
    offset: Offset = 0,
    where: Where = None,
    group: Group = False,
) -> dict[str, object]:
    """More like a photo uploaded earlier (its `upload` key); 404 `upload_expired` once
    the server no longer keeps it."""
    results = _service(request).search_uploaded(key, mode, limit, offset, where, group)
    return {**results.to_json(), "upload": key}


@router.get(
    "/uploads/{key}/preview",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"image/jpeg": {}}}},
)
def upload_preview(request: Request, key: str) -> Response:
    """A small JPEG of a photo uploaded earlier (what the results page shows of it)."""
    upload = _service(request).uploads.get(key)
    return Response(upload.preview, media_type="image/jpeg", headers={"Cache-Control": CACHE})


@router.get(
    "/images/{image_id}/similar",
    response_model=schemas.SearchOut,
    response_model_exclude_none=True,
    responses=ERRORS,
)
def search_similar(
    request: Request,
    image_id: str,
    mode: Mode = DEFAULT_MODE,
    limit: Limit = 20,
    offset: Offset = 0,
    where: Where = None,
    group: Group = False,
) -> dict[str, object]:
    """More like an indexed image (the image itself is left out)."""
    found = _service(request).search_similar(image_id, mode, limit, offset, where, group)
    return found.to_json()


@router.get("/images/{image_id}", response_model=schemas.ImageOut, responses=ERRORS)
def image_metadata(request: Request, image_id: str) -> dict[str, object]:
    """Path, size, date, dimensions and top 10 classes of an indexed image."""
    return _service(request).metadata(image_id)


@router.get(
    "/images/{image_id}/thumbnail",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"image/jpeg": {}}}, 304: {"description": "unchanged"}},
)
def thumbnail(
    request: Request,
    image_id: str,
    size: Annotated[int, Query(description=f"longest side, one of {SIZES}")] = 256,
) -> Response:
    """An upright JPEG thumbnail, made on first request and cached on disk."""
    if size not in SIZES:
        raise UsageError(f"thumbnail size must be one of {', '.join(map(str, SIZES))}")
    stored = _service(request).stored(image_id)
    etag = f'"{stored.content_hash}-{size}"'
    headers = {"ETag": etag, "Cache-Control": CACHE}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    thumbs: Thumbnails = request.app.state.thumbs
    data = thumbs.get(stored, size).read_bytes()
    return Response(data, media_type="image/jpeg", headers=headers)


@router.get(
    "/images/{image_id}/file",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"image/*": {}}}, 304: {"description": "unchanged"}},
)
def original(request: Request, image_id: str) -> Response:
    """The original file, only if it is still the content that was indexed."""
    stored = _service(request).stored(image_id)
    etag = f'"{stored.content_hash}"'
    headers = {"ETag": etag, "Cache-Control": CACHE, "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    image = _service(request).original(image_id)
    name = os.path.basename(stored.path).encode("ascii", "replace").decode().replace('"', "")
    headers["Content-Disposition"] = f'inline; filename="{name}"'
    media = Image.MIME.get(image.format, "application/octet-stream")
    return Response(image.data, media_type=media, headers=headers)


@router.get(
    "/download",
    response_class=StreamingResponse,
    responses={**ERRORS, 200: {"content": {"application/zip": {}}}},
)
def download_zip(
    request: Request,
    ids: Annotated[
        list[str],
        Query(alias="id", max_length=download.MAX_FILES * 2, description="image ids: id=…&id=…"),
    ],
) -> StreamingResponse:
    """The originals of several images as one zip, streamed (at most 200 photos, 2 GiB)."""
    files = download.files_for(_service(request), ids)
    name = f"picfind-{len(files)}-photo{'s' if len(files) > 1 else ''}.zip"
    return StreamingResponse(
        download.zip_stream(files),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/concepts", response_model=schemas.ConceptsOut)
def concepts(
    request: Request,
    prefix: Annotated[str, Query(max_length=100, description="the start of a word")] = "",
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> dict[str, object]:
    """Autocomplete: known concepts starting with the prefix ("gol" → golden retriever…)."""
    return {"prefix": prefix, "concepts": _service(request).complete(prefix, limit)}


@router.get("/stats", response_model=schemas.StatsOut)
def stats(request: Request) -> dict[str, object]:
    """Images, model and size of the index: `picfind stats --json`."""
    return _service(request).stats()


@router.get("/roots", response_model=schemas.RootsOut)
def roots(request: Request) -> dict[str, object]:
    """The folders this server may index (its --root options)."""
    jobs: Jobs = request.app.state.jobs
    return {"roots": [{"id": i, "path": str(p)} for i, p in enumerate(jobs.roots)]}


@router.post("/jobs", response_model=schemas.JobOut, status_code=202, responses=ERRORS)
def start_job(request: Request, body: schemas.JobIn) -> dict[str, object]:
    """Start indexing a configured root (by its number), then with `ocr` read the text in
    its photos; one job at a time."""
    jobs: Jobs = request.app.state.jobs
    return jobs.start(body.root, ocr=body.ocr).to_json()


@router.get("/jobs", response_model=schemas.JobsOut)
def list_jobs(request: Request) -> dict[str, object]:
    """Indexing jobs, newest first."""
    jobs: Jobs = request.app.state.jobs
    return {"jobs": [j.to_json() for j in jobs.all()]}


@router.get("/jobs/{job_id}", response_model=schemas.JobOut, responses=ERRORS)
def job(request: Request, job_id: str) -> dict[str, object]:
    """One job's progress: done, total, rate, eta; its report once done."""
    jobs: Jobs = request.app.state.jobs
    found = jobs.get(job_id)
    if found is None:
        raise NotFoundError(f"no job {job_id}")
    return found.to_json()
