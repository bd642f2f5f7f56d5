"""SIGKILL of the intake process (with its embedded workers) at random points under load."""

from __future__ import annotations

import hashlib
import random
import smtplib
import threading
import time
from collections.abc import Callable

from tests.e2e.conftest import DOMAIN, Installation, Server, wait_for
from tests.reliability.support import (
    DEPARTMENTS,
    REGISTRY,
    TRACE,
    RawSmtp,
    blob_path,
    blob_tmp_files,
    delivered_numbers,
    plain_message,
    stored_items,
)

TRIALS = 10
SENDERS = 3
TERMINAL = {"delivered", "acknowledged", "rejected"}


class Load:
    """Threads sending plain SMTP as fast as the server answers; they note every 250 they see."""

    def __init__(self, installation: Installation, trial: int) -> None:
        self.installation = installation
        self.trial = trial
        self.confirmed: list[str] = []
        self.attempts = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._send, args=(n,), daemon=True) for n in range(SENDERS)
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
                        code, reply = smtp.data(data)
                        found = REGISTRY.search(reply)
                        if code == 250 and found:
                            with self._lock:
                                self.confirmed.append(found.group(1).decode())
                        time.sleep(0.01)
            except (OSError, smtplib.SMTPException):
                time.sleep(0.02)  # the server is gone: try again until told to stop

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
    delivered = delivered_numbers(installation)
    for item in items:
        if item.state == "delivered":
            assert item.department is not None
            assert delivered[item.department].count(item.registry_number) == 1, item
    assert sum(len(v) for v in delivered.values()) == sum(i.state == "delivered" for i in items)
    server.stop()
    print(f"{attempts} attempts, {len(confirmed)} confirmed, {len(items)} stored {why}")
