"""EfficientNet-Lite0 int8 against float32, in one run: speed, search quality, agreement.

Usage: ``.venv/bin/python bench/int8.py [--rounds N] [--no-calibration-study | --full-study]
[--speed-only]`` (needs ../shared, or $PICFIND_SHARED). Writes bench/results/int8.json
(``--speed-only``: the two speed figures only, minutes instead of half an hour on a busy
machine; the quality figures are kept from the file's last full run, marked
``from_an_earlier_run``):

* ``model_alone``: images/s of each model alone (batch 32, 2 threads), rounds
  alternated between the models so both see the same machine load, with CPU ms
  per image (process time: what load does not change);
* ``index``: ``picfind index ../shared/data/catsdogs --json`` images/s, alternated
  over ``--rounds`` rounds, with the child's CPU ms per indexed image and each round's
  ratio;
* ``eval``: ``picfind eval FOLDER --label-pattern … --model NAME --json`` on
  catsdogs (label: prefix before the first ``.``) and pets (label: the file
  name before its last ``_``): leave-one-out P@10 for classes/embedding/hybrid,
  and keyword AP for "dog" and "cat" on catsdogs;
* ``golden``: the ten photos of ../shared/golden/efficientnet-lite0.json with the
  reference preprocessing: share with the reference's exact top-5, top-1 agreement;
* ``agreement``: int8 against float32 on every readable photo of both sets:
  top-1 agreement, cosine of the embeddings (mean, 1st percentile, min);
* ``calibration_study``: the same agreement on pets for int8 graphs calibrated
  on the shipped dead-leaves images with this CPU's weight bits and with the
  other choice (8 vs 7 bits: quantize.full_range_weights); with ``--full-study``
  also on uniform noise and on 64 shared catsdogs photos (which cannot ship:
  research licence) — how much calibration data and weight bits matter;
* ``decision``: the largest quality loss over all figures, and whether it is
  within 0.005 (the rule for making int8 the default).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from picfind import imaging, quantize
from picfind.effnet import build_onnx
from picfind.errors import ImageError
from picfind.models import MODELS, Model, _weights_path, preprocess
from picfind.torchfile import load_state_dict

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("PICFIND_SHARED", HERE.parents[1] / "shared"))
PICFIND = [sys.executable, "-m", "picfind"]
FLOAT, INT8 = "efficientnet-lite0", "efficientnet-lite0-int8"
SETS = {
    "catsdogs": (SHARED / "data" / "catsdogs", r"^([^.]+)\."),
    "pets": (SHARED / "data" / "pets" / "images", r"^(.+)_[^_]*$"),
}
MODES = ("classes", "embedding", "hybrid")
THRESHOLD = 0.005


def model_rates(
    models: dict[str, Model], rounds: int, batch: int = 32
) -> tuple[dict[str, float], dict[str, float]]:
    """Median images/s and CPU ms per image of each model over ``rounds`` alternated
    rounds of 4 batches."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, 224, 224, 3), dtype=np.uint8)
    for m in models.values():
        m.run(x)  # warm-up
    rates: dict[str, list[float]] = {name: [] for name in models}
    cpus: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, m in models.items():
            cpu, start = time.process_time(), time.perf_counter()
            for _ in range(4):
                m.run(x)
            rates[name].append(4 * batch / (time.perf_counter() - start))
            cpus[name].append(1000 * (time.process_time() - cpu) / (4 * batch))
    return (
        {name: round(statistics.median(r), 1) for name, r in rates.items()},
        {name: round(statistics.median(c), 1) for name, c in cpus.items()},
    )


