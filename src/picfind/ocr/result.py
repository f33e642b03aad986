"""What reading a photo gives: lines of text with boxes, as stored per photo.

Boxes are quadrilaterals in normalised coordinates (0–1, x to the right, y
down) of the upright image (EXIF orientation applied), so they stay right
whatever size the photo is shown at. The four corners are in *reading order*:
the text's top-left, top-right, bottom-right, bottom-left — for text turned by
90° or upside down that is not the image's top-left, which tells a viewer the
text's direction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Box", "ReadText", "TextLine", "Word"]

#: Four (x, y) corners, normalised 0–1, in reading order (see the module docstring).
Box = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class Word:
    """A run of non-space characters of a line, with its part of the line's box."""

    text: str
    box: Box


@dataclass(frozen=True)
class TextLine:
    """One detected line (or block) of text and how sure the recogniser was (0–1)."""

    text: str
    confidence: float
    box: Box
    words: tuple[Word, ...]


@dataclass(frozen=True)
class ReadText:
    """The text read in one photo; ``lines`` are in reading order (top to bottom)."""

    lines: tuple[TextLine, ...]
    width: int  # of the upright image that was read, in pixels
    height: int

    @property
    def text(self) -> str:
        """Plain text, one line per line read (what is shown and indexed)."""
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, as stored per photo (coordinates rounded to 1e-4)."""
        return {
            "width": self.width,
            "height": self.height,
            "lines": [
                {
                    "text": line.text,
                    "confidence": round(line.confidence, 4),
                    "box": _box_out(line.box),
                    "words": [{"text": w.text, "box": _box_out(w.box)} for w in line.words],
                }
                for line in self.lines
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReadText:
        """The inverse of :meth:`to_dict` (ValueError on a malformed record)."""
        try:
            lines = tuple(
                TextLine(
                    text=str(line["text"]),
                    confidence=float(line["confidence"]),
                    box=_box_in(line["box"]),
                    words=tuple(
                        Word(text=str(w["text"]), box=_box_in(w["box"])) for w in line["words"]
                    ),
                )
                for line in data["lines"]
            )
            return cls(lines=lines, width=int(data["width"]), height=int(data["height"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a text record: {e}") from None


def _box_out(box: Box) -> list[list[float]]:
    return [[round(x, 4), round(y, 4)] for x, y in box]


def _box_in(value: Sequence[Sequence[float]]) -> Box:
    if len(value) != 4 or any(len(p) != 2 for p in value):
        raise ValueError("a box has four (x, y) corners")
    a, b, c, d = ((float(p[0]), float(p[1])) for p in value)
    return (a, b, c, d)
