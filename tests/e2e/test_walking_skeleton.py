"""A message sent with a real SMTP client reaches its department and its sender gets a receipt."""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
import shutil
import smtplib
import ssl
import subprocess
import sys
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from tests.e2e.conftest import DOMAIN, REPO, Installation, Server, poststelle, wait_for

REGISTRY = re.compile(r"registry number (\d{4}-\d{6})")


def message(to: str, subject: str = "Antrag auf Baugenehmigung", body: str = "Hallo") -> bytes:
    msg = EmailMessage()
    msg["From"] = "buerger@example.org"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="a.pdf")
    return msg.as_bytes(policy=email.policy.SMTP)  # CRLF, as it travels


def tls_client(port: int) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, timeout=30)
    client.ehlo("client.example.org")
    client.starttls(context=ssl._create_unverified_context())  # noqa: S323 - dev certificate
    client.ehlo("client.example.org")
    return client


def send(installation: Installation, to: str, data: bytes) -> str:
    with tls_client(installation.smtp_port) as client:
        client.mail("buerger@example.org")
        code, _ = client.rcpt(to)
        assert code == 250
        code, reply = client.data(data)
    assert code == 250, reply
    found = REGISTRY.search(reply.decode())
    assert found, reply
    return found.group(1)


@pytest.fixture
def running(
    installation: Installation, start: Callable[..., Server]
) -> tuple[Installation, Server]:
    return installation, start(installation).wait_listening()


def test_a_message_reaches_the_department_and_the_sender_gets_a_receipt(
    running: tuple[Installation, Server],
) -> None:
    installation, _ = running
    data = message(f"bauamt@{DOMAIN}")
    number = send(installation, f"bauamt@{DOMAIN}", data)

    inbox = installation.inbox("bauamt")
    wait_for(lambda: len(installation.maildir_messages(inbox)) == 1, 20, "delivery to the Bauamt")
    delivered = installation.maildir_messages(inbox)[0].read_bytes()
    assert f"X-Poststelle-Registry-Number: {number}".encode() in delivered
    assert delivered.endswith(data)

    outbox = installation.data / "outbox"
    wait_for(lambda: len(installation.maildir_messages(outbox)) == 1, 20, "the receipt")
    receipt = email.message_from_bytes(
        installation.maildir_messages(outbox)[0].read_bytes(), policy=email.policy.default
    )
    assert receipt["To"] == "buerger@example.org"
    assert receipt["Subject"] == "*Eingangsbestätigung* Antrag auf Baugenehmigung"
    text = receipt.get_body().get_content()
    assert number in text
    assert hashlib.sha256(data).hexdigest() in text
    assert "a.pdf" in text

    cli = [sys.executable, "-m", "poststelle.cli", "--config", str(installation.config)]
    shown = subprocess.run(
        [*cli, "receipt", number],
        capture_output=True,
        check=True,
        cwd=REPO,
        timeout=60,
    ).stdout
    assert shown == installation.maildir_messages(outbox)[0].read_bytes()
    pdf = installation.root / "receipt.pdf"
    poststelle("receipt", number, "--pdf", str(pdf), config=installation.config)
    assert pdf.read_bytes().startswith(b"%PDF") and b"/ByteRange" in pdf.read_bytes()

    status = poststelle("status", number, config=installation.config)
    assert "delivered" in status
    for stage in ("stamp", "analyse", "route", "deliver", "confirm"):
        assert re.search(rf"^\s+{stage}\s+\d{{4}}-", status, re.M), status
    assert "Journal intact" in poststelle("journal", "verify", config=installation.config)


