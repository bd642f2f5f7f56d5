"""Maildir egress: department inboxes and the outbox, each message placed exactly once per key."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from poststelle.ports import InboxDelivery, OutboundMessage
from poststelle.store.sync import fsync_path

_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


class Maildir:
    """One Maildir. A message's file name is derived from its key, so placing the same key again
    (a retry after a crash) finds the earlier file instead of writing a second one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("tmp", "new", "cur"):
            (root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)

    def _name(self, key: str) -> str:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        slug = _SLUG.sub("-", key).strip("-")[:60]
        return f"{digest}.{slug}.poststelle"

    def find(self, key: str) -> Path | None:
        name = self._name(key)
        new = self.root / "new" / name
        if new.exists():
            return new
        # A mail client moves read mail to cur/ and may append ":2,<flags>".
        return next((self.root / "cur").glob(f"{name}*"), None)

    def place(self, key: str, content: bytes) -> Path:
        found = self.find(key)
        if found is not None:
            return found
        name = self._name(key)
        tmp = (
            self.root / "tmp" / f"{name}.{os.getpid()}.{time.monotonic_ns()}.{socket.gethostname()}"
        )
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            final = self.root / "new" / name
            with contextlib.suppress(FileExistsError):  # placed concurrently: that copy counts
                os.link(tmp, final)
            fsync_path(final.parent)
        finally:
            tmp.unlink(missing_ok=True)
        return final

    def sweep_tmp(self, older_than_seconds: float) -> int:
        cutoff = time.time() - older_than_seconds
        removed = 0
        for leftover in (self.root / "tmp").iterdir():
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed


def sweep_maildirs(paths: Iterable[Path], older_than_seconds: float) -> int:
    """Remove half-written files a killed process left in these Maildirs' tmp/ directories."""
    return sum(Maildir(path).sweep_tmp(older_than_seconds) for path in paths)


class MaildirInbox:
    """The `DepartmentInbox` port: one Maildir per department."""

    def __init__(self, maildirs: Mapping[str, Path]) -> None:
        self._maildirs = {department: Maildir(path) for department, path in maildirs.items()}

    def deliver(self, delivery: InboxDelivery) -> str:
        maildir = self._maildirs.get(delivery.department)
        if maildir is None:
            raise KeyError(f"no inbox is configured for department {delivery.department!r}")
        return str(maildir.place(delivery.key, delivery.content))


class MaildirOutbox:
    """The `Outbox` port for the embedded default: outbound mail lands in a Maildir."""

    def __init__(self, path: Path) -> None:
        self._maildir = Maildir(path)

    def send(self, message: OutboundMessage) -> str:
        return str(self._maildir.place(message.key, message.content))
