"""Steady-state indexing CPU per file against the decode + model bound, in one process.

Usage: ``.venv/bin/python bench/steady.py FOLDER [--runs 3] [--out FILE]``.

``bench/library.py``'s marginal figure subtracts a one-file ``picfind index`` run
from a whole-set run; its start-up CPU (interpreter, imports, model load) varies by
±0.3 s under load, ±8 ms a file over a 40-file set. Here the set is indexed ``--runs``
times in this process, each into a fresh index: the first run pays the model's load
and the warm-ups, the later ones are what a file costs in a long run (the model
loaded, the heap warm). Beside them, in the same process: ``decode`` (``load_for_model``
on the bytes, all cores) and ``model`` (batch 32) CPU per image, as library.py
measures them, and ``cpu_ratio_steady`` = (decode + model) / the median later run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from library import cores, decode_rate, model_rate

import picfind
from picfind.stages.model import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp, picfind.open_index(tmp, create=True) as idx:
            cpu = time.process_time()
            report = idx.add([args.folder])
            runs.append(1000 * (time.process_time() - cpu) / max(1, report.indexed))
    blobs = [p.read_bytes() for p in sorted(args.folder.iterdir()) if not p.name.startswith(".")]
    decode = 1000 * decode_rate(blobs, cores())[1]
    model = 1000 * model_rate(load_model(threads=cores()))[1]
    steady = statistics.median(runs[1:]) if len(runs) > 1 else runs[0]
    result = {
        "folder": str(args.folder),
        "files": len(blobs),
        "cpu_ms_per_file_runs": [round(r, 1) for r in runs],
        "cpu_ms_per_file_steady": round(steady, 1),
        "cpu_ms_decode": round(decode, 1),
        "cpu_ms_model": round(model, 1),
        "cpu_ratio_steady": round((decode + model) / steady, 2),
        "load_average": [load_start, [round(x, 2) for x in os.getloadavg()]],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
