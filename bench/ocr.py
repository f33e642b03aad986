"""Reading text in photos: speed where there is none, read-back where there is.

``python bench/ocr.py [PART...] [--threads N] [--workers N] [--detector-side S]
[--second-side S] [--no-classify] [--limit N] [--out FILE]`` runs the parts named (default: all but
``tune``) and merges their results into bench/results/ocr.json:

* ``nontext``: the OCR pass over ../shared/data/catsdogs (1000 photos, mostly
  without text): photos/s (wall clock) and CPU seconds per photo, how many
  photos went past detection;
* ``rendered``: the 120 photos of bench/textphotos.py (seed 0): photos/s, the
  fraction of words read back and recall@10 of searching each word by exact
  token match over the set's OCR output, per text size, style, font, turn;
* ``imagenet``: ../shared/data/imagenet-samples (1000 photos): photos/s, and
  for the classes that show text, the words a person reads there (listed below,
  typed by looking at the photos) that the reader finds, with recall@10 of
  searching them over all 1000 photos' OCR output, and what was read;
* ``documents``: a receipt photo and a web-page-like image drawn with Pillow,
  and headless Chromium's screenshot of the same page: the words read back;
* ``tune``: detector sizes (and a second, larger detection where the first
  finds text) on 150 catsdogs photos and the rendered set: photos/s and
  read-back, to choose ``Settings``' defaults.

Throughput is measured on whatever else the machine is running: CPU seconds per
photo are given beside photos/s because they are less disturbed by other load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import textphotos  # noqa: E402  (the sibling module, also when run as a script)

from picfind import textnorm  # noqa: E402
from picfind.errors import ImageError  # noqa: E402
from picfind.ocr import Reader, ReadText, Settings  # noqa: E402

SHARED = textphotos.SHARED
RESULTS = HERE / "results" / "ocr.json"

# What a person reads in the imagenet-samples photos that show text (by class).
IMAGENET_TEXT: dict[str, list[str]] = {
    "street_sign": [
        "siasconset", "bike", "path", "surfside", "whaling", "museum", "polpis",
        "wauwinet", "hospital", "airport", "police", "station",
    ],
    "book_jacket": ["wizard", "oz", "denslow", "pictures"],
    "web_site": ["cybermation", "corporate", "products", "customers", "contact"],
    "scoreboard": [
        "petco", "kenya", "usa", "england", "australia", "fiji", "5:40", "6:24", "6:02", "6:46",
    ],
    "menu": [],  # Japanese; what is read is listed, nothing is scored
    "bookshop": ["forest", "bookshop"],
    "shoe_shop": ["shoe", "boutique"],
    "cinema": ["heston", "ten", "commandments"],
    "cash_machine": ["bangor", "savings", "bank"],
    "slot": ["cosmic", "slot", "game"],
    "sunscreen": ["biotherm", "celluli", "laser", "intensive", "night", "cream"],
    "trolleybus": ["tilehurst", "hovis", "butter", "tea", "reading", "144"],
    "lotion": ["nivea"],
    "rugby_ball": ["gilbert"],
    "police_van": ["police"],
    "binder": ["typeface", "reference", "index"],
    "analog_clock": ["quartz", "12"],
    "laptop": ["ryan"],
    "packet": ["seeds"],
    "basketball": ["34", "24"],
}  # fmt: skip


# --------------------------------------------------------------------------- reading


def read_all(
    reader: Reader, files: Sequence[Path], workers: int = 1
) -> tuple[dict[str, ReadText], dict[str, Any]]:
    """Read every file (decode included); results by name, and the timing."""
    results: dict[str, ReadText] = {}
    failed: dict[str, str] = {}

    def one(path: Path) -> None:
        try:
            results[path.name] = reader.read_file(path)
        except ImageError as e:
            failed[path.name] = e.reason

    cpu, wall = time.process_time(), time.perf_counter()
    if workers == 1:
        for path in files:
            one(path)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, files))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    counts = reader.counts
    return results, {
        "photos": len(files),
        "failed": failed,
        "seconds": round(wall, 2),
        "photos_per_second": round(len(files) / wall, 2),
        "cpu_seconds_per_photo": round(cpu / len(files), 4),
        "photos_past_detection": sum(1 for r in results.values() if r.lines),
        "detector_runs": counts.detector_runs,
        "recogniser_runs": counts.recogniser_runs,
        "step_seconds": {k: round(v, 2) for k, v in counts.seconds.items()},
    }


def searchable(found: ReadText) -> tuple[list[str], list[str], list[float]]:
    """A photo's words and parts (as the stores will index them), and line confidences."""
    return (
        textnorm.words(found.text),
        textnorm.parts(found.text),
        [line.confidence for line in found.lines],
    )


def contains(seq: Sequence[str], phrase: Sequence[str]) -> bool:
    n = len(phrase)
    return n > 0 and any(list(seq[i : i + n]) == list(phrase) for i in range(len(seq) - n + 1))


