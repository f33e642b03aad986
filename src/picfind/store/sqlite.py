"""The embedded index's SQLite file: connections, read-only opening, errors, metadata.

* One connection per thread, all on the same WAL database: readers see committed
  data while an indexer writes.
* An index that cannot be written (read-only files or mount) is opened read-only
  (``mode=ro``, or ``immutable=1`` when SQLite cannot even create its ``-shm``
  file there), so searches still work; writes then fail with one clear line.
* A read-only index of an older schema is never written: it is copied into memory
  and migrated there (up to ``MEMORY_COPY_LIMIT`` bytes; a larger one gets one line
  saying how to upgrade it), so it answers searches as of the moment it was opened.
* Every ``sqlite3`` failure leaves here as a :class:`~picfind.errors.StoreError`
  naming the index and SQLite's own reason ("database or disk is full"), never
  as an internal error.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from picfind.errors import NotFoundError, StoreError
from picfind.store.schema import SCHEMA_VERSION, migrate, version_of

log = logging.getLogger(__name__)

DB_NAME = "picfind.db"
INDEX_ID = "index_id"
"""Meta key of the index's random id; derived caches record it and are rebuilt on a
mismatch, so a recreated database never reads another database's cache."""

MEMORY_COPY_LIMIT = 512 * 2**20
"""Largest read-only index of an older schema migrated into memory to be searched."""

P = ParamSpec("P")
R = TypeVar("R")


class Database:
    """``<folder>/picfind.db``: connections per thread, read-write when it can be."""

    def __init__(self, folder: Path, *, create: bool, read_only: bool = False) -> None:
        self.folder = folder
        self.path = folder / DB_NAME
        if not self.path.exists():
            if not create:
                raise NotFoundError(
                    f"no picfind index at {folder} (run 'picfind index PATH' first)"
                )
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create index folder {folder}: {exc}") from exc
        elif not self.path.is_file():
            raise StoreError(f"{self.path} is not a file")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.read_only = read_only and not create
        self.immutable = False
        self._memory: str | None = None
        """URI of the migrated in-memory copy of a read-only index of an older schema."""
        self._anchor: sqlite3.Connection | None = None
        """A connection that keeps that copy alive while the index is open."""
        self.copied_from: int | None = None
        """The schema version of the file, when searches read a migrated copy of it."""
        if self.read_only:
            try:
                self._open_read_only()
            except sqlite3.Error as exc:
                raise self.error("open", exc) from exc
            return
        try:
            conn = self.conn
            migrate(conn)
            self._ensure_index_id(conn)
        except sqlite3.OperationalError as exc:
            if not self.path.exists() or not _cannot_write(exc):
                raise self.error("open", exc) from exc
            self.close()
            self.read_only = True  # searches still work; writes say why they cannot
            try:
                self._open_read_only()
            except sqlite3.Error as again:
                raise self.error("open", again) from again
        except sqlite3.DatabaseError as exc:
            raise self.error("open", exc) from exc

    def _open_read_only(self) -> None:
        """Check the schema of an index opened read-only; an older one is migrated in a
        copy in memory, never in its file."""
        conn = self.conn
        version = version_of(conn)
        if version >= SCHEMA_VERSION:
            migrate(conn)  # nothing to do, or refuses a newer schema in one line
            return
        size = sum(
            p.stat().st_size
            for p in (self.path, self.path.with_name(DB_NAME + "-wal"))
            if p.exists()
        )
        if size > MEMORY_COPY_LIMIT:
            raise StoreError(
                f"the index at {self.folder} has schema version {version}, older than this "
                f"picfind's {SCHEMA_VERSION}, and cannot be written: open it once where it "
                f"can be (e.g. 'picfind stats --index {self.folder}') to upgrade it"
            )
        uri = f"file:picfind-{uuid.uuid4().hex}?mode=memory&cache=shared"
        anchor = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            conn.backup(anchor)
            migrate(anchor)
        except BaseException:
            anchor.close()
            raise
        log.info(
            "the index at %s is read-only and of schema %d: searching a copy migrated in memory",
            self.folder,
            version,
        )
        self.close()
        self._memory, self._anchor, self.copied_from = uri, anchor, version

    # -- connections ---------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        if self._memory is not None:
            return sqlite3.connect(
                self._memory, uri=True, isolation_level=None, check_same_thread=False
            )
        if not self.read_only:
            # Each thread queries through its own connection only; another thread may
            # close it (``close``), hence check_same_thread=False.
            conn = sqlite3.connect(
                self.path, timeout=60, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        uri = f"{self.path.as_uri()}?mode=ro" + ("&immutable=1" if self.immutable else "")
        conn = sqlite3.connect(
            uri, uri=True, timeout=60, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            conn.close()
            if self.immutable:
                raise
            # A WAL database on a read-only mount, with no -shm file that SQLite could
            # create: read it as immutable (a clean close left no WAL to replay).
            self.immutable = True
            return self._connect()
        return conn

    def close(self) -> None:
        """Close every thread's connection (a thread still using one gets an error)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()
        anchor, self._anchor = self._anchor, None
        if anchor is not None:  # the in-memory copy of an older read-only index goes too
            with contextlib.suppress(sqlite3.Error):
                anchor.close()

    # -- errors --------------------------------------------------------------------
    def error(self, doing: str, exc: sqlite3.Error) -> StoreError:
        """One line: what failed, where, and SQLite's reason."""
        reason = str(exc) or type(exc).__name__
        if self.read_only and doing == "write":
            reason = f"it is read-only ({reason})"
        return StoreError(f"cannot {doing} the index at {self.folder}: {reason}")

    def writable(self) -> None:
        """Refuse a write on a read-only index before anything is attempted."""
        if self.read_only:
            raise StoreError(
                f"cannot write the index at {self.folder}: it is read-only "
                "(its files or their file system cannot be written)"
            )

    # -- metadata ------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.writable()
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _ensure_index_id(self, conn: sqlite3.Connection) -> None:
        found = conn.execute("SELECT 1 FROM meta WHERE key = ?", (INDEX_ID,)).fetchone()
        if found is None:  # a new index, or one made before index ids existed
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                (INDEX_ID, uuid.uuid4().hex),
            )


def _cannot_write(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or "unable to open" in text


class _HasDatabase(Protocol):
    db: Database


S = TypeVar("S", bound=_HasDatabase)


def translated(
    doing: str,
) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], R]]:
    """A store method whose sqlite3 errors become one-line StoreErrors."""

    def wrap(fn: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
        @functools.wraps(fn)
        def inner(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise self.db.error(doing, exc) from exc

        return inner

    return wrap


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT; on failure a ROLLBACK that never hides the cause.

    SQLite itself rolls back on some errors (a full disk), and a second ROLLBACK
    would then raise "no transaction is active" in place of the real reason.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
