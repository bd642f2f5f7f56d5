"""Test mail for the benchmarks: plain, S/MIME-signed and PDF-bearing, each one unique."""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from reportlab.pdfgen.canvas import Canvas

from bench.common import DOMAIN

SENDER = "buerger@sender.example"
KINDS = ("plain", "smime", "pdf")
# Routing in `poststelle init`'s policy: recipient bauamt@* → bauamt, subject "Gewerbe" →
# ordnungsamt, poststelle@* → hauptamt.
ROUTES = (("poststelle", "Antrag"), ("bauamt", "Bauantrag"), ("poststelle", "Gewerbeanmeldung"))


@dataclass(frozen=True)
class Mail:
    kind: str
    recipient: str
    data: bytes


class Signer:
    """An EC P-256 key and self-signed certificate made now: signatures verify as untrusted."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "Bench Buerger"),
                x509.NameAttribute(NameOID.EMAIL_ADDRESS, SENDER),
            ]
        )
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(SENDER)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def sign(self, content: bytes) -> bytes:
        """A detached multipart/signed S/MIME message around the MIME entity `content`."""
        return (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(content)
            .add_signer(self.certificate, self.key, hashes.SHA256())
            .sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature])
        )


def pdf(text: str) -> bytes:
    """A one-page PDF saying `text`."""
    out = io.BytesIO()
    canvas = Canvas(out)
    canvas.drawString(72, 720, text)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def make(index: int, signer: Signer, pdf_bytes: bytes) -> Mail:
    """The `index`-th mail of the mix: kinds and routes in turn, a unique Message-ID each."""
    kind = KINDS[index % len(KINDS)]
    local, subject = ROUTES[(index // len(KINDS)) % len(ROUTES)]
    recipient = f"{local}@{DOMAIN}"
    text = (
        f"Sehr geehrte Damen und Herren,\n\nanbei Vorgang {index}.\n\nMit freundlichen Gruessen\n"
    )
    headers = (
        f"From: Bench Buerger <{SENDER}>\r\nTo: {recipient}\r\n"
        f"Subject: {subject} {index}\r\nMessage-ID: {make_msgid(domain='sender.example')}\r\n"
        "MIME-Version: 1.0\r\n"
    ).encode()
    if kind == "smime":
        inner = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}".replace("\n", "\r\n")
        signed = signer.sign(inner.replace("\r\r\n", "\r\n").encode())
        signed = signed.replace(b"MIME-Version: 1.0\r\n", b"", 1).replace(b"\r\n", b"\n")
        return Mail(kind, recipient, headers + signed.replace(b"\n", b"\r\n"))
    message = EmailMessage()
    message.set_content(text)
    if kind == "pdf":
        message.add_attachment(
            pdf_bytes, maintype="application", subtype="pdf", filename=f"antrag-{index}.pdf"
        )
    body = message.as_bytes().replace(b"MIME-Version: 1.0\n", b"", 1)
    return Mail(kind, recipient, headers + body.replace(b"\n", b"\r\n"))
