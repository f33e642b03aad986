"""Writer leases of a cluster index: one per root, so several machines index at once.

A run holds a lease on each root it walks (a folder or a file; the whole index,
``/``, for ``prune`` and ``reindex``): a document ``lease:<alias>:<key>`` in
``<alias>-meta``, taken with ``op_type=create``. A second run on the *same* root
fails fast with one line; a run on another root proceeds. Roots that overlap (one
inside the other) conflict too: after creating its leases a run lists the others
and backs off if an overlapping live lease is held, or was created before its own
(a lower sequence number: the meta index has one shard, so creates are totally
ordered) — of runs racing for overlapping roots exactly one proceeds.

A held lease is renewed every third of ``LEASE_SECONDS`` (``PICFIND_LEASE_SECONDS``)
by a thread. A run killed with ``kill -9`` stops renewing; its roots are free when
its lease expires (at once on the same host, where its pid is seen to be gone),
taken over with a compare-and-set on the lease's sequence number, so two runs never
both take one. Whoever takes over a lease refreshes the index first: the dead run's
last batches were committed but maybe not yet searchable.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from picfind.errors import StoreError, UsageError
from picfind.store.cluster.connection import status_of
from picfind.store.cluster.handle import IndexHandle
from picfind.store.codec import encode_path

LEASE_SECONDS = 120.0
"""How long a lease lives without renewal (its owner renews it every third of that)."""
WHOLE = "/"


def lease_seconds() -> float:
    """``PICFIND_LEASE_SECONDS`` if set (tests, clusters with slow networks), else the default."""
    try:
        return max(1.0, float(os.environ.get("PICFIND_LEASE_SECONDS") or LEASE_SECONDS))
    except ValueError:
        return LEASE_SECONDS


@contextlib.contextmanager
def writer_lock(handle: IndexHandle, roots: Sequence[str] = ()) -> Iterator[None]:
    """Held for a run over ``roots`` (none: the whole index); overlapping runs fail fast."""
    lease = Lease(handle, roots)
    lease.take()
    try:
        yield
    finally:
        lease.release()


def overlaps(a: str, b: str) -> bool:
    """Whether two roots share files: the same, or one inside the other."""
    if WHOLE in (a, b) or a == b:
        return True
    return a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


class Lease:
    """The leases of one run: taken, renewed by a thread, released."""

    def __init__(self, handle: IndexHandle, roots: Sequence[str]) -> None:
        self.handle = handle
        texts = sorted({encode_path(os.path.abspath(r)) for r in roots}) or [WHOLE]
        # a root inside another of the same run is covered by it
        self.roots = [r for r in texts if not any(o != r and overlaps(o, r) for o in texts)]
        self.ttl = lease_seconds()
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.started = time.time()
        self.held: dict[str, tuple[int, int]] = {}  # key → (primary term, seq_no)
        self.root_of: dict[str, str] = {}
        self.took_over = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def key(self, root: str) -> str:
        digest = hashlib.blake2b(root.encode(), digest_size=8).hexdigest()
        return f"lease:{self.handle.alias}:{digest}"

    def body(self, root: str, held: bool) -> dict[str, Any]:
        return {
            "kind": "lease",
            "root": root,
            "host": self.host,
            "pid": self.pid,
            "at": self.started,
            "expires": time.time() + self.ttl,
            "held": held,
        }

    # -- taking ---------------------------------------------------------------------
    def take(self) -> None:
        self.handle.ensure_meta_index()
        try:
            for root in self.roots:
                self.held[self.key(root)] = self._create(root)
                self.root_of[self.key(root)] = root
            other = self._conflict()
            if other is not None:
                raise UsageError(_busy(self.handle, other))
            self._renew(held=True)
        except BaseException:
            self.release()
            raise
        if self.took_over:  # the dead run's last writes become searchable
            self.handle.refresh()
        self._thread = threading.Thread(target=self._beat, name="picfind-lease", daemon=True)
        self._thread.start()

    def _create(self, root: str) -> tuple[int, int]:
        h, key = self.handle, self.key(root)
        try:
            res = h.call(
                h.client.index,
                index=h.meta_index,
                id=key,
                body=self.body(root, held=False),
                op_type="create",
                refresh="true",
            )
            return int(res["_primary_term"]), int(res["_seq_no"])
        except StoreError as exc:
            if _status(exc) != 409:
                raise
        doc = h.get(h.meta_index, key)
        if doc is None:  # released meanwhile
            return self._create(root)
        if not self.expired(doc["_source"]):
            raise UsageError(_busy(h, doc["_source"]))
        try:  # take over an expired lease, unless someone else just did
            res = h.call(
                h.client.index,
                index=h.meta_index,
                id=key,
                body=self.body(root, held=False),
                if_seq_no=doc["_seq_no"],
                if_primary_term=doc["_primary_term"],
                refresh="true",
            )
        except StoreError as exc:
            if _status(exc) == 409:
                raise UsageError(_busy(h, doc["_source"], took=True)) from None
            raise
        self.took_over = True
        return int(res["_primary_term"]), int(res["_seq_no"])

    def expired(self, other: dict[str, Any]) -> bool:
        """A lease nobody renews: past its expiry, or its process gone from this host."""
        if time.time() > float(other.get("expires", 0)):
            return True
        return other.get("host") == self.host and not pid_alive(int(other.get("pid", 0)))

    def _conflict(self) -> dict[str, Any] | None:
        """An overlapping live lease that was here first (or is held), if any."""
        h = self.handle
        res = h.call(
            h.client.search,
            index=h.meta_index,
            body={"query": {"match_all": {}}, "size": 10000, "seq_no_primary_term": True},
        )
        for hit in res["hits"]["hits"]:
            src = hit.get("_source") or {}
            if hit["_id"] in self.held or src.get("kind") != "lease" or self.expired(src):
                continue
            order = (int(hit["_primary_term"]), int(hit["_seq_no"]))
            for key, root in self.root_of.items():
                if overlaps(str(src.get("root", "")), root) and (
                    src.get("held") or order < self.held[key]
                ):
                    return dict(src)
        return None

    # -- holding ----------------------------------------------------------------------
    def _renew(self, held: bool) -> None:
        h = self.handle
        for key, (term, seq) in list(self.held.items()):
            res = h.call(
                h.client.index,
                index=h.meta_index,
                id=key,
                body=self.body(self.root_of[key], held),
                if_seq_no=seq,
                if_primary_term=term,
                refresh="true",
            )
            self.held[key] = (int(res["_primary_term"]), int(res["_seq_no"]))

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._renew(held=True)
            except StoreError as exc:
                if _status(exc) == 409:  # expired and taken over: the writes must stop
                    self.handle.lost_lease = ", ".join(self.roots)
                    return
                # a transient failure: try again at the next beat

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        h = self.handle
        for key, (term, seq) in self.held.items():
            with contextlib.suppress(Exception):  # only our own version of the lease
                h.client.delete(
                    index=h.meta_index,
                    id=key,
                    if_seq_no=seq,
                    if_primary_term=term,
                    refresh="true",
                )
        self.held.clear()


def _busy(handle: IndexHandle, other: dict[str, Any], took: bool = False) -> str:
    root = other.get("root", WHOLE)
    where = "the whole index" if root == WHOLE else str(root)
    verb = "took the lease on" if took else "is running on"
    return (
        f"another 'picfind index' {verb} {where} in {handle.alias!r} at {handle.url} "
        f"(pid {other.get('pid')} on {other.get('host')}); wait for it to finish, "
        "or index a folder outside it"
    )


def _status(exc: BaseException) -> int | None:
    """The HTTP status behind a picfind error raised from a client exception."""
    cause = exc.__cause__
    return status_of(cause) if isinstance(cause, Exception) else None


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
