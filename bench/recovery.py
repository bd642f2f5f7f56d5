"""Recovery benchmark: SIGKILL a worker process mid-task; time until another finishes its items."""

from __future__ import annotations

import os
import signal
import smtplib
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.common import TERMINAL, Installation, installation, registry_number, wait_until
from bench.mail import SENDER, Signer, make, pdf

TARGET = 10.0  # seconds, issue 7
REDIS_DB = 12
REGISTRY_HEADER = b"X-Poststelle-Registry-Number:"


@dataclass(frozen=True)
class Recovery:
    batch: int
    killed_pid: int
    seconds: float  # SIGKILL → every accepted item in a terminal state (inf: not within limit)
    unfinished: int
    duplicates: int  # (department, registry number) pairs delivered more than once

    @property
    def ratio(self) -> float:
        return self.seconds / TARGET


def worker_pids(supervisor: int) -> list[int]:
    """The `poststelle worker` processes the supervisor started."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children]


def busy(pid: int) -> bool:
    """True when the process used CPU in the last 100 ms, i.e. is running a stage."""

    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    before = ticks()
    time.sleep(0.1)
    return ticks() > before


def duplicates(inst: Installation) -> int:
    """How many (department, registry number) deliveries exist more than once in the Maildirs."""
    seen: Counter[tuple[str, bytes]] = Counter()
    for path in inst.delivered_files():
        with path.open("rb") as f:
            for line in f:
                if line.startswith(REGISTRY_HEADER):
                    seen[(path.parent.parent.name, line.split(b":", 1)[1].strip())] += 1
                    break
    return sum(n - 1 for n in seen.values() if n > 1)


def run(workdir: Path, batch: int = 40, limit: float = 90.0) -> Recovery:
    with installation(workdir / "recovery", redis_db=REDIS_DB) as inst:
        inst.serve()
        signer, attachment = Signer(), pdf("Antrag")
        accepted = []
        with smtplib.SMTP("127.0.0.1", inst.smtp_port, timeout=120) as smtp:
            smtp.ehlo()
            for i in range(batch):
                mail = make(i, signer, attachment)
                smtp.mail(SENDER)
                smtp.rcpt(mail.recipient)
                code, reply = smtp.data(mail.data)
                if code == 250:
                    accepted.append(registry_number(reply))
        # The whole batch waits in Redis before the workers start, so the victim is killed
        # with messages in hand, not after a pipeline that was quicker than the kill.
        supervisor = inst.start("worker", "--processes", "2")
        log = inst.root / "worker-1.log"
        wait_until(lambda: log.read_text().count("worker_started") >= 2, 60, "workers")
        wait_until(lambda: bool(inst.delivered_files()), limit, "a first delivery")
        pids = worker_pids(supervisor.pid)
        victim = next((pid for pid in pids if busy(pid)), pids[0])
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()

        def finished() -> bool:
            states = inst.states()
            return all(states.get(n) in TERMINAL for n in accepted)

        try:
            wait_until(finished, limit, "every item to finish")
            seconds = time.monotonic() - killed
        except TimeoutError:
            seconds = float("inf")
        states = inst.states()
        unfinished = sum(1 for n in accepted if states.get(n) not in TERMINAL)
        return Recovery(len(accepted), victim, seconds, unfinished, duplicates(inst))


def report(result: Recovery) -> list[str]:
    return [
        "recovery (Redis broker, 2 worker processes, one SIGKILLed after the first delivery):",
        f"  batch {result.batch}: every item terminal {result.seconds:.1f} s after the kill "
        f"(target {TARGET:.0f} s, ratio {result.ratio:4.2f}); unfinished {result.unfinished}; "
        f"delivered twice {result.duplicates}",
    ]
