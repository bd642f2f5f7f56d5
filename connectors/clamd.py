"""A blocking client for ClamAV's clamd over a UNIX or TCP socket: the MalwareScanner port.

Speaks the documented clamd protocol: NUL-terminated ``z`` commands (``zPING``, ``zVERSION``,
``zINSTREAM``); INSTREAM sends the data in chunks, each prefixed with its length as a 4-byte
big-endian integer, and ends with a zero-length chunk. Replies are ``stream: OK``,
``stream: <signature> FOUND`` or ``<reason> ERROR``. An unreachable or silent clamd raises
ScannerUnavailable; an error reply raises ScanFailed. Neither is ever reported as clean.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from poststelle.ports import ScanFailed, ScannerUnavailable, ScanResult

CHUNK_BYTES = 256 * 1024  # well below any sensible StreamMaxLength
MAX_REPLY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ClamdAddress:
    """Where clamd listens: a UNIX socket path, or a TCP host and port."""

    socket_path: Path | None = None
    host: str = ""
    port: int = 0

    def __post_init__(self) -> None:
        if (self.socket_path is None) == (not self.host):
            raise ValueError("a clamd address is either a socket path or a host and port")

    def __str__(self) -> str:
        if self.socket_path is not None:
            return f"unix:{self.socket_path}"
        return f"{self.host}:{self.port}"


def parse_reply(reply: str) -> ScanResult:
    """Interpret clamd's answer to INSTREAM (without the scanner version)."""
    if reply.endswith(" ERROR"):
        raise ScanFailed(f"clamd could not scan: {reply.removesuffix(' ERROR')}")
    name, sep, verdict = reply.partition(": ")
    if not sep or name != "stream":
        raise ScanFailed(f"clamd gave an unexpected reply: {reply!r}")
    if verdict == "OK":
        return ScanResult(clean=True)
    if verdict.endswith(" FOUND") and verdict.removesuffix(" FOUND"):
        return ScanResult(clean=False, signature=verdict.removesuffix(" FOUND"))
    raise ScanFailed(f"clamd gave an unexpected reply: {reply!r}")


class ClamdScanner:
    """Scans files by streaming them to clamd; every call opens its own connection."""

    def __init__(
        self, address: ClamdAddress, *, timeout: float = 60.0, chunk_bytes: int = CHUNK_BYTES
    ) -> None:
        if timeout <= 0 or chunk_bytes <= 0:
            raise ValueError("timeout and chunk size must be positive")
        self.address = address
        self.timeout = timeout
        self.chunk_bytes = chunk_bytes

    def ping(self) -> None:
        """Raise ScannerUnavailable unless clamd answers PONG."""
        reply = self._command(b"zPING\0")
        if reply != "PONG":
            raise ScannerUnavailable(f"clamd at {self.address} answered {reply!r} to PING")

    def version(self) -> str:
        """clamd's version and that of its signatures, e.g. ``ClamAV 1.4.6/27500/…``."""
        return self._command(b"zVERSION\0")

    def scan_path(self, path: Path) -> ScanResult:
        version = self.version()
        with path.open("rb") as stream:
            chunks = iter(lambda: stream.read(self.chunk_bytes), b"")
            result = self.scan_chunks(chunks)
        return ScanResult(result.clean, result.signature, version)

    def scan_chunks(self, chunks: Iterable[bytes]) -> ScanResult:
        """INSTREAM the chunks; the result carries no scanner version (see scan_path)."""
        with self._connect() as conn:
            try:
                conn.sendall(b"zINSTREAM\0")
                for chunk in _bounded(chunks, self.chunk_bytes):
                    conn.sendall(struct.pack(">I", len(chunk)) + chunk)
                conn.sendall(struct.pack(">I", 0))
            except (BrokenPipeError, ConnectionResetError):
                # clamd closes early when a limit is exceeded; its reason is still to be read.
                pass
            except TimeoutError as exc:
                raise ScannerUnavailable(
                    f"clamd at {self.address} stopped reading within {self.timeout}s"
                ) from exc
            except OSError as exc:
                raise ScannerUnavailable(f"clamd at {self.address} failed: {exc}") from exc
            return parse_reply(self._read_reply(conn))

    def _command(self, command: bytes) -> str:
        with self._connect() as conn:
            try:
                conn.sendall(command)
            except OSError as exc:
                raise ScannerUnavailable(f"clamd at {self.address} failed: {exc}") from exc
            return self._read_reply(conn)

    def _connect(self) -> socket.socket:
        address = self.address
        try:
            if address.socket_path is None:
                return socket.create_connection((address.host, address.port), self.timeout)
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(self.timeout)
            try:
                conn.connect(str(address.socket_path))
            except OSError:
                conn.close()
                raise
            return conn
        except OSError as exc:
            raise ScannerUnavailable(f"clamd at {address} is unreachable: {exc}") from exc

    def _read_reply(self, conn: socket.socket) -> str:
        received = bytearray()
        try:
            while b"\0" not in received and len(received) < MAX_REPLY_BYTES:
                data = conn.recv(4096)
                if not data:
                    break
                received += data
        except TimeoutError as exc:
            raise ScannerUnavailable(
                f"clamd at {self.address} did not answer within {self.timeout}s"
            ) from exc
        except OSError as exc:
            raise ScannerUnavailable(f"clamd at {self.address} failed: {exc}") from exc
        reply, terminated, _ = bytes(received).partition(b"\0")
        if not terminated and not reply:
            raise ScannerUnavailable(f"clamd at {self.address} closed without an answer")
        return reply.decode("utf-8", errors="replace").strip()


def _bounded(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The chunks, cut to at most `size` bytes; empty ones (they would end the stream) left out."""
    for chunk in chunks:
        for start in range(0, len(chunk), size):
            yield chunk[start : start + size]
