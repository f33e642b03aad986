"""How well ``picfind duplicates`` finds copies, and the threshold it should use.

Copies of 100 catsdogs photos (cat.0-49, dog.0-49) are made with known
transforms; they are indexed together with all 1000 originals (the other 900
are distractors that must not group), and every threshold of a sweep is scored
by the pairs it puts in one group:

* recall per transform: share of (original, copy) pairs found;
* precision per transform: of the found pairs involving such a copy, the share
  whose two images come from the same original;
* false pairs among the originals (distinct photos grouped; catsdogs itself
  may hold a few real duplicates, listed so they can be looked at).

Also checks odd-images/mixed_images (the resized, flipped and rotated copies of
ukbench00120 must group, ukbench09268 must not).

    .venv/bin/python bench/duplicates.py      # writes bench/results/duplicates.json
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tables import read_index  # bench/tables.py: this script's folder is on sys.path

import picfind
from picfind.duplicates import (
    DEFAULT_THRESHOLD,
    ROTATIONS,
    duplicates_in_index,
    find_duplicates,
    rotated_embeddings,
)
from picfind.store.base import Table as StoredSet

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("PICFIND_SHARED", HERE.parents[1] / "shared"))
SOURCES = [f"cat.{i}.jpg" for i in range(50)] + [f"dog.{i}.jpg" for i in range(50)]
THRESHOLDS = [0.70, 0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96]


def _rotate(im: Image.Image, degrees: float) -> Image.Image:
    """Rotated about the centre, same size, black corners (like a scanner or a phone)."""
    return im.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False)


def _crop(im: Image.Image, keep: float) -> Image.Image:
    w, h = im.size
    dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return im.crop((dx, dy, w - dx, h - dy))


TRANSFORMS = {
    "resize_50": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "jpeg_q30": lambda im: im,  # same pixels, saved at quality 30 below
    "hflip": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "crop_90": lambda im: _crop(im, 0.90),
    "crop_80": lambda im: _crop(im, 0.80),
    "rotate_5": lambda im: _rotate(im, 5),
    "rotate_15": lambda im: _rotate(im, 15),
    "rotate_30": lambda im: _rotate(im, -30),
}


def make_copies(src: Path, out: Path) -> dict[str, tuple[str, str]]:
    """Write every transform of every source; path of copy → (source path, transform)."""
    made: dict[str, tuple[str, str]] = {}
    for name, fn in TRANSFORMS.items():
        folder = out / name
        folder.mkdir(parents=True)
        for s in SOURCES:
            with Image.open(src / s) as im:
                copy = fn(im.convert("RGB"))
                target = folder / s
                copy.save(target, quality=30 if name == "jpeg_q30" else 90)
            made[str(target)] = (str(src / s), name)
    return made


def score(
    paths: list[str], groups: list[set[str]], made: dict[str, tuple[str, str]]
) -> dict[str, object]:
    """Pairs in one group, judged against where every copy came from."""
    origin = {p: made.get(p, (p, "original")) for p in paths}
    found: set[tuple[str, str]] = set()
    for g in groups:
        found.update(itertools.combinations(sorted(g), 2))
    per: dict[str, dict[str, float]] = {}
    for name in TRANSFORMS:
        truth = {tuple(sorted((p, src))) for p, (src, t) in made.items() if t == name}
        involving = [pr for pr in found if origin[pr[0]][1] == name or origin[pr[1]][1] == name]
        correct = [pr for pr in involving if origin[pr[0]][0] == origin[pr[1]][0]]
        if not truth:
            continue
        per[name] = {
            "recall": len(truth & found) / len(truth),
            "precision": len(correct) / len(involving) if involving else 1.0,
            "pairs_found": len(involving),
        }
    false_originals = sorted(
        pr for pr in found if origin[pr[0]][1] == "original" and origin[pr[1]][1] == "original"
    )
    truth_all = max(1, len(made))
    true_found = sum(1 for pr in found if origin[pr[0]][0] == origin[pr[1]][0])
    return {
        "per_transform": per,
        "pairs_found": len(found),
        "true_pairs_found": true_found,
        "precision": true_found / len(found) if found else 1.0,
        "recall_original_copy": sum(
            1 for p, (src, _) in made.items() if tuple(sorted((p, src))) in found
        )
        / truth_all,
        "original_original_pairs": [
            [os.path.basename(a), os.path.basename(b)] for a, b in false_originals
        ],
    }


def sweep(
    data: StoredSet, made: dict[str, tuple[str, str]], turned: tuple[np.ndarray, np.ndarray] | None
) -> dict[str, object]:
    """Per threshold: each transform alone (originals + that transform's copies, so a copy
    cannot reach its original through a sibling copy), then everything together."""
    result: dict[str, object] = {}
    for t in THRESHOLDS:
        per: dict[str, object] = {}
        for name in TRANSFORMS:
            keep = np.array([made.get(p, ("", name))[1] == name for p in data.paths])
            res = _run(data, made, turned, t, keep)
            per[name] = res["per_transform"][name]  # type: ignore[index]
            per[name]["original_original_pairs"] = len(res["original_original_pairs"])  # type: ignore[index]
        everything = _run(data, made, turned, t, np.ones(len(data), dtype=bool))
        wrong = everything["original_original_pairs"]  # type: ignore[index]
        everything["original_original_pairs"] = len(wrong)  # type: ignore[index]
        everything["original_original_examples"] = wrong[:10]  # type: ignore[index]
        result[str(t)] = {"per_transform": per, "all_together": everything}
    return result


def _run(
    data: StoredSet,
    made: dict[str, tuple[str, str]],
    turned: tuple[np.ndarray, np.ndarray] | None,
    threshold: float,
    keep: np.ndarray,
) -> dict[str, object]:
    rows = np.flatnonzero(keep)
    new_row = np.full(len(data), -1)
    new_row[rows] = np.arange(rows.size)
    sub_turned = None
    if turned is not None:
        inside = keep[turned[0]]
        sub_turned = (new_row[turned[0][inside]], turned[1][inside])
    paths = [data.paths[r] for r in rows]
    started = time.perf_counter()
    groups = find_duplicates(
        paths,
        [data.hashes[r] for r in rows],
        data.embeddings[rows],
        threshold=threshold,
        turned=sub_turned,
    )
    seconds = time.perf_counter() - started
    res = score(paths, [set(g.paths) for g in groups], {p: made[p] for p in paths if p in made})
    res["seconds"] = round(seconds, 3)
    return res


def mixed_images(tmp: Path) -> dict[str, object]:
    folder = SHARED / "data" / "odd-images" / "mixed_images"
    with picfind.open_index(tmp / "mixed", create=True) as idx:
        idx.add([folder])
    data = read_index(tmp / "mixed")
    names = [os.path.basename(p) for p in data.paths]
    sims = data.embeddings @ data.embeddings.T
    with picfind.open_index(tmp / "mixed", read_only=True) as idx:
        groups = duplicates_in_index(idx.store)
    return {
        "cosine": {
            a: dict(zip(names, map(float, row), strict=True))
            for a, row in zip(names, sims, strict=True)
        },
        "groups_at_default": [[os.path.basename(p) for p in g.paths] for g in groups],
    }


def summary(out: dict[str, object]) -> dict[str, object]:
    """The table docs/duplicates.md quotes: recall / precision per transform and threshold."""
    table: dict[str, object] = {}
    for name in ("sweep_no_rotations", "sweep"):
        rows = {}
        for t, res in out[name].items():  # type: ignore[union-attr]
            per = res["per_transform"]
            together = res["all_together"]
            rows[t] = {
                **{k: f"{v['recall']:.2f}/{v['precision']:.2f}" for k, v in per.items()},
                "orig-orig": together["original_original_pairs"],
                "all P": round(together["precision"], 3),
                "all R": round(together["recall_original_copy"], 3),
            }
        table[name] = rows
    table["mixed_images"] = out["mixed_images"]["groups_at_default"]  # type: ignore[index]
    table["cosine_to_original"] = out["cosine_to_original"]
    return table


def main() -> int:
    src = SHARED / "data" / "catsdogs"
    if not src.is_dir():
        print(f"duplicates: shared data not found at {SHARED}", file=sys.stderr)
        return 2
    out: dict[str, object] = {"default_threshold": DEFAULT_THRESHOLD, "sources": len(SOURCES)}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        made = make_copies(src, tmp / "copies")
        with picfind.open_index(tmp / "index", create=True) as idx:
            idx.add([src, tmp / "copies"])
        data = read_index(tmp / "index")
        out["images"] = len(data)
        # similarity of each copy to its original, per transform
        row = {p: i for i, p in enumerate(data.paths)}
        cos: dict[str, dict[str, float]] = {}
        for name in TRANSFORMS:
            vals = [
                float(data.embeddings[row[p]] @ data.embeddings[row[s]])
                for p, (s, t) in made.items()
                if t == name
            ]
            cos[name] = {
                "min": min(vals),
                "p05": float(np.percentile(vals, 5)),
                "median": float(np.median(vals)),
            }
        originals = np.array([i for i, p in enumerate(data.paths) if p not in made])
        e = data.embeddings[originals]
        s = e @ e.T
        np.fill_diagonal(s, -1)
        nearest = s.max(axis=1)
        cos["distinct_originals_nearest"] = {
            "max": float(nearest.max()),
            "p99": float(np.percentile(nearest, 99)),
            "median": float(np.median(nearest)),
        }
        out["cosine_to_original"] = cos
        started = time.perf_counter()
        rows, views = rotated_embeddings(data.paths, data.model, ROTATIONS)
        out["rotated_views_seconds"] = round(time.perf_counter() - started, 2)
        for name, turned in (("sweep_no_rotations", None), ("sweep", (rows, views))):
            out[name] = sweep(data, made, turned)
        out["mixed_images"] = mixed_images(tmp)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "duplicates.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(summary(out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
