"""A built-in RFC 3161 time-stamp authority (EC key, ESS signing-certificate-v2), not qualified."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from poststelle.devpki import load_certificates, load_private_key
from poststelle.timestamp.asn1 import TimeStampResp

ACCEPTED_HASHES = {"sha256": 32, "sha384": 48, "sha512": 64}


def _rejection(fail_info: str, text: str) -> bytes:
    der: bytes = TimeStampResp(
        {
            "status": {
                "status": "rejection",
                "status_string": [text],
                "fail_info": tsp.PKIFailureInfo({fail_info}),
            }
        }
    ).dump()
    return der


class TimeStampAuthority:
    """Answers TimeStampReq DER with TimeStampResp DER; never raises for bad requests."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        certificate_der: bytes,
        policy_oid: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._key = key
        self._cert = asn1_x509.Certificate.load(certificate_der)
        self._policy = policy_oid
        self._clock = clock
        # Not SHA-256, ESSCertIDv2's DEFAULT: DER leaves it out, and asn1crypto parses a left-out
        # default as a mutated value, so re-encoding the token (pyHanko does when a length
        # happens to end in byte 0x80, asn1crypto issue 249) would cost 2^depth encodings.
        self._cert_hash = hashlib.sha512(certificate_der).digest()

    @classmethod
    def from_files(cls, key: Path, certificate: Path, policy_oid: str) -> TimeStampAuthority:
        cert = load_certificates(certificate)[0]
        return cls(load_private_key(key), cert.public_bytes(serialization.Encoding.DER), policy_oid)

    def respond(self, request_der: bytes) -> bytes:
        try:
            request = tsp.TimeStampReq.load(request_der, strict=True)
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            nonce = request["nonce"].native
            cert_req = bool(request["cert_req"].native)
            requested_policy = (
                request["req_policy"].dotted if request["req_policy"].native else None
            )
        except (ValueError, TypeError, KeyError):
            return _rejection("bad_request", "the request is not a valid TimeStampReq")
        if algorithm not in ACCEPTED_HASHES:
            return _rejection("bad_alg", f"hash algorithm {algorithm} is not accepted")
        if len(digest) != ACCEPTED_HASHES[algorithm]:
            return _rejection("bad_data_format", "the digest length does not fit its algorithm")
        if requested_policy is not None and requested_policy != self._policy:
            return _rejection("unaccepted_policy", f"only policy {self._policy} is offered")
        der: bytes = self._token(imprint, nonce, cert_req).dump()
        return der

    def _token(
        self, imprint: tsp.MessageImprint, nonce: int | None, cert_req: bool
    ) -> tsp.TimeStampResp:
        now = self._clock().astimezone(UTC).replace(microsecond=0)
        info = {
            "version": "v1",
            "policy": self._policy,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(127) | 1,
            "gen_time": now,
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": asn1_x509.GeneralName(name="directory_name", value=self._cert.subject),
        }
        if nonce is not None:
            info["nonce"] = nonce
        tst_der = tsp.TSTInfo(info).dump()
        signed_attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "signing_time", "values": [cms.Time({"utc_time": now})]},
                {"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]},
                {
                    "type": "signing_certificate_v2",
                    "values": [
                        tsp.SigningCertificateV2(
                            {
                                "certs": [
                                    {
                                        "hash_algorithm": {"algorithm": "sha512"},
                                        "cert_hash": self._cert_hash,
                                        "issuer_serial": {
                                            "issuer": [
                                                asn1_x509.GeneralName(
                                                    name="directory_name",
                                                    value=self._cert.issuer,
                                                )
                                            ],
                                            "serial_number": self._cert.serial_number,
                                        },
                                    }
                                ]
                            }
                        )
                    ],
                },
            ]
        )
        signature = self._key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": self._cert.issuer,
                            "serial_number": self._cert.serial_number,
                        }
                    }
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        signed_data = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": core.ParsableOctetString(tst_der),
                },
                "certificates": [self._cert] if cert_req else None,
                "signer_infos": [signer],
            }
        )
        return TimeStampResp(
            {
                "status": {"status": "granted"},
                "time_stamp_token": cms.ContentInfo(
                    {"content_type": "signed_data", "content": signed_data}
                ),
            }
        )
