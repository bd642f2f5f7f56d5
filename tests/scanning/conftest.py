"""A real clamd with a one-signature database written at test time (no download needed)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.clamd import ClamdAddress, ClamdScanner
from poststelle.ports import ScannerUnavailable

SIGNATURE = "Poststelle.Test.EICAR"
FOUND_AS = f"{SIGNATURE}.UNOFFICIAL"  # clamd's name for a detection by a custom database


def eicar() -> bytes:
    """The EICAR anti-virus test string, assembled here so no file holds it whole."""
    return b"".join(
        [b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$", b"EICAR-STANDARD-", b"ANTIVIRUS-TEST-FILE!$H+H*"]
    )


@dataclass
class Clamd:
    """One clamd process, its configuration and its socket."""

    directory: Path
    process: subprocess.Popen[bytes]
    socket_path: Path
    tcp_port: int | None

    @classmethod
    def start(
        cls, directory: Path, *, stream_max_length: str = "64M", tcp_port: int | None = None
    ) -> Clamd:
        database = directory / "db"
        database.mkdir(parents=True)
        (database / "poststelle-test.ndb").write_text(f"{SIGNATURE}:0:*:{eicar().hex()}\n")
        socket_path = directory / "clamd.sock"
        lines = [
            "Foreground yes",
            f"DatabaseDirectory {database}",
            f"LocalSocket {socket_path}",
            f"StreamMaxLength {stream_max_length}",
        ]
        if tcp_port is not None:
            lines += [f"TCPSocket {tcp_port}", "TCPAddr 127.0.0.1"]
        config = directory / "clamd.conf"
        config.write_text("\n".join(lines) + "\n")
        log = (directory / "clamd.log").open("wb")
        process = subprocess.Popen(
            ["clamd", "--config-file", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        clamd = cls(directory, process, socket_path, tcp_port)
        clamd.wait_ready()
        return clamd

    @property
    def address(self) -> ClamdAddress:
        return ClamdAddress(self.socket_path)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        scanner = ClamdScanner(self.address, timeout=2)
        while True:
            if self.process.poll() is not None:
                log = (self.directory / "clamd.log").read_text(errors="replace")
                raise AssertionError(f"clamd exited with {self.process.returncode}:\n{log}")
            try:
                scanner.ping()
                return
            except ScannerUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    running = Clamd.start(tmp_path_factory.mktemp("clamd"))
    yield running
    running.stop()
