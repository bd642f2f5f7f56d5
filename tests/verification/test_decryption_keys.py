"""The authority's decryption keys come from the config and open mail encrypted to them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from poststelle.config import load_config
from poststelle.verification.unwrap import LayerKind, unwrap
from poststelle.verification.verifier import Verifier, message_date

CONFIG = """\
[poststelle]
authority = "Stadt Test"
domains = ["amt.example"]

[timestamp]
url = "http://127.0.0.1:1/tsa"

[departments.bauamt]
title = "Bauamt"

[[verification.decryption_keys]]
key = "{key}"
certificate = "smime.crt"
"""


def _key_pair(directory: Path) -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Poststelle Stadt Test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    (directory / "smime.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / "smime.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert


def test_mail_encrypted_to_a_configured_key_is_opened(tmp_path: Path) -> None:
    cert = _key_pair(tmp_path)
    path = tmp_path / "poststelle.toml"
    path.write_text(CONFIG.format(key="smime.key"), encoding="utf-8")
    verifier = Verifier.from_settings(load_config(path).verification)
    inner = b"Content-Type: text/plain\r\n\r\nIch beantrage die Baugenehmigung.\r\n"
    encrypted = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(inner)
        .add_recipient(cert)
        .encrypt(serialization.Encoding.SMIME, [])
    )

    unwrapped = unwrap(encrypted, verifier.decryption_keys)

    assert [layer.kind for layer in unwrapped.layers] == [LayerKind.ENCRYPTED]
    assert unwrapped.layers[0].problem == ""
    assert b"Ich beantrage die Baugenehmigung." in unwrapped.content


def test_a_missing_key_file_stops_start_up_naming_it(tmp_path: Path) -> None:
    _key_pair(tmp_path)
    path = tmp_path / "poststelle.toml"
    path.write_text(CONFIG.format(key="gone.key"), encoding="utf-8")
    settings = load_config(path).verification
    with pytest.raises(FileNotFoundError, match=r"gone\.key"):
        Verifier.from_settings(settings)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Mon, 30 Nov 2026 09:15:00 +0100", dt.datetime(2026, 11, 30, 8, 15, tzinfo=dt.UTC)),
        ("Mon, 30 Nov 2026 09:15:00 -0000", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_the_date_header_counts_only_with_a_known_zone(
    header: str, expected: dt.datetime | None
) -> None:
    assert message_date(header) == expected
