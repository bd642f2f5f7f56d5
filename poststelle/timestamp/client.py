"""RFC 3161 client: ask a TSA for a token over a digest and check what comes back."""

from __future__ import annotations

import hashlib
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from poststelle.devpki import load_certificates
from poststelle.ports import TimestampToken
from poststelle.timestamp.asn1 import TimeStampResp

MAX_RESPONSE_BYTES = 1 << 20
_DIGESTS: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class TimestampError(Exception):
    """No usable token: the TSA refused, was unreachable, or its answer does not check out."""


def _verify_signature(cert: x509.Certificate, signature: bytes, data: bytes, digest: str) -> None:
    key = cert.public_key()
    algorithm = _DIGESTS[digest]()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(algorithm))
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    else:
        raise TimestampError(f"unsupported TSA key type {type(key).__name__}")


def _is_trusted(cert: x509.Certificate, trusted: Sequence[x509.Certificate]) -> bool:
    for anchor in trusted:
        if cert == anchor:
            return True
        try:
            cert.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


def verify_token(
    token_der: bytes, sha256_digest: bytes, trusted: Sequence[x509.Certificate]
) -> TimestampToken:
    """Check a TimeStampToken: imprint, CMS signature, signing certificate trusted."""
    try:
        content = cms.ContentInfo.load(token_der, strict=True)
        signed = content["content"]
        tst = signed["encap_content_info"]["content"].parsed
        imprint = tst["message_imprint"]
        (signer,) = signed["signer_infos"]
        certs = [
            x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"] or []
        ]
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError(f"the token is malformed: {exc}") from exc
    if imprint["hash_algorithm"]["algorithm"].native != "sha256" or (
        imprint["hashed_message"].native != sha256_digest
    ):
        raise TimestampError("the token is over a different digest")
    sid = signer["sid"].chosen
    matching = [
        c
        for c in certs
        if c.serial_number == sid["serial_number"].native
        and c.issuer.public_bytes() == sid["issuer"].dump()
    ]
    if not matching:
        raise TimestampError("the token does not carry its signing certificate")
    cert = matching[0]
    digest_name = signer["digest_algorithm"]["algorithm"].native
    if digest_name not in _DIGESTS:
        raise TimestampError(f"unsupported digest algorithm {digest_name}")
    attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    econtent = signed["encap_content_info"]["content"].contents
    expected = hashlib.new(digest_name, econtent).digest()
    if attrs.get("message_digest") is None or attrs["message_digest"].native != expected:
        raise TimestampError("the token's message digest does not match its content")
    signed_attrs = b"\x31" + signer["signed_attrs"].dump()[1:]
    try:
        _verify_signature(cert, signer["signature"].native, signed_attrs, digest_name)
    except InvalidSignature as exc:
        raise TimestampError("the token's signature is not valid") from exc
    if trusted and not _is_trusted(cert, trusted):
        raise TimestampError(f"the TSA certificate {cert.subject.rfc4514_string()} is not trusted")
    return TimestampToken(
        token_der=token_der,
        gen_time_iso=tst["gen_time"].native.isoformat(),
        serial_number=int(tst["serial_number"].native),
        policy_oid=tst["policy"].dotted,
        tsa=cert.subject.rfc4514_string(),
    )


class HttpTimestamper:
    """The `Timestamper` port over HTTP (RFC 3161 section 3.4)."""

    def __init__(
        self, url: str, *, trusted_certificates: Sequence[Path] = (), timeout: float = 10.0
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.trusted = [c for path in trusted_certificates for c in load_certificates(path)]

    def timestamp(self, sha256_digest: bytes) -> TimestampToken:
        nonce = secrets.randbits(63)
        request = tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": sha256_digest,
                },
                "nonce": nonce,
                "cert_req": True,
            }
        ).dump()
        http_request = urllib.request.Request(  # noqa: S310 - the URL is the configured TSA
            self.url,
            data=request,
            headers={"Content-Type": "application/timestamp-query"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout) as response:  # noqa: S310
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except (urllib.error.URLError, OSError) as exc:
            raise TimestampError(f"the TSA at {self.url} cannot be reached: {exc}") from exc
        if len(body) > MAX_RESPONSE_BYTES:
            raise TimestampError("the TSA's answer is too large")
        try:
            reply = TimeStampResp.load(body, strict=True)
            status = reply["status"]["status"].native
        except (ValueError, TypeError) as exc:
            raise TimestampError(f"the TSA's answer is not a TimeStampResp: {exc}") from exc
        if status not in ("granted", "granted_with_mods"):
            text = reply["status"]["status_string"].native or []
            raise TimestampError(f"the TSA refused: {status} {' '.join(text)}".strip())
        token = reply["time_stamp_token"]
        tst = token["content"]["encap_content_info"]["content"].parsed
        if tst["nonce"].native != nonce:
            raise TimestampError("the TSA's answer carries the wrong nonce")
        return verify_token(token.dump(), sha256_digest, self.trusted)
