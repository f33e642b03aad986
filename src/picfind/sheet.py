"""Contact sheets: the query and its results as one captioned grid (the paper's figures)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from picfind import imaging
from picfind.errors import ImageError, UsageError

TILE = 200
CAPTION = 34
PAD = 6


@dataclass(frozen=True)
class Tile:
    """One cell: an image file (or None for a text-only cell) and its caption lines."""

    path: str | None
    lines: tuple[str, ...]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError, ImportError):  # Pillow without FreeType
        return ImageFont.load_default()


def _thumbnail(path: str | None) -> Image.Image:
    canvas = Image.new("RGB", (TILE, TILE), (235, 235, 235))
    if path is None:
        return canvas
    try:
        im = imaging.open_image(path)
    except ImageError:
        return canvas  # a file gone or broken since indexing: keep the cell, grey
    im.thumbnail((TILE, TILE), Image.Resampling.LANCZOS)
    canvas.paste(im, ((TILE - im.width) // 2, (TILE - im.height) // 2))
    return canvas


def _fit(text: str, draw: ImageDraw.ImageDraw, font: object, width: int) -> str:
    if draw.textlength(text, font=font) <= width:  # type: ignore[arg-type]
        return text
    while text and draw.textlength(text + "…", font=font) > width:  # type: ignore[arg-type]
        text = text[:-1]
    return text + "…"


def render(tiles: Sequence[Tile], columns: int = 5, title: str = "") -> Image.Image:
    """The grid as an image; the first tile is usually the query."""
    if not tiles:
        raise UsageError("nothing to put on a contact sheet")
    columns = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    head = 24 if title else 0
    cell_w, cell_h = TILE + PAD, TILE + CAPTION + PAD
    sheet = Image.new("RGB", (columns * cell_w + PAD, head + rows * cell_h + PAD), "white")
    draw = ImageDraw.Draw(sheet)
    font, title_font = _font(12), _font(15)
    if title:
        draw.text(
            (PAD, 4), _fit(title, draw, title_font, sheet.width - 2 * PAD), "black", title_font
        )
    for i, tile in enumerate(tiles):
        x = PAD + (i % columns) * cell_w
        y = head + PAD + (i // columns) * cell_h
        sheet.paste(_thumbnail(tile.path), (x, y))
        for j, line in enumerate(tile.lines[:2]):
            draw.text((x, y + TILE + 2 + 15 * j), _fit(line, draw, font, TILE), "black", font)
    return sheet


def save(image: Image.Image, path: str | os.PathLike[str]) -> None:
    """Save by extension (.jpg, .png, …); an unknown extension is the user's mistake."""
    options: dict[str, Any] = (
        {"quality": 90} if str(path).lower().endswith((".jpg", ".jpeg")) else {}
    )
    try:
        image.save(path, **options)
    except (ValueError, KeyError) as exc:
        raise UsageError(f"cannot write contact sheet {path}: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"cannot write contact sheet {path}: {exc.strerror or exc}") from exc
