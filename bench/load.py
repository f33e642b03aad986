"""Load test of ``picfind serve``: concurrent clients searching by word and by image id.

A real server (``picfind serve`` = uvicorn, one process) on a free localhost
port, over a synthetic embedded index (``bench/synthetic.py``, kept under
``bench/.cache``). N clients (default 20) each send one request after another
for S seconds (default 30), in turn a search by words (a random word of
``WORDS``), a search by image id (a random indexed id, the default mode) and
the home page's timeline (the server-rendered page ``/?offset=N`` of 24 photos,
newest first, at a random offset). Reported per kind and overall: requests,
throughput, p50, p99, max and errors (any answer but 200, or a failed
connection), the server's CPU seconds and the load average. Targets: no errors,
p99 under 250 ms for search by word. Writes ``bench/results/load.json``.

    python bench/load.py [--clients 20] [--seconds 30] [--size 10000]
                         [--kinds word,image_id,timeline] [--out bench/results/load.json]

``--kinds word,image_id`` is the mix before the timeline (for a comparison in one
sitting: run both, alternating).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
WORDS = [
    "dog",
    "cat",
    "terrier",
    "golden retriever",
    "tabby",
    "retriever",
    "animal",
    "dog OR cat",
    "hound",
    "domestic cat",
    "spaniel",
    "bird",
]


KINDS = ("word", "image_id", "timeline")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def summary(latencies_ms: list[float], errors: int, seconds: float) -> dict[str, float | int]:
    ms = np.asarray(latencies_ms) if latencies_ms else np.zeros(1)
    return {
        "requests": len(latencies_ms) + errors,
        "errors": errors,
        "throughput_per_s": round((len(latencies_ms) + errors) / seconds, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


async def client(
    url: str, ids: list[str], until: float, seed: int, out: dict[str, list], errs: dict,
    size: int, kinds: tuple[str, ...] = KINDS,
) -> None:  # fmt: skip
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        turn = seed % len(kinds)
        while time.monotonic() < until:
            kind = kinds[turn % len(kinds)]
            turn += 1
            if kind == "word":
                request = http.get("/api/search", params={"q": rng.choice(WORDS), "limit": 20})
            elif kind == "timeline":
                request = http.get("/", params={"offset": rng.randrange(0, size, 24)})
            else:
                request = http.get(f"/api/images/{rng.choice(ids)}/similar", params={"limit": 20})
            started = time.perf_counter()
            try:
                response = await request
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            elapsed = (time.perf_counter() - started) * 1000
            if ok:
                out[kind].append(elapsed)
            else:
                errs[kind] += 1


async def run_clients(
    url: str, ids: list[str], clients: int, seconds: float, size: int,
    kinds: tuple[str, ...] = KINDS,
) -> dict:  # fmt: skip
    out: dict[str, list[float]] = {k: [] for k in KINDS}
    errs = dict.fromkeys(KINDS, 0)
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(
        *(client(url, ids, until, i, out, errs, size, kinds) for i in range(clients))
    )
    wall = time.monotonic() - started
    result = {kind: summary(out[kind], errs[kind], wall) for kind in kinds}
    result["all"] = summary([ms for k in KINDS for ms in out[k]], sum(errs.values()), wall)
    result["seconds"] = round(wall, 2)
    return result


def server_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def index_ids(folder: Path, n: int = 2000) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(f"file:{folder / 'picfind.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id FROM images ORDER BY random() LIMIT ?", (n,)).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", type=int, default=10_000, help="synthetic images in the index")
    parser.add_argument("--kinds", default=",".join(KINDS), help="the requests each client sends")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "load.json")
    args = parser.parse_args()
    kinds = tuple(args.kinds.split(","))
    if not set(kinds) <= set(KINDS):
        parser.error(f"--kinds: choose among {', '.join(KINDS)}")

    sys.path.insert(0, str(HERE))
    from synthetic import build

    folder = HERE / ".cache" / f"synthetic-{args.size}"
    if not (folder / "picfind.db").exists():
        print(f"building a synthetic index of {args.size} images in {folder}", flush=True)
        build(folder, args.size)
    ids = index_ids(folder)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("PICFIND_INDEX", "PICFIND_TOKEN")}
    env["PYTHONPATH"] = str(HERE.parent / "src")
    proc = subprocess.Popen(
        [sys.executable, "-m", "picfind", "serve", "--index", str(folder), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/api/stats", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                print("the server did not start", file=sys.stderr)
                return 1
            time.sleep(0.2)
        # Warm up: the first search builds the NumPy cache; the model loads meanwhile.
        for word in WORDS:
            httpx.get(url + "/api/search", params={"q": word}, timeout=120)
        httpx.get(url + f"/api/images/{ids[0]}/similar", timeout=120)
        httpx.get(url + "/", timeout=120)
        time.sleep(5)  # let the background model load finish
        cpu = server_cpu(proc.pid)
        result = asyncio.run(run_clients(url, ids, args.clients, args.seconds, args.size, kinds))
        result["server_cpu_seconds"] = round(server_cpu(proc.pid) - cpu, 2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result.update(
        {
            "clients": args.clients,
            "index_images": args.size,
            "cpus": os.cpu_count(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
            "mix": "each client in turn: " + ", ".join(kinds),
            "target": "no errors; search by word p99 < 250 ms",
            "met": result["all"]["errors"] == 0 and result["word"]["p99_ms"] < 250,
        }
    )
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
