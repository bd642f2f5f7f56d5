"""SIGKILL of the intake process (with its embedded workers) at random points under load, and of
one of several intake processes beside serve's committer."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable

from tests.e2e.conftest import DOMAIN, Installation, Server, intake_processes, wait_for
from tests.reliability.support import (
    TERMINAL,
    Load,
    RawSmtp,
    assert_delivered_once,
    assert_nothing_half_written_is_visible,
    blob_tmp_files,
    plain_message,
    stored_items,
)

TRIALS = 10
INTAKE_KILLS = 6


def interrupted_upload(installation: Installation) -> RawSmtp:
    """A session killed mid-DATA: its spool file is what a crash leaves behind."""
    client = RawSmtp(installation.smtp_port)
    assert client.command("EHLO client.example.org").startswith(b"250")
    assert client.command("MAIL FROM:<buerger@example.org>").startswith(b"250")
    assert client.command(f"RCPT TO:<bauamt@{DOMAIN}>").startswith(b"250")
    assert client.command("DATA").startswith(b"354")
    client.send(plain_message(f"bauamt@{DOMAIN}", "interrupted", "i" * 150_000))
    wait_for(lambda: len(blob_tmp_files(installation)) >= 1, 5, "the spool file")
    return client  # kept open: a hang-up would make the server remove the spool itself


def test_every_confirmed_message_survives_random_sigkills_and_is_delivered_once(
    installation: Installation, start: Callable[..., Server]
) -> None:
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    why = f"(random seed {seed})"
    confirmed: list[str] = []
    attempts = 0
    for trial in range(TRIALS):
        server = start(installation).wait_listening()
        upload = interrupted_upload(installation) if trial == TRIALS - 1 else None
        load = Load(installation, trial)
        time.sleep(rng.uniform(0.2, 1.5))
        server.kill()
        load.stop()
        if upload is not None:
            upload.close()
        confirmed += load.confirmed
        attempts += load.attempts
        stored = {i.registry_number for i in stored_items(installation)}
        lost = set(load.confirmed) - stored
        assert not lost, f"trial {trial}: confirmed but not stored: {sorted(lost)} {why}"
        assert_nothing_half_written_is_visible(installation)
    assert len(confirmed) >= TRIALS, f"the load barely ran: {len(confirmed)} confirmed {why}"
    assert len(set(confirmed)) == len(confirmed), "a registry number was confirmed twice"
    leftovers = blob_tmp_files(installation)
    assert leftovers, "the killed process left its spool file behind"

    server = start(installation).wait_listening()
    assert blob_tmp_files(installation) == [], (
        f"the restart did not sweep what the killed process left: {leftovers}"
    )

    def all_finished() -> bool:
        return all(i.state in TERMINAL for i in stored_items(installation))

    wait_for(all_finished, 90, f"every item to reach a terminal state {why}")
    items = stored_items(installation)
    assert set(confirmed) <= {i.registry_number for i in items}
    assert_nothing_half_written_is_visible(installation)
    assert_delivered_once(installation, why)
    server.stop()
    print(f"{attempts} attempts, {len(confirmed)} confirmed, {len(items)} stored {why}")


def replaced(installation: Installation, victim: int) -> Callable[[], bool]:
    def check() -> bool:
        running = intake_processes(installation)
        return len(running) == 2 and victim not in running

    return check


def test_intake_processes_killed_under_load_lose_no_confirmed_message(
    installation: Installation, start: Callable[..., Server]
) -> None:
    """`[smtp] processes = 2`: an intake process dies mid-session, mid-DATA or with its file
    at the committer; serve starts another, and every 250 stands, delivered once."""
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    why = f"(random seed {seed})"
    installation.edit_config(r"^(max_message_bytes = \d+)$", r"\1\nprocesses = 2")
    server = start(installation).wait_listening()
    wait_for(lambda: len(intake_processes(installation)) == 2, 30, "two intake processes")
    load = Load(installation, 0)
    for trial in range(INTAKE_KILLS):
        time.sleep(rng.uniform(0.2, 1.0))
        victim = rng.choice(intake_processes(installation))
        os.kill(victim, signal.SIGKILL)
        wait_for(
            replaced(installation, victim), 15, f"a new intake process after kill {trial} {why}"
        )
    load.stop()
    assert len(load.confirmed) >= INTAKE_KILLS, f"the load barely ran {why}"
    assert len(set(load.confirmed)) == len(load.confirmed), "a registry number was confirmed twice"

    def all_finished() -> bool:
        return all(i.state in TERMINAL for i in stored_items(installation))

    wait_for(all_finished, 90, f"every item to reach a terminal state {why}")
    items = stored_items(installation)
    assert set(load.confirmed) <= {i.registry_number for i in items}, why
    assert_nothing_half_written_is_visible(installation)
    assert_delivered_once(installation, why)
    assert server.output().count("intake.died") == INTAKE_KILLS
    print(f"{load.attempts} attempts, {len(load.confirmed)} confirmed, {len(items)} stored {why}")
