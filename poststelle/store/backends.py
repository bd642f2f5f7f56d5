"""Database backends for the SQL store: SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

Row = tuple[Any, ...]


class Transaction(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def rowcount(self) -> int: ...


class Backend(Protocol):
    name: str

    def write(self) -> Any:
        """Context manager: a transaction that takes the write lock at once, commits durably."""
        ...

    def read(self) -> Any:
        """Context manager: a read-only snapshot."""
        ...

    def has_table(self, name: str) -> bool:
        """Whether the table exists (read-only: takes no write lock)."""
        ...

    def executescript(self, script: str) -> None: ...

    def close(self) -> None: ...


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._rowcount = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self._conn.execute(sql, tuple(params))
        rows = cur.fetchall()
        self._rowcount = cur.rowcount
        return rows

    def rowcount(self) -> int:
        return self._rowcount


class SqliteBackend:
    """One connection per thread; WAL with synchronous=FULL: a commit is on disk when it returns."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[_SqliteTx]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteTx(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[_SqliteTx]:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield _SqliteTx(conn)
        finally:
            conn.execute("ROLLBACK")

    def executescript(self, script: str) -> None:
        self._conn().executescript(script)

    def has_table(self, name: str) -> bool:
        with self.read() as tx:
            return bool(
                tx.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
            )

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class _PostgresTx:
    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cur.execute(sql.replace("?", "%s"), tuple(params))
        return list(self._cur.fetchall()) if self._cur.description else []

    def rowcount(self) -> int:
        return int(self._cur.rowcount)


class PostgresBackend:
    """A connection per thread to PostgreSQL; the same SQL as SQLite with `?` placeholders."""

    name = "postgresql"

    def __init__(self, dsn: str) -> None:
        import psycopg

        self._psycopg = psycopg
        self.dsn = dsn
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._psycopg.connect(self.dsn, autocommit=False)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[_PostgresTx]:
        conn = self._conn()
        try:
            with conn.cursor() as cur:
                yield _PostgresTx(cur)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    @contextmanager
    def read(self) -> Iterator[_PostgresTx]:
        conn = self._conn()
        try:
            with conn.cursor() as cur:
                yield _PostgresTx(cur)
        finally:
            conn.rollback()

    def executescript(self, script: str) -> None:
        conn = self._conn()
        with conn.cursor() as cur:
            cur.execute(script)
        conn.commit()

    def has_table(self, name: str) -> bool:
        with self.read() as tx:
            return tx.execute("SELECT to_regclass(?) IS NOT NULL", (name,))[0][0] is True

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
