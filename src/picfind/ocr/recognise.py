"""What does it say? Boxes → upright line images → characters (PP-OCR's CRNN + CTC).

Each box is cut out with a perspective warp to an upright rectangle; boxes
much taller than wide are turned 90° (vertical lines, or text turned by 90°).
The direction classifier then says whether a line image is upside down, and
it is turned 180° when it is sure. The recogniser reads a batch of line images
scaled to 48 pixels high and gives, per 8-pixel column, a probability over its
characters; greedy CTC decoding (drop repeats, then blanks) makes the text, and
the columns where each word's characters were read make that word's box.

Needs OpenCV (``picfind[ocr]``); imported only by :mod:`picfind.ocr.reader`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "Crop",
    "Decoded",
    "along",
    "classifier_input",
    "crop",
    "decode",
    "recogniser_input",
    "turn_upside_down",
]

LINE_HEIGHT = 48  # the recogniser's input height
MIN_WIDTH = 320  # its narrowest batch, as trained (rapidocr's rec_img_shape)
CLASSIFIER_SHAPE = (48, 192)  # the direction classifier's (height, width)
UPSIDE_DOWN_SURE = 0.9  # turn a line 180° only when the classifier is this sure
_TALL = 1.5  # a crop this much taller than wide is a vertical line: turn it 90°


@dataclass
class Crop:
    """A line image and its box's corners in reading order (image pixels)."""

    image: np.ndarray  # uint8 BGR, upright as read
    corners: np.ndarray  # 4×2 float32: text top-left, top-right, bottom-right, bottom-left


@dataclass(frozen=True)
class Decoded:
    """A line's text, mean character probability, and each word's span (0–1 of the line)."""

    text: str
    confidence: float
    spans: tuple[tuple[str, float, float], ...]


def crop(bgr: np.ndarray, box: np.ndarray) -> Crop:
    """Cut ``box`` (tl, tr, br, bl image pixels) out of ``bgr`` as an upright rectangle."""
    w = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    h = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    w, h = max(w, 1), max(h, 1)
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(box.astype(np.float32), target)
    image = cv2.warpPerspective(
        bgr, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    corners = box.astype(np.float32)
    if h >= _TALL * w:
        # np.rot90 turns the crop a quarter counter-clockwise: its top edge is the
        # box's right edge, read from the box's top-right down to its bottom-right.
        image = np.ascontiguousarray(np.rot90(image))
        corners = corners[[1, 2, 3, 0]]
    return Crop(image, corners)


def turn_upside_down(c: Crop) -> None:
    """Turn a crop by 180°; its reading order starts at the opposite corner."""
    c.image = np.ascontiguousarray(c.image[::-1, ::-1])
    c.corners = c.corners[[2, 3, 0, 1]]


def _scaled(image: np.ndarray, height: int, width: int) -> tuple[np.ndarray, int]:
    """``image`` at ``height`` rows and its own aspect (at most ``width``), normalised,
    padded with zeros (mid-grey) to ``width``: CHW float32, and the width it filled."""
    h, w = image.shape[:2]
    filled = min(width, max(1, math.ceil(height * w / h)))
    resized = cv2.resize(image, (filled, height), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((3, height, width), np.float32)
    out[:, :, :filled] = resized.transpose(2, 0, 1).astype(np.float32) * (2.0 / 255.0) - 1.0
    return out, filled


def classifier_input(images: Sequence[np.ndarray]) -> np.ndarray:
    """A (N, 3, 48, 192) batch for the direction classifier."""
    h, w = CLASSIFIER_SHAPE
    return np.stack([_scaled(im, h, w)[0] for im in images])


def recogniser_input(images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[float]]:
    """A (N, 3, 48, W) batch, W fitting the widest line; and the width fraction each fills."""
    ratio = max([MIN_WIDTH / LINE_HEIGHT] + [im.shape[1] / im.shape[0] for im in images])
    width = int(LINE_HEIGHT * ratio)
    scaled = [_scaled(im, LINE_HEIGHT, width) for im in images]
    return np.stack([s for s, _ in scaled]), [filled / width for _, filled in scaled]


def decode(probs: np.ndarray, alphabet: Sequence[str], filled: float) -> Decoded:
    """Greedy CTC decoding of one line's (T, C) probabilities.

    ``alphabet[0]`` is the CTC blank. ``filled`` is the fraction of the input
    width the line's pixels took (the rest was padding): word spans are given
    as fractions of the line itself.
    """
    best = probs.argmax(axis=1)
    keep = best != 0
    keep[1:] &= best[1:] != best[:-1]
    columns = np.flatnonzero(keep)
    if columns.size == 0:
        return Decoded("", 0.0, ())
    chars = [alphabet[i] for i in best[columns]]
    confidence = float(probs[columns, best[columns]].mean())
    usable = max(1.0, probs.shape[0] * filled)
    return Decoded("".join(chars), confidence, _spans(chars, columns, usable))


def _spans(
    chars: list[str], columns: np.ndarray, usable: float
) -> tuple[tuple[str, float, float], ...]:
    """Each space-separated word with the fraction of the line its columns cover."""
    spans: list[tuple[str, float, float]] = []
    start = -1
    for i, ch in enumerate([*chars, " "]):
        if ch.strip() and start < 0:
            start = i
        elif not ch.strip() and start >= 0:
            first, last = int(columns[start]), int(columns[i - 1])
            # A character is read in a column near its middle: half a column either side.
            t0 = max(0.0, (first - 0.5) / usable)
            t1 = min(1.0, (last + 1.5) / usable)
            spans.append(("".join(chars[start:i]), t0, t1))
            start = -1
    return tuple(spans)


def along(corners: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """The part of a reading-order quadrilateral between fractions t0 and t1 of its length."""
    tl, tr, br, bl = corners

    def at(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        return np.asarray(a + (b - a) * t, np.float32)

    return np.array([at(tl, tr, t0), at(tl, tr, t1), at(bl, br, t1), at(bl, br, t0)], np.float32)
