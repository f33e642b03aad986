"""The writer lock of a cluster index: one ``picfind index`` at a time.

A lock document ``lock:<alias>`` in ``<alias>-meta``, taken with
``op_type=create`` (so exactly one process wins). A dead owner's lock on the
same host, or a lock older than ``LOCK_STALE_SECONDS``, is taken over with a
compare-and-set on its sequence number, so two processes never both take it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

from picfind.errors import UsageError
from picfind.store.cluster.connection import status_of, translate
from picfind.store.cluster.handle import IndexHandle

LOCK_STALE_SECONDS = 6 * 3600


@contextlib.contextmanager
def writer_lock(handle: IndexHandle) -> Iterator[None]:
    """Held for a run; a second run fails fast with one line."""
    handle.ensure_meta_index()
    key = f"lock:{handle.alias}"
    me = {"host": socket.gethostname(), "pid": os.getpid(), "at": time.time()}
    _take(handle, key, me)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            handle.client.delete(index=handle.meta_index, id=key, refresh="true")


def _take(handle: IndexHandle, key: str, me: dict[str, Any]) -> None:
    client = handle.client
    try:
        client.index(index=handle.meta_index, id=key, body=me, op_type="create", refresh="true")
        return
    except Exception as exc:
        if status_of(exc) != 409:
            raise translate(exc, handle.url) from exc
    doc = handle.get(handle.meta_index, key)
    if doc is None:  # released meanwhile
        return _take(handle, key, me)
    other = doc["_source"]
    stale = time.time() - float(other.get("at", 0)) > LOCK_STALE_SECONDS or (
        other.get("host") == me["host"] and not pid_alive(int(other.get("pid", 0)))
    )
    if not stale:
        raise UsageError(
            f"another 'picfind index' is running on {handle.alias!r} at {handle.url} "
            f"(pid {other.get('pid')} on {other.get('host')}); wait for it to finish"
        )
    try:  # take over a dead owner's lock, unless someone else just did
        client.index(
            index=handle.meta_index,
            id=key,
            body=me,
            if_seq_no=doc["_seq_no"],
            if_primary_term=doc["_primary_term"],
            refresh="true",
        )
    except Exception as exc:
        raise UsageError(
            f"another 'picfind index' took the lock on {handle.alias!r}; wait for it to finish"
        ) from exc


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
