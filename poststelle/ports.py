"""The interfaces through which the mailroom's logic reaches the outside world.

Connectors implement them; only the composition root picks which implementation serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A mail the mailroom sends. `key` is stable across retries and names the message uniquely
    (e.g. ``receipt/2026-000042``): a sender that already sent `key` does nothing."""

    key: str
    sender: str
    recipients: tuple[str, ...]
    content: bytes


class SendError(Exception):
    """The message could not be sent; `permanent` says whether a retry can help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Outbox(Protocol):
    def send(self, message: OutboundMessage) -> str:
        """Send once per key; return where it went (a path, or the relay's answer)."""
        ...


@dataclass(frozen=True, slots=True)
class InboxDelivery:
    """What a department inbox receives for one item."""

    key: str  # stable per (item, department)
    department: str
    content: bytes


class DepartmentInbox(Protocol):
    def deliver(self, delivery: InboxDelivery) -> str:
        """Place the item in the department's inbox once per key; return its location."""
        ...


@dataclass(frozen=True, slots=True)
class TimestampToken:
    token_der: bytes  # the RFC 3161 TimeStampToken (a CMS ContentInfo)
    gen_time_iso: str
    serial_number: int
    policy_oid: str
    tsa: str


class Timestamper(Protocol):
    def timestamp(self, sha256_digest: bytes) -> TimestampToken: ...


@dataclass(frozen=True, slots=True)
class ScanResult:
    clean: bool
    signature: str = ""  # the malware signature name when not clean
    scanner: str = ""  # the scanner and its signature version, e.g. "ClamAV 1.4.6/27500/…"


class ScannerUnavailable(OSError):
    """The scanner could not be reached or did not answer in time: a retry may help."""


class ScanFailed(Exception):
    """The scanner answered but could not scan (e.g. a size limit): the file is not clean."""


class MalwareScanner(Protocol):
    def scan_path(self, path: Path) -> ScanResult:
        """Stream the file to the scanner; raise ScannerUnavailable when it cannot be reached
        and ScanFailed when it refuses the file. Never reports "clean" without a scan."""
        ...
