"""A full or read-only blob store: intake answers 451, keeps running, and recovers."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import DOMAIN, Installation, Server, wait_for
from tests.reliability.support import (
    REGISTRY,
    RawSmtp,
    blob_tmp_files,
    plain_message,
    stored_items,
)


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, (
        f"mount {' '.join(args)} failed ({done.stderr.strip()}): these tests need root with "
        "CAP_SYS_ADMIN to give the blob store a small file system of its own"
    )


@pytest.fixture
def small_blob_store(installation: Installation) -> Iterator[Path]:
    """data/blobs on its own 1 MiB tmpfs (tmp/ and the blobs must share one file system)."""
    blobs = installation.data / "blobs"
    blobs.mkdir(parents=True, mode=0o700)
    mount("-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(blobs))
    yield blobs
    subprocess.run(["umount", "-l", str(blobs)], check=False)


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb") as out:
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 65536)
                out.flush()
                os.fsync(out.fileno())
    with pytest.raises(OSError, match="No space left") as full:
        (directory / "probe").write_bytes(b"\0" * 8192)
    assert full.value.errno == errno.ENOSPC
    (directory / "probe").unlink(missing_ok=True)
    return filler


def attempt(installation: Installation, body: str = "Hallo") -> bytes:
    client = RawSmtp(installation.smtp_port)
    try:
        assert client.command("EHLO client.example.org").startswith(b"250")
        assert client.command("MAIL FROM:<buerger@example.org>").startswith(b"250")
        assert client.command(f"RCPT TO:<bauamt@{DOMAIN}>").startswith(b"250")
        reply = client.command("DATA")
        if reply.startswith(b"354"):
            client.send(plain_message(f"bauamt@{DOMAIN}", "Antrag", body) + b".\r\n")
            reply = client.reply()
        assert client.command("NOOP").startswith(b"250"), "the session stays usable"
        return reply
    finally:
        client.close()


def test_a_full_disk_gets_451_and_intake_recovers_when_space_returns(
    installation: Installation, small_blob_store: Path, start: Callable[..., Server]
) -> None:
    server = start(installation).wait_listening()
    filler = fill(small_blob_store)
    try:
        small = attempt(installation)
        large = attempt(installation, ("x" * 70 + "\r\n") * 4000)  # fails while streaming
        assert small.startswith(b"451"), small
        assert large.startswith(b"451"), large
        assert server.process.poll() is None, "intake keeps running"
        assert stored_items(installation) == []
        assert blob_tmp_files(installation) == [], "the failed spools are removed"
    finally:
        filler.unlink()
    reply = attempt(installation)
    assert reply.startswith(b"250"), reply
    found = REGISTRY.search(reply)
    assert found
    assert [i.registry_number for i in stored_items(installation)] == [found.group(1).decode()]
    wait_for(
        lambda: len(installation.maildir_messages(installation.inbox("bauamt"))) == 1,
        30,
        "the message accepted after the disk-full episode to be delivered",
    )


def test_a_read_only_blob_store_gets_451_and_intake_recovers(
    installation: Installation, small_blob_store: Path, start: Callable[..., Server]
) -> None:
    server = start(installation).wait_listening()
    mount("-o", "remount,ro", str(small_blob_store))
    try:
        reply = attempt(installation)
        assert reply.startswith(b"451"), reply
        assert server.process.poll() is None, "intake keeps running"
    finally:
        mount("-o", "remount,rw", str(small_blob_store))
    reply = attempt(installation)
    assert reply.startswith(b"250"), reply
    assert len(stored_items(installation)) == 1
    assert blob_tmp_files(installation) == []
