"""The Zustellnachweis: XML of kind delivery-record with a detached CMS signature by the seal."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import xmlschema

from poststelle.confirmations.delivery import build_delivery_record
from poststelle.confirmations.facts import DeliveryFacts
from poststelle.confirmations.message import Issuer
from poststelle.confirmations.xml import SCHEMA
from poststelle.devpki import DevelopmentPki

FACTS = DeliveryFacts(
    authority="Stadtverwaltung Übersee",
    registry_number="2026-000042",
    sha256=hashlib.sha256(b"item").hexdigest(),
    department="bauamt",
    acknowledged_by="Frau Özdemir",
    acknowledged_at=datetime(2026, 11, 26, 14, 2, tzinfo=UTC),
)


def verify(
    xml: bytes, signature: bytes, pki: DevelopmentPki, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "record.xml").write_bytes(xml)
    (tmp_path / "record.p7s").write_bytes(signature)
    return subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "record.p7s"),
            "-content",
            str(tmp_path / "record.xml"),
            "-CAfile",
            str(pki.root_certificate),
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_delivery_record_is_valid_xml_signed_by_the_seal(
    issuer: Issuer, pki: DevelopmentPki, tmp_path: Path
) -> None:
    record = build_delivery_record(FACTS, issuer.seal)
    xmlschema.XMLSchema(str(SCHEMA)).validate(record.xml.decode("utf-8"))
    assert FACTS.sha256.encode() in record.xml
    done = verify(record.xml, record.signature, pki, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Verification successful" in done.stderr


def test_a_changed_delivery_record_no_longer_verifies(
    issuer: Issuer, pki: DevelopmentPki, tmp_path: Path
) -> None:
    record = build_delivery_record(FACTS, issuer.seal)
    changed = record.xml.replace(b"bauamt", b"hauptamt")
    done = verify(changed, record.signature, pki, tmp_path)
    assert done.returncode != 0
