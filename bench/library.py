"""Indexing a real-looking photo library: 12-MP JPEGs, HEIC, PNG and camera RAW (DNG).

Usage: ``.venv/bin/python bench/library.py [--count 40] [--rounds 3] [--work DIR] [--model NAME]``
(needs ../shared, or $PICFIND_SHARED, and the dev extra: pillow-heif writes the
HEICs). Writes bench/results/library.json.

The sets are generated deterministically from shared catsdogs photos, into
``--work`` (default: ``$PICFIND_BENCH_CACHE/library``, else a folder under the system
temp dir; reused by later runs):

* ``jpeg12``: 4032×3024 JPEGs (quality 92) of upscaled photos with Gaussian noise
  (σ = 4 levels, seeded), so they are 3–5 MB and decode like camera files;
* ``heic12``: the same pictures as HEIC, with a 320-pixel thumbnail as iPhones
  store (picfind decodes the thumbnail); ``heic12_nothumb``: without one;
* ``png12``: the same pictures as PNG (no reduced-size decoding exists);
* ``dng12``: DNGs (16-bit Bayer mosaic, tests/dngfile.py) with a 2016×1512 JPEG
  preview, as cameras embed; ``dng12_nopreview``: no preview (LibRaw demosaics).

For each set, in one run: ``decode``: ``imaging.load_for_model`` (draft mode)
from bytes already in memory, on as many threads as cores; ``model``: the model
alone (batch 32); ``bound``: 1 / (1/decode + 1/model) — what a pipeline that
keeps every core busy, decoding and inferring with no other cost, would reach;
``end_to_end``: ``picfind index SET --json`` in a fresh index (its
``images_per_second``), and ``ratio`` = end_to_end / bound. ``peak_rss_mb`` is the
index run's peak resident memory (its ``VmHWM``: tests/procmem.py).

``end_to_end_marginal`` (the headline: ``headline`` in the JSON says why): what each
file beyond the first costs, (N − 1) /
(seconds of the set's run − seconds of a run over its first file alone, both
``picfind index``'s own ``seconds``), and ``ratio_marginal`` against the bound:
the run's fixed costs (model load, creating and refreshing the index) weigh
on a 12- or 24-file set as they never do on a library of thousands, and this
figure leaves them out (the plain ``ratio`` keeps them; ``cpu_ms_per_image.start_up``
is their CPU: the one-file run less one file's marginal CPU).

The three are alternated over ``--rounds`` rounds (decode, model, index, decode, …)
and medians reported, with each round's ratio, so that a load that comes and goes
on a shared machine hits all three alike; CPU milliseconds per image sit beside
the rates (``cpu_ratio``: what the ratio is in CPU, which load does not change),
and the load average at the start and end of the run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from picfind import imaging
from picfind.models import DEFAULT_MODEL, Model

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from dngfile import dng_bytes  # noqa: E402
from procmem import run_measured  # noqa: E402

SHARED = Path(os.environ.get("PICFIND_SHARED", HERE.parents[1] / "shared"))
SIZE = (4032, 3024)
SETS = ("jpeg12", "heic12", "heic12_nothumb", "png12", "dng12", "dng12_nopreview")
SMALL_SETS = {"heic12": 2, "heic12_nothumb": 4, "png12": 4, "dng12": 2, "dng12_nopreview": 4}
"""count // this: big or slow files (x265 needs up to a minute to *write* a 12-MP HEIC here)."""


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def camera_picture(source: Path, seed: int) -> Image.Image:
    """A photo upscaled to 12 MP with sensor-like noise (seeded: the same on every run)."""
    with Image.open(source) as im:
        big = im.convert("RGB").resize(SIZE, Image.Resampling.BICUBIC)
    rng = np.random.default_rng(seed)
    noisy = np.asarray(big, dtype=np.float32) + rng.normal(0, 4, (SIZE[1], SIZE[0], 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def encode(kind: str, img: Image.Image) -> tuple[str, bytes]:
    buf = io.BytesIO()
    if kind == "jpeg12":
        img.save(buf, "JPEG", quality=92)
        return ".jpg", buf.getvalue()
    if kind.startswith("heic12"):
        import pillow_heif

        thumbs = [] if kind.endswith("nothumb") else [320]
        pillow_heif.from_pillow(img).save(
            buf, quality=80, thumbnails=thumbs, enc_params={"preset": "ultrafast"}
        )
        return ".heic", buf.getvalue()
    if kind == "png12":
        img.save(buf, "PNG", compress_level=1)
        return ".png", buf.getvalue()
    rgb = np.asarray(img)
    preview = None
    if kind == "dng12":
        img.resize((SIZE[0] // 2, SIZE[1] // 2), Image.Resampling.BILINEAR).save(
            buf, "JPEG", quality=85
        )
        preview = buf.getvalue()
    return ".dng", dng_bytes(rgb, preview=preview)


def generate(work: Path, kind: str, count: int) -> Path:
    folder = work / f"{kind}-{count}"
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted((SHARED / "data" / "catsdogs").glob("*.jpg"))
    step = max(1, len(sources) // count)
    for i, source in enumerate(sources[::step][:count]):
        ext = {"jpeg12": ".jpg", "png12": ".png"}.get(kind, ".heic" if "heic" in kind else ".dng")
        target = folder / f"{source.stem}{ext}"
        if not target.exists():  # an interrupted run resumes
            part = target.with_suffix(".part")
            part.write_bytes(encode(kind, camera_picture(source, seed=i))[1])
            part.replace(target)
    done.touch()
    return folder


def decode_rate(blobs: list[bytes], threads: int) -> tuple[float, float]:
    """(images/s, CPU seconds per image) of ``load_for_model`` on ``threads`` threads."""

    def one(blob: bytes) -> None:
        imaging.load_for_model(blob, 224)

    cpu, start = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, blobs))
    wall = time.perf_counter() - start
    return len(blobs) / wall, (time.process_time() - cpu) / len(blobs)


def model_rate(model: Model, rounds: int = 3, batch: int = 32) -> tuple[float, float]:
    """(images/s, CPU seconds per image) of the model alone, median of ``rounds`` batches."""
    x = np.random.default_rng(0).integers(0, 256, (batch, 224, 224, 3), dtype=np.uint8)
    model.run(x)
    rates, cpus = [], []
    for _ in range(rounds):
        cpu, start = time.process_time(), time.perf_counter()
        model.run(x)
        rates.append(batch / (time.perf_counter() - start))
        cpus.append((time.process_time() - cpu) / batch)
    return statistics.median(rates), statistics.median(cpus)


def index_run(folder: Path, model: str) -> tuple[dict[str, Any], float, float]:
    """``picfind index`` in a fresh index: (its JSON report, peak RSS in MB, the child's
    CPU seconds, start-up included)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "picfind", "index", str(folder)]
        cmd += ["--index", tmp, "--model", model, "--json"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        code, out, err, peak_mb = run_measured(cmd)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise SystemExit(f"picfind index {folder} failed ({code}): {err.strip()}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return json.loads(out), peak_mb, cpu


def measure(folder: Path, model: Model, n_cores: int, rounds: int) -> dict[str, Any]:
    """One set: decode, model and ``picfind index`` alternated over ``rounds`` rounds
    (D M E D M E …), medians; CPU seconds per image beside each rate."""
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    blobs = [p.read_bytes() for p in files]
    mean_mb = sum(map(len, blobs)) / len(blobs) / 1e6
    one = folder.parent / f"{folder.name}-first"  # the set's first file alone
    if not one.is_dir():
        one.mkdir()
        shutil.copy2(files[0], one / files[0].name)
    d1, dn, mr, e2e, marginal, peaks, skipped, fixed = [], [], [], [], [], [], 0, []
    for _ in range(rounds):
        d1.append(decode_rate(blobs, 1))
        dn.append(decode_rate(blobs, n_cores))
        mr.append(model_rate(model))
        first, _, first_cpu = index_run(one, model.name)
        report, rss, cpu = index_run(folder, model.name)
        e2e.append((report["images_per_second"], cpu / max(1, report["indexed"])))
        extra = max(1, report["indexed"] - first["indexed"])
        marginal.append(
            (
                extra / max(1e-9, report["seconds"] - first["seconds"]),
                (cpu - first_cpu) / extra,
            )
        )
        peaks.append(rss)
        fixed.append(first_cpu - marginal[-1][1])  # the one-file run less one file's share
        skipped = len(report["skipped"])
    del blobs

    def med(pairs: list[tuple[float, float]], k: int) -> float:
        return statistics.median(p[k] for p in pairs)

    decode_n, model_r, e2e_r, marginal_r = med(dn, 0), med(mr, 0), med(e2e, 0), med(marginal, 0)
    bound = 1 / (1 / decode_n + 1 / model_r)
    decode_cpu, model_cpu, e2e_cpu, marginal_cpu = (
        med(dn, 1),
        med(mr, 1),
        med(e2e, 1),
        med(marginal, 1),
    )
    return {
        "files": len(files),
        "rounds": rounds,
        "mean_file_mb": round(mean_mb, 2),
        "decode_1_thread": round(med(d1, 0), 1),
        f"decode_{n_cores}_threads": round(decode_n, 1),
        "model": round(model_r, 1),
        "bound": round(bound, 1),
        "end_to_end": round(e2e_r, 1),
        "ratio": round(e2e_r / bound, 2),
        "end_to_end_marginal": round(marginal_r, 1),
        "ratio_marginal": round(marginal_r / bound, 2),
        "marginal_ratios_per_round": [
            round(e[0] / (1 / (1 / d[0] + 1 / m[0])), 2)
            for d, m, e in zip(dn, mr, marginal, strict=True)
        ],
        "ratios_per_round": [
            round(e[0] / (1 / (1 / d[0] + 1 / m[0])), 2)
            for d, m, e in zip(dn, mr, e2e, strict=True)
        ],
        "cpu_ms_per_image": {
            "decode": round(1000 * decode_cpu, 1),
            "model": round(1000 * model_cpu, 1),
            "end_to_end": round(1000 * e2e_cpu, 1),
            "cpu_ratio": round((decode_cpu + model_cpu) / e2e_cpu, 2),
            "end_to_end_marginal": round(1000 * marginal_cpu, 1),
            "cpu_ratio_marginal": round((decode_cpu + model_cpu) / marginal_cpu, 2),
            "start_up": round(1000 * statistics.median(fixed), 1),
            "start_up_per_image": round(1000 * statistics.median(fixed) / len(files), 1),
        },
        "peak_rss_mb": round(max(peaks), 0),
        "skipped": skipped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="photos per set (default 40)")
    cache = os.environ.get("PICFIND_BENCH_CACHE")  # the sets take minutes to make: kept there
    work = Path(cache) / "library" if cache else Path(tempfile.gettempdir()) / "picfind-lib"
    parser.add_argument("--work", type=Path, default=work)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "library.json")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds (default 3)")
    args = parser.parse_args()
    if not (SHARED / "data" / "catsdogs").is_dir():
        sys.exit(f"shared data not found at {SHARED} (set PICFIND_SHARED)")

    n_cores = cores()
    model = Model.load(args.model, threads=n_cores)
    result: dict[str, Any] = {
        "machine": f"{n_cores} cores, shared with other jobs: rates are provisional, "
        "ratios are measured within one run (rounds alternated: decode, model, index)",
        "model": model.name,
        "bound": "1 / (1/decode + 1/model): decode on all cores, then the model on all cores",
        "cpu": "CPU ms per image: decode and model in this process (process_time), "
        "end_to_end the picfind index child's user+system time over its indexed files "
        "(interpreter start and model load included); cpu_ratio = (decode + model) / "
        "end_to_end, what the ratio would be on a quiet machine",
        "headline": "ratio_marginal (and cpu_ratio_marginal): the steady state of a library "
        "of thousands. ratio (and cpu_ratio) keep the run's fixed start-up (interpreter, "
        "imports, model load, creating the index: cpu_ms_per_image.start_up), which a set "
        "of 40 or 80 files spreads over too few files to say what indexing costs a file",
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "sets": {},
    }
    started = time.perf_counter()
    for kind in args.sets.split(","):
        count = max(2, args.count // SMALL_SETS.get(kind, 1))
        t = time.perf_counter()
        folder = generate(args.work, kind, count)
        print(f"{kind}: {time.perf_counter() - t:.0f} s to make", file=sys.stderr)
        result["sets"][kind] = measure(folder, model, n_cores, args.rounds)
        print(json.dumps({kind: result["sets"][kind]}), file=sys.stderr)
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.out.is_file():  # sets not measured this time keep their last figures, marked
        earlier = json.loads(args.out.read_text()).get("sets", {})
        for kind, figures in earlier.items():
            if kind not in result["sets"]:
                result["sets"][kind] = {**figures, "from_an_earlier_run": True}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
