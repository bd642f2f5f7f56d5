"""Hostile SMTP clients: smuggling, pipelining before STARTTLS, overlong lines, slow clients."""

from __future__ import annotations

import hashlib
import ssl
import time
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.conftest import DOMAIN, Installation, Server, new_installation, wait_for
from tests.reliability.support import (
    REGISTRY,
    RawSmtp,
    add_smtp_setting,
    blob_path,
    blob_tmp_files,
    plain_message,
    stored_items,
)

END_OF_DATA_VARIANTS = {
    "lf-dot-lf": b"\n.\n",
    "cr-dot-cr": b"\r.\r",
    "cr-dot-lf": b"\r.\n",
    "lf-dot-crlf": b"\n.\r\n",
    "crlf-dot-lf": b"\r\n.\n",
    "crlf-dot-cr": b"\r\n.\r",
    "crlf-nul-dot-crlf": b"\r\n\x00.\r\n",
    "crlf-dot-nul-crlf": b"\r\n.\x00\r\n",
}


@pytest.fixture(scope="module")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """One server for the whole module: each test counts only what it adds."""
    installation = new_installation(tmp_path_factory.mktemp("hostile") / "poststelle")
    server = Server(installation).wait_listening()
    yield installation
    server.stop()


def opened(installation: Installation) -> RawSmtp:
    client = RawSmtp(installation.smtp_port)
    assert client.command("EHLO client.example.org").startswith(b"250")
    return client


def envelope(client: RawSmtp, to: str = f"bauamt@{DOMAIN}") -> None:
    assert client.command("MAIL FROM:<buerger@example.org>").startswith(b"250")
    assert client.command(f"RCPT TO:<{to}>").startswith(b"250")


def in_data(installation: Installation) -> RawSmtp:
    """A session that has been told 354: what it sends now is the message."""
    client = RawSmtp(installation.smtp_port, timeout=20)
    assert client.command("EHLO client.example.org").startswith(b"250")
    envelope(client)
    assert client.command("DATA").startswith(b"354")
    return client


def raw_of(installation: Installation, number: str) -> bytes:
    (item,) = [i for i in stored_items(installation) if i.registry_number == number]
    return blob_path(installation, item.sha256).read_bytes()


@pytest.mark.parametrize("variant", END_OF_DATA_VARIANTS.values(), ids=END_OF_DATA_VARIANTS)
def test_a_bare_end_of_data_variant_is_content_and_smuggles_nothing(
    smtp_server: Installation, variant: bytes
) -> None:
    installation = smtp_server
    marker = hashlib.sha256(variant).hexdigest()[:12]
    before = {i.registry_number for i in stored_items(installation)}
    smuggled = (
        b"MAIL FROM:<smuggler@evil.example>\r\n"
        b"RCPT TO:<ordnungsamt@" + DOMAIN.encode() + b">\r\n"
        b"DATA\r\n"
        b"From: smuggler@evil.example\r\nSubject: SMUGGLED-" + marker.encode() + b"\r\n\r\n"
        b"smuggled body"
    )
    client = opened(installation)
    envelope(client)
    assert client.command("DATA").startswith(b"354")
    head = plain_message(f"bauamt@{DOMAIN}", f"carrier {marker}", "first body").rstrip(b"\r\n")
    # Everything in one write, as a smuggling client would: the server sees it all at once.
    client.send(head + variant + smuggled + b"\r\n.\r\n" + b"QUIT\r\n")
    replies: list[bytes] = []
    while not (replies and replies[-1].startswith(b"221")):
        replies.append(client.reply())
    client.close()

    accepted = [r for r in replies if r.startswith(b"250")]
    assert len(accepted) == 1, f"the variant ended the data: {replies!r}"
    number = REGISTRY.search(accepted[0])
    assert number, replies
    new = {i.registry_number for i in stored_items(installation)} - before
    assert new == {number.group(1).decode()}, "exactly one item is stored"
    raw = raw_of(installation, number.group(1).decode())
    assert b"SMUGGLED-" + marker.encode() in raw
    assert b"MAIL FROM:<smuggler@evil.example>" in raw
    assert raw.startswith(b"From: buerger@example.org")


def test_commands_pipelined_before_starttls_are_discarded(smtp_server: Installation) -> None:
    client = opened(smtp_server)
    client.send(b"STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n")
    assert client.reply().startswith(b"220")
    assert client.buffer == b"", "nothing may be answered in clear after the 220"
    context = ssl._create_unverified_context()  # noqa: S323 - the development certificate
    client.sock = context.wrap_socket(client.sock, server_hostname="amt.test")
    assert client.command("EHLO client.example.org").startswith(b"250")
    rcpt = client.command(f"RCPT TO:<bauamt@{DOMAIN}>")
    assert rcpt.startswith(b"503"), f"the injected sender survived STARTTLS: {rcpt!r}"
    assert client.command("MAIL FROM:<buerger@example.org>").startswith(b"250")
    assert client.command(f"RCPT TO:<bauamt@{DOMAIN}>").startswith(b"250")
    assert client.command("QUIT").startswith(b"221")
    client.close()