def test_swaks_delivers_over_starttls(running: tuple[Installation, Server]) -> None:
    installation, _ = running
    swaks = shutil.which("swaks")
    assert swaks, "swaks is installed by deploy/install-system-packages.sh"
    done = subprocess.run(
        [
            swaks,
            "--to",
            f"poststelle@{DOMAIN}",
            "--from",
            "buerger@example.org",
            "--server",
            f"127.0.0.1:{installation.smtp_port}",
            "--tls",
            "--header",
            "Subject: Per swaks",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert REGISTRY.search(done.stdout), done.stdout
    wait_for(
        lambda: len(installation.maildir_messages(installation.inbox("hauptamt"))) == 1,
        20,
        "delivery to the Hauptamt",
    )


def test_a_recipient_of_another_domain_is_refused(running: tuple[Installation, Server]) -> None:
    installation, _ = running
    with tls_client(installation.smtp_port) as client:
        client.mail("buerger@example.org")
        code, reply = client.rcpt("victim@elsewhere.example")
    assert code == 550
    assert b"Relaying denied" in reply


def test_a_declared_oversize_message_is_refused_at_mail(
    running: tuple[Installation, Server],
) -> None:
    installation, _ = running
    with tls_client(installation.smtp_port) as client:
        code, _ = client.mail("buerger@example.org", options=["SIZE=999999999"])
    assert code == 552


def test_an_undeclared_oversize_message_is_refused_after_data(
    installation: Installation, start: Callable[..., Server]
) -> None:
    installation.edit_config(r"^max_message_bytes = \d+", "max_message_bytes = 4096")
    start(installation).wait_listening()
    with tls_client(installation.smtp_port) as client:
        client.mail("buerger@example.org")
        client.rcpt(f"bauamt@{DOMAIN}")
        code, _ = client.data(message(f"bauamt@{DOMAIN}", body="x" * 10_000))
        assert code == 552
        client.rset()
        client.mail("buerger@example.org")
        client.rcpt(f"bauamt@{DOMAIN}")
        code, _ = client.data(message(f"bauamt@{DOMAIN}"))
    assert code == 250, "the session stays usable after a refused message"


def test_mail_without_starttls_is_refused_when_tls_is_required(
    installation: Installation, start: Callable[..., Server]
) -> None:
    installation.edit_config(r'^starttls = "offered"', 'starttls = "required"')
    start(installation).wait_listening()
    with smtplib.SMTP("127.0.0.1", installation.smtp_port, timeout=30) as client:
        client.ehlo("client.example.org")
        code, _ = client.mail("buerger@example.org")
    assert code == 530


def test_auth_is_not_advertised(running: tuple[Installation, Server]) -> None:
    installation, _ = running
    with tls_client(installation.smtp_port) as client:
        assert not client.has_extn("auth")
        assert client.has_extn("size")


def test_a_non_ascii_address_needs_smtputf8(running: tuple[Installation, Server]) -> None:
    installation, _ = running
    with tls_client(installation.smtp_port) as client:
        client.command_encoding = "utf-8"
        code, _ = client.docmd("MAIL FROM:<bürger@example.org>")
        assert code == 553
        client.rset()  # resets command_encoding to ASCII
        client.command_encoding = "utf-8"
        code, _ = client.docmd("MAIL FROM:<bürger@example.org> SMTPUTF8")
        assert code == 250
        code, _ = client.docmd(f"RCPT TO:<bürgerbüro@{DOMAIN}>")
    assert code == 250


def test_the_time_stamp_token_verifies_with_openssl(
    running: tuple[Installation, Server],
) -> None:
    installation, _ = running
    data = message(f"bauamt@{DOMAIN}")
    number = send(installation, f"bauamt@{DOMAIN}", data)
    token = installation.root / "token.der"

    def stamped() -> bool:
        return "stage.stamp" in poststelle("status", number, config=installation.config)

    wait_for(stamped, 20, "the time-stamp")
    poststelle("token", number, str(token), config=installation.config)
    pki = installation.root / "pki"
    done = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-digest",
            hashlib.sha256(data).hexdigest(),
            "-token_in",
            "-in",
            str(token),
            "-CAfile",
            str(pki / "root.crt"),
            "-untrusted",
            str(pki / "tsa.crt"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verification: OK" in done.stdout
