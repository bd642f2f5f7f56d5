"""Build De-Mails as TR 01201 PVD IO 3.1 and 3.5 describe them, hashed or signed by a provider.

There are no public sample De-Mails. The hash input is assembled here from the lines this
builder writes (RFC 6376 3.7, simple/simple), independently of the code under test.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from tests.support.testpki import GeneratedPki

# TR PVD IO 3.1.21, parameter "h", in the order the specification fixes.
HASHED = (
    "From",
    "Date",
    "Message-ID",
    "Subject",
    "Reply-To",
    "X-de-mail-confirmation-of-dispatch",
    "X-de-mail-confirmation-of-receipt",
    "X-de-mail-confirmation-of-retrieve",
    "X-de-mail-authoritative",
    "X-de-mail-private",
    "X-de-mail-sender",
    "X-de-mail-chosen-recipient",
    "X-de-mail-auth-mechanism",
    "X-de-mail-auth-level",
    "X-de-mail-originator-provider",
    "X-de-mail-message-type",
    "X-de-mail-version",
    "X-de-mail-private-id",
    "X-de-mail-message-id",
    "X-de-mail-account-holder",
)
DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
SENDER = "max.mustermann@provider.de-mail.de"
RECIPIENT = "poststelle@stadt.de-mail.de"
BODY = b"Sehr geehrte Damen und Herren,\r\nich beantrage die Baugenehmigung.\r\n"

Field = tuple[str, str]


@dataclass(frozen=True)
class ProviderKey:
    """The provider's signing key and the certificate it puts in the message."""

    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    certificate_der: bytes


def provider_key(pki: GeneratedPki, label: str = "demail-provider") -> ProviderKey:
    return ProviderKey(pki.crypto_key(label), pki.certificate(label).dump())


