"""Retrieval quality on ../shared/data, and the choices it settles.

Measures leave-one-out precision@10 by image for every mode (and the paper's
formula over all 1000 classes), the hybrid weight λ, how many classes a
document must keep for the ``classes`` top-10 to match the full formula, and
keyword average precision for "dog" and "cat" at several match thresholds.
Finally the chosen defaults are measured again through the real index
(``Index.search_image`` / ``search_words``), which is the number to quote.

    .venv/bin/python bench/quality.py            # writes bench/results/quality.json
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import picfind
from picfind import imaging
from picfind.api import load_model
from picfind.query import parse_query
from picfind.scoring import HYBRID_WEIGHT, MATCH_THRESHOLD, STORED_CLASSES, sparse_top
from picfind.vocabulary import Vocabulary

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("PICFIND_SHARED", HERE.parents[1] / "shared"))
CACHE = Path(os.environ.get("PICFIND_BENCH_CACHE", HERE / ".cache"))
"""Where measured features are kept (``PICFIND_BENCH_CACHE``: outside the repo on a shared box)."""


def label_of(set_name: str, path: Path) -> str:
    if set_name == "catsdogs":
        return path.name.split(".")[0]
    if set_name == "pets":
        return path.stem.rsplit("_", 1)[0]
    return path.name.split("_")[0]  # imagenet-samples: the wnid


def photo_set(set_name: str) -> list[Path]:
    folder = SHARED / "data" / set_name
    if set_name == "pets":
        folder = folder / "images"
    return sorted(p for p in folder.iterdir() if p.is_file())


def features(set_name: str) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Full probabilities and embeddings as the indexer computes them (draft decoding)."""
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"{set_name}.npz"
    if cached.exists():
        data = np.load(cached, allow_pickle=False)
        return [Path(p) for p in data["paths"]], data["probs"], data["emb"]
    model = load_model()
    paths, pixels = [], []
    for p in photo_set(set_name):
        try:
            pixels.append(imaging.load_for_model(p, model.input_size).pixels)
            paths.append(p)
        except picfind.ImageError:
            continue
    probs, emb = [], []
    for i in range(0, len(pixels), 32):
        out = model.run(np.stack(pixels[i : i + 32]))
        probs.append(out.probs)
        emb.append(out.embedding)
    result = np.concatenate(probs), np.concatenate(emb)
    np.savez(cached, paths=np.array([str(p) for p in paths]), probs=result[0], emb=result[1])
    return paths, *result


