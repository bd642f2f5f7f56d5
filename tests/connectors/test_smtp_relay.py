"""Outbound mail through the authority's relay: a real SMTP server on loopback (aiosmtpd)
records what it got; STARTTLS and AUTH as configured; 4xx is temporary, 5xx permanent."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from connectors.smtp_relay import RelaySettings, SmtpRelay
from poststelle.devpki import DevelopmentPki, generate_development_pki
from poststelle.pipeline.broker import last_error, worth_retrying
from poststelle.ports import OutboundMessage, SendError
from tests.e2e.conftest import free_port

MAIL = b"From: poststelle@amt.test\r\nTo: erika@example.org\r\nSubject: Test\r\n\r\nHallo\r\n"


class Recorder:
    """Accepts mail, or answers RCPT with `refuse` when set; with `stall_seconds` it takes that
    long to answer the data (`data_started` is set when it starts)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse = ""
        self.stall_seconds = 0.0
        self.data_started = threading.Event()

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.data_started.set()
        await asyncio.sleep(self.stall_seconds)
        self.received.append((envelope.mail_from or "", list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 queued as 4711"


def _password(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth: Any
) -> AuthResult:
    ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (
        b"poststelle",
        b"geheim",
    )
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentPki:
    return generate_development_pki(
        tmp_path_factory.mktemp("relay-pki"), domain="amt.test", hostnames=["localhost"]
    )


@pytest.fixture
def relay(pki: DevelopmentPki) -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.tls_certificate, pki.tls_key)
    port = free_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=_password,
        auth_require_tls=True,
    )
    controller.start()
    yield recorder, port
    controller.stop()


def settings(port: int, pki: DevelopmentPki, **changes: Any) -> RelaySettings:
    base: dict[str, Any] = {
        "host": "localhost",
        "port": port,
        "starttls": "required",
        "username": "poststelle",
        "password": "geheim",
        "ca_file": Path(pki.root_certificate),
        "timeout": 5.0,
    }
    return RelaySettings(**(base | changes))


def outbound() -> OutboundMessage:
    return OutboundMessage(
        "receipt/2026-000001", "poststelle@amt.test", ("erika@example.org",), MAIL
    )


def test_mail_goes_through_the_relay_over_starttls_with_auth(
    relay: tuple[Recorder, int], pki: DevelopmentPki
) -> None:
    recorder, port = relay
    location = SmtpRelay(settings(port, pki)).send(outbound())
    assert "queued as 4711" in location
    assert len(recorder.received) == 1
    sender, recipients, content = recorder.received[0]
    assert (sender, recipients) == ("poststelle@amt.test", ["erika@example.org"])
    assert content.replace(b"\r\n", b"\n") == MAIL.replace(b"\r\n", b"\n")


def test_a_wrong_password_is_a_permanent_failure(
    relay: tuple[Recorder, int], pki: DevelopmentPki
) -> None:
    _, port = relay
    with pytest.raises(SendError) as failed:
        SmtpRelay(settings(port, pki, password="falsch")).send(outbound())
    assert failed.value.permanent


def test_a_relay_certificate_from_an_unknown_ca_is_refused(
    relay: tuple[Recorder, int], pki: DevelopmentPki
) -> None:
    recorder, port = relay
    with pytest.raises(SendError) as failed:
        SmtpRelay(settings(port, pki, ca_file=None)).send(outbound())
    assert not failed.value.permanent
    assert recorder.received == []


@pytest.mark.parametrize(
    ("answer", "permanent"),
    [("550 5.1.1 No such user", True), ("451 4.3.0 Try again later", False)],
)
def test_refusals_are_permanent_or_temporary_by_their_code(
    relay: tuple[Recorder, int], pki: DevelopmentPki, answer: str, permanent: bool
) -> None:
    recorder, port = relay
    recorder.refuse = answer
    with pytest.raises(SendError) as failed:
        SmtpRelay(settings(port, pki)).send(outbound())
    assert failed.value.permanent is permanent
    assert answer.split()[0] in str(failed.value)


def test_an_unreachable_relay_is_temporary(pki: DevelopmentPki) -> None:
    with pytest.raises(SendError) as failed:
        SmtpRelay(settings(free_port(), pki)).send(outbound())
    assert not failed.value.permanent


def test_the_pipeline_retries_temporary_errors_only_and_keeps_the_last_reason() -> None:
    assert worth_retrying(0, SendError("451", permanent=False))
    assert not worth_retrying(0, SendError("550", permanent=True))
    assert not worth_retrying(8, SendError("451", permanent=False))
    assert worth_retrying(3, TimeoutError())
    message = {
        "options": {"traceback": "Traceback …\n  File x\npoststelle.ports.SendError: 550 5.1.1\n"}
    }
    assert last_error(message) == "poststelle.ports.SendError: 550 5.1.1"
