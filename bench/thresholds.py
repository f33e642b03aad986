"""Keyword thresholds and weights, chosen by measurement: the relevance floor, the ``-word``
threshold, and weighted against unweighted class mass.

    .venv/bin/python bench/thresholds.py       # writes bench/results/thresholds.json

Uses the indexes of bench/words.py (built there, kept in bench/.cache) and its judged
word lists. Every ranking is computed with the stores' own pure functions
(``scoring.words_scores``) over the stored top classes of every photo, so each variant
costs a matrix product, not a search:

* **floor** (a positive clause matches at mass ≥ F): for F in ``FLOORS``, over the
  development and held-out words on ``imagenet-samples`` and "dog"/"cat" on
  ``catsdogs``: mean AP of the ranking (a photo under the floor is not returned, so a
  higher floor can only lose AP) and mean F1 of the *returned set* against the relevant
  photos (what a total counts: a floor too low returns the tail, one too high loses
  matches). Unweighted (the word's typical classes, weight ≥ 0.7, summed) and weighted
  (every class of the word, Σ w_j ξ_ij) side by side.
* **-word** (a negated clause excludes at mass ≥ N; positive floor ``FLOOR``): for N in
  ``NOT_THRESHOLDS``, weighted and unweighted, the AP
  of queries "A -B" where B is a part of A (relevant: A's photos that are not B's), on
  both sets: a threshold too high leaves B's photos in, one too low drops A's photos
  that carry a trace of B.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np

import picfind
from picfind.metrics import average_precision
from picfind.query import parse_query
from picfind.scoring import words_scores
from picfind.store.base import Table
from picfind.vocabulary import Vocabulary

sys.path.insert(0, str(Path(__file__).resolve().parent))
from words import LISTS, SHARED, build_index, read_list

RESULTS = Path(__file__).resolve().parent / "results" / "thresholds.json"
FLOORS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2)
NOT_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
FLOOR = 0.02
"""The positive floor the -word thresholds are measured with (the one chosen here)."""
NEGATIONS = (
    # (query, the concept whose photos are wanted, the part left out) on imagenet-samples
    ("dog -terrier", "n02084071", "n02092468"),
    ("dog -retriever", "n02084071", "n02099267"),
    ("bird -parrot", "n01503061", "n01816887"),
    ("fish -shark", "n02512053", "n01482330"),
    ("vehicle -car", "n04576211", "n02958343"),
    ("animal -dog", "n00015388", "n02084071"),
    ("food -fruit", "n00021265", "n13134947"),
    ("furniture -seat", "n03405725", "n04161981"),
)
"""On catsdogs: "animal -cat" (the dogs) and "animal -dog" (the cats) too."""


def clause_mass(dense: np.ndarray, text: str, weighted: bool) -> list[np.ndarray]:
    """Per positive clause, each photo's mass (unweighted: typical classes; weighted: all)."""
    out = []
    for clause in parse_query(text).positive:
        if weighted:
            out.append(dense @ clause.weight_vector().astype(np.float64))
        else:
            out.append(dense[:, list(clause.class_indices)].sum(axis=1))
    return out


def negative_mass(dense: np.ndarray, text: str, weighted: bool) -> list[np.ndarray]:
    clauses = parse_query(text).negative
    if weighted:
        return [dense @ c.weight_vector().astype(np.float64) for c in clauses]
    return [dense[:, list(c.class_indices)].sum(axis=1) for c in clauses]


