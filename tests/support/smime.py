"""Build S/MIME messages and detached CMS signatures with keys of the generated test PKI."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from email.policy import SMTP

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from tests.support.testpki import GeneratedPki


def body(text: str = "Ich beantrage die Baugenehmigung.") -> bytes:
    part = EmailMessage()
    part.set_content(text)
    return part.as_bytes(policy=SMTP)


def _builder(pki: GeneratedPki, label: str, data: bytes) -> pkcs7.PKCS7SignatureBuilder:
    cert = x509.load_der_x509_certificate(pki.certificate(label).dump())
    interm = x509.load_der_x509_certificate(pki.certificate("interm").dump())
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(cert, pki.crypto_key(label), hashes.SHA256())
        .add_certificate(interm)
    )


def headers(sender: str, to: str) -> bytes:
    return f"From: {sender}\r\nTo: {to}\r\nSubject: Antrag\r\nMIME-Version: 1.0\r\n".encode()


def detached(pki: GeneratedPki, label: str, sender: str, to: str = "bauamt@amt.example") -> bytes:
    signed = _builder(pki, label, body()).sign(
        serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature]
    )
    signed = signed.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    signed = signed.replace(b"MIME-Version: 1.0\r\n", b"", 1)
    return headers(sender, to) + signed


def opaque(pki: GeneratedPki, label: str, sender: str, to: str = "bauamt@amt.example") -> bytes:
    der = _builder(pki, label, body()).sign(serialization.Encoding.DER, [])
    encoded = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (
        headers(sender, to)
        + b"Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + encoded
    )


def p7s(pki: GeneratedPki, label: str, data: bytes) -> bytes:
    return _builder(pki, label, data).sign(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature]
    )
