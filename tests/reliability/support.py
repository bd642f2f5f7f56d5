"""Helpers for the crash, fault and hostile-SMTP tests."""

from __future__ import annotations

import hashlib
import re
import smtplib
import socket
import sqlite3
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.conftest import DOMAIN, Installation

REGISTRY = re.compile(rb"registry number (\d{4}-\d{6})")
TRACE = re.compile(rb"^X-Poststelle-Registry-Number: (\d{4}-\d{6})\r?$", re.M)
DEPARTMENTS = ("hauptamt", "bauamt", "ordnungsamt")


def plain_message(to: str, subject: str, body: str = "Hallo") -> bytes:
    return (
        f"From: buerger@example.org\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{time.monotonic_ns()}@example.org>\r\n\r\n{body}\r\n"
    ).encode()


class RawSmtp:
    """A byte-exact SMTP client over a plain socket: it sends what it is told, nothing more."""

    def __init__(self, port: int, timeout: float = 15) -> None:
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout
        )
        self.buffer = b""
        greeting = self.reply()
        assert greeting.startswith(b"220"), greeting

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed by the server; unread: {self.buffer!r}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def reply(self) -> bytes:
        """One (possibly multi-line) reply, its lines joined with LF."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3:4] == b"-":
            lines.append(self.line())
        return b"\n".join(lines)

    def command(self, text: str | bytes) -> bytes:
        self.send((text.encode() if isinstance(text, str) else text) + b"\r\n")
        return self.reply()

    def closed_by_server(self) -> bool:
        """True once the server has closed the connection (reads EOF or a reset)."""
        try:
            return self.sock.recv(65536) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class StoredItem:
    registry_number: str
    sha256: str
    state: str
    department: str | None


def stored_items(installation: Installation) -> list[StoredItem]:
    db = installation.data / "poststelle.sqlite3"
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=30) as conn:
        rows = conn.execute(
            "SELECT registry_number, sha256, state, department FROM items ORDER BY registry_number"
        ).fetchall()
    conn.close()
    return [StoredItem(*row) for row in rows]


def deliveries(installation: Installation) -> list[tuple[str, str]]:
    with sqlite3.connect(installation.data / "poststelle.sqlite3", timeout=30) as conn:
        rows = conn.execute("SELECT item_id, department FROM deliveries").fetchall()
    conn.close()
    return [(str(a), str(b)) for a, b in rows]


def blob_path(installation: Installation, sha256: str) -> Path:
    return installation.data / "blobs" / sha256[:2] / sha256[2:]


def blob_tmp_files(installation: Installation) -> list[Path]:
    tmp = installation.data / "blobs" / "tmp"
    return sorted(tmp.iterdir()) if tmp.is_dir() else []


def delivered_numbers(installation: Installation) -> dict[str, list[str]]:
    """Registry numbers found in the trace headers of each department's Maildir."""
    found: dict[str, list[str]] = {}
    for department in DEPARTMENTS:
        numbers: list[str] = []
        for path in installation.maildir_messages(installation.inbox(department)):
            head = path.read_bytes().split(b"\r\n\r\n", 1)[0]
            numbers += [m.decode() for m in TRACE.findall(head)]
        found[department] = numbers
    return found


def add_smtp_setting(installation: Installation, line: str) -> None:
    installation.edit_config(r"^(max_message_bytes = \d+)$", rf"\1\n{line}")


TERMINAL = {"delivered", "acknowledged", "rejected"}


class Load:
    """Threads sending plain SMTP as fast as the server answers; they note every 250 they see,
    with when its DATA was sent and when the 250 came back (time.monotonic)."""

    def __init__(
        self, installation: Installation, trial: int, senders: int = 3, pause: float = 0.01
    ) -> None:
        self.installation = installation
        self.trial = trial
        self.pause = pause
        self.confirmed: list[str] = []
        self.confirmed_between: list[tuple[float, float]] = []  # (DATA sent, 250 seen)
        self.attempts = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._send, args=(n,), daemon=True) for n in range(senders)
        ]
        for thread in self._threads:
            thread.start()

    def _send(self, n: int) -> None:
        to = f"bauamt@{DOMAIN}" if n % 2 else f"poststelle@{DOMAIN}"
        count = 0
        while not self._stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", self.installation.smtp_port, timeout=10) as smtp:
                    smtp.ehlo("client.example.org")
                    while not self._stop.is_set():
                        count += 1
                        subject = f"trial {self.trial} sender {n} message {count}"
                        data = plain_message(to, subject, "Text\r\n" * (count % 50))
                        with self._lock:
                            self.attempts += 1
                        smtp.mail("buerger@example.org")
                        smtp.rcpt(to)
                        sent = time.monotonic()
                        code, reply = smtp.data(data)
                        seen = time.monotonic()
                        found = REGISTRY.search(reply)
                        if code == 250 and found:
                            with self._lock:
                                self.confirmed.append(found.group(1).decode())
                                self.confirmed_between.append((sent, seen))
                        time.sleep(self.pause)
            except (OSError, smtplib.SMTPException):
                time.sleep(0.02)  # the server is gone: try again until told to stop

    def confirmed_within(self, start: float, end: float) -> int:
        """How many 250s answered a DATA sent at or after START and came back by END."""
        with self._lock:
            return sum(start <= sent and seen <= end for sent, seen in self.confirmed_between)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
            assert not thread.is_alive()


def assert_nothing_half_written_is_visible(installation: Installation) -> None:
    """Every blob is whole (its name is its hash); every Maildir message is whole and once."""
    blobs = installation.data / "blobs"
    for directory in blobs.iterdir():
        if directory.name == "tmp":
            continue
        for blob in directory.iterdir():
            digest = hashlib.sha256(blob.read_bytes()).hexdigest()
            assert digest == directory.name + blob.name, f"torn blob {blob}"
    items = {i.registry_number: i for i in stored_items(installation)}
    for department in DEPARTMENTS:
        maildir = installation.inbox(department)
        for message in installation.maildir_messages(maildir):
            content = message.read_bytes()
            (number,) = TRACE.findall(content.split(b"\r\n\r\n", 1)[0])
            item = items[number.decode()]
            original = blob_path(installation, item.sha256).read_bytes()
            assert content.endswith(original), f"torn Maildir message {message}"
    for department, numbers in delivered_numbers(installation).items():
        duplicates = {n for n in numbers if numbers.count(n) > 1}
        assert not duplicates, f"{department} received {duplicates} more than once"


def assert_delivered_once(installation: Installation, why: str) -> None:
    items = stored_items(installation)
    delivered = delivered_numbers(installation)
    for item in items:
        if item.state == "delivered":
            assert item.department is not None, item
            got = delivered[item.department].count(item.registry_number)
            assert got == 1, f"{item} is in its Maildir {got} times {why}"
    in_maildirs = sum(len(numbers) for numbers in delivered.values())
    assert in_maildirs == sum(i.state == "delivered" for i in items), (
        f"{in_maildirs} messages in the Maildirs for "
        f"{sum(i.state == 'delivered' for i in items)} delivered items {why}"
    )
    for department in DEPARTMENTS:
        leftovers = list((installation.inbox(department) / "tmp").glob("*"))
        assert not leftovers, f"{department}: half-written Maildir files {leftovers} {why}"
