"""Signature algorithms pyHanko leaves out, verified with cryptography: BSI TR-03111 plain
ECDSA (the format of German signature cards), and RSA and ECDSA with SHA-3."""

from __future__ import annotations

from asn1crypto import algos
from asn1crypto.keys import PublicKeyInfo
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidationContext,
)

# ecdsa-plain-signatures (0.4.0.127.0.7.1.1.4.1): r and s side by side, each as long as the
# curve's order. SHA-1 (.1) is left out, too weak to support a signature.
PLAIN_ECDSA: dict[str, type[hashes.HashAlgorithm]] = {
    "0.4.0.127.0.7.1.1.4.1.2": hashes.SHA224,
    "0.4.0.127.0.7.1.1.4.1.3": hashes.SHA256,
    "0.4.0.127.0.7.1.1.4.1.4": hashes.SHA384,
    "0.4.0.127.0.7.1.1.4.1.5": hashes.SHA512,
    "0.4.0.127.0.7.1.1.4.1.8": hashes.SHA3_224,
    "0.4.0.127.0.7.1.1.4.1.9": hashes.SHA3_256,
    "0.4.0.127.0.7.1.1.4.1.10": hashes.SHA3_384,
    "0.4.0.127.0.7.1.1.4.1.11": hashes.SHA3_512,
}
# NIST's id-ecdsa-with-sha3-* and id-rsassa-pkcs1-v1_5-with-sha3-* (2.16.840.1.101.3.4.3).
ECDSA_SHA3: dict[str, type[hashes.HashAlgorithm]] = {
    "2.16.840.1.101.3.4.3.9": hashes.SHA3_224,
    "2.16.840.1.101.3.4.3.10": hashes.SHA3_256,
    "2.16.840.1.101.3.4.3.11": hashes.SHA3_384,
    "2.16.840.1.101.3.4.3.12": hashes.SHA3_512,
}
RSA_SHA3: dict[str, type[hashes.HashAlgorithm]] = {
    "2.16.840.1.101.3.4.3.13": hashes.SHA3_224,
    "2.16.840.1.101.3.4.3.14": hashes.SHA3_256,
    "2.16.840.1.101.3.4.3.15": hashes.SHA3_384,
    "2.16.840.1.101.3.4.3.16": hashes.SHA3_512,
}


class WiderSignatureValidator(DefaultSignatureValidator):
    """pyHanko's signature check, which also knows the algorithms above; for them pyHanko
    itself reports "not supported" and the signature goes unchecked."""

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        oid = signature_algorithm["algorithm"].dotted
        digest = PLAIN_ECDSA.get(oid) or ECDSA_SHA3.get(oid) or RSA_SHA3.get(oid)
        if digest is None:
            super().validate_signature(
                signature, signed_data, public_key_info, signature_algorithm, context
            )
            return
        algorithm = Prehashed(digest()) if context.prehashed else digest()
        key = serialization.load_der_public_key(public_key_info.dump())
        if oid in RSA_SHA3 and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed_data, padding.PKCS1v15(), algorithm)
        elif oid in ECDSA_SHA3 and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_data, ec.ECDSA(algorithm))
        elif oid in PLAIN_ECDSA and isinstance(key, ec.EllipticCurvePublicKey):
            if not signature or len(signature) % 2:
                raise InvalidSignature("a plain-ECDSA signature has two halves of equal length")
            half = len(signature) // 2
            r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
            key.verify(encode_dss_signature(r, s), signed_data, ec.ECDSA(algorithm))
        else:
            raise InvalidSignature(f"a {type(key).__name__} cannot make a {oid} signature")
