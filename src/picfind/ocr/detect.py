"""Where is text? PP-OCR's DB detector: pixels → a text-probability map → boxes.

The network predicts, per pixel, how likely it is to be inside a (shrunken)
text region; boxes are the minimum-area rectangles of the connected regions
above ``THRESHOLD``, kept when their mean probability reaches ``BOX_THRESHOLD``,
then grown back by ``UNCLIP_RATIO`` (the DB paper's "unclip": the network was
trained on regions shrunk by that offset). The constants are PP-OCR's own
(rapidocr's config.yaml), so the boxes are the ones the recogniser was made for.

Unclipping a rectangle with PaddleOCR's polygon offset (round joins) and taking
the minimum-area rectangle of the result is the same as growing the rectangle
by the offset distance on every side, which is what :func:`_unclip` does:
no polygon-clipping library is needed.

Needs OpenCV (``picfind[ocr]``); imported only by :mod:`picfind.ocr.reader`.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "BOX_THRESHOLD",
    "MAX_LINE_HEIGHT",
    "THRESHOLD",
    "UNCLIP_RATIO",
    "boxes_from_map",
    "detector_input",
    "may_hold_text",
]

THRESHOLD = 0.3  # pixel probability that counts as text
BOX_THRESHOLD = 0.5  # mean probability inside a box to keep it
UNCLIP_RATIO = 1.6
MAX_CANDIDATES = 1000
#: Boxes whose short side exceeds this fraction of the photo's long side are dropped.
#: PP-OCRv6's detector marks a large part of many natural photos (fur, foliage) as
#: one near-square "text" region: on 250 catsdogs photos, 148 had a box, 37 have one
#: below this height, and the only real text lost in the shared photos is a digital
#: clock's digits filling the frame (docs/ocr.md).
MAX_LINE_HEIGHT = 0.3
_MIN_SIDE = 3  # pixels of the probability map
_DILATE = np.ones((2, 2), np.uint8)


def detector_input(bgr: np.ndarray, side: int) -> tuple[np.ndarray, float, float]:
    """The (1, 3, H, W) float32 input for a long side of ``side`` pixels, and the scales.

    Both sides are rounded to multiples of 32 (the network's stride), images
    smaller than ``side`` are scaled up (small photos often carry small text).
    Returns (tensor, sx, sy) where a map pixel (x, y) is image pixel (x·sx, y·sy).
    """
    h, w = bgr.shape[:2]
    scale = side / max(h, w)
    dw = max(32, round(w * scale / 32) * 32)
    dh = max(32, round(h * scale / 32) * 32)
    resized = cv2.resize(bgr, (dw, dh), interpolation=cv2.INTER_LINEAR)
    x = resized.astype(np.float32)
    x *= 2.0 / 255.0
    x -= 1.0  # (x / 255 − 0.5) / 0.5, as PP-OCR was trained
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), w / dw, h / dh


def boxes_from_map(
    prob: np.ndarray, sx: float, sy: float, width: int, height: int
) -> list[tuple[np.ndarray, float]]:
    """Boxes (4×2 float32 image pixels, tl-tr-br-bl) with their scores, from a (H, W) map."""
    mask = cv2.dilate((prob > THRESHOLD).astype(np.uint8), _DILATE)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    found: list[tuple[np.ndarray, float]] = []
    for contour in contours[:MAX_CANDIDATES]:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < _MIN_SIDE:
            continue
        corners = cv2.boxPoints(rect)
        score = _mean_inside(prob, corners)
        if score < BOX_THRESHOLD:
            continue
        grown = _unclip(((rect[0][0], rect[0][1]), (rect[1][0], rect[1][1]), rect[2]))
        if min(grown[1]) < _MIN_SIDE + 2:
            continue
        box = _clockwise(cv2.boxPoints(grown))
        box[:, 0] = np.clip(box[:, 0] * sx, 0, width - 1)
        box[:, 1] = np.clip(box[:, 1] * sy, 0, height - 1)
        short = min(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[0] - box[3]))
        if short <= 3 or short > MAX_LINE_HEIGHT * max(width, height):
            continue
        found.append((box, score))
    return _reading_order(found)


def may_hold_text(prob: np.ndarray) -> bool:
    """Whether a (H, W) map from a small first detection shows anything like a line.

    Looser than :func:`boxes_from_map` on purpose — any region above ``THRESHOLD``
    whose mean reaches ``BOX_THRESHOLD``, however small (at a long side of 320 a
    10-pixel word on an 800-pixel photo is a region of a pixel or two) — but it drops
    the frame-filling regions of fur and foliage, as the boxes do
    (``MAX_LINE_HEIGHT``). A photo it says no for is not detected again.
    """
    mask = (prob > THRESHOLD).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    tallest = MAX_LINE_HEIGHT * max(prob.shape)
    for contour in contours[:MAX_CANDIDATES]:
        if min(cv2.minAreaRect(contour)[1]) > tallest:
            continue
        x, y, w, h = cv2.boundingRect(contour)
        if cv2.mean(prob[y : y + h, x : x + w], mask[y : y + h, x : x + w])[0] >= BOX_THRESHOLD:
            return True
    return False


def _mean_inside(prob: np.ndarray, corners: np.ndarray) -> float:
    """Mean probability inside the polygon (DB's "fast" box score)."""
    h, w = prob.shape
    x0 = int(np.clip(np.floor(corners[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(corners[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(corners[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(corners[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    local = (corners - np.array([x0, y0], np.float32)).astype(np.int32)
    cv2.fillPoly(mask, [local], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


RotatedRect = tuple[tuple[float, float], tuple[float, float], float]


def _unclip(rect: RotatedRect) -> RotatedRect:
    """Grow a rotated rectangle by DB's offset distance (area · ratio / perimeter)."""
    (cx, cy), (w, h), angle = rect
    d = w * h * UNCLIP_RATIO / (2 * (w + h))
    return (cx, cy), (w + 2 * d, h + 2 * d), angle


def _clockwise(points: np.ndarray) -> np.ndarray:
    """Corners as top-left, top-right, bottom-right, bottom-left (image axes)."""
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], np.float32)


def _reading_order(found: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
    """Top to bottom; boxes whose tops are within 10 px are one row, left to right."""
    found.sort(key=lambda f: float(f[0][0, 1]))
    row = 0
    keyed: list[tuple[int, float, int]] = []
    for i, (box, _) in enumerate(found):
        if i and float(box[0, 1]) - float(found[i - 1][0][0, 1]) >= 10:
            row += 1
        keyed.append((row, float(box[0, 0]), i))
    return [found[i] for _, _, i in sorted(keyed)]
