"""CMS signatures with the seal: S/MIME multipart/signed entities and detached DER signatures."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from poststelle.confirmations.seal import Seal


def _builder(data: bytes, seal: Seal) -> pkcs7.PKCS7SignatureBuilder:
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(seal.certificate, seal.key, hashes.SHA256())
    )
    for certificate in seal.chain:
        builder = builder.add_certificate(certificate)
    return builder


def sign_entity(entity: bytes, seal: Seal) -> bytes:
    """Wrap a MIME entity (CRLF line ends) in multipart/signed; starts with MIME-Version."""
    signed = _builder(entity, seal).sign(
        serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature]
    )
    return signed.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def detached_signature(data: bytes, seal: Seal) -> bytes:
    """A detached CMS SignedData (DER) over `data` exactly as given, without canonicalisation."""
    return _builder(data, seal).sign(
        serialization.Encoding.DER,
        [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
    )
