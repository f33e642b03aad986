"""``picfind eval`` through the store, every by-image mode, on the shared labelled sets.

The product's own figures for issue 16: each set is indexed once with
``picfind index`` (bench/.cache/fusion, shared with bench/fusion.py), then
``picfind eval --index`` measures every store mode (leave one out, all queries,
P@10 from the first page, mAP from the whole ranking). The rule for a new default:
on every set within 0.005 P@10 and 0.01 mAP of the better of ``classes`` and
``embedding`` (the issue's "never worse"). Writes bench/results/eval_modes.json.

    .venv/bin/python bench/eval_modes.py                 # ≈ 5 min once indexed
    .venv/bin/python bench/eval_modes.py --sets pets --modes fused,embedding
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fusion import LABELLED, PATTERNS, SHARED, TARGETS, TOLERANCE, indexed  # noqa: E402

MODES = ("hybrid", "classes", "embedding", "fused")
SIGNALS = ("classes", "embedding")


def picfind_eval(name: str, modes: tuple[str, ...]) -> dict[str, Any]:
    """``picfind eval --json`` of one set, every mode, and how long each mode took."""
    out: dict[str, Any] = {}
    for mode in modes:
        cmd = [sys.executable, "-m", "picfind", "eval", str(SHARED / "data" / name)]
        cmd += ["--index", str(indexed(name)), "--label-pattern", PATTERNS[name]]
        cmd += ["--mode", mode, "--json"]
        start = time.perf_counter()
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        summary = json.loads(done.stdout)["by_image"][mode]
        out[mode] = {
            "queries": summary["queries"],
            "p10": summary["precision_at_k"],
            "r10": summary["recall_at_k"],
            "map": summary["map"],
            "seconds": round(time.perf_counter() - start, 1),
        }
    return out


def verdict(modes: dict[str, Any], name: str, candidate: str) -> dict[str, Any]:
    """How far ``candidate`` is from the better signal, and whether it meets the rule."""
    best_p = max(modes[s]["p10"] for s in SIGNALS)
    best_map = max(modes[s]["map"] for s in SIGNALS)
    got = modes[candidate]
    target_p, target_map = TARGETS[name]
    return {
        "better_signal_p10": best_p,
        "better_signal_map": best_map,
        "p10_minus_better": round(got["p10"] - best_p, 4),
        "map_minus_better": round(got["map"] - best_map, 4),
        "never_worse": got["p10"] >= best_p - TOLERANCE[0]
        and got["map"] >= best_map - TOLERANCE[1],
        "meets_targets": round(got["p10"], 3) >= target_p
        and (target_map is None or round(got["map"], 3) >= target_map),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(LABELLED))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--out", default=str(HERE / "results" / "eval_modes.json"))
    args = parser.parse_args()
    modes = tuple(args.modes.split(","))
    results: dict[str, Any] = {}
    for name in args.sets.split(","):
        results[name] = {"modes": picfind_eval(name, modes)}
        if "fused" in modes and set(SIGNALS) <= set(modes):
            results[name]["fused"] = verdict(results[name]["modes"], name, "fused")
        print(name, json.dumps(results[name]), flush=True)
    report = {
        "command": "picfind eval SET --index DIR --label-pattern P --mode M --json",
        "tolerance": {"p10": TOLERANCE[0], "map": TOLERANCE[1]},
        "sets": results,
        "fused_never_worse_everywhere": all(
            r.get("fused", {}).get("never_worse", False) for r in results.values()
        ),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print("| set | " + " | ".join(modes) + " |")
    print("|---" * (len(modes) + 1) + "|")
    for name, r in results.items():
        cells = [f"{r['modes'][m]['p10']:.4f} / {r['modes'][m]['map']:.4f}" for m in modes]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
