"""SIGHUP makes the running daemon present a renewed TLS certificate; a broken one is refused
and the old certificate stays in use. Old protocol versions are refused."""

from __future__ import annotations

import shutil
import signal
import smtplib
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from poststelle.devpki import generate_development_pki
from tests.e2e.conftest import DOMAIN, Installation, Server, wait_for


def presented_serial(installation: Installation) -> int:
    context = ssl.create_default_context(cafile=str(installation.root / "pki" / "root.crt"))
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", installation.smtp_port, timeout=10) as smtp:
        smtp.starttls(context=context)
        der = smtp.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
    return x509.load_der_x509_certificate(der).serial_number


def tls_files(installation: Installation) -> tuple[Path, Path]:
    return installation.root / "pki" / "tls.crt", installation.root / "pki" / "tls.key"


def test_sighup_loads_a_renewed_certificate(
    installation: Installation, start: Callable[..., Server], tmp_path: Path
) -> None:
    server = start(installation).wait_listening()
    before = presented_serial(installation)
    renewed = generate_development_pki(tmp_path / "renewed", domain=DOMAIN, hostnames=[DOMAIN])
    certificate, key = tls_files(installation)
    shutil.copyfile(renewed.tls_certificate, certificate)
    shutil.copyfile(renewed.tls_key, key)

    server.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "tls.reloaded" in server.output(), 10, "the reload")

    after = presented_serial(installation)
    assert after != before
    assert after == x509.load_pem_x509_certificate(certificate.read_bytes()).serial_number


def test_a_broken_renewal_keeps_the_old_certificate(
    installation: Installation, start: Callable[..., Server]
) -> None:
    server = start(installation).wait_listening()
    before = presented_serial(installation)
    certificate, _ = tls_files(installation)
    certificate.write_text("not a certificate\n")

    server.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "tls.reload_failed" in server.output(), 10, "the refusal")
    time.sleep(0.2)
    assert presented_serial(installation) == before


def test_tls_1_1_is_refused(installation: Installation, start: Callable[..., Server]) -> None:
    start(installation).wait_listening()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    with (
        smtplib.SMTP("127.0.0.1", installation.smtp_port, timeout=10) as smtp,
        pytest.raises(ssl.SSLError),
    ):
        smtp.starttls(context=context)
