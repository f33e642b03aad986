"""The issue-8 attacks, measured: what each costs the server (time, resident memory).

``tests/test_attacks.py`` asserts bounds; this reports the numbers, with the
same helpers (a real ``picfind serve`` on a free loopback port, raw sockets,
real multipart uploads), so that a checkout before and after the fixes can be
compared on a quiet machine. Each attack gets a fresh server (peak RSS is
sampled every 20 ms, minus the RSS once the model is loaded). Writes
``bench/results/attacks.json``.

    python bench/attacks.py [--only uploads,long_png,decodes,half_open,slow_body,sigterm,weights]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import test_attacks as t  # noqa: E402 - the tests' helpers, on purpose

Result = dict[str, object]


def _site(base: Path, photos: int) -> tuple[Path, Path]:
    folder = base / "photos"
    folder.mkdir()
    for i in range(photos):
        t._photo(folder / f"p{i:03d}.jpg", seed=i, size=(160, 120))
    index = base / "index"
    subprocess.run([*t.PICFIND, "index", str(folder), "--index", str(index)], check=True)
    return folder, index


def _warm(server: t.Server, photo: Path) -> None:
    assert t._upload(server.url, "p.jpg", photo.read_bytes()).status_code == 200


def _measured(server: t.Server, attack: Callable[[], list[int]]) -> Result:
    started = time.monotonic()
    with t.PeakRss(server) as rss:
        statuses = attack()
    return {
        "seconds": round(time.monotonic() - started, 2),
        "rss_before_mb": round(rss.before),
        "rss_growth_mb": round(rss.growth),
        "statuses": sorted(set(statuses)),
    }


def attack_uploads(server: t.Server) -> Result:
    junk = bytes(20 * 1024 * 1024 - 1024)
    return _measured(
        server,
        lambda: [r.status_code for r in t._parallel(40, lambda: t._upload(server.url, "j", junk))],
    )


def attack_long_png(server: t.Server) -> Result:
    png = t.long_png(60_000_000, 1)
    return _measured(
        server,
        lambda: [r.status_code for r in t._parallel(4, lambda: t._upload(server.url, "l", png))],
    )


def attack_decodes(server: t.Server) -> Result:
    import io

    from PIL import Image

    pngs = []
    for i in range(8):  # different photos: the server does not decode the same bytes twice
        buf = io.BytesIO()
        Image.new("RGB", (5000, 5000), (200, 120, 40 + i)).save(buf, "PNG")
        pngs.append(buf.getvalue())
    return _measured(
        server,
        lambda: [
            r.status_code for r in t._parallel(8, lambda: t._upload(server.url, "b", pngs.pop()))
        ],
    )


def attack_half_open(server: t.Server) -> Result:
    socks = t.half_open(server.port, 1000)
    time.sleep(10)
    held = sum(not t._closed(sock) for sock in socks)
    for sock in socks:
        sock.close()
    return {"connections": 1000, "held_after_10_s": held}


def attack_slow_body(server: t.Server) -> Result:
    answer, seconds = t._trickle(server.port, t.upload_head(server.port), 60)
    return {"answered_after_s": round(seconds, 1), "answer": answer.split(b"\r\n")[0].decode()}


def attack_sigterm(base: Path) -> Result:
    folder = base / "many"
    folder.mkdir()
    for i in range(300):
        t._photo(folder / f"m{i:03d}.jpg", seed=1000 + i, size=(160, 120))
    server = t.Server(base / "sigterm-index", "--root", str(folder))
    try:
        t._start_job(server)
        children = t._children(server.proc.pid)
        slow = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        slow.sendall(t.upload_head(server.port) + b"--")
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=60)
            seconds: float | None = round(time.monotonic() - started, 1)
        except subprocess.TimeoutExpired:
            seconds = None  # still running after 60 s
        slow.close()
    finally:
        server.close()
    return {"job_processes": len(children), "stopped_after_s": seconds}


def attack_weights(base: Path) -> Result:
    path = t.legacy_pth(
        base / "s0.pth", t.one_float((2**28,), (0,)), [(t._Storage("0", 1), t.FLOAT_ONE)]
    )
    out: Result = {}
    for name, target in (("stride0_pth", path), ("zip_member_1gib", _zip_bomb(base))):
        rss, printed = t.max_rss_mb_of(
            f"""
            import time
            from picfind.errors import ModelError
            from picfind.torchfile import load_state_dict
            started = time.perf_counter()
            try:
                load_state_dict({str(target)!r})
                outcome = "loaded"
            except ModelError as exc:
                outcome = f"ModelError: {{exc}}"[:120]
            print(round(time.perf_counter() - started, 2), outcome)
            """
        )
        seconds, outcome = printed.split(" ", 1)
        out[name] = {"seconds": float(seconds), "peak_rss_mb": round(rss), "outcome": outcome}
    return out


def _zip_bomb(base: Path) -> Path:
    import zipfile

    path = base / "bomb.pt"
    state = t.state_pickle({"w": t._Tensor(t._Storage("0", 1), 0, (1,), (1,))}, legacy=False)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("archive/data.pkl", state)
        with zf.open("archive/data/0", "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(1024):
                member.write(chunk)
    return path


SERVER_ATTACKS = {
    "uploads": attack_uploads,
    "long_png": attack_long_png,
    "decodes": attack_decodes,
    "half_open": attack_half_open,
    "slow_body": attack_slow_body,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    every = [*SERVER_ATTACKS, "sigterm", "weights"]
    parser.add_argument("--only", default=",".join(every), help="comma-separated attacks")
    names = parser.parse_args().only.split(",")
    results: Result = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="picfind-attacks-") as tmp:
        base = Path(tmp)
        photos, index = _site(base, 6)
        for name in names:
            if name in SERVER_ATTACKS:
                with t.serving(index) as server:
                    _warm(server, photos / "p000.jpg")
                    results[name] = SERVER_ATTACKS[name](server)
            elif name == "sigterm":
                results[name] = attack_sigterm(base)
            elif name == "weights":
                results[name] = attack_weights(base)
            else:
                parser.error(f"unknown attack {name!r}")
            print(name, json.dumps(results[name]), flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    out = HERE / "results" / "attacks.json"
    with contextlib.suppress(FileNotFoundError):
        previous = json.loads(out.read_text())
        results = {**previous, **results}
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
