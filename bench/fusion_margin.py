"""The tiny-group weakness of ``fused``: does a margin on the expansion help?

With two relevant photos per query, ``fused``'s five expansion neighbours are
mostly strangers (docs/evaluation.md, "Where it is weaker"). The trial: only the
neighbours whose first-pass score is within δ of the best neighbour's join the
query (δ = None: all five, today's rule). Measured like bench/fusion.py: the
three labelled sets whole, and each label cut to g photos with the 1,000
imagenet-samples photos as distractors, ``--draws`` random cuts per g.
Writes bench/results/fusion_margin.json.

    .venv/bin/python bench/fusion_margin.py                  # ≈ 3 min once indexed
    .venv/bin/python bench/fusion_margin.py --margins 0.05 --draws 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fusion import LABELLED, SANITY, combined, cut, load, mean_of  # noqa: E402
from fusion_methods import PhotoSet, measure, per_query  # noqa: E402

from picfind.scoring import DEFAULT_FUSION, _unit, top_classes  # noqa: E402


def fused_margin(ps: PhotoSet, margin: float | None) -> np.ndarray:
    """``scoring.fused_block`` of every row, the neighbours cut by ``margin``."""
    p = DEFAULT_FUSION
    q = np.arange(ps.n)
    first = p.score(ps.eta @ ps.xi.T, ps.emb @ ps.emb.T)
    first[q, q] = -np.inf
    best = np.argsort(-first, axis=1, kind="stable")[:, : p.expansion]
    scores = np.take_along_axis(first, best, 1)
    keep = np.ones_like(scores, dtype=np.float32)
    if margin is not None:
        keep = (scores >= scores[:, :1] - margin).astype(np.float32)
    vectors = _unit(ps.emb + (ps.emb[best] * keep[..., None]).sum(1))
    n = 1 + keep.sum(1, keepdims=True)
    expanded = top_classes((ps.eta + (ps.eta[best] * keep[..., None]).sum(1)) / n, p.k)
    out: np.ndarray = p.score(expanded @ ps.xi.T, vectors @ ps.emb.T)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--margins", default="0.03,0.06,0.1,0.15")
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--out", default=str(HERE / "results" / "fusion_margin.json"))
    args = parser.parse_args()
    margins: list[float | None] = [None, *(float(m) for m in args.margins.split(","))]
    sets = {s: load(s) for s in (*LABELLED, SANITY)}
    out: dict[str, Any] = {"whole": {}, "groups": {}}
    for m in margins:
        out["whole"][str(m)] = {s: measure(fused_margin(sets[s], m), sets[s])[s] for s in LABELLED}
        print("whole", m, out["whole"][str(m)], flush=True)
    parts = [sets[s] for s in (*LABELLED, SANITY)]
    for g in (3, 6, 11):
        acc: dict[str, dict[str, list[np.ndarray]]] = {str(m): {} for m in margins}
        for draw in range(args.draws):
            rng = np.random.default_rng(draw)
            rows = [cut(p, g, rng) if p.name != SANITY else np.arange(p.n) for p in parts]
            ps = combined(parts, f"groups-{g}", rows)
            for m in margins:
                prec, ap, qrows = per_query(fused_margin(ps, m), ps)
                for s in LABELLED:
                    mine = ps.group[qrows] == s
                    acc[str(m)].setdefault(s, []).append(np.stack([prec[mine], ap[mine]]))
        out["groups"][str(g)] = {
            m: {s: mean_of(a) for s, a in per_set.items()} for m, per_set in acc.items()
        }
        print("g", g, json.dumps(out["groups"][str(g)]), flush=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
