"""Maildir egress: every key placed exactly once, readable by standard tools, never half-written."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.maildir import Maildir, MaildirInbox, MaildirOutbox
from poststelle.ports import InboxDelivery, OutboundMessage

MESSAGE = b"From: a@example.org\r\nSubject: Antrag\r\n\r\nHallo\r\n"


def test_a_delivery_lands_once_in_new(tmp_path: Path) -> None:
    inbox = MaildirInbox({"bauamt": tmp_path / "bauamt"})
    first = inbox.deliver(InboxDelivery("2026-000001/bauamt", "bauamt", MESSAGE))
    second = inbox.deliver(InboxDelivery("2026-000001/bauamt", "bauamt", MESSAGE))
    assert first == second
    assert [p.name for p in (tmp_path / "bauamt" / "new").iterdir()] == [Path(first).name]


def test_a_message_moved_to_cur_by_a_mail_client_is_not_delivered_again(tmp_path: Path) -> None:
    maildir = Maildir(tmp_path / "m")
    placed = maildir.place("k", MESSAGE)
    read = tmp_path / "m" / "cur" / f"{placed.name}:2,S"
    placed.rename(read)
    assert maildir.place("k", MESSAGE) == read
    assert list((tmp_path / "m" / "new").iterdir()) == []


def test_pythons_maildir_reader_reads_what_was_delivered(tmp_path: Path) -> None:
    MaildirOutbox(tmp_path / "out").send(OutboundMessage("receipt/1", "p@a", ("b@c",), MESSAGE))
    (message,) = list(mailbox.Maildir(tmp_path / "out", create=False))
    assert message["Subject"] == "Antrag"


def test_files_and_folders_are_private(tmp_path: Path) -> None:
    placed = Maildir(tmp_path / "m").place("k", MESSAGE)
    assert placed.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "m" / "new").stat().st_mode & 0o777 == 0o700


def test_an_unknown_department_is_an_error_not_a_silent_drop(tmp_path: Path) -> None:
    inbox = MaildirInbox({"bauamt": tmp_path / "bauamt"})
    with pytest.raises(KeyError, match="geheim"):
        inbox.deliver(InboxDelivery("k", "geheim", MESSAGE))


CRASHING_WRITER = """
import os, sys
from pathlib import Path
from connectors.maildir import Maildir
m = Maildir(Path(sys.argv[1]))
def crash(*args, **kwargs):
    os.kill(os.getpid(), 9)
os.link = crash
m.place("k", b"x" * 100000)
"""


def test_a_crash_before_the_link_leaves_only_tmp_debris_which_is_swept(tmp_path: Path) -> None:
    root = tmp_path / "m"
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(root)],
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert done.returncode == -9
    assert list((root / "new").iterdir()) == []
    (debris,) = list((root / "tmp").iterdir())
    past = time.time() - 7200
    os.utime(debris, (past, past))
    maildir = Maildir(root)
    assert maildir.sweep_tmp(older_than_seconds=3600) == 1
    placed = maildir.place("k", b"x" * 100000)
    assert placed.read_bytes() == b"x" * 100000
