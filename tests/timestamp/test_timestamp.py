"""The built-in TSA and the RFC 3161 client: tokens openssl accepts, answers that are checked."""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette

from poststelle.devpki import DevelopmentPki, generate_development_pki, load_certificates
from poststelle.timestamp.asgi import tsa_routes
from poststelle.timestamp.asn1 import TimeStampResp
from poststelle.timestamp.authority import TimeStampAuthority
from poststelle.timestamp.client import HttpTimestamper, TimestampError, verify_token
from tests.e2e.conftest import free_port, port_open, wait_for

POLICY = "1.3.6.1.4.1.57264.2.1"
DIGEST = hashlib.sha256(b"Antrag").digest()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentPki:
    return generate_development_pki(
        tmp_path_factory.mktemp("pki") / "pki", domain="amt.test", hostnames=["amt.test"]
    )


@pytest.fixture(scope="module")
def authority(pki: DevelopmentPki) -> TimeStampAuthority:
    return TimeStampAuthority.from_files(pki.tsa_key, pki.tsa_certificate, POLICY)


@pytest.fixture(scope="module")
def tsa_url(authority: TimeStampAuthority) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=tsa_routes(authority)), port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: port_open(port), 10, "the TSA to listen")
    yield f"http://127.0.0.1:{port}/tsa"
    server.should_exit = True
    thread.join(10)


def request(digest: bytes = DIGEST, algorithm: str = "sha256", **extra: object) -> bytes:
    return tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": algorithm},
                "hashed_message": digest,
            },
            "cert_req": True,
            **extra,
        }
    ).dump()


def openssl_verify(
    reply: Path, pki: DevelopmentPki, digest: bytes
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "openssl", "ts", "-verify", "-digest", digest.hex(), "-in", str(reply),
            "-CAfile", str(pki.root_certificate), "-untrusted", str(pki.tsa_certificate),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_a_token_verifies_with_openssl(
    authority: TimeStampAuthority, pki: DevelopmentPki, tmp_path: Path
) -> None:
    reply = tmp_path / "reply.tsr"
    reply.write_bytes(authority.respond(request(nonce=7)))
    done = openssl_verify(reply, pki, DIGEST)
    assert done.returncode == 0, done.stderr
    assert "Verification: OK" in done.stdout


def test_openssl_rejects_the_token_for_another_digest(
    authority: TimeStampAuthority, pki: DevelopmentPki, tmp_path: Path
) -> None:
    reply = tmp_path / "reply.tsr"
    reply.write_bytes(authority.respond(request()))
    assert openssl_verify(reply, pki, hashlib.sha256(b"other").digest()).returncode != 0


def test_the_token_names_the_policy_and_carries_ess_signing_certificate_v2(
    authority: TimeStampAuthority,
) -> None:
    reply = TimeStampResp.load(authority.respond(request()))
    signed = reply["time_stamp_token"]["content"]
    tst = signed["encap_content_info"]["content"].parsed
    attributes = {a["type"].native for a in signed["signer_infos"][0]["signed_attrs"]}
    assert tst["policy"].dotted == POLICY
    assert "signing_certificate_v2" in attributes
    assert signed["signer_infos"][0]["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"


def test_the_certificate_id_states_its_hash_algorithm(
    authority: TimeStampAuthority, pki: DevelopmentPki
) -> None:
    """A left-out default (SHA-256) makes asn1crypto rebuild the token 2^depth times when
    pyHanko re-encodes it (asn1crypto issue 249): seconds of CPU per sealed receipt."""
    reply = TimeStampResp.load(authority.respond(request()))
    signed = reply["time_stamp_token"]["content"]
    (attribute,) = [
        a
        for a in signed["signer_infos"][0]["signed_attrs"]
        if a["type"].native == "signing_certificate_v2"
    ]
    cert_id = attribute["values"][0]["certs"][0]
    assert cert_id["hash_algorithm"]["algorithm"].native == "sha512"
    assert b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x03" in cert_id.contents  # written out
    certificate = Path(pki.tsa_certificate).read_bytes()
    der = x509.load_pem_x509_certificate(certificate).public_bytes(serialization.Encoding.DER)
    assert cert_id["cert_hash"].native == hashlib.sha512(der).digest()


def test_sha1_is_refused_with_bad_alg(authority: TimeStampAuthority) -> None:
    reply = TimeStampResp.load(authority.respond(request(hashlib.sha1(b"x").digest(), "sha1")))  # noqa: S324
    assert reply["status"]["status"].native == "rejection"
    assert reply["status"]["fail_info"].native == {"bad_alg"}


def test_garbage_is_refused_with_bad_request(authority: TimeStampAuthority) -> None:
    reply = TimeStampResp.load(authority.respond(b"\x30\x03garbage"))
    assert reply["status"]["fail_info"].native == {"bad_request"}


def test_serial_numbers_do_not_repeat(authority: TimeStampAuthority) -> None:
    serials = {
        TimeStampResp.load(authority.respond(request()))["time_stamp_token"]["content"][
            "encap_content_info"
        ]["content"]
        .parsed["serial_number"]
        .native
        for _ in range(200)
    }
    assert len(serials) == 200


def test_the_client_gets_a_checked_token_over_http(tsa_url: str, pki: DevelopmentPki) -> None:
    token = HttpTimestamper(tsa_url, trusted_certificates=[pki.tsa_certificate]).timestamp(DIGEST)
    assert token.policy_oid == POLICY
    assert "Zeitstempeldienst" in token.tsa
    assert abs(time.time() - _epoch(token.gen_time_iso)) < 60


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def test_the_client_refuses_an_untrusted_tsa(tsa_url: str, tmp_path: Path) -> None:
    other = generate_development_pki(tmp_path / "other", domain="x.test", hostnames=["x.test"])
    client = HttpTimestamper(tsa_url, trusted_certificates=[other.root_certificate])
    with pytest.raises(TimestampError, match="not trusted"):
        client.timestamp(DIGEST)


def test_a_token_signed_under_a_trusted_root_is_accepted(tsa_url: str, pki: DevelopmentPki) -> None:
    client = HttpTimestamper(tsa_url, trusted_certificates=[pki.root_certificate])
    assert client.timestamp(DIGEST).token_der


def test_the_client_reports_an_unreachable_tsa() -> None:
    client = HttpTimestamper(f"http://127.0.0.1:{free_port()}/tsa", timeout=2)
    with pytest.raises(TimestampError, match="cannot be reached"):
        client.timestamp(DIGEST)


def test_a_token_is_rejected_for_another_digest(
    authority: TimeStampAuthority, pki: DevelopmentPki
) -> None:
    token = TimeStampResp.load(authority.respond(request()))["time_stamp_token"].dump()
    trusted = load_certificates(pki.tsa_certificate)
    assert verify_token(token, DIGEST, trusted).policy_oid == POLICY
    with pytest.raises(TimestampError, match="different digest"):
        verify_token(token, hashlib.sha256(b"x").digest(), trusted)


def test_a_tampered_token_is_rejected(authority: TimeStampAuthority, pki: DevelopmentPki) -> None:
    token = bytearray(TimeStampResp.load(authority.respond(request()))["time_stamp_token"].dump())
    token[-10] ^= 0x01  # inside the ECDSA signature
    with pytest.raises(TimestampError):
        verify_token(bytes(token), DIGEST, load_certificates(pki.tsa_certificate))


def test_the_http_endpoint_wants_the_rfc_3161_media_type(tsa_url: str) -> None:
    import urllib.error
    import urllib.request

    wrong = urllib.request.Request(tsa_url, data=request(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(wrong, timeout=5)
    assert caught.value.code == 415
