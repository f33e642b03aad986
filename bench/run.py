"""``make bench``: every number the README quotes, measured in one run.

1. throughput: the model alone (EfficientNet-Lite0, batch 32, 2 threads) and
   indexing end to end on ../shared/data/catsdogs, alternated in the same run so
   their ratio is measured under the same load (bench/results/throughput.json);
2. quality: bench/quality.py (bench/results/quality.json);
   duplicate finding: bench/duplicates.py (bench/results/duplicates.json);
3. query latency and memory on synthetic indexes: bench/query.py
   (bench/results/query.json). ``--quick`` stops at 100k images;
4. embedding recall@10 against brute force on real photos, above and below the
   PCA threshold: bench/recall.py (bench/results/recall.json).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import picfind
from picfind.models import Model

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("PICFIND_SHARED", HERE.parents[1] / "shared"))


def model_alone(model: Model, batch: int = 32, batches: int = 10) -> float:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, model.input_size, model.input_size, 3), dtype=np.uint8)
    for _ in range(3):
        model.run(x)
    started = time.perf_counter()
    for _ in range(batches):
        model.run(x)
    return batch * batches / (time.perf_counter() - started)


def indexing(folder: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        with picfind.open_index(Path(tmp) / "index", create=True, threads=2) as idx:
            report = idx.add([folder])
        return {
            "indexed": report.indexed,
            "seconds": report.seconds,
            "images_per_second": report.images_per_second,
        }


def throughput(rounds: int = 3) -> dict[str, object]:
    folder = SHARED / "data" / "catsdogs"
    model = picfind.load_model("efficientnet-lite0", threads=2)
    alone, runs = [], []
    for _ in range(rounds):
        alone.append(model_alone(model))
        runs.append(indexing(folder))
    index_rates = [r["images_per_second"] for r in runs]
    result = {
        "model_alone_images_per_second": statistics.median(alone),
        "indexing_images_per_second": statistics.median(index_rates),
        "ratio_indexing_to_model": statistics.median(
            i / a for i, a in zip(index_rates, alone, strict=True)
        ),
        "rounds": {"model_alone": alone, "indexing": runs},
        "cpus": os.cpu_count(),
    }
    return result


def main() -> int:
    if not (SHARED / "data").is_dir():
        print(f"bench: shared data not found at {SHARED}", file=sys.stderr)
        return 2
    (HERE / "results").mkdir(exist_ok=True)
    result = throughput()
    (HERE / "results" / "throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}, indent=2), flush=True)
    py = [sys.executable]
    subprocess.run([*py, str(HERE / "quality.py")], check=True)
    subprocess.run([*py, str(HERE / "duplicates.py")], check=True)
    subprocess.run([*py, str(HERE / "recall.py")], check=True)
    sizes = "10000,100000" if "--quick" in sys.argv else "10000,100000,1000000"
    subprocess.run([*py, str(HERE / "query.py"), "--sizes", sizes], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