def ranked_hits(scores: np.ndarray, match: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    order = np.argsort(-np.where(match, scores, -np.inf), kind="stable")[: int(match.sum())]
    return relevant[order]


def f1(returned: int, found: int, relevant: int) -> float:
    if returned == 0 or relevant == 0 or found == 0:
        return 0.0
    p, r = found / returned, found / relevant
    return 2 * p * r / (p + r)


def floor_row(dense: np.ndarray, text: str, relevant: np.ndarray, weighted: bool) -> dict:
    masses = clause_mass(dense, text, weighted)
    row: dict[str, dict[str, float]] = {}
    for floor in FLOORS:
        scores, match = words_scores([(m, m >= floor) for m in masses], [])
        hits = ranked_hits(scores, match, relevant)
        row[str(floor)] = {
            "ap": average_precision(hits, int(relevant.sum())),
            "f1": f1(int(match.sum()), int(hits.sum()), int(relevant.sum())),
            "returned": int(match.sum()),
        }
    return row


def negation_row(
    dense: np.ndarray, text: str, relevant: np.ndarray, weighted: bool = True
) -> dict[str, float]:
    """AP of "A -B" at each -word threshold (positive floor: ``FLOOR``)."""
    positive = clause_mass(dense, text, weighted)
    negative = negative_mass(dense, text, weighted)
    row = {}
    for nt in NOT_THRESHOLDS:
        pos = [(m, m >= FLOOR) for m in positive]
        scores, match = words_scores(pos, [m >= nt for m in negative])
        row[str(nt)] = average_precision(ranked_hits(scores, match, relevant), int(relevant.sum()))
    return row


def summarise_floors(rows: list[dict]) -> dict[str, dict[str, float]]:
    return {
        str(f): {
            key: round(statistics.fmean(r[str(f)][key] for r in rows), 4)
            for key in ("ap", "f1", "returned")
        }
        for f in FLOORS
    }


def main() -> int:
    vocab = Vocabulary.load()
    report: dict[str, object] = {"floors": list(FLOORS), "not_thresholds": list(NOT_THRESHOLDS)}
    samples = SHARED / "data" / "imagenet-samples"
    with picfind.open_index(build_index(samples, "imagenet-samples-index"), read_only=True) as idx:
        table = Table.of(idx.store.rows(features=True))
    dense = table.classes.astype(np.float64)
    truth = np.array([vocab.index_of(Path(p).name.split("_", 1)[0]) for p in table.paths])
    for name, path in LISTS.items():
        for weighted in (False, True):
            rows = [
                floor_row(dense, j.word, np.isin(truth, list(j.relevant)), weighted)
                for j in read_list(path, vocab)
            ]
            key = f"{name}_{'weighted' if weighted else 'unweighted'}"
            report[key] = summarise_floors(rows)
            print(key, json.dumps(report[key]), file=sys.stderr)
    negations: dict[str, dict[str, float]] = {}
    unweighted: dict[str, dict[str, float]] = {}
    for text, wanted, left_out in NEGATIONS:
        inside = np.isin(truth, vocab.concepts[wanted].classes)
        out = np.isin(truth, vocab.concepts[left_out].classes)
        negations[text] = negation_row(dense, text, inside & ~out)
        unweighted[text] = negation_row(dense, text, inside & ~out, weighted=False)
    cats = SHARED / "data" / "catsdogs"
    with picfind.open_index(build_index(cats, "catsdogs-index"), read_only=True) as idx:
        table = Table.of(idx.store.rows(features=True))
    dense = table.classes.astype(np.float64)
    is_dog = np.array([Path(p).name.startswith("dog.") for p in table.paths])
    catsdogs = {}
    for word, relevant in (("dog", is_dog), ("cat", ~is_dog)):
        for weighted in (False, True):
            catsdogs[f"{word}_{'weighted' if weighted else 'unweighted'}"] = floor_row(
                dense, word, relevant, weighted
            )
    for text, relevant in (("animal -cat", is_dog), ("animal -dog", ~is_dog)):
        negations[f"{text} (catsdogs)"] = negation_row(dense, text, relevant)
        unweighted[f"{text} (catsdogs)"] = negation_row(dense, text, relevant, weighted=False)
    for table_ in (negations, unweighted):
        table_["mean"] = {
            str(nt): round(statistics.fmean(r[str(nt)] for r in table_.values()), 4)
            for nt in NOT_THRESHOLDS
        }
    report["catsdogs"] = catsdogs
    report["negations"] = negations
    report["negations_unweighted"] = unweighted
    print("negations (unweighted)", json.dumps(unweighted["mean"]), file=sys.stderr)
    print("catsdogs", json.dumps(catsdogs), file=sys.stderr)
    print("negations", json.dumps(negations["mean"]), file=sys.stderr)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
