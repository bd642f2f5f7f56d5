"""SIGKILL of the Redis broker at random points under load: intake keeps confirming, the
store-driven reconciler re-drives what the dead Redis forgot, and every confirmed item ends in a
terminal state, delivered once. The redis-server killed here is the test's own, on a free port
and without persistence; the machine's shared redis-server on 6379 is never signalled."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e.conftest import Installation, Server, free_port, port_open, wait_for
from tests.reliability.support import (
    TERMINAL,
    Load,
    assert_delivered_once,
    assert_nothing_half_written_is_visible,
    blob_tmp_files,
    stored_items,
)

TRIALS = 5
WORKERS = 2
SENDERS = 2
PAUSE = 0.3  # between messages: a load the two workers can drain within the test's time
DRAIN_SECONDS = 45


class PrivateRedis:
    """A redis-server of the test's own: no snapshot, no append-only file, so a SIGKILL loses
    every queued message, as a crashed broker host would."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        assert self.port != 6379, "never the shared redis-server"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / f"redis-{self.starts}.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.answers, 15, f"the private redis-server on port {self.port}")

    def answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.process.returncode}")
        if not port_open(self.port):
            return False
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        assert self.process is not None and self.process.poll() is None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        assert not port_open(self.port), "the killed redis-server still listens"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = PrivateRedis(directory)
    server.start()
    yield server
    server.stop()


def unfinished(installation: Installation, numbers: set[str]) -> list[tuple[str, str]]:
    """Those of NUMBERS not in a terminal state, with their state."""
    states = {i.registry_number: i.state for i in stored_items(installation)}
    return sorted((n, states[n]) for n in numbers if states[n] not in TERMINAL)


def wait_until_finished(
    installation: Installation, numbers: set[str], timeout: float
) -> list[tuple[str, str]]:
    """Wait until all of NUMBERS are terminal; return those that are not (with their state)."""
    deadline = time.monotonic() + timeout
    while (stuck := unfinished(installation, numbers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return stuck


def tail(server: Server, lines: int = 30) -> str:
    return "\n".join(server.output().splitlines()[-lines:])


def assert_alive(servers: list[Server], why: str) -> None:
    for server in servers:
        code = server.process.poll()
        assert code is None, (
            f"`poststelle {server.log.name}` exited with {code} {why}:\n{tail(server)}"
        )


def assert_stop_cleanly(servers: list[Server], why: str) -> None:
    """SIGTERM all at once (so their shutdowns overlap); each must exit 0 within 30 s."""
    for server in servers:
        server.process.send_signal(signal.SIGTERM)
    for server in servers:
        try:
            code = server.process.wait(30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{server.log.name} hangs on SIGTERM {why}") from None
        assert code == 0, f"{server.log.name} exited with {code} {why}:\n{tail(server)}"


@pytest.mark.redis
def test_confirmed_items_survive_random_sigkills_of_redis_and_are_delivered_once(
    installation: Installation, start: Callable[..., Server], private_redis: PrivateRedis
) -> None:
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    why = f"(random seed {seed})"
    installation.edit_config(
        r'^kind = "embedded"\nworker_threads = 4',
        f'kind = "redis"\nurl = "{private_redis.url}"\nworker_threads = 4\n'
        "reconcile_interval_seconds = 0.5\nstale_after_seconds = 2",
    )
    serve = start(installation).wait_listening()
    workers = [start(installation, "worker") for _ in range(WORKERS)]
    processes = [serve, *workers]
    confirmed: list[str] = []
    during_outages: list[int] = []
    drained: list[float] = []
    for trial in range(TRIALS):
        load = Load(installation, trial, senders=SENDERS, pause=PAUSE)
        time.sleep(rng.uniform(0.3, 1.2))
        private_redis.kill()
        killed = time.monotonic()
        time.sleep(rng.uniform(0.5, 1.5))
        assert_alive(processes, f"with Redis down in trial {trial} {why}")
        private_redis.start()
        during_outages.append(load.confirmed_within(killed, time.monotonic()))
        time.sleep(rng.uniform(0.2, 0.6))
        load.stop()
        confirmed += load.confirmed

        stored = {i.registry_number for i in stored_items(installation)}
        lost = set(load.confirmed) - stored
        assert not lost, f"trial {trial}: confirmed but not stored: {sorted(lost)} {why}"

        draining = time.monotonic()
        stuck = wait_until_finished(installation, set(load.confirmed), DRAIN_SECONDS)
        drained.append(round(time.monotonic() - draining, 1))
        if stuck:
            logs = "\n".join(f"--- {s.log.name}\n{tail(s)}" for s in processes)
            raise AssertionError(f"trial {trial}: unfinished: {stuck[:20]} {why}\n{logs}")
        assert_alive(processes, f"after Redis came back in trial {trial} {why}")
        wait_for(lambda: blob_tmp_files(installation) == [], 10, f"blob temp files to go {why}")
        assert_nothing_half_written_is_visible(installation)
        assert_delivered_once(installation, f"after trial {trial} {why}")

    assert len(confirmed) >= TRIALS, f"the load barely ran: {len(confirmed)} confirmed {why}"
    assert len(set(confirmed)) == len(confirmed), f"a registry number was confirmed twice {why}"
    assert any(during_outages), f"no 250 while Redis was down: {during_outages} {why}"
    assert_stop_cleanly(processes, f"after {TRIALS} Redis crashes {why}")
    print(
        f"{len(confirmed)} confirmed, 250s during the outages: {during_outages}, "
        f"seconds to drain: {drained} {why}"
    )


@pytest.mark.redis
def test_a_serve_started_while_redis_is_down_re_drives_its_backlog_once_redis_is_back(
    installation: Installation, start: Callable[..., Server], private_redis: PrivateRedis
) -> None:
    """The start sweep of a serve started with Redis dead cannot enqueue the unfinished items
    the store holds; the reconciler must survive that and re-drive them once Redis is back."""
    installation.edit_config(
        r'^kind = "embedded"\nworker_threads = 4',
        f'kind = "redis"\nurl = "{private_redis.url}"\nworker_threads = 4\n'
        "reconcile_interval_seconds = 0.5\nstale_after_seconds = 2",
    )
    serve = start(installation).wait_listening()
    before = Load(installation, 0, senders=SENDERS, pause=PAUSE)
    time.sleep(1)
    before.stop()
    assert before.confirmed, "the load confirmed nothing"
    serve.kill()  # no worker ran: its items wait in Redis, which loses them now
    private_redis.kill()
    serve = start(installation).wait_listening()
    worker = start(installation, "worker")
    during = Load(installation, 1, senders=SENDERS, pause=PAUSE)
    time.sleep(1)
    during.stop()
    assert during.confirmed, "intake confirmed nothing while Redis was down"
    private_redis.start()
    numbers = set(before.confirmed) | set(during.confirmed)
    assert numbers <= {i.registry_number for i in stored_items(installation)}
    stuck = wait_until_finished(installation, numbers, DRAIN_SECONDS)
    assert not stuck, f"unfinished: {stuck[:20]}\n{tail(serve)}\n{tail(worker)}"
    assert_alive([serve, worker], "after Redis came back")
    assert_nothing_half_written_is_visible(installation)
    assert_delivered_once(installation, "")
    assert_stop_cleanly([serve, worker], "after Redis came back")
