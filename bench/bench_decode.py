"""Single-thread decode speed of ``load_for_model`` with and without JPEG draft mode.

Usage: ``PYTHONPATH=src python bench/bench_decode.py [FOLDER] [--size 224]``
(default folder: ../shared/data/catsdogs). Prints ms per image for each variant.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from picfind.imaging import load_for_model


def bench(paths: list[Path], size: int, *, draft: bool, from_bytes: bool) -> float:
    """Seconds per image, best of three passes (the first pass also warms the page cache)."""
    blobs = [p.read_bytes() for p in paths] if from_bytes else paths
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for blob in blobs:
            load_for_model(blob, size, draft=draft)
        best = min(best, (time.perf_counter() - start) / len(paths))
    return best


def main() -> None:
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "catsdogs"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=default)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    paths = sorted(p for p in args.folder.iterdir() if p.is_file())
    for draft in (True, False):
        for from_bytes in (False, True):
            seconds = bench(paths, args.size, draft=draft, from_bytes=from_bytes)
            source = "bytes" if from_bytes else "path"
            print(
                f"{len(paths)} images, size {args.size}, draft={draft!s:5}, from {source:5}: "
                f"{seconds * 1000:.2f} ms/image ({1 / seconds:.0f} images/s)"
            )


if __name__ == "__main__":
    main()
