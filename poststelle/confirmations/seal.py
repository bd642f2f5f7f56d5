"""The authority's seal: the key and certificate (with its chain) that sign confirmations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from poststelle.devpki import load_certificates


@dataclass(frozen=True, slots=True)
class Seal:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # issuing CAs, sent along with every signature

    @classmethod
    def load(cls, key: Path, certificate: Path) -> Seal:
        """Read a PEM key and a PEM file whose first certificate is the seal's, then its CAs."""
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{key}: expected an EC or RSA private key")
        certificates = load_certificates(certificate)
        if not certificates:
            raise ValueError(f"{certificate}: no certificate found")
        seal, *chain = certificates
        if seal.public_key() != private.public_key():
            raise ValueError(f"{certificate} does not belong to the key {key}")
        return cls(private, seal, tuple(chain))