def search(index: dict[str, tuple[list[str], list[str], list[float]]], term: str) -> list[str]:
    """Photos whose words or parts hold the term's words as a phrase, surest first."""
    phrase = textnorm.query_words(term)
    hits = [
        (-max(conf, default=0.0), name)
        for name, (words, parts, conf) in index.items()
        if contains(words, phrase) or contains(parts, phrase)
    ]
    return [name for _, name in sorted(hits)]


def recall_at_10(
    index: dict[str, tuple[list[str], list[str], list[float]]], relevant: dict[str, set[str]]
) -> tuple[float, dict[tuple[str, str], bool]]:
    """Mean recall@10 over query words, and per (word, photo): in the top 10?"""
    recalls, hit = [], {}
    for word, photos in relevant.items():
        top = set(search(index, word)[:10])
        recalls.append(len(top & photos) / min(10, len(photos)))
        for p in photos:
            hit[(word, p)] = p in top
    return (statistics.fmean(recalls) if recalls else 0.0), hit


# --------------------------------------------------------------------------- parts


def nontext(reader: Reader, workers: int, limit: int | None = None) -> dict[str, Any]:
    files = sorted((SHARED / "data" / "catsdogs").glob("*.jpg"))[:limit]
    _, timing = read_all(reader, files, workers)
    return timing


def rendered(reader: Reader, workers: int, folder: Path | None = None) -> dict[str, Any]:
    """The rendered set, made in ``folder`` (or a temporary one) unless already there."""
    with tempfile.TemporaryDirectory() as tmp:
        where = folder or Path(tmp)
        if (where / "truth.json").exists():
            truth = textphotos.load_truth(where)
        else:
            truth = textphotos.generate(where, count=120, seed=0)
        results, timing = read_all(reader, [where / p.file for p in truth], workers)
    index = {name: searchable(found) for name, found in results.items()}
    relevant: dict[str, set[str]] = defaultdict(set)
    occurrences = []  # (word, photo, item)
    for p in truth:
        for item in p.items:
            for word in item.text.split():
                if textnorm.query_words(word):
                    relevant[word.casefold()].add(p.file)
                    occurrences.append((word.casefold(), p.file, item))
    mean_recall, hit = recall_at_10(index, relevant)

    def found(word: str, photo: str) -> bool:
        words, parts, _ = index.get(photo, ([], [], []))
        q = textnorm.query_words(word)
        return contains(words, q) or contains(parts, q)

    def table(key: Callable[[textphotos.Item], object]) -> dict[str, dict[str, float]]:
        groups: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
        for word, photo, item in occurrences:
            groups[str(key(item))].append((found(word, photo), hit[(word, photo)]))
        return {
            k: {
                "words": len(v),
                "found": round(statistics.fmean(f for f, _ in v), 3),
                "recall_at_10": round(statistics.fmean(h for _, h in v), 3),
            }
            for k, v in sorted(groups.items(), key=lambda kv: _order(kv[0]))
        }

    return {
        **timing,
        "texts": sum(len(p.items) for p in truth),
        "words": len(occurrences),
        "distinct_words": len(relevant),
        "found": round(statistics.fmean(found(w, p) for w, p, _ in occurrences), 3),
        "recall_at_10": round(mean_recall, 3),
        "by_size_px_on_800": table(lambda i: i.size),
        "by_style": table(lambda i: i.style),
        "by_turn_degrees": table(lambda i: ("0-5", "5-10", "10-15")[min(2, int(abs(i.angle) / 5))]),
        "by_font": table(lambda i: i.font),
    }


def imagenet(reader: Reader, workers: int) -> dict[str, Any]:
    folder = SHARED / "data" / "imagenet-samples"
    files = sorted(folder.glob("*.JPEG"))
    results, timing = read_all(reader, files, workers)
    index = {name: searchable(found) for name, found in results.items()}
    by_class = {f.name.split("_", 1)[1].rsplit(".", 1)[0]: f.name for f in files}
    relevant: dict[str, set[str]] = defaultdict(set)
    for cls, words in IMAGENET_TEXT.items():
        for w in words:
            relevant[w].add(by_class[cls])
    mean_recall, hit = recall_at_10(index, relevant)
    classes = {}
    for cls, words in IMAGENET_TEXT.items():
        name = by_class[cls]
        photo_words, photo_parts, _ = index.get(name, ([], [], []))
        got = [
            w
            for w in words
            if contains(photo_words, textnorm.query_words(w))
            or contains(photo_parts, textnorm.query_words(w))
        ]
        classes[cls] = {
            "file": name,
            "expected": len(words),
            "found": got,
            "missed": [w for w in words if w not in got],
            "in_top_10": sum(hit[(w, name)] for w in words),
            "read": [line.text for line in results[name].lines] if name in results else None,
        }
    expected = sum(len(w) for w in IMAGENET_TEXT.values())
    return {
        **timing,
        "expected_words": expected,
        "found": round(sum(len(c["found"]) for c in classes.values()) / expected, 3),
        "recall_at_10": round(mean_recall, 3),
        "classes": classes,
    }


