"""Signature algorithms pyHanko leaves out are verified: plain ECDSA (BSI TR-03111, the format
of German signature cards), RSA and ECDSA with SHA-3."""

from __future__ import annotations

import pytest
from asn1crypto import algos, keys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from poststelle.verification.algorithms import WiderSignatureValidator
from poststelle.verification.model import Indication, SubIndication
from tests.support.corpora import CORPORA
from tests.verification.test_pades import _check_outcome, _verify_corpus_file

ECDSA_PLAIN_SHA256 = "0.4.0.127.0.7.1.1.4.1.3"
ECDSA_PLAIN_SHA384 = "0.4.0.127.0.7.1.1.4.1.4"
RSA_SHA3_256 = "2.16.840.1.101.3.4.3.14"
ECDSA_SHA3_256 = "2.16.840.1.101.3.4.3.10"
DATA = b"signierte Attribute eines Antrags"


def plain_signature(curve: ec.EllipticCurve, data: bytes) -> tuple[bytes, keys.PublicKeyInfo]:
    """r and s side by side, each as long as the curve's order, as a signature card makes."""
    key = ec.generate_private_key(curve)
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    size = (curve.key_size + 7) // 8
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return r.to_bytes(size, "big") + s.to_bytes(size, "big"), keys.PublicKeyInfo.load(public)


def algorithm(oid: str) -> algos.SignedDigestAlgorithm:
    return algos.SignedDigestAlgorithm({"algorithm": oid})


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.BrainpoolP256R1()], ids=["P-256", "bp256"])
def test_a_plain_ecdsa_signature_verifies(curve: ec.EllipticCurve) -> None:
    signature, public_key = plain_signature(curve, DATA)
    WiderSignatureValidator().validate_signature(
        signature, DATA, public_key, algorithm(ECDSA_PLAIN_SHA256)
    )


@pytest.mark.parametrize(
    ("data", "oid", "cut"),
    [
        (b"geaenderte Attribute", ECDSA_PLAIN_SHA256, 0),
        (DATA, ECDSA_PLAIN_SHA384, 0),
        (DATA, ECDSA_PLAIN_SHA256, 1),
    ],
    ids=["other-data", "other-hash", "odd-length"],
)
def test_a_plain_ecdsa_signature_over_anything_else_does_not(
    data: bytes, oid: str, cut: int
) -> None:
    signature, public_key = plain_signature(ec.SECP256R1(), DATA)
    check = WiderSignatureValidator().validate_signature
    with pytest.raises(InvalidSignature):
        check(signature[cut:], data, public_key, algorithm(oid))


def public_key_info(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> keys.PublicKeyInfo:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return keys.PublicKeyInfo.load(der)


@pytest.mark.parametrize("tampered", [False, True], ids=["intact", "tampered"])
def test_rsa_and_ecdsa_with_sha3_are_checked(tampered: bool) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    signed = [
        (rsa_key.sign(DATA, padding.PKCS1v15(), hashes.SHA3_256()), rsa_key, RSA_SHA3_256),
        (ec_key.sign(DATA, ec.ECDSA(hashes.SHA3_256())), ec_key, ECDSA_SHA3_256),
    ]
    data = DATA + b"!" if tampered else DATA
    check = WiderSignatureValidator().validate_signature
    for signature, key, oid in signed:
        if tampered:
            with pytest.raises(InvalidSignature):
                check(signature, data, public_key_info(key), algorithm(oid))
        else:
            check(signature, data, public_key_info(key), algorithm(oid))


async def test_a_real_qualified_signature_in_plain_ecdsa_is_checked_and_intact() -> None:
    """DSS's TeleSec PKS eIDAS QES sample: intact, and its CA is not one we trust."""
    (path,) = (CORPORA / "dss").rglob("TeleSec_PKS_eIDAS_QES_CA_1-baseline-b.pdf")
    (report,) = await _verify_corpus_file(path)
    assert _check_outcome(report, "signature").value == "passed"
    assert (report.indication, report.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
    )
