"""Intake benchmark: durable SMTP intake of Poststelle side by side with Postfix, same load."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.common import DOMAIN, REPO, free_port, wait_port

SMTP_SOURCE = "/usr/sbin/smtp-source"
MESSAGE_BYTES = 4096
REDIS_DB = 9


@dataclass(frozen=True)
class CpuTime:
    """The whole machine's CPU time (all processes and the kernel) over a run, in seconds."""

    user: float
    system: float  # including interrupt handling

    @property
    def busy(self) -> float:
        return self.user + self.system


def _cpu_counters() -> list[int]:
    with open("/proc/stat") as stat:
        return [int(field) for field in stat.readline().split()[1:8]]


@dataclass(frozen=True)
class Rate:
    server: str
    sessions: int
    messages: int
    seconds: float
    cpu: CpuTime
    processes: int = 1  # Poststelle's intake processes on the shared port ([smtp] processes)

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds

    def ms_per_message(self, seconds: float) -> float:
        return 1000 * seconds / self.messages


def smtp_source(port: int, sessions: int, messages: int, domain: str) -> tuple[float, CpuTime]:
    """Send `messages` with `sessions` parallel sessions; return the elapsed seconds and the
    CPU time the machine spent meanwhile (the server, smtp-source and the kernel)."""
    before = _cpu_counters()
    started = time.perf_counter()
    subprocess.run(
        [
            SMTP_SOURCE,
            "-s", str(sessions), "-m", str(messages), "-l", str(MESSAGE_BYTES),
            "-f", "bench@sender.example", "-t", f"eingang@{domain}",
            f"127.0.0.1:{port}",
        ],
        check=True,
        timeout=600,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    user, nice, system, _idle, _iowait, irq, softirq = (
        after - earlier for after, earlier in zip(_cpu_counters(), before, strict=True)
    )
    tick = os.sysconf("SC_CLK_TCK")
    return elapsed, CpuTime((user + nice) / tick, (system + irq + softirq) / tick)


@contextmanager
def postfix(workdir: Path) -> Iterator[int]:
    """A private Postfix instance on a loopback port that queues (with fsync) and discards."""
    port = free_port()
    conf, queue, data = workdir / "conf", workdir / "queue", workdir / "data"
    for d in (conf, queue, data):
        d.mkdir(parents=True)
    shutil.chown(data, "postfix", "postfix")
    master = Path("/etc/postfix/master.cf").read_text()
    master = re.sub(
        r"^smtp\s+inet\s.*$", f"127.0.0.1:{port} inet n - n - - smtpd", master, flags=re.M
    )
    (conf / "master.cf").write_text(master)
    (conf / "main.cf").write_text(
        f"""\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = bench.localhost
mydestination =
relay_domains = {DOMAIN}
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject
default_transport = discard
relay_transport = discard
local_transport = discard
maillog_file = {workdir}/maillog
maillog_file_prefixes = {workdir}
smtpd_client_connection_rate_limit = 0
default_process_limit = 100
"""
    )
    subprocess.run(["postfix", "-c", str(conf), "start"], check=True, capture_output=True)
    try:
        wait_port(port, 30)
        yield port
    finally:
        subprocess.run(["postfix", "-c", str(conf), "stop"], check=False, capture_output=True)


@contextmanager
def poststelle(workdir: Path, processes: int = 1) -> Iterator[int]:
    """Poststelle intake with the Redis broker and no workers: acceptance only, as Postfix's
    queue-then-discard is acceptance only. Durability before 250 is unchanged."""
    smtp_port, http_port = free_port(), free_port()
    root = workdir / "poststelle"
    cli = [sys.executable, "-m", "poststelle.cli"]
    subprocess.run(
        [*cli, "init", str(root), "--domain", DOMAIN,
         "--smtp-port", str(smtp_port), "--http-port", str(http_port)],
        check=True, capture_output=True, cwd=REPO,
    )  # fmt: skip
    config = root / "poststelle.toml"
    text = config.read_text()
    text = text.replace('starttls = "offered"', 'starttls = "off"')
    text = text.replace('starttls = "off"', f'starttls = "off"\nprocesses = {processes}')
    text = text.replace('log_format = "console"', 'log_format = "json"')
    text = text.replace(
        'kind = "embedded"', f'kind = "redis"\nurl = "redis://127.0.0.1:6379/{REDIS_DB}"'
    )
    config.write_text(text)
    redis.Redis(db=REDIS_DB).flushdb()
    log = (root / "serve.log").open("wb")
    process = subprocess.Popen(
        [*cli, "--config", str(config), "serve"], stdout=log, stderr=log, cwd=REPO
    )
    try:
        wait_port(smtp_port, 30)
        yield smtp_port
    finally:
        process.terminate()
        process.wait(30)
        redis.Redis(db=REDIS_DB).flushdb()


def spread(workdir: Path) -> None:
    """Give each server's run block groups of its own on ext4.

    ext4 without a journal (as on the development machine) skips the inodes freed in the last
    minute when it allocates one, checking them one by one: a server whose files landed where
    the other had just deleted its queue files paid up to 0.9 ms per new file for the other's
    work (0.1 ms otherwise). A directory marked as a top of hierarchies (chattr +T) has its
    subdirectories spread over the block groups by a hash of their names, so each run's
    directory also gets a name of its own. Elsewhere chattr fails and nothing changes.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["chattr", "+T", str(workdir)], check=False, capture_output=True)


def run(workdir: Path, messages: int) -> list[tuple[Rate, Rate]]:
    spread(workdir)
    results = []
    for sessions, processes in ((1, 1), (10, 1), (10, 2)):
        name = f"{sessions}-{processes}-{secrets.token_hex(4)}"
        with postfix(workdir / f"postfix-{name}") as port:
            postfix_rate = Rate(
                "postfix", sessions, messages, *smtp_source(port, sessions, messages, DOMAIN)
            )
        with poststelle(workdir / f"poststelle-{name}", processes) as port:
            ours = Rate(
                "poststelle",
                sessions,
                messages,
                *smtp_source(port, sessions, messages, DOMAIN),
                processes,
            )
        results.append((ours, postfix_rate))
    return results


def report(results: list[tuple[Rate, Rate]]) -> list[str]:
    lines = ["intake (durable before 250, 4 KiB messages, smtp-source):"]
    for ours, theirs in results:
        lines.append(
            f"  {ours.sessions:>2} sessions, {ours.processes} intake process(es): "
            f"poststelle {ours.per_second:7.1f}/s   "
            f"postfix {theirs.per_second:7.1f}/s   ratio {ours.per_second / theirs.per_second:4.2f}"
        )
    lines.append("  machine CPU per message (user + kernel, smtp-source included):")
    for ours, theirs in results:
        lines.append(
            f"  {ours.sessions:>2} sessions, {ours.processes} intake process(es): "
            + "   ".join(
                f"{rate.server} {rate.ms_per_message(rate.cpu.busy):.2f} ms "
                f"({rate.ms_per_message(rate.cpu.user):.2f} + "
                f"{rate.ms_per_message(rate.cpu.system):.2f})"
                for rate in (ours, theirs)
            )
        )
    return lines