def index_rates(
    folder: Path, rounds: int
) -> tuple[dict[str, float], dict[str, float], list[float]]:
    """``picfind index`` images/s and the child's CPU ms per indexed image (start-up
    and model load included), medians over alternated rounds; each round's int8/float."""
    rates: dict[str, list[float]] = {FLOAT: [], INT8: []}
    cpus: dict[str, list[float]] = {FLOAT: [], INT8: []}
    for _ in range(rounds):
        for name in rates:
            with tempfile.TemporaryDirectory() as tmp:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                out = subprocess.run(
                    [*PICFIND, "index", str(folder), "--index", tmp, "--model", name, "--json"],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
            report = json.loads(out)
            rates[name].append(report["images_per_second"])
            used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            cpus[name].append(1000 * used / max(1, report["indexed"]))
    per_round = [round(i / f, 2) for f, i in zip(rates[FLOAT], rates[INT8], strict=True)]
    return (
        {name: round(statistics.median(r), 1) for name, r in rates.items()},
        {name: round(statistics.median(c), 1) for name, c in cpus.items()},
        per_round,
    )


def evaluate(name: str, set_name: str) -> dict[str, float]:
    folder, pattern = SETS[set_name]
    args = [*PICFIND, "eval", str(folder), "--label-pattern", pattern, "--model", name, "--json"]
    for mode in MODES:
        args += ["--mode", mode]
    if set_name == "catsdogs":
        args += ["--query", "dog=dog", "--query", "cat=cat"]
    report = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    figures = {f"p@10 {m}": report["by_image"][m]["precision_at_k"] for m in MODES}
    for q in report["by_words"]["queries"]:
        figures[f"ap {q['query']}"] = q["ap"]
    return figures


def golden(models: dict[str, Model]) -> dict[str, dict[str, float]]:
    ref = json.loads((SHARED / "golden" / "efficientnet-lite0.json").read_text())
    out = {}
    for name, m in models.items():
        same_top5 = same_top1 = 0
        for rel, expected in ref["images"].items():
            pixels = imaging.reference_pixels(SHARED / "data" / rel, m.input_size)
            probs = m.run(pixels[None]).probs[0]
            top5 = np.argsort(-probs, kind="stable")[:5].tolist()
            want = [e["index"] for e in expected]
            same_top5 += top5 == want
            same_top1 += top5[0] == want[0]
        n = len(ref["images"])
        out[name] = {"top5_identical": same_top5 / n, "top1_agreement": same_top1 / n}
    return out


def photos(folder: Path) -> np.ndarray:
    rows = []
    for path in sorted(folder.iterdir()):
        try:
            rows.append(imaging.load_for_model(path, 224).pixels)
        except ImageError:
            continue  # the .mat files among the pets
    return np.stack(rows)


def features(m: Model, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    outs = [m.run(pixels[i : i + 32]) for i in range(0, len(pixels), 32)]
    return np.concatenate([o.probs for o in outs]), np.concatenate([o.embedding for o in outs])


def agreement(reference: tuple[np.ndarray, np.ndarray], other: Model, pixels: np.ndarray):
    probs, emb = features(other, pixels)
    cos = (emb * reference[1]).sum(axis=1)
    return {
        "images": len(pixels),
        "top1_agreement": round(float((probs.argmax(1) == reference[0].argmax(1)).mean()), 4),
        "cosine_mean": round(float(cos.mean()), 4),
        "cosine_p1": round(float(np.percentile(cos, 1)), 4),
        "cosine_min": round(float(cos.min()), 4),
    }


def quantized_with(
    images: np.ndarray, cache: Path, label: str, full_range: bool | None = None
) -> Model:
    """Lite0 quantised with the shipped recipe but other calibration images or weight bits."""
    import onnxruntime as ort

    spec = MODELS[FLOAT]
    float_graph = build_onnx(FLOAT, load_state_dict(_weights_path(spec)))
    batches = (preprocess(images[i : i + 16]) for i in range(0, len(images), 16))
    graph = quantize.quantize_model(float_graph, batches, full_range=full_range)
    path = cache / f"{label}.onnx"
    path.write_bytes(graph.SerializeToString())
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return Model(MODELS[INT8], session, path)


def calibration_study(
    float_ref: tuple[np.ndarray, np.ndarray], pixels: np.ndarray, full: bool
) -> Any:
    n = quantize.CALIBRATION_IMAGES
    rng = np.random.default_rng(0)
    catsdogs = sorted(SETS["catsdogs"][0].iterdir())
    chosen = [catsdogs[i] for i in np.linspace(0, len(catsdogs) - 1, n).astype(int)]
    leaves = quantize.calibration_images(n)
    full_range = quantize.full_range_weights()
    bits = f"{8 if full_range else 7}-bit weights"
    other = f"{7 if full_range else 8}-bit weights"
    sets = {
        f"dead_leaves, {bits} (shipped here)": (leaves, full_range),
        f"dead_leaves, {other}": (leaves, not full_range),
    }
    if full:
        sets["uniform_noise"] = (
            rng.integers(0, 256, (n, 224, 224, 3), dtype=np.uint8),
            full_range,
        )
        sets["shared_photos (cannot ship)"] = (
            np.stack([imaging.load_for_model(p, 224).pixels for p in chosen]),
            full_range,
        )
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (label, (images, bits_8)) in enumerate(sets.items()):
            start = time.perf_counter()
            m = quantized_with(images, Path(tmp), f"study{k}", bits_8)
            result = agreement(float_ref, m, pixels)
            result["quantise_seconds"] = round(time.perf_counter() - start, 1)
            out[label] = result
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternated speed rounds")
    parser.add_argument("--no-calibration-study", action="store_true")
    parser.add_argument(
        "--full-study",
        action="store_true",
        help="also calibrate on uniform noise and on shared photos (4 quantisations, not 2)",
    )
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="model alone and index only; the quality figures stay from the last full run",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "int8.json")
    args = parser.parse_args()
    if not (SHARED / "data").is_dir():
        sys.exit(f"shared data not found at {SHARED} (set PICFIND_SHARED)")

    start = time.perf_counter()
    int8 = Model.load(INT8, threads=2)  # builds and caches the graph on first use
    build = time.perf_counter() - start
    models = {FLOAT: Model.load(FLOAT, threads=2), INT8: int8}
    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, shared with other jobs: speeds are provisional",
        "recipe_version": quantize.RECIPE_VERSION,
        "recipe": f"static QDQ, u8 activations, s8 weights per channel, "
        f"{8 if quantize.full_range_weights() else 7}-bit weights on this CPU "
        f"(cache tag q{quantize.recipe_tag()}), stem and classifier float32",
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "calibration_images": quantize.CALIBRATION_IMAGES,
        "int8_load_or_build_seconds": round(build, 1),
    }
    rates, cpu = model_rates(models, args.rounds)
    result["model_alone"] = {
        **rates,
        "int8_over_float": round(rates[INT8] / rates[FLOAT], 2),
        "cpu_ms_per_image": cpu,
        "cpu_float_over_int8": round(cpu[FLOAT] / cpu[INT8], 2),
    }
    idx, cpu, per_round = index_rates(SETS["catsdogs"][0], args.rounds)
    result["index"] = {
        **idx,
        "int8_over_float": round(idx[INT8] / idx[FLOAT], 2),
        "int8_over_float_per_round": per_round,
        "cpu_ms_per_image": cpu,
        "cpu_float_over_int8": round(cpu[FLOAT] / cpu[INT8], 2),
    }
    if args.speed_only:
        earlier = json.loads(args.out.read_text()) if args.out.is_file() else {}
        for key in ("eval", "golden", "agreement", "calibration_study", "decision"):
            if key in earlier:
                result[key] = {**earlier[key], "from_an_earlier_run": True}
        result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        result["seconds"] = round(time.perf_counter() - start, 1)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return

    result["eval"] = {
        s: {name: evaluate(name, s) for name in (FLOAT, INT8)} for s in ("catsdogs", "pets")
    }
    result["golden"] = golden(models)
    result["agreement"] = {}
    pets_pixels = photos(SETS["pets"][0])
    pets_ref = features(models[FLOAT], pets_pixels)
    for s, pixels in (("catsdogs", photos(SETS["catsdogs"][0])), ("pets", pets_pixels)):
        ref = pets_ref if s == "pets" else features(models[FLOAT], pixels)
        result["agreement"][s] = agreement(ref, int8, pixels)
    if not args.no_calibration_study:
        result["calibration_study"] = calibration_study(pets_ref, pets_pixels, args.full_study)

    losses = {
        f"{s} {fig}": round(result["eval"][s][FLOAT][fig] - result["eval"][s][INT8][fig], 4)
        for s in result["eval"]
        for fig in result["eval"][s][FLOAT]
    }
    for fig in ("top5_identical", "top1_agreement"):
        losses[f"golden {fig}"] = round(
            result["golden"][FLOAT][fig] - result["golden"][INT8][fig], 4
        )
    worst = max(losses, key=lambda k: losses[k])
    result["decision"] = {
        "losses": losses,
        "largest_loss": {worst: losses[worst]},
        "threshold": THRESHOLD,
        "int8_qualifies_as_default": losses[worst] <= THRESHOLD,
    }
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.perf_counter() - start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
