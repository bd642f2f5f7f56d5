"""Helpers shared by the benchmarks: ports, waiting, installations and their processes."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[1]
DOMAIN = "bench.test"
CLI = [sys.executable, "-m", "poststelle.cli"]
TERMINAL = ("delivered", "acknowledged", "needs_review", "rejected")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` every 50 ms; raise TimeoutError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (fraction in 0..1); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Installation:
    """A `poststelle init` installation on free loopback ports, STARTTLS off, JSON logs."""

    root: Path
    smtp_port: int
    http_port: int
    redis_db: int | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.root / "poststelle.toml"

    @property
    def database(self) -> Path:
        return self.root / "data" / "poststelle.sqlite3"

    @property
    def inboxes(self) -> Path:
        return self.root / "data" / "inboxes"

    @classmethod
    def create(cls, root: Path, *, redis_db: int | None = None) -> Installation:
        """`poststelle init` in `root`; with `redis_db`, the Redis broker on that (flushed) db."""
        smtp_port, http_port = free_port(), free_port()
        subprocess.run(
            [*CLI, "init", str(root), "--domain", DOMAIN,
             "--smtp-port", str(smtp_port), "--http-port", str(http_port)],
            check=True, capture_output=True, cwd=REPO,
        )  # fmt: skip
        config = root / "poststelle.toml"
        text = config.read_text()
        text = text.replace('starttls = "offered"', 'starttls = "off"')
        text = text.replace('log_format = "console"', 'log_format = "json"')
        if redis_db is not None:
            text = text.replace(
                'kind = "embedded"', f'kind = "redis"\nurl = "redis://127.0.0.1:6379/{redis_db}"'
            )
            redis.Redis(db=redis_db).flushdb()
        config.write_text(text)
        return cls(root, smtp_port, http_port, redis_db)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Start `poststelle --config … <args>` with its output in a log file next to it."""
        log = (self.root / f"{args[0]}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [*CLI, "--config", str(self.config), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        self.processes.append(process)
        return process

    def serve(self) -> subprocess.Popen[bytes]:
        process = self.start("serve")
        wait_port(self.smtp_port, 60)
        wait_port(self.http_port, 60)
        return process

    def stop(self) -> None:
        """SIGTERM every process started here (newest first), SIGKILL what does not exit."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.processes.clear()
        if self.redis_db is not None:
            redis.Redis(db=self.redis_db).flushdb()

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        """Run `sql` on the store's SQLite database, read-only; [] before it exists."""
        if not self.database.exists():
            return []
        db = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def states(self) -> dict[str, str]:
        """Registry number → state of every item."""
        return {str(r): str(s) for r, s in self.query("SELECT registry_number, state FROM items")}

    def delivered_files(self) -> list[Path]:
        return [p for p in self.inboxes.glob("*/*/*") if p.parent.name in ("new", "cur")]


@contextmanager
def installation(root: Path, *, redis_db: int | None = None) -> Iterator[Installation]:
    """An installation whose processes are stopped on leaving, whatever happened."""
    inst = Installation.create(root, redis_db=redis_db)
    try:
        yield inst
    finally:
        inst.stop()


def registry_number(reply: bytes) -> str:
    """The registry number in Poststelle's final 250 reply."""
    return reply.decode().rsplit(" ", 1)[-1]
