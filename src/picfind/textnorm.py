"""Text read in photos → the terms a full-text index stores and a query looks up.

Both stores index the *terms* computed here, never raw text, and a query term
goes through the same functions, so the embedded store (SQLite FTS5) and the
cluster store (OpenSearch) tokenise alike and give the same answers.

The rules (docs/ocr.md has examples):

* **Folding.** Unicode compatibility forms are unfolded (``ﬁ`` → ``fi``,
  full-width ``Ａ`` → ``a``), accents removed (``Café`` → ``cafe``, ``Ærø`` →
  ``aero``), case folded (``STRASSE`` and ``Straße`` → ``strasse``).
* **Words** are runs of letters and digits (``a4``, ``gate23``, ``covid19``).
  Between two digits, ``: . , / -`` join (``10:30``, ``3.5``, ``1,000``,
  ``2024-05-01``, ``12/05``); anything else separates. Han, kana and other
  ideographs are one word per character (text in those scripts has no spaces;
  a search for a Chinese word is then a phrase of its characters, as in
  OpenSearch's standard analyzer).
* **Parts** split each word further where OCR tends to drop a space: between
  letters and digits (``Gate23`` → ``gate 23``), at a lower-to-upper case change
  in the text as read (``TheWizard`` → ``the wizard``), and at the numeric
  joiners (``10:30`` → ``10 30``). A word that does not split is its own part.

A document stores its words and its parts as two space-separated strings; a
query term becomes the phrase of its words and matches either column. So
``gate 23`` finds "Gate 23" (words) and "Gate23" (parts), ``10:30`` finds
"10:30" (words), ``wizard of oz`` finds "TheWizard ofOz" (parts).
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

__all__ = ["Terms", "fold", "parts", "query_words", "terms", "words"]

# Letters with no Unicode decomposition that a reader still takes for a base letter
# (NFKD leaves them whole). SQLite's remove_diacritics 2 maps most of them as well.
_BASE_LETTERS = str.maketrans(
    {
        "ø": "o",
        "Ø": "o",
        "đ": "d",
        "Đ": "d",
        "ð": "d",
        "Ð": "d",
        "ł": "l",
        "Ł": "l",
        "ħ": "h",
        "Ħ": "h",
        "ı": "i",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "þ": "th",
        "Þ": "th",
    }
)

_JOINERS = frozenset(":.,/-")


class Terms(NamedTuple):
    """What a document stores for full-text search: two space-separated strings."""

    words: str
    parts: str


def fold(text: str) -> str:
    """Case- and accent-folded text: what is compared, never what is shown."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_BASE_LETTERS))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", bare.casefold())


def words(text: str) -> list[str]:
    """The folded words of ``text``, in order (see the module's rules)."""
    return [w for w in map(fold, _split_words(text)) if w]


def parts(text: str) -> list[str]:
    """The folded parts of ``text``'s words, in order (see the module's rules)."""
    out: list[str] = []
    for raw in _split_words(text):
        out.extend(p for p in map(fold, _split_parts(raw)) if p)
    return out


def terms(text: str) -> Terms:
    """The two strings a document stores: its words and its parts."""
    return Terms(" ".join(words(text)), " ".join(parts(text)))


def query_words(term: str) -> list[str]:
    """The words a query term looks up, as a phrase (same rules as documents).

    Casing is ignored here (people type in any case), so a query never splits
    at a case change: ``TheWizard`` and ``thewizard`` both look up one word.
    """
    return words(term.casefold())


def _is_ideograph(c: str) -> bool:
    """Scripts written without spaces: one word per character."""
    o = ord(c)
    return (
        0x3040 <= o <= 0x30FF  # hiragana, katakana
        or 0x3400 <= o <= 0x4DBF  # CJK extension A
        or 0x4E00 <= o <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= o <= 0xFAFF  # CJK compatibility ideographs
        or 0x20000 <= o <= 0x3FFFF  # CJK extensions B–H
    )


def _kind(c: str) -> str:
    """'d' digit, 'l' letter (combining marks count as letters), 'i' ideograph, '' other."""
    if c.isdigit():
        return "d"
    if _is_ideograph(c):
        return "i"
    if c.isalpha() or unicodedata.combining(c):
        return "l"
    return ""


def _split_words(text: str) -> list[str]:
    """The raw (unfolded) words; NFKC first, so that full-width ``Ａ４`` is ``A4``."""
    text = unicodedata.normalize("NFKC", text)
    found: list[str] = []
    start = -1  # where the current word began, or -1
    for i, c in enumerate(text):
        kind = _kind(c)
        if kind == "i":
            if start >= 0:
                found.append(text[start:i])
            found.append(c)
            start = -1
        elif kind or (start >= 0 and c in _JOINERS and _digits_around(text, i)):
            if start < 0:
                start = i
        elif start >= 0:
            found.append(text[start:i])
            start = -1
    if start >= 0:
        found.append(text[start:])
    return found


def _digits_around(text: str, i: int) -> bool:
    return text[i - 1].isdigit() and i + 1 < len(text) and text[i + 1].isdigit()


def _split_parts(word: str) -> list[str]:
    """A raw word cut between letters and digits, at lower→upper, and at joiners."""
    pieces: list[str] = []
    current = ""
    for c in word:
        if c in _JOINERS:
            pieces.append(current)
            current = ""
            continue
        if current:
            last = current[-1]
            if last.isdigit() != c.isdigit() or (last.islower() and c.isupper()):
                pieces.append(current)
                current = ""
        current += c
    pieces.append(current)
    return [p for p in pieces if p]
