"""Memory benchmark: peak-RSS growth of `poststelle serve` while it receives one large message."""

from __future__ import annotations

import base64
import os
import smtplib
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import DOMAIN, TERMINAL, installation, registry_number, wait_until

SIZES_MB = (1, 10, 25)
MB = 1_000_000
TARGET = 1.5  # peak-RSS growth at most 1.5 × the message size
REDIS_DB = 10


@dataclass(frozen=True)
class Peak:
    mode: str  # "intake" (Redis broker, no stages in the process) or "embedded" (all stages)
    size: int
    growth: int  # bytes: VmHWM after the message minus VmRSS before it

    @property
    def ratio(self) -> float:
        return self.growth / self.size


def message(size: int) -> bytes:
    """A multipart mail of `size` bytes: a short text and a base64 attachment of random bytes."""
    head = (
        f"From: buerger@sender.example\r\nTo: poststelle@{DOMAIN}\r\n"
        "Subject: Unterlagen\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAnbei die Unterlagen.\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="scan.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    tail = b"--b--\r\n"
    lines = (size - len(head) - len(tail)) // 78  # 57 random bytes → 76 base64 chars + CRLF
    raw = os.urandom(57 * lines)
    body = b"".join(base64.b64encode(raw[i : i + 57]) + b"\r\n" for i in range(0, len(raw), 57))
    return head + body + tail


def status(pid: int, key: str) -> int:
    """A `kB` figure from /proc/<pid>/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def send(port: int, data: bytes) -> str:
    """Send one message with smtplib; return its registry number."""
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as smtp:
        smtp.ehlo()
        smtp.mail("buerger@sender.example")
        smtp.rcpt(f"poststelle@{DOMAIN}")
        code, reply = smtp.data(data)
    if code != 250:
        raise RuntimeError(f"{len(data)} bytes refused: {code} {reply!r}")
    return registry_number(reply)


def measure(workdir: Path, mode: str, size: int) -> Peak:
    """A fresh serve process; reset its peak, send one message, read the peak again."""
    redis_db = REDIS_DB if mode == "intake" else None
    with installation(workdir / f"{mode}-{size // MB}mb", redis_db=redis_db) as inst:
        pid = inst.serve().pid
        time.sleep(1.5)  # start-up sweep and first reconciler pass done
        # A first message of the smallest size measured sets up what then stays: the intake's
        # threads, their allocator arenas and buffers (about 1.7 MB once) and, embedded, every
        # stage's imports and caches. That is not per message.
        number = send(inst.smtp_port, message(SIZES_MB[0] * MB))
        if mode == "embedded":
            wait_until(lambda: inst.states().get(number) in TERMINAL, 300, f"{number} to finish")
        data = message(size)
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        before = status(pid, "VmHWM")
        number = send(inst.smtp_port, data)
        if mode == "embedded":
            wait_until(lambda: inst.states().get(number) in TERMINAL, 300, f"{number} to finish")
        time.sleep(0.5)
        return Peak(mode, len(data), status(pid, "VmHWM") - before)


def run(workdir: Path) -> list[Peak]:
    return [measure(workdir, mode, mb * MB) for mode in ("intake", "embedded") for mb in SIZES_MB]


def report(peaks: list[Peak]) -> list[str]:
    lines = [f"memory (peak-RSS growth of `serve` per message; target <= {TARGET} x size):"]
    for p in peaks:
        lines.append(
            f"  {p.mode:>8} {p.size / MB:>4.0f} MB: +{p.growth / MB:7.1f} MB   "
            f"growth/size {p.ratio:5.2f}   ratio to target {p.ratio / TARGET:5.2f}"
        )
    return lines
