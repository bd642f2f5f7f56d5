"""Open CMS EnvelopedData with the authority's keys: RSA (PKCS #1 v1.5, OAEP) and ECDH."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# dhSinglePass-stdDH-sha*kdf-scheme (RFC 5753 / SEC 1)
_ECDH_KDF_HASH = {
    "1.3.133.16.840.63.0.2": "sha1",
    "1.3.132.1.11.0": "sha224",
    "1.3.132.1.11.1": "sha256",
    "1.3.132.1.11.2": "sha384",
    "1.3.132.1.11.3": "sha512",
}
_WRAP_BITS = {
    "2.16.840.1.101.3.4.1.5": 128,
    "2.16.840.1.101.3.4.1.25": 192,
    "2.16.840.1.101.3.4.1.45": 256,
}


@dataclass(frozen=True, slots=True)
class DecryptionKey:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class _SharedInfo(core.Sequence):  # type: ignore[misc]
    """ECC-CMS-SharedInfo (RFC 5753 7.2), the KDF's input besides the shared secret."""

    _fields = [  # noqa: RUF012 - asn1crypto's schema protocol
        ("key_info", algos.AlgorithmIdentifier),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


def _matches(rid: cms.Asn1Value, cert: x509.Certificate) -> bool:
    if rid.name in ("issuer_and_serial_number",):
        chosen = rid.chosen
        return bool(
            chosen["serial_number"].native == cert.serial_number
            and chosen["issuer"].dump() == cert.issuer.public_bytes()
        )
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return False
    chosen = rid.chosen
    identifier = chosen["subject_key_identifier"] if rid.name == "r_key_id" else chosen
    return bool(identifier.native == ski)


def _ktri(info: cms.KeyTransRecipientInfo, key: rsa.RSAPrivateKey) -> bytes:
    algorithm = info["key_encryption_algorithm"]
    encrypted = info["encrypted_key"].native
    if algorithm["algorithm"].native == "rsaes_oaep":
        params = algorithm["parameters"]
        digest = _HASHES[params["hash_algorithm"]["algorithm"].native]()
        mgf_hash = _HASHES[params["mask_gen_algorithm"]["parameters"]["algorithm"].native]()
        label = params["p_source_algorithm"]["parameters"].native or None
        oaep = asym_padding.OAEP(asym_padding.MGF1(mgf_hash), digest, label)
        return key.decrypt(encrypted, oaep)
    return key.decrypt(encrypted, asym_padding.PKCS1v15())


def _kari(
    info: cms.KeyAgreeRecipientInfo, encrypted_key: bytes, key: ec.EllipticCurvePrivateKey
) -> bytes:
    originator = info["originator"].chosen
    # The ephemeral key's curve parameters may be omitted: they are the recipient's (RFC 5753).
    point = originator["public_key"].contents[1:]
    ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, point)
    shared = key.exchange(ec.ECDH(), ephemeral)
    scheme = info["key_encryption_algorithm"]
    kdf_hash = _ECDH_KDF_HASH[scheme["algorithm"].dotted]
    wrap = algos.AlgorithmIdentifier.load(scheme["parameters"].dump())
    bits = _WRAP_BITS[wrap["algorithm"].dotted]
    shared_info = {"key_info": wrap, "supp_pub_info": bits.to_bytes(4, "big")}
    if info["ukm"].native is not None:
        shared_info["entity_u_info"] = info["ukm"].native
    kek = X963KDF(
        algorithm=_HASHES[kdf_hash](), length=bits // 8, sharedinfo=_SharedInfo(shared_info).dump()
    ).derive(shared)
    return aes_key_unwrap(kek, encrypted_key)


def _content_key(enveloped: cms.EnvelopedData, candidate: DecryptionKey) -> bytes | None:
    for recipient in enveloped["recipient_infos"]:
        info = recipient.chosen
        if recipient.name == "ktri" and isinstance(candidate.key, rsa.RSAPrivateKey):
            if _matches(info["rid"], candidate.certificate):
                return _ktri(info, candidate.key)
        elif recipient.name == "kari" and isinstance(candidate.key, ec.EllipticCurvePrivateKey):
            for entry in info["recipient_encrypted_keys"]:
                if _matches(entry["rid"], candidate.certificate):
                    return _kari(info, entry["encrypted_key"].native, candidate.key)
    return None


def _decrypt_content(enveloped: cms.EnvelopedData, cek: bytes) -> bytes:
    content = enveloped["encrypted_content_info"]
    algorithm = content["content_encryption_algorithm"]
    name = algorithm["algorithm"].native
    if name not in ("aes128_cbc", "aes192_cbc", "aes256_cbc", "tripledes_3key"):
        raise ValueError(f"content encryption {name} is not supported")
    iv = algorithm["parameters"].native
    cipher = algorithms.AES(cek) if name.startswith("aes") else algorithms.TripleDES(cek)
    decryptor = Cipher(cipher, modes.CBC(iv)).decryptor()
    padded = decryptor.update(content["encrypted_content"].native) + decryptor.finalize()
    unpadder = padding.PKCS7(cipher.block_size).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def decrypt(der: bytes, keys: Sequence[DecryptionKey]) -> bytes | None:
    """The plaintext, or None when no key of ours opens it (or it cannot be read)."""
    try:
        info = cms.ContentInfo.load(der)
        enveloped = info["content"]
        for candidate in keys:
            cek = _content_key(enveloped, candidate)
            if cek is not None:
                return _decrypt_content(enveloped, cek)
    except (ValueError, TypeError, KeyError):
        return None
    return None
