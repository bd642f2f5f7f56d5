"""A development PKI, an in-process TSA and the facts of one item, shared by these tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import tsp

from poststelle.confirmations.facts import (
    DecisionFact,
    DocumentFact,
    ItemFacts,
    SignatureFact,
    TimestampFact,
    VerificationFact,
)
from poststelle.confirmations.message import Issuer
from poststelle.confirmations.seal import Seal
from poststelle.devpki import DevelopmentPki, generate_development_pki, load_certificates
from poststelle.ports import TimestampToken
from poststelle.timestamp.asn1 import TimeStampResp
from poststelle.timestamp.authority import TimeStampAuthority
from poststelle.timestamp.client import verify_token

DOMAIN = "amt.test"
SENDER = f"poststelle@{DOMAIN}"
CITIZEN = "juergen.mueller@example.org"
ITEM = b"From: buerger@example.org\r\nSubject: Antrag\r\n\r\nIch beantrage die Baugenehmigung.\r\n"
RECEIVED = datetime(2026, 11, 25, 9, 15, 30, tzinfo=UTC)


class LocalTimestamper:
    """The `Timestamper` port served by the built-in TSA in this process, checked like HTTP."""

    def __init__(self, key: Path, certificate: Path) -> None:
        self.authority = TimeStampAuthority.from_files(key, certificate, "1.3.6.1.4.1.57264.2.1")
        self.trusted = load_certificates(certificate)
        self.calls = 0

    def timestamp(self, sha256_digest: bytes) -> TimestampToken:
        self.calls += 1
        request = tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": sha256_digest,
                },
                "cert_req": True,
            }
        ).dump()
        reply = TimeStampResp.load(self.authority.respond(request))
        return verify_token(reply["time_stamp_token"].dump(), sha256_digest, self.trusted)


@pytest.fixture(scope="package")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentPki:
    return generate_development_pki(
        tmp_path_factory.mktemp("confirmations") / "pki", domain=DOMAIN, hostnames=[DOMAIN]
    )


@pytest.fixture(scope="package")
def timestamper(pki: DevelopmentPki) -> LocalTimestamper:
    return LocalTimestamper(pki.tsa_key, pki.tsa_certificate)


@pytest.fixture(scope="package")
def issuer(pki: DevelopmentPki, timestamper: LocalTimestamper) -> Issuer:
    return Issuer(SENDER, Seal.load(pki.seal_key, pki.seal_certificate), timestamper)


def item_facts(timestamper: LocalTimestamper, *, decided: bool = True) -> ItemFacts:
    digest = hashlib.sha256(ITEM).digest()
    token = timestamper.timestamp(digest)
    return ItemFacts(
        authority="Stadtverwaltung Übersee",
        registry_number="2026-000042",
        sender=CITIZEN,
        recipients=(f"bauamt@{DOMAIN}",),
        subject="Antrag auf Baugenehmigung – Grundstück Gärtnerstraße 5",
        received_at=RECEIVED,
        sha256=digest.hex(),
        size=len(ITEM),
        timestamp=TimestampFact(
            token.token_der,
            token.gen_time_iso,
            token.tsa,
            str(token.serial_number),
            token.policy_oid,
        ),
        documents=(
            DocumentFact(
                "Bauantrag.pdf", "application/pdf", 48213, hashlib.sha256(b"a").hexdigest()
            ),
            DocumentFact("Lageplan.png", "image/png", 1200, hashlib.sha256(b"b").hexdigest()),
        ),
        verification=VerificationFact(
            "passed",
            (
                SignatureFact(
                    "Bauantrag.pdf",
                    "pades",
                    "TOTAL_PASSED",
                    "",
                    "CN=Jürgen Müller,C=DE",
                    datetime(2026, 11, 25, 8, 59, tzinfo=UTC),
                    "QESig",
                    "B-T",
                ),
            ),
        )
        if decided
        else None,
        decision=DecisionFact(
            "yes",
            "qes",
            "bauantrag",
            ("„Bauantrag.pdf“ trägt eine gültige qualifizierte elektronische Signatur.",),
        )
        if decided
        else None,
    )


@pytest.fixture(scope="package")
def facts(timestamper: LocalTimestamper) -> ItemFacts:
    return item_facts(timestamper)
