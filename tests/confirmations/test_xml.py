"""The XML part: valid against eingangsbestaetigung.xsd and stating the item's facts."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
import xmlschema
from lxml import etree

from poststelle.confirmations.facts import DeliveryFacts, ItemFacts, NoticeCause, NoticeFacts
from poststelle.confirmations.xml import (
    NAMESPACE,
    SCHEMA,
    delivery_xml,
    notice_xml,
    receipt_xml,
)
from poststelle.devpki import DevelopmentPki, load_certificates
from poststelle.timestamp.client import verify_token
from tests.confirmations.conftest import CITIZEN, DOMAIN, LocalTimestamper, item_facts

NS = {"c": NAMESPACE}


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA))


def texts(xml: bytes, path: str) -> list[str]:
    return [str(e.text) for e in etree.fromstring(xml).iterfind(path, NS)]


def test_the_receipt_validates_and_states_the_facts(
    schema: xmlschema.XMLSchema, facts: ItemFacts, pki: DevelopmentPki
) -> None:
    xml = receipt_xml(facts)
    schema.validate(xml.decode("utf-8"))
    root = etree.fromstring(xml)
    assert root.get("kind") == "receipt"
    assert texts(xml, "c:RegistryNumber") == ["2026-000042"]
    assert texts(xml, "c:Sender") == [CITIZEN]
    assert texts(xml, "c:Recipient") == [f"bauamt@{DOMAIN}"]
    assert texts(xml, "c:Subject") == [facts.subject]
    assert datetime.fromisoformat(texts(xml, "c:ReceiptTime")[0]) == facts.received_at
    assert texts(xml, "c:ItemSHA256") == [facts.sha256]
    assert texts(xml, "c:Documents/c:Document/c:Name") == ["Bauantrag.pdf", "Lageplan.png"]
    assert texts(xml, "c:Documents/c:Document/c:SHA256") == [d.sha256 for d in facts.documents]
    assert texts(xml, "c:Verification/c:Verdict") == ["passed"]
    assert texts(xml, "c:Verification/c:Signature/c:Indication") == ["TOTAL_PASSED"]
    assert texts(xml, "c:Decision/c:ReplacesWrittenForm") == ["yes"]
    assert texts(xml, "c:Decision/c:Means") == ["qes"]


def test_the_token_in_the_receipt_is_over_the_item_hash(
    facts: ItemFacts, pki: DevelopmentPki
) -> None:
    (token,) = texts(receipt_xml(facts), "c:Timestamp/c:Token")
    checked = verify_token(
        base64.b64decode(token),
        bytes.fromhex(facts.sha256),
        load_certificates(pki.tsa_certificate),
    )
    (serial,) = texts(receipt_xml(facts), "c:Timestamp/c:SerialNumber")
    assert str(checked.serial_number) == serial


def test_a_receipt_before_the_decision_leaves_verification_and_decision_out(
    schema: xmlschema.XMLSchema, timestamper: LocalTimestamper
) -> None:
    xml = receipt_xml(item_facts(timestamper, decided=False))
    schema.validate(xml.decode("utf-8"))
    assert texts(xml, "c:Verification/c:Verdict") == []
    assert texts(xml, "c:Decision/c:ReplacesWrittenForm") == []


def test_the_schema_rejects_a_receipt_with_a_malformed_hash(
    schema: xmlschema.XMLSchema, facts: ItemFacts
) -> None:
    xml = receipt_xml(facts).replace(facts.sha256.encode(), b"not-a-hash", 1)
    assert not schema.is_valid(xml.decode("utf-8"))


def test_a_notice_validates_and_names_its_causes_and_requirements(
    schema: xmlschema.XMLSchema, facts: ItemFacts
) -> None:
    notice = NoticeFacts(
        facts,
        (
            NoticeCause("too_large", "Lageplan.png", "„Lageplan.png“ ist zu groß."),
            NoticeCause("clerk_rejected", "", "Kein Antrag."),
        ),
        "Zugelassen sind PDF/A-Dateien bis 20 MB.",
    )
    xml = notice_xml(notice)
    schema.validate(xml.decode("utf-8"))
    assert etree.fromstring(xml).get("kind") == "notice"
    assert texts(xml, "c:Notice/c:Cause/c:Kind") == ["too_large", "clerk_rejected"]
    assert texts(xml, "c:Notice/c:Cause/c:Document") == ["Lageplan.png"]
    assert texts(xml, "c:Notice/c:Requirements") == ["Zugelassen sind PDF/A-Dateien bis 20 MB."]


def test_a_delivery_record_validates_and_states_who_acknowledged_what_and_when(
    schema: xmlschema.XMLSchema,
) -> None:
    at = datetime(2026, 11, 26, 14, 2, tzinfo=UTC)
    sha = hashlib.sha256(b"item").hexdigest()
    xml = delivery_xml(
        DeliveryFacts("Stadt Übersee", "2026-000042", sha, "bauamt", "Frau Özdemir", at)
    )
    schema.validate(xml.decode("utf-8"))
    assert etree.fromstring(xml).get("kind") == "delivery-record"
    assert texts(xml, "c:ItemSHA256") == [sha]
    assert texts(xml, "c:Delivery/c:Department") == ["bauamt"]
    assert texts(xml, "c:Delivery/c:AcknowledgedBy") == ["Frau Özdemir"]
    assert datetime.fromisoformat(texts(xml, "c:Delivery/c:AcknowledgedAt")[0]) == at