def truncate(probs: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros_like(probs)
    for i, p in enumerate(probs):
        s = sparse_top(p, k)
        out[i, s.ids] = s.probs
    return out


def query_top(probs: np.ndarray, k: int = 10) -> np.ndarray:
    """Each row keeps only its top-k classes (the paper's T_k(η))."""
    return truncate(probs, k)


def loo_precision(scores: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    s = scores.astype(np.float64).copy()
    np.fill_diagonal(s, -np.inf)
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return float((labels[top] == labels[:, None]).mean())


def top10_agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean places (of 10) where two rankings agree, and the share of queries with ≥ 9."""
    a, b = a.copy(), b.copy()
    np.fill_diagonal(a, -np.inf)
    np.fill_diagonal(b, -np.inf)
    ta = np.argsort(-a, axis=1, kind="stable")[:, :10]
    tb = np.argsort(-b, axis=1, kind="stable")[:, :10]
    same = (ta == tb).sum(axis=1)
    return float(same.mean()), float((same >= 9).mean())


def average_precision(scores: np.ndarray, retrieved: np.ndarray, relevant: np.ndarray) -> float:
    order = np.argsort(-np.where(retrieved, scores, -np.inf), kind="stable")
    order = order[retrieved[order]]
    hits = relevant[order]
    if relevant.sum() == 0:
        return 0.0
    precision_at = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float((precision_at * hits).sum() / relevant.sum())


def by_image(set_name: str, out: dict) -> None:
    paths, probs, emb = features(set_name)
    labels = np.array([label_of(set_name, p) for p in paths])
    eta = query_top(probs)
    cos = emb @ emb.T
    res: dict = {"images": len(paths)}
    res["paper_full_1000"] = loo_precision(1 + eta @ probs.T, labels)
    res["embedding"] = loo_precision(cos, labels)
    for k in (10, 16, 32, 64, 100):
        xi = truncate(probs, k)
        classes = 1 + eta @ xi.T
        res[f"classes_stored_top{k}"] = loo_precision(classes, labels)
        mean_places, share = top10_agreement(classes, 1 + eta @ probs.T)
        res[f"classes_top{k}_vs_full_places"] = mean_places
        res[f"classes_top{k}_vs_full_share_ge9"] = share
    xi = truncate(probs, STORED_CLASSES)
    res["hybrid_by_weight"] = {
        str(lam): loo_precision(cos + lam * (eta @ xi.T), labels)
        for lam in (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    }
    out[set_name] = res


def keywords(out: dict) -> None:
    paths, probs, _ = features("catsdogs")
    labels = np.array([label_of("catsdogs", p) for p in paths])
    vocab = Vocabulary.load()
    xi = truncate(probs, STORED_CLASSES)
    res: dict = {}
    for word in ("dog", "cat"):
        classes = parse_query(word, vocab).positive[0].classes
        mass = xi[:, classes].sum(axis=1)
        relevant = labels == word
        res[word] = {
            f"tau={tau}": average_precision(mass, mass >= tau, relevant)
            for tau in (0.0, 0.01, 0.02, 0.05, 0.1)
        }
        names = [i for i, c in enumerate(vocab.classes) if word in c.name.lower().split()]
        paper = probs[:, names].sum(axis=1)
        res[word]["paper_class_names_containing_word"] = average_precision(
            paper, paper > 0.0, relevant
        )
        res[word]["relevant_without_match_at_tau"] = float(
            ((mass < MATCH_THRESHOLD) & relevant).sum() / relevant.sum()
        )
    out["keyword_ap_catsdogs"] = res


def through_the_index(set_name: str, out: dict) -> None:
    """The defaults, measured through the real index and search API."""
    with tempfile.TemporaryDirectory() as tmp:
        idx = picfind.open_index(Path(tmp) / "index", create=True)
        folder = SHARED / "data" / set_name
        started = time.perf_counter()
        idx.add([folder / "images" if set_name == "pets" else folder])
        files = list(idx.store.rows())
        labels = {f.id: label_of(set_name, Path(f.path)) for f in files}
        res: dict = {"images": len(files), "index_seconds": time.perf_counter() - started}
        for mode in ("hybrid", "classes", "embedding"):
            hits = 0
            for f in files:
                results = idx.search_image(f.id, mode=mode, limit=10).results
                hits += sum(labels[r.id] == labels[f.id] for r in results)
            res[f"precision_at_10_{mode}"] = hits / (10 * len(files))
        if set_name == "catsdogs":
            for word in ("dog", "cat"):
                results = idx.search_words(word, limit=len(files))
                relevant_total = sum(1 for lab in labels.values() if lab == word)
                found, ap = 0, 0.0
                for rank, r in enumerate(results.results, 1):
                    if labels[r.id] == word:
                        found += 1
                        ap += found / rank
                res[f"keyword_ap_{word}"] = ap / relevant_total
        idx.close()
    out.setdefault("through_index", {})[set_name] = res


def main() -> int:
    if not (SHARED / "data").is_dir():
        print(f"quality: shared data not found at {SHARED}", file=sys.stderr)
        return 2
    out: dict = {
        "defaults": {
            "hybrid_weight": HYBRID_WEIGHT,
            "stored_classes": STORED_CLASSES,
            "match_threshold": MATCH_THRESHOLD,
        }
    }
    for name in ("catsdogs", "pets", "imagenet-samples"):
        by_image(name, out)
    keywords(out)
    if "--quick" not in sys.argv:
        for name in ("catsdogs", "pets"):
            through_the_index(name, out)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "quality.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
