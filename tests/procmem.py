"""Peak resident memory of a command, for tests and bench/library.py.

``wait4``'s ``ru_maxrss`` is not the child's own: Linux folds the RSS the child had
before ``exec`` (a copy of the parent, or with ``vfork`` the parent itself) into
it, so a big parent inflates it. ``VmHWM`` in ``/proc/PID/status`` belongs to the
program after ``exec``; it is a high-water mark, so polling it until the process
ends misses at most the last interval's growth.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path


def _hwm_kb(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def run_measured(cmd: list[str], interval: float = 0.05) -> tuple[int, str, str, float]:
    """Run ``cmd``: (exit code, stdout, stderr, peak RSS in MB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _hwm_kb(proc.pid) or 0)
            time.sleep(interval)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read().decode(), err.read().decode(), peak / 1024
