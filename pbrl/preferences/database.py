"""The preference store's SQLite file: opening it, creating it, connections and transactions.

SQLite in WAL mode, so a training loop, the labeling web app and a dataset-labeling
command can read and write the same file concurrently (readers never block the
writer; writers queue on a busy timeout). Every write is one transaction
(``BEGIN IMMEDIATE`` … ``COMMIT``) with ``synchronous=FULL``: a write is committed
completely or not at all, and a crash or a kill of the writing process at any moment
loses nothing committed.

A file that is not a pbrl store (not SQLite, or SQLite without the ``pbrl_meta``
table, see ``schema.py``) is refused with :class:`NotAPbrlStoreError` and left
untouched; one SQLite finds malformed pages in is refused with
:class:`DamagedStoreError` and never written to. A store of an older schema version
is migrated on opening, in one transaction, by the steps in ``schema.MIGRATIONS``
(they add tables and keep every row).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from typing import Iterator, Self

from .schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, SQLITE_MAGIC, STORE_FORMAT, TABLES

__all__ = ["Database", "DamagedStoreError", "NotAPbrlStoreError"]


class NotAPbrlStoreError(ValueError):
    """The file is not a pbrl preference store (pbrl leaves it untouched)."""


class DamagedStoreError(ValueError):
    """The store file is damaged: SQLite finds malformed pages in it (pbrl writes nothing to it)."""


#: SQLite's primary result codes for a damaged file
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


def _is_damage(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying the file is malformed (not a lock, a constraint or a full disk)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _damaged(path: str, detail: str) -> DamagedStoreError:
    return DamagedStoreError(
        f"the preference store {path} is damaged (SQLite: {detail}); pbrl did not write to it. Restore it from a "
        f"copy or an export (PreferenceStore.import_from), or salvage what SQLite can still read into a new file: "
        f"sqlite3 {path} .recover | sqlite3 recovered.sqlite"
    )


class Database:
    """An open pbrl store file; :class:`~pbrl.preferences.PreferenceStore` adds the
    operations on its tables.

    Opening checks the file (see :class:`~pbrl.preferences.PreferenceStore` for the
    arguments) and creates the schema in a new or empty one. Each thread (and each
    process, after a fork) gets its own connection; ``_write()`` and ``_read()`` give
    one in a transaction.
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = True, timeout: float = 30.0, synchronous: str = "FULL"):
        self.path = os.fspath(path)
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be 'FULL', 'NORMAL' or 'EXTRA', got {synchronous!r}")
        self.timeout = float(timeout)
        self.synchronous = synchronous.upper()
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        state = self._inspect(create)
        if state == "new":
            self._create()
        elif state == "old":
            self._migrate()

    # -- opening ------------------------------------------------------------

    def _refuse(self, why: str) -> NotAPbrlStoreError:
        return NotAPbrlStoreError(f"{self.path} is not a pbrl preference store: {why}. pbrl left the file untouched.")

    def _inspect(self, create: bool) -> str:
        path = self.path
        if os.path.isdir(path):
            raise self._refuse("it is a directory")
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            if not create:
                raise FileNotFoundError(f"no preference store at {path} (pass create=True to make one)")
            return "new"
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
        if head != SQLITE_MAGIC:
            raise self._refuse(f"it is not an SQLite database (it starts with {head[:16]!r})")
        con = sqlite3.connect(path, timeout=self.timeout, isolation_level=None)
        try:
            try:
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                app_id = con.execute("PRAGMA application_id").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                if _is_damage(exc) and exc.sqlite_errorcode & 0xFF == _SQLITE_CORRUPT:  # an SQLite file with bad pages
                    raise _damaged(self.path, str(exc)) from None
                raise self._refuse(f"SQLite cannot read it ({exc})") from None
            if "pbrl_meta" not in tables:
                if not tables and app_id in (0, APPLICATION_ID):
                    return "new"  # an empty SQLite file (e.g. creation interrupted)
                shown = ", ".join(sorted(tables)[:8]) or "none"
                raise self._refuse(f"it is an SQLite database without pbrl's marker table pbrl_meta (tables: {shown})")
            meta = dict(con.execute("SELECT key, value FROM pbrl_meta").fetchall())
        finally:
            con.close()
        if meta.get("format") != STORE_FORMAT:
            raise self._refuse(f"its pbrl_meta format is {meta.get('format')!r}, expected {STORE_FORMAT!r}")
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError:
            raise self._refuse(f"its schema_version {meta.get('schema_version')!r} is not a number") from None
        if version > SCHEMA_VERSION:
            raise NotAPbrlStoreError(
                f"{self.path} is a pbrl preference store of schema version {version}, made by a newer pbrl; "
                f"this pbrl reads versions up to {SCHEMA_VERSION}. Upgrade pbrl."
            )
        if version < 1:
            raise self._refuse(f"its schema_version {version} is invalid")
        return "old" if version < SCHEMA_VERSION else "pbrl"

    def _migrate(self) -> None:
        """Bring an older store to :data:`SCHEMA_VERSION` in one transaction (all steps or none)."""
        with self._write() as con:
            version = int(con.execute("SELECT value FROM pbrl_meta WHERE key = 'schema_version'").fetchone()[0])
            start = version  # another process may have migrated it meanwhile
            while version < SCHEMA_VERSION:
                for statement in MIGRATIONS[version]:
                    con.execute(statement)
                version += 1
            if version != start:
                con.execute("UPDATE pbrl_meta SET value = ? WHERE key = 'schema_version'", (str(version),))
                con.execute(
                    "INSERT OR REPLACE INTO pbrl_meta (key, value) VALUES (?, ?)",
                    (f"migrated.{start}-{version}", repr(time.time())),
                )
                con.execute(f"PRAGMA user_version = {version}")

    def _create(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"cannot create a preference store at {self.path}: {directory} does not exist")
        con = self._conn()
        con.execute("BEGIN IMMEDIATE")
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "pbrl_meta" not in tables:  # someone else wrote a non-pbrl db meanwhile
                raise self._refuse("another program created a different database there")
            for statement in TABLES:
                con.execute(statement)
            from .. import __version__

            for key, value in (
                ("format", STORE_FORMAT),
                ("schema_version", str(SCHEMA_VERSION)),
                ("created", repr(time.time())),
                ("pbrl_version", __version__),
            ):
                con.execute("INSERT OR IGNORE INTO pbrl_meta (key, value) VALUES (?, ?)", (key, value))
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    # -- connections and transactions ---------------------------------------

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=True)
        mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            con.close()
            raise OSError(f"could not put {self.path} in WAL mode (got {mode!r}); is it on a network file system?")
        con.execute(f"PRAGMA synchronous = {self.synchronous}")
        con.execute("PRAGMA foreign_keys = ON")
        con.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        return con

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError(f"the preference store {self.path} is closed")
        con = getattr(self._local, "con", None)
        if con is None or getattr(self._local, "pid", None) != os.getpid():
            con = self._connect()
            self._local.con = con
            self._local.pid = os.getpid()
            with self._lock:
                self._conns.append(con)
        return con

    def close(self) -> None:
        """Close every connection this object opened (in this process)."""
        with self._lock:
            conns, self._conns = self._conns, []
        for con in conns:
            with contextlib.suppress(sqlite3.Error):
                con.close()
        self._local = threading.local()
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._named_damage():
            con = self._conn()
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._named_damage():
            con = self._conn()
            con.execute("BEGIN")  # one consistent snapshot for several SELECTs
            try:
                yield con
            finally:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("COMMIT")

    @contextlib.contextmanager
    def _named_damage(self) -> Iterator[None]:
        """SQLite's "database disk image is malformed" as a :class:`DamagedStoreError` naming the file."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if _is_damage(exc):
                raise _damaged(self.path, str(exc)) from None
            raise

    def check(self) -> None:
        """Read every page of the file (``PRAGMA quick_check``); raise :class:`DamagedStoreError` if any is malformed.

        Linear in the file's size (about a second per GB); the ``pbrl label`` commands
        run it before they read or write a store.
        """
        with self._named_damage():
            rows = [r[0] for r in self._conn().execute("PRAGMA quick_check(5)").fetchall()]
        if rows != ["ok"]:
            raise _damaged(self.path, "; ".join(str(r) for r in rows))

    @property
    def schema_version(self) -> int:
        return int(self._conn().execute("SELECT value FROM pbrl_meta WHERE key = 'schema_version'").fetchone()[0])
