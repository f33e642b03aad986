"""Camera names as people say them, from the make and model a camera writes.

"NIKON CORPORATION" + "NIKON D750" → "Nikon D750"; "Apple" + "iPhone 12" →
"Apple iPhone 12"; and the folded search keys of a camera ("iphone").
"""

from __future__ import annotations

import re

#: Makers as cameras write them → as people say them (matched on the folded make).
MAKERS: dict[str, str] = {
    "apple": "Apple",
    "canon": "Canon",
    "nikon": "Nikon",
    "nikon corporation": "Nikon",
    "sony": "Sony",
    "fujifilm": "Fujifilm",
    "fuji photo film co ltd": "Fujifilm",
    "olympus": "Olympus",
    "olympus imaging corp": "Olympus",
    "olympus corporation": "Olympus",
    "olympus optical co ltd": "Olympus",
    "om digital solutions": "OM System",
    "panasonic": "Panasonic",
    "samsung": "Samsung",
    "samsung techwin": "Samsung",
    "google": "Google",
    "huawei": "Huawei",
    "xiaomi": "Xiaomi",
    "oneplus": "OnePlus",
    "lge": "LG",
    "lg electronics": "LG",
    "motorola": "Motorola",
    "pentax": "Pentax",
    "pentax corporation": "Pentax",
    "ricoh": "Ricoh",
    "ricoh imaging company ltd": "Ricoh",
    "eastman kodak company": "Kodak",
    "kodak": "Kodak",
    "leica": "Leica",
    "leica camera ag": "Leica",
    "hasselblad": "Hasselblad",
    "dji": "DJI",
    "gopro": "GoPro",
    "sigma": "Sigma",
    "casio computer co ltd": "Casio",
    "minolta co ltd": "Minolta",
    "konica minolta camera inc": "Konica Minolta",
    "hmd global": "HMD Global",
    "nokia": "Nokia",
}


def _tidy(text: str) -> str:
    return " ".join(text.split())


def camera_key(text: str) -> str:
    """A camera name or typed phrase folded as ``camera_keys`` are ("iPhone-12" → "iphone 12")."""
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


_fold = camera_key


def _strip_maker(model: str, make: str, maker: str) -> str:
    """The model without a leading maker name ("NIKON D750" → "D750")."""
    model = _tidy(model)
    for prefix in {_tidy(make), make.split()[0] if make.split() else "", maker}:
        if prefix and model.casefold().startswith(prefix.casefold() + " "):
            return model[len(prefix) + 1 :].strip()
        if prefix and model.casefold() == prefix.casefold():
            return ""
    return model


def camera_name(make: str | None, model: str | None) -> str | None:
    """The name people use: "Apple" + "iPhone 12" → "Apple iPhone 12",
    "NIKON CORPORATION" + "NIKON D750" → "Nikon D750"."""
    if not make and not model:
        return None
    maker = MAKERS.get(
        _fold(make or ""),
        _tidy(make or "").title() if (make or "").isupper() else _tidy(make or ""),
    )
    rest = _strip_maker(model or "", make or "", maker)
    name = f"{maker} {rest}".strip() if maker else rest
    return name or None


def camera_keys(make: str | None, model: str | None) -> tuple[str, ...]:
    """Search keys for a camera: maker, full name, model, model family ("iphone")."""
    keys: list[str] = []
    maker = MAKERS.get(_fold(make or ""), _tidy(make or ""))
    rest = _strip_maker(model or "", make or "", maker)
    family = rest.split()[0] if rest.split() else ""
    for text in (maker, camera_name(make, model), rest, family if len(family) >= 3 else ""):
        key = _fold(text or "")
        if key and key not in keys:
            keys.append(key)
    return tuple(keys)


__all__ = ["MAKERS", "camera_key", "camera_keys", "camera_name"]