def self_signed_rsa(common_name: str = "RSA Provider Test") -> ProviderKey:
    """An RSA key with a self-signed certificate (the test PKI's keys are all EC)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return ProviderKey(key, certificate.public_bytes(serialization.Encoding.DER))


def normal_fields(
    *,
    authoritative: str = "yes",
    auth_level: str = "high",
    sender: str = SENDER,
    message_type: str = "normal",
    subject: str = "Antrag auf Baugenehmigung",
    private_id: str | None = "AZ-2026-0815",
) -> list[Field]:
    """The header fields of a De-Mail as its provider hands it over (TR PVD IO table 1)."""
    fields = [
        ("From", f"Max Mustermann <{sender}>"),
        ("To", RECIPIENT),
        ("Date", "Wed, 25 Nov 2026 08:15:00 +0100"),
        ("Message-ID", "<4711@provider.de-mail.de>"),
        ("Subject", subject),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", "8bit"),
        ("X-de-mail-confirmation-of-dispatch", "no"),
        ("X-de-mail-confirmation-of-receipt", "yes"),
        ("X-de-mail-confirmation-of-retrieve", "no"),
        ("X-de-mail-authoritative", authoritative),
        ("X-de-mail-private", "no"),
        ("X-de-mail-sender", sender),
        # folded, as providers fold long fields (TR PVD IO 3.1.21 point 3)
        ("X-de-mail-chosen-recipient", f"to={RECIPIENT};\r\n cc=bauamt@stadt.de-mail.de"),
        ("X-de-mail-actual-recipient", f"to={RECIPIENT}"),
        ("X-de-mail-auth-mechanism", "nPA"),
        ("X-de-mail-auth-level", auth_level),
        ("X-de-mail-originator-provider", "mail.provider.de-mail.de"),
        ("X-de-mail-message-type", message_type),
        ("X-de-mail-version", "1.8"),
        ("X-de-mail-message-id", "dm-4711-0001@provider.de-mail.de"),
        ("X-de-mail-account-holder", "Max Mustermann"),
    ]
    if private_id is not None:
        fields.append(("X-de-mail-private-id", private_id))
    return fields


def _line(name: str, value: str) -> bytes:
    return f"{name}: {value}\r\n".encode()


def _fold(text: str, width: int = 64) -> str:
    return "\r\n ".join(text[i : i + width] for i in range(0, len(text), width))


def seal(
    fields: Sequence[Field],
    body: bytes = BODY,
    *,
    algorithm: str = "sha256/ec-dsa",
    provider: ProviderKey | None = None,
    certificate_der: bytes | None = None,
    extra_tags: str = "",
) -> bytes:
    """The message with X-de-mail-integrity (and the certificate when signed) on top.
    `certificate_der` puts another certificate in the message than the one that signs;
    `extra_tags` (e.g. "l=5; ") go before h=."""
    assert body.endswith(b"\r\n") and not body.endswith(b"\r\n\r\n")  # = simple canonical form
    hash_name, _, signature_algorithm = algorithm.partition("/")
    lines = [_line(n, v) for n, v in fields]
    present = [n for n in HASHED if any(f.lower() == n.lower() for f, _ in fields)]
    h = [n for n in HASHED if n != "X-de-mail-private-id" or n in present]
    tags = f"v=1; a={algorithm}; c=simple/simple; "
    if signature_algorithm:
        tags += "q=x-header/x-de-mail-signature-certificate; "
    tags += extra_tags
    body_hash = base64.b64encode(hashlib.new(hash_name, body).digest()).decode()
    tags += f"h={':'.join(h)};\r\n bh={body_hash};\r\n b="
    data = bytearray()
    for name in h:
        first = next(
            (ln for (n, _), ln in zip(fields, lines, strict=True) if n.lower() == name.lower()), b""
        )
        data += first
    data += b"X-de-mail-integrity: " + tags.encode()
    if not signature_algorithm:
        value = hashlib.new(hash_name, bytes(data)).digest()
        top = [_line("X-de-mail-integrity", tags + _fold(base64.b64encode(value).decode()))]
    else:
        assert provider is not None
        value = _sign(provider, signature_algorithm, DIGESTS[hash_name](), bytes(data))
        certificate = base64.b64encode(certificate_der or provider.certificate_der).decode()
        top = [
            _line("X-de-mail-integrity", tags + _fold(base64.b64encode(value).decode())),
            _line("X-de-mail-signature-certificate", _fold(certificate)),
        ]
    return b"".join(top + lines) + b"\r\n" + body


def _sign(
    provider: ProviderKey, algorithm: str, digest: hashes.HashAlgorithm, data: bytes
) -> bytes:
    key = provider.key
    if algorithm == "ec-dsa":
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key.sign(data, ec.ECDSA(digest))
    assert isinstance(key, rsa.RSAPrivateKey)
    if algorithm == "rsa":
        return key.sign(data, padding.PKCS1v15(), digest)
    assert algorithm == "rsassa-pss"
    return key.sign(data, padding.PSS(padding.MGF1(digest), digest.digest_size), digest)


def acknowledge_xml(original_fields: Sequence[Field], original_integrity: str, kind: str) -> bytes:
    """The XML part of a confirmation (TR PVD IO 3.5.1, schema 3.5.3), without ds:Signature:
    the XML signature is neither built nor checked here."""
    metadata = "".join(
        f"<Metadate><Name>{n}</Name><Value>{escape(' '.join(v.split()))}</Value>"
        f"<OriginalHeader>{escape(f'{n}: {v}')}</OriginalHeader></Metadate>"
        for n, v in original_fields
        if n.lower() in {h.lower() for h in HASHED}
    )
    subject = next(v for n, v in original_fields if n == "Subject")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Acknowledge-Message xmlns="urn:de-mail">'
        "<Sender>eingang@stadt-provider.de-mail.de</Sender>"
        f"<Metadata>{metadata}</Metadata>"
        f"<Subject>{escape(f'{kind}: {subject}')}</Subject>"
        "<Text>Hiermit wird bestätigt, dass die Nachricht im Postfach des Empfängers abgelegt "
        "wurde.</Text>"
        f"<Hash>{escape(original_integrity)}</Hash>"
        "<Time>2026-11-25T08:16:00+01:00</Time>"
        "</Acknowledge-Message>"
    ).encode()


def confirmation_of_receipt(
    original_fields: Sequence[Field], original_integrity: str
) -> tuple[list[Field], bytes]:
    """Fields and multipart/mixed body (XML and PDF) of a provider's confirmation of receipt."""
    subject = next(v for n, v in original_fields if n == "Subject")
    private_id = next((v for n, v in original_fields if n == "X-de-mail-private-id"), None)
    fields = [
        f
        for f in normal_fields(
            sender="eingang@stadt-provider.de-mail.de",
            authoritative="no",
            message_type="confirmation of receipt",
            subject=f"*Eingangsbestätigung* {subject}",
            private_id=private_id,
        )
        if f[0] not in ("X-de-mail-account-holder",)
    ]
    replaced = {
        "X-de-mail-message-id": "dm-9000@stadt-provider.de-mail.de",
        "Content-Type": 'multipart/mixed; boundary="b1"',
        "Content-Transfer-Encoding": "7bit",
    }
    fields = [(n, replaced.get(n, v)) for n, v in fields]
    xml = base64.encodebytes(
        acknowledge_xml(original_fields, original_integrity, "Eingangsbestätigung")
    )
    body = (
        b"--b1\r\nContent-Type: application/xml\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + xml.replace(b"\n", b"\r\n")
        + b"--b1\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4 Eingangsbestaetigung\r\n"
        b"--b1--\r\n"
    )
    return fields, body
