"""Evidence about a certificate, in the plain form reports carry."""

from __future__ import annotations

import functools
import hashlib

from asn1crypto import x509

from poststelle.verification.model import CertificateInfo


def email_addresses(cert: x509.Certificate) -> tuple[str, ...]:
    """rfc822Name entries of the subjectAltName and emailAddress attributes of the subject."""
    found: list[str] = []
    san = cert.subject_alt_name_value
    if san is not None:
        found += [n.native for n in san if n.name == "rfc822_name"]
    for rdn in cert.subject.chosen:
        found += [a["value"].native for a in rdn if a["type"].native == "email_address"]
    return tuple(dict.fromkeys(a.lower() for a in found))


def certificate_info(cert: x509.Certificate) -> CertificateInfo:
    """The evidence, worked out once per certificate: the same CA certificates (and a frequent
    signer's own) come with item after item."""
    return _info(cert.dump())


@functools.lru_cache(maxsize=1024)
def _info(der: bytes) -> CertificateInfo:
    cert = x509.Certificate.load(der)
    return CertificateInfo(
        subject=cert.subject.human_friendly,
        issuer=cert.issuer.human_friendly,
        serial_hex=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before,
        not_after=cert.not_valid_after,
        sha256=hashlib.sha256(cert.dump()).hexdigest(),
        email_addresses=email_addresses(cert),
    )
