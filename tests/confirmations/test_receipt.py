"""The signed Eingangsbestätigung: S/MIME and PAdES signatures that our engine and outside tools
accept, and a PDF that reads right."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from poststelle.confirmations.facts import ItemFacts
from poststelle.confirmations.message import Issuer
from poststelle.confirmations.pdf import SIGNATURE_FIELD
from poststelle.confirmations.receipt import build_receipt
from poststelle.devpki import DevelopmentPki
from poststelle.verification.engine import verify_item
from poststelle.verification.formats import VerificationContext
from poststelle.verification.model import CheckOutcome
from poststelle.verification.qualification import CertificateQualifier
from poststelle.verification.trust import TrustSettings, load_certificates, validation_contexts
from poststelle.verification.unwrap import LayerKind, unwrap
from tests.confirmations.conftest import CITIZEN, SENDER

PYHANKO = Path(sys.executable).with_name("pyhanko")
ISSUED = datetime(2026, 11, 25, 9, 16, tzinfo=UTC)


@pytest.fixture(scope="module")
def mail(facts: ItemFacts, issuer: Issuer) -> bytes:
    return build_receipt(facts, issuer, recipient=CITIZEN, issued_at=ISSUED)


@pytest.fixture(scope="module")
def parsed(mail: bytes) -> EmailMessage:
    message = email.message_from_bytes(mail, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def attachment(message: EmailMessage, content_type: str) -> bytes:
    (part,) = [p for p in message.walk() if p.get_content_type() == content_type]
    data = part.get_content()
    assert isinstance(data, bytes)
    return data


@pytest.fixture(scope="module")
def pdf(parsed: EmailMessage) -> bytes:
    return attachment(parsed, "application/pdf")


def test_the_reply_is_a_signed_multipart_mixed_with_text_xml_and_pdf(
    parsed: EmailMessage, facts: ItemFacts
) -> None:
    assert parsed["Subject"] == f"*Eingangsbestätigung* {facts.subject}"
    assert parsed["From"] == SENDER
    assert parsed["To"] == CITIZEN
    assert parsed.get_content_type() == "multipart/signed"
    signed, signature = parsed.iter_parts()
    assert signed.get_content_type() == "multipart/mixed"
    assert signature.get_content_type() == "application/x-pkcs7-signature"
    types = [p.get_content_type() for p in signed.iter_parts()]
    assert types == ["text/plain", "application/xml", "application/pdf"]
    names = [p.get_filename() for p in signed.iter_parts()]
    assert names == [
        None,
        f"Eingangsbestaetigung-{facts.registry_number}.xml",
        f"Eingangsbestaetigung-{facts.registry_number}.pdf",
    ]
    text = parsed.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert facts.registry_number in body and facts.sha256 in body
    assert all(d.name in body and d.sha256 in body for d in facts.documents)


def test_openssl_verifies_the_smime_signature(
    mail: bytes, pki: DevelopmentPki, tmp_path: Path
) -> None:
    (tmp_path / "mail.eml").write_bytes(mail)
    done = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-CAfile",
            str(pki.root_certificate),
            "-in",
            str(tmp_path / "mail.eml"),
            "-out",
            str(tmp_path / "content"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Verification successful" in done.stderr
    assert b"multipart/mixed" in (tmp_path / "content").read_bytes()


def test_openssl_refuses_a_receipt_changed_after_signing(
    mail: bytes, facts: ItemFacts, pki: DevelopmentPki, tmp_path: Path
) -> None:
    changed = mail.replace(b"Registriernummer:", b"Registriernummer?", 1)
    assert changed != mail
    (tmp_path / "mail.eml").write_bytes(changed)
    done = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-CAfile",
            str(pki.root_certificate),
            "-in",
            str(tmp_path / "mail.eml"),
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "Verification successful" not in done.stderr


async def test_our_engine_finds_the_smime_signature_intact_and_by_the_sender(
    mail: bytes, pki: DevelopmentPki
) -> None:
    unwrapped = unwrap(mail)
    assert [layer.kind for layer in unwrapped.layers] == [LayerKind.SIGNED_DETACHED]
    async with aiohttp.ClientSession() as session:
        context = VerificationContext(
            validation_time=datetime.now(UTC),
            validation_context=validation_contexts(
                TrustSettings(anchors=(pki.root_certificate,)),
                AIOHttpFetcherBackend(session),
            ),
            qualify=CertificateQualifier(),
            sender_address=SENDER,
        )
        report = await verify_item(unwrapped, [], context, [])
    ((signature,),) = [d.signatures for d in report.documents]
    checks = {c.name: c.outcome for c in signature.checks}
    assert checks["integrity"] is CheckOutcome.PASSED
    assert checks["signature"] is CheckOutcome.PASSED
    assert checks["sender_identity"] is CheckOutcome.PASSED
    assert signature.signer is not None and SENDER in signature.signer.email_addresses


async def pdf_status(pdf: bytes, pki: DevelopmentPki, tmp_path: Path) -> PdfSignatureStatus:
    path = tmp_path / "receipt.pdf"
    path.write_bytes(pdf)
    with path.open("rb") as stream:
        (embedded,) = PdfFileReader(stream).embedded_signatures
        assert embedded.field_name == SIGNATURE_FIELD
        assert embedded.sig_object["/SubFilter"] == SigSeedSubFilter.PADES.value
        roots = load_certificates(pki.root_certificate)
        context = ValidationContext(trust_roots=roots, allow_fetching=False)
        return await async_validate_pdf_signature(
            embedded, signer_validation_context=context, ts_validation_context=context
        )


async def test_pyhanko_validates_the_pdf_seal_at_level_b_t(
    pdf: bytes, pki: DevelopmentPki, tmp_path: Path
) -> None:
    status = await pdf_status(pdf, pki, tmp_path)
    assert status.intact and status.valid and status.trusted
    assert status.coverage is not None and status.coverage.name == "ENTIRE_FILE"
    assert status.signing_cert.subject.native["common_name"].startswith("Poststelle")
    # B-T: a signature time-stamp over the signature value, itself intact and trusted.
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.trusted


def test_pyhankos_cli_validates_the_pdf_seal_with_its_time_stamp(
    pdf: bytes, pki: DevelopmentPki, tmp_path: Path
) -> None:
    (tmp_path / "receipt.pdf").write_bytes(pdf)
    done = subprocess.run(
        [
            str(PYHANKO),
            "sign",
            "validate",
            "--trust",
            str(pki.root_certificate),
            "--trust-replace",
            str(tmp_path / "receipt.pdf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{SIGNATURE_FIELD}:" in done.stdout
    assert "INTACT:TRUSTED" in done.stdout
    assert "TIMESTAMP_TOKEN<INTACT:TRUSTED>" in done.stdout
    assert "UNTOUCHED" in done.stdout


def test_pyhankos_cli_rejects_a_pdf_changed_after_sealing(
    pdf: bytes, pki: DevelopmentPki, tmp_path: Path
) -> None:
    changed = pdf.replace(b"/Producer", b"/Produzer", 1)
    assert changed != pdf
    (tmp_path / "receipt.pdf").write_bytes(changed)
    done = subprocess.run(
        [
            str(PYHANKO),
            "sign",
            "validate",
            "--trust",
            str(pki.root_certificate),
            "--trust-replace",
            str(tmp_path / "receipt.pdf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "INTACT:TRUSTED" not in done.stdout


def test_the_pdf_reads_in_german_with_the_facts(
    pdf: bytes, facts: ItemFacts, tmp_path: Path
) -> None:
    (tmp_path / "receipt.pdf").write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "receipt.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for expected in (
        "Eingangsbestätigung",
        "Stadtverwaltung Übersee",
        "Größe",
        "Empfänger",
        "Gärtnerstraße",
        facts.registry_number,
        facts.sha256,
        "25.11.2026, 10:15:30 Uhr",
        "Die Schriftform ist ersetzt.",
        *(d.sha256 for d in facts.documents),
    ):
        assert expected in text, expected
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", str(tmp_path / "receipt.pdf"), str(tmp_path / "page")],
        check=True,
    )
    assert (tmp_path / "page-1.png").stat().st_size > 10_000
