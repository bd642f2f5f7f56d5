"""A real Poststelle installation (`poststelle init`) and a real `poststelle serve` process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOMAIN = "amt.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def poststelle(*args: str, config: Path | None = None, check: bool = True) -> str:
    cmd = [sys.executable, "-m", "poststelle.cli"]
    if config is not None:
        cmd += ["--config", str(config)]
    done = subprocess.run(
        [*cmd, *args], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"poststelle {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


@dataclass
class Installation:
    root: Path
    config: Path
    smtp_port: int
    http_port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def inbox(self, department: str) -> Path:
        return self.data / "inboxes" / department

    def maildir_messages(self, maildir: Path) -> list[Path]:
        return sorted(
            p
            for sub in ("new", "cur")
            if (maildir / sub).is_dir()
            for p in (maildir / sub).iterdir()
        )

    def edit_config(self, pattern: str, replacement: str) -> None:
        text = self.config.read_text()
        changed = re.sub(pattern, replacement, text, count=1, flags=re.M)
        assert changed != text, f"{pattern!r} not found in the config"
        self.config.write_text(changed)


def new_installation(root: Path) -> Installation:
    """`poststelle init` into ROOT on free ports."""
    smtp_port, http_port = free_port(), free_port()
    poststelle(
        "init",
        str(root),
        "--domain",
        DOMAIN,
        "--smtp-port",
        str(smtp_port),
        "--http-port",
        str(http_port),
    )
    return Installation(root, root / "poststelle.toml", smtp_port, http_port)


@pytest.fixture
def installation(tmp_path: Path) -> Installation:
    return new_installation(tmp_path / "poststelle")


class Server:
    """One `poststelle <command>` process with its output kept for failure messages."""

    def __init__(self, installation: Installation, command: str = "serve") -> None:
        self.installation = installation
        self.log = installation.root / f"{command}-{time.monotonic_ns()}.log"
        self._out = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "poststelle.cli", "--config", str(installation.config), command],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_listening(self) -> Server:
        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"poststelle exited:\n{self.output()}")
            return port_open(self.installation.smtp_port) and port_open(self.installation.http_port)

        wait_for(up, 30, "poststelle to listen")
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._out.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._out.close()


@pytest.fixture
def start() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def launch(installation: Installation, command: str = "serve") -> Server:
        server = Server(installation, command)
        servers.append(server)
        return server

    yield launch
    for server in servers:
        server.stop()


def intake_processes(installation: Installation) -> list[int]:
    """The pids of the `poststelle intake` processes serve started for this installation."""
    found = subprocess.run(
        ["pgrep", "-f", "--", f"--config {installation.config} intake"],
        capture_output=True,
        text=True,
    )
    return [int(pid) for pid in found.stdout.split()]
