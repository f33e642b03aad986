"""Where an indexing run's CPU goes, per stage: ``picfind index`` in this process with
each step wrapped in a per-thread CPU timer (``time.thread_time``).

Usage: ``.venv/bin/python bench/stages_cpu.py FOLDER [--out FILE]`` (a fresh index in a
temporary folder). Prints CPU ms per indexed file for each step, the process's CPU
per file outside start-up, and what the steps leave unexplained (the model's own
threads, the GIL hand-offs, the interpreter). Issue 14 part 3's profile.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_cpu: collections.Counter[str] = collections.Counter()
_calls: collections.Counter[str] = collections.Counter()
_threads: collections.Counter[str] = collections.Counter()
_lock = threading.Lock()
_depth = threading.local()


def _timed(name: str, fn: Callable[..., Any], *, process: bool = False) -> Callable[..., Any]:
    """``fn`` with its CPU counted under ``name`` (self time: nested timers subtract)."""
    clock = time.process_time if process else time.thread_time

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stack = getattr(_depth, "stack", None)
        if stack is None:
            stack = _depth.stack = []
        start = clock()
        stack.append(0.0)
        try:
            return fn(*args, **kwargs)
        finally:
            spent = clock() - start
            inner = stack.pop()
            if stack:
                stack[-1] += spent
            with _lock:
                _cpu[name] += spent - inner
                _calls[name] += 1

    return wrapper


def instrument() -> None:
    """Wrap the steps of a run: read (hash apart), header, metadata, decode (its HEIF
    thumbnail rewrite apart), the model, the store's writes and look-ups."""
    import hashlib

    from picfind import heif, imaging, pipeline, reading
    from picfind.models import Model
    from picfind.stages import header, metadata
    from picfind.store.embedded import EmbeddedStore

    blake2b = hashlib.blake2b

    class _Hash:  # reading.py calls hashlib.blake2b(data, digest_size=16).hexdigest()
        def __init__(self, *a: Any, **k: Any) -> None:
            self.h = _timed("hash (blake2b)", blake2b)(*a, **k)

        def hexdigest(self) -> str:
            return str(self.h.hexdigest())

    reading.hashlib = type("H", (), {"blake2b": _Hash})  # type: ignore[assignment]
    try:
        from picfind import hashing

        hashing.blake3 = _timed("hash (blake3)", hashing.blake3)  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        pass
    read = _timed("read (open, fstat, pread)", reading.read_file)
    pipeline.read_file = read  # type: ignore[attr-defined]
    header.imaging = type("I", (), {"probe": staticmethod(_timed("header (probe)", imaging.probe))})  # type: ignore[assignment]
    metadata.read_capture = _timed("metadata (read_capture)", metadata.read_capture)  # type: ignore[attr-defined]
    imaging.load_for_model = _timed("decode (load_for_model, rest)", imaging.load_for_model)
    heif.thumbnail_as_primary = _timed(
        "decode: HEIF thumbnail rewrite (copy)", heif.thumbnail_as_primary
    )
    imaging._heif_thumbnail = _timed("decode: HEIF thumbnail open+decode", imaging._heif_thumbnail)  # type: ignore[attr-defined]
    import onnxruntime as ort

    ort.InferenceSession.run = _timed("model (session.run, its threads)", ort.InferenceSession.run)  # type: ignore[method-assign]
    original_run = threading.Thread.run

    def counted_run(self: threading.Thread) -> None:  # every Python thread's own CPU
        try:
            original_run(self)
        finally:
            with _lock:
                _threads[self.name.rstrip("_0123456789")] += time.thread_time()

    threading.Thread.run = counted_run  # type: ignore[method-assign]
    Model.load = classmethod(_timed("start-up: model load", Model.load.__func__))  # type: ignore[method-assign]
    EmbeddedStore.write = _timed("store write", EmbeddedStore.write)  # type: ignore[method-assign]
    EmbeddedStore.rows = _timed("store rows (look-ups)", EmbeddedStore.rows)  # type: ignore[method-assign]


def _thread_cpu() -> dict[int, float]:
    """CPU seconds of each live thread of this process (Linux /proc), by thread id."""
    out: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cpu0 = time.process_time()
    instrument()
    from picfind.cli import cli

    startup = time.process_time() - cpu0
    with tempfile.TemporaryDirectory() as tmp:
        cpu1, wall1 = time.process_time(), time.perf_counter()
        with contextlib.suppress(SystemExit):
            cli.main(["index", str(args.folder), "--index", tmp, "--json"], standalone_mode=False)
        main_cpu = time.thread_time()
        cpu, wall = time.process_time() - cpu1, time.perf_counter() - wall1
        python_threads = {t.native_id for t in threading.enumerate()}
        alive = sum(c for t, c in _thread_cpu().items() if t in python_threads)
    in_python = main_cpu - startup + sum(_threads.values()) + alive - main_cpu
    n = max(1, _calls["decode (load_for_model, rest)"])
    steps = {k: round(1000 * v / n, 2) for k, v in _cpu.most_common()}
    result = {
        "folder": str(args.folder),
        "files_decoded": n,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "import_cpu_s": round(startup, 2),
        "run_cpu_ms_per_file": round(1000 * cpu / n, 2),
        "run_wall_s": round(wall, 2),
        "steps_cpu_ms_per_file": steps,
        "python_threads_cpu_ms_per_file": {
            k: round(1000 * v / n, 2) for k, v in _threads.most_common()
        },
        "outside_the_steps_in_python_threads_ms_per_file": round(
            1000 * (in_python - sum(_cpu.values())) / n, 2
        ),
        "native_threads_cpu_ms_per_file_note": "threads Python did not start: libde265's "
        "decoding workers (HEVC), onnxruntime's pools",
        "native_threads_cpu_ms_per_file": round(1000 * (cpu - in_python) / n, 2),
    }
    text = json.dumps(result, indent=2)
    print(text, file=sys.stderr)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