def documents(reader: Reader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        made = {
            "receipt_photo": (t / "receipt.jpg", textphotos.receipt(t / "receipt.jpg")),
            "web_page_pillow": (t / "page.png", textphotos.web_page(t / "page.png")),
        }
        if textphotos.CHROMIUM.exists():
            (t / "page.html").write_text(textphotos.page_html(), encoding="utf-8")
            textphotos.screenshot(t / "page.html", t / "shot.png")
            made["web_page_chromium"] = (t / "shot.png", made["web_page_pillow"][1])
        for key, (path, lines) in made.items():
            started = time.perf_counter()
            found = reader.read_file(path)
            seconds = time.perf_counter() - started
            words, parts, _ = searchable(found)
            expected = [w for line in lines for w in textnorm.query_words(line)]
            missed = [w for w in expected if not (contains(words, [w]) or contains(parts, [w]))]
            out[key] = {
                "seconds": round(seconds, 2),
                "words": len(expected),
                "found": round(1 - len(missed) / len(expected), 3),
                "missed": missed,
                "read": [line.text for line in found.lines],
            }
    return out


def tune(reader: Reader, workers: int) -> dict[str, Any]:
    """Detector sizes on 150 catsdogs photos and the rendered set."""
    files = sorted((SHARED / "data" / "catsdogs").glob("*.jpg"))[:150]
    options: list[dict[str, Any]] = [{"detector_side": s} for s in (480, 640, 800)] + [
        {"detector_side": 480, "second_side": 960},
        {"detector_side": 640, "second_side": 960},
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        textphotos.generate(Path(tmp), count=120, seed=0)
        for option in options:
            _, plain = read_all(reader.with_settings(**option), files, workers)
            text = rendered(reader.with_settings(**option), workers, Path(tmp))
            rows.append(_tuned(option, plain, text))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"photos_nontext": len(files), "options": rows}


def _tuned(option: dict[str, Any], plain: dict[str, Any], text: dict[str, Any]) -> dict[str, Any]:
    return {
        **option,
        "nontext_photos_per_second": plain["photos_per_second"],
        "nontext_cpu_seconds_per_photo": plain["cpu_seconds_per_photo"],
        "rendered_photos_per_second": text["photos_per_second"],
        "rendered_cpu_seconds_per_photo": text["cpu_seconds_per_photo"],
        "rendered_found": text["found"],
        "rendered_recall_at_10": text["recall_at_10"],
        "rendered_found_by_size": {k: v["found"] for k, v in text["by_size_px_on_800"].items()},
    }


def _order(key: str) -> tuple[int, float | str]:
    try:
        return (0, float(key))
    except ValueError:
        return (1, key)


PARTS = ("nontext", "rendered", "imagenet", "documents", "tune")


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help=f"any of {', '.join(PARTS)}")
    parser.add_argument("--threads", type=int, default=None, help="per ONNX Runtime session")
    parser.add_argument("--workers", type=int, default=1, help="photos read at once")
    parser.add_argument("--detector-side", type=int, default=None)
    parser.add_argument("--second-side", type=int, default=None)
    parser.add_argument("--no-classify", action="store_true")
    parser.add_argument("--limit", type=int, default=None, help="nontext: first N photos only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(list(argv) if argv is not None else None)
    parts = args.parts or [p for p in PARTS if p != "tune"]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}; parts: {', '.join(PARTS)}")
    changes: dict[str, Any] = {}
    if args.detector_side:
        changes["detector_side"] = args.detector_side
    if args.second_side:
        changes["second_side"] = args.second_side
    if args.no_classify:
        changes["classify"] = False
    settings = Settings(**changes)
    started = time.perf_counter()
    # --threads per session, --workers photos at once (the bench reads them itself)
    cores = args.threads * args.workers if args.threads is not None else None
    reader = Reader.load(settings, threads=cores, parallel=args.workers)
    load_seconds = time.perf_counter() - started
    for part in parts:
        run = {
            "nontext": lambda r: nontext(r, args.workers, args.limit),
            "rendered": lambda r: rendered(r, args.workers),
            "imagenet": lambda r: imagenet(r, args.workers),
            "documents": documents,
            "tune": lambda r: tune(r, args.workers),
        }[part]
        fresh = reader.with_settings()  # counters from zero for each part
        result = {
            "settings": asdict(settings),
            "threads": args.threads or os.cpu_count(),
            "workers": args.workers,
            "load_seconds": round(load_seconds, 2),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            **run(fresh),
        }
        merge(args.out, part, result)
        print(f"{part}: {json.dumps(_summary(result))}", flush=True)


def merge(path: Path, key: str, value: Any) -> None:
    """Put one part's results into the results file, keeping the other parts (read
    again just before writing, so benches run one after another keep each other's)."""
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    results[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("photos_per_second", "cpu_seconds_per_photo", "found", "recall_at_10")
    return {k: r[k] for k in keys if k in r}


if __name__ == "__main__":
    main()
