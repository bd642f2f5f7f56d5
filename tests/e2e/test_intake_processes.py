"""Several intake processes share the SMTP port and serve's committer: every message gets its
250 and a gap-free registry number, every item reaches its department once, and the intake
processes end with serve."""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Callable

from tests.e2e.conftest import (
    DOMAIN,
    Installation,
    Server,
    intake_processes,
    port_open,
    wait_for,
)
from tests.e2e.test_walking_skeleton import message

SESSIONS = 8
PER_SESSION = 4


def test_two_intake_processes_share_the_port(
    installation: Installation, start: Callable[..., Server]
) -> None:
    installation.edit_config(r"^(max_message_bytes = \d+)$", r"\1\nprocesses = 2")
    server = start(installation).wait_listening()
    wait_for(lambda: "intake.listening" in server.output(), 30, "the second intake process")
    numbers: list[str] = []

    def session() -> None:
        with smtplib.SMTP("127.0.0.1", installation.smtp_port, timeout=60) as smtp:
            for _ in range(PER_SESSION):
                smtp.sendmail(
                    "buerger@example.org", [f"bauamt@{DOMAIN}"], message(f"bauamt@{DOMAIN}")
                )
                numbers.append(smtp.noop()[1].decode())  # keep the session busy between mails

    threads = [threading.Thread(target=session) for _ in range(SESSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    inbox = installation.inbox("bauamt")
    total = SESSIONS * PER_SESSION
    wait_for(lambda: len(installation.maildir_messages(inbox)) == total, 60, "every delivery")
    delivered = [p.read_bytes() for p in installation.maildir_messages(inbox)]
    registry = sorted(
        line.split(b": ", 1)[1].strip().decode()
        for mail in delivered
        for line in mail.splitlines()
        if line.startswith(b"X-Poststelle-Registry-Number:")
    )
    year = registry[0].split("-")[0]
    assert registry == [f"{year}-{n:06d}" for n in range(1, total + 1)]


def test_the_intake_processes_end_when_serve_is_killed(
    installation: Installation, start: Callable[..., Server]
) -> None:
    installation.edit_config(r"^(max_message_bytes = \d+)$", r"\1\nprocesses = 2")
    server = start(installation).wait_listening()
    wait_for(lambda: len(intake_processes(installation)) == 2, 30, "two intake processes")

    server.kill()

    wait_for(lambda: intake_processes(installation) == [], 15, "the intake processes to end")
    assert not port_open(installation.smtp_port)
