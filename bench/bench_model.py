"""Model throughput alone: images/s of ``Model.run_raw`` on random input.

    PYTHONPATH=src .venv/bin/python bench/bench_model.py [--model lite0] [--batch 32]
        [--threads 2] [--spin/--no-spin] [--decoders 0]

``--decoders N`` runs N threads decoding + resizing the JPEGs of the shared data
beside inference, as the indexer does, to see what ``allow_spinning`` costs them.
Each run appends one JSON line to ``bench/results/model.json``.
"""

from __future__ import annotations

import json
import platform
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import click
import numpy as np
import onnxruntime as ort
from PIL import Image

from picfind.models import Model, resolve_model_name

RESULTS = Path(__file__).resolve().parent / "results" / "model.json"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _decoder(stop: threading.Event, size: int, counter: list[int]) -> None:
    """Decode and resize JPEGs in a loop, counting images, until ``stop`` is set."""
    files = sorted(SHARED_DATA.rglob("*.jpg"))[:200] + sorted(SHARED_DATA.rglob("*.JPEG"))[:50]
    if not files:
        return
    i = 0
    while not stop.is_set():
        with Image.open(files[i % len(files)]) as im:
            im.draft("RGB", (size, size))
            np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
        counter[0] += 1
        i += 1


@click.command()
@click.option("--model", "model_name", default="lite0", show_default=True)
@click.option("--batch", default=32, show_default=True)
@click.option("--threads", default=2, show_default=True)
@click.option("--batches", default=10, show_default=True, help="timed batches after warm-up")
@click.option("--spin/--no-spin", default=False, show_default=True, help="ORT allow_spinning")
@click.option("--decoders", default=0, show_default=True, help="JPEG decoding threads beside")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None)
def main(
    model_name: str,
    batch: int,
    threads: int,
    batches: int,
    spin: bool,
    decoders: int,
    cache_dir: Path | None,
) -> None:
    name = resolve_model_name(model_name)
    t0 = time.perf_counter()
    model = Model.load(name, cache_dir=cache_dir, threads=threads, allow_spinning=spin)
    load_s = time.perf_counter() - t0
    s = model.input_size
    x = np.random.default_rng(0).random((batch, 3, s, s), dtype=np.float32)
    for _ in range(2):
        model.run_raw(x)

    stop = threading.Event()
    decoded = [0]
    workers = [
        threading.Thread(target=_decoder, args=(stop, s, decoded), daemon=True)
        for _ in range(decoders)
    ]
    for w in workers:
        w.start()
    t = time.perf_counter()
    for _ in range(batches):
        model.run_raw(x)
    elapsed = time.perf_counter() - t
    stop.set()
    for w in workers:
        w.join()

    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": name,
        "batch": batch,
        "threads": threads,
        "allow_spinning": spin,
        "decoder_threads": decoders,
        "images_per_s": round(batch * batches / elapsed, 1),
        "decoded_per_s": round(decoded[0] / elapsed, 1) if decoders else None,
        "load_s": round(load_s, 2),
        "onnxruntime": ort.__version__,
        "machine": platform.machine(),
    }
    print(json.dumps(result))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
