"""A development PKI for the embedded default: root CA, TLS, receipt seal and time-stamp keys."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ORGANISATION = "Poststelle Entwicklung (nicht qualifiziert)"


@dataclass(frozen=True, slots=True)
class DevelopmentPki:
    root_certificate: Path
    tls_certificate: Path
    tls_key: Path
    seal_certificate: Path
    seal_key: Path
    tsa_certificate: Path
    tsa_key: Path


def _name(common_name: str, domain: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, domain[:64]),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )


def _key_usage(*, cert_sign: bool = False, non_repudiation: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, years: int
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def generate_development_pki(
    directory: Path, *, domain: str, hostnames: Sequence[str], force: bool = False
) -> DevelopmentPki:
    """Write a root CA and three end-entity certificates with their keys (EC P-256)."""
    pki = DevelopmentPki(
        root_certificate=directory / "root.crt",
        tls_certificate=directory / "tls.crt",
        tls_key=directory / "tls.key",
        seal_certificate=directory / "seal.crt",
        seal_key=directory / "seal.key",
        tsa_certificate=directory / "tsa.crt",
        tsa_key=directory / "tsa.key",
    )
    if not force and any(p.exists() for p in (pki.tls_key, pki.seal_key, pki.tsa_key)):
        raise FileExistsError(f"keys exist already in {directory}; not overwriting them")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)

    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("Poststelle Entwicklungs-CA", domain)
    root = (
        _builder(root_name, root_name, root_key, 10)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key())

    def issue(
        common_name: str,
        key: ec.EllipticCurvePrivateKey,
        *extensions: tuple[x509.ExtensionType, bool],
    ) -> x509.Certificate:
        builder = (
            _builder(_name(common_name, domain), root_name, key, 3)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(aki, critical=False)
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(root_key, hashes.SHA256())

    names: list[x509.GeneralName] = [
        x509.DNSName(h) for h in dict.fromkeys([*hostnames, "localhost"])
    ]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    tls_key = ec.generate_private_key(ec.SECP256R1())
    tls = issue(
        hostnames[0] if hostnames else domain,
        tls_key,
        (_key_usage(), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.SubjectAlternativeName(names), False),
    )
    seal_key = ec.generate_private_key(ec.SECP256R1())
    seal = issue(
        "Poststelle Eingangsbestätigungen (Siegel, Entwicklung)",
        seal_key,
        (_key_usage(non_repudiation=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False),
        (x509.SubjectAlternativeName([x509.RFC822Name(f"poststelle@{domain}")]), False),
    )
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa = issue(
        "Poststelle Zeitstempeldienst (nicht qualifiziert)",
        tsa_key,
        (_key_usage(non_repudiation=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),
    )
    _write_cert(pki.root_certificate, root)
    for cert_path, key_path, cert, key in (
        (pki.tls_certificate, pki.tls_key, tls, tls_key),
        (pki.seal_certificate, pki.seal_key, seal, seal_key),
        (pki.tsa_certificate, pki.tsa_key, tsa, tsa_key),
    ):
        _write_key(key_path, key)
        _write_cert(cert_path, cert)
    return pki


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: expected an EC private key")
    return key


def load_certificates(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())