@pytest.mark.parametrize("length", [600, 1_200, 70_000])
def test_an_overlong_command_line_gets_500_and_the_session_goes_on(
    smtp_server: Installation, length: int
) -> None:
    client = opened(smtp_server)
    local = "a" * length
    reply = client.command(f"MAIL FROM:<{local}@example.org>")
    assert reply.startswith(b"500"), reply
    assert client.command("NOOP").startswith(b"250")
    envelope(client)
    assert client.command("QUIT").startswith(b"221")
    client.close()


@pytest.mark.parametrize("path", ["<", "<a@[", '<"', "<@a:"])
def test_a_path_that_cannot_be_read_gets_553_and_the_session_goes_on(
    smtp_server: Installation, path: str
) -> None:
    client = opened(smtp_server)
    malformed = b"553 5.1.3 Error: malformed address"  # aiosmtpd's reply to what it cannot read
    assert client.command(f"MAIL FROM:{path}") == malformed
    assert client.command("MAIL FROM:<buerger@example.org>").startswith(b"250")
    assert client.command(f"RCPT TO:{path}") == malformed
    assert client.command(f"RCPT TO:<bauamt@{DOMAIN}>").startswith(b"250")
    assert client.command("QUIT").startswith(b"221")
    client.close()


def data_exchange(client: RawSmtp, body: bytes) -> bytes:
    assert client.command("DATA").startswith(b"354")
    client.send(body + b"\r\n.\r\n")
    return client.reply()


def test_an_overlong_data_line_is_refused_and_nothing_is_stored(
    smtp_server: Installation,
) -> None:
    installation = smtp_server
    before = len(stored_items(installation))
    client = opened(installation)
    envelope(client)
    head = plain_message(f"bauamt@{DOMAIN}", "long line").rstrip(b"\r\n")
    for length in (1_000, 5_000, 200_000):
        reply = data_exchange(client, head + b"\r\n" + b"x" * length + b"\r\nend")
        assert reply.startswith(b"500 5.5.2"), (length, reply)
        assert len(stored_items(installation)) == before
        assert client.command("RSET").startswith(b"250")
        envelope(client)
    # 998 octets plus CRLF is the longest line RFC 5321 allows: it is content.
    longest = b"y" * 998
    reply = data_exchange(client, head + b"\r\n" + longest + b"\r\nend")
    assert reply.startswith(b"250"), reply
    found = REGISTRY.search(reply)
    assert found
    assert longest + b"\r\n" in raw_of(installation, found.group(1).decode())
    client.close()
    wait_for(lambda: blob_tmp_files(installation) == [], 10, "the refused spools to be removed")


@pytest.fixture
def impatient(installation: Installation, start: Callable[..., Server]) -> Installation:
    add_smtp_setting(installation, "timeout_seconds = 2")
    start(installation).wait_listening()
    return installation


def test_a_client_that_sends_nothing_is_disconnected_after_the_timeout(
    impatient: Installation,
) -> None:
    client = RawSmtp(impatient.smtp_port, timeout=20)
    began = time.monotonic()
    assert client.closed_by_server()
    waited = time.monotonic() - began
    client.close()
    assert 1.5 <= waited <= 10, waited


def test_a_client_that_stalls_in_data_is_disconnected_and_its_spool_removed(
    impatient: Installation,
) -> None:
    installation = impatient
    client = in_data(installation)
    client.send(plain_message(f"bauamt@{DOMAIN}", "stalled", "z" * 200_000))
    wait_for(lambda: len(blob_tmp_files(installation)) == 1, 5, "the spool file")
    began = time.monotonic()
    assert client.closed_by_server()
    assert time.monotonic() - began <= 10
    client.close()
    wait_for(lambda: blob_tmp_files(installation) == [], 5, "the spool to be removed")
    assert stored_items(installation) == []


def test_a_slow_client_that_keeps_sending_is_not_cut_off_by_the_timeout(
    impatient: Installation,
) -> None:
    """The 2 s timeout bounds silence; this DATA takes three times as long, a line at a time."""
    installation = impatient
    client = in_data(installation)
    client.send(plain_message(f"bauamt@{DOMAIN}", "slow", ""))
    began = time.monotonic()
    for n in range(12):
        client.send(f"line {n}\r\n".encode())
        time.sleep(0.5)
    assert time.monotonic() - began > 3 * 2
    reply = client.command(".")
    assert reply.startswith(b"250"), reply
    found = REGISTRY.search(reply)
    assert found
    assert b"line 11\r\n" in raw_of(installation, found.group(1).decode())
    client.close()


def test_a_client_that_hangs_up_right_after_the_end_of_data_leaves_no_temp_file(
    installation: Installation, start: Callable[..., Server]
) -> None:
    """The hang-up cancels the session while the message is being made durable."""
    start(installation).wait_listening()
    for n in range(20):
        client = opened(installation)
        envelope(client)
        assert client.command("DATA").startswith(b"354")
        body = plain_message(f"bauamt@{DOMAIN}", f"hang-up {n}", "w" * (n * 20_000))
        client.send(body + b"\r\n.\r\n")
        client.close()
    for _ in range(30):  # ... and while the spool is being opened
        client = opened(installation)
        client.send(f"MAIL FROM:<b@example.org>\r\nRCPT TO:<bauamt@{DOMAIN}>\r\nDATA\r\n".encode())
        client.close()
    wait_for(lambda: blob_tmp_files(installation) == [], 10, "no temp file to be left behind")
    for item in stored_items(installation):
        assert blob_path(installation, item.sha256).exists()
