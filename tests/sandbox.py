"""Real failure conditions for attack tests: permissions that bind root, mounts, full disks.

* :func:`unprivileged` runs a command without the capabilities that let root
  read anything (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), through ``setpriv``,
  so ``chmod 000`` really denies access; as another user it runs the command as is.
* :func:`in_mount_namespace` runs a shell script in a private user and mount
  namespace (``unshare -rm``), where it may mount a tiny tmpfs (a disk that
  fills up) or a read-only bind mount, and nothing leaks to the machine.

When the tool is missing, the test is skipped with the reason — and under
``CI=true`` it fails instead, as every missing prerequisite does.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PICFIND = [sys.executable, "-m", "picfind"]


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (a missing prerequisite fails under CI=true)")
    pytest.skip(reason)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


@functools.cache
def _setpriv_works() -> bool:
    if shutil.which("setpriv") is None:
        return False
    probe = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", "true"],
        capture_output=True,
    )
    return probe.returncode == 0


def unprivileged(cmd: Sequence[object], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """``cmd`` with permission checks that bind it (see the module docstring)."""
    args = [str(c) for c in cmd]
    if os.geteuid() == 0:
        if not _setpriv_works():
            _missing("setpriv cannot drop CAP_DAC_OVERRIDE here")
        args = [
            "setpriv",
            "--inh-caps=-all",
            "--bounding-set=-dac_override,-dac_read_search",
            "--",
            *args,
        ]
    return subprocess.run(
        args, capture_output=True, text=True, env=_env(), timeout=600, check=False, **kwargs
    )  # type: ignore[call-overload]


@functools.cache
def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null"],
        capture_output=True,
    )
    return probe.returncode == 0


def in_mount_namespace(script: str) -> subprocess.CompletedProcess[str]:
    """``sh -c script`` as root of a private user and mount namespace."""
    if not _unshare_works():
        _missing("unshare cannot create a user and mount namespace here")
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=900,
        check=False,
    )
