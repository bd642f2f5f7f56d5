"""The machine-readable confirmation: XML in the namespace of eingangsbestaetigung.xsd."""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path

from lxml import etree

from poststelle.confirmations.facts import (
    ConfirmationKind,
    DecisionFact,
    DeliveryFacts,
    ItemFacts,
    NoticeFacts,
    TimestampFact,
    VerificationFact,
)

NAMESPACE = "urn:poststelle:eingangsbestaetigung:1"
SCHEMA = Path(__file__).with_name("eingangsbestaetigung.xsd")
VERSION = "1"


def _child(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NAMESPACE}}}{name}")
    if text is not None:
        element.text = text
    return element


def _time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone")
    return moment.isoformat()


def _root(
    kind: ConfirmationKind, authority: str, registry_number: str, sha256: str
) -> etree._Element:
    root = etree.Element(f"{{{NAMESPACE}}}Confirmation", nsmap={None: NAMESPACE})
    root.set("kind", kind.value)
    root.set("version", VERSION)
    _child(root, "Authority", authority)
    _child(root, "RegistryNumber", registry_number)
    _child(root, "ItemSHA256", sha256)
    return root


def _timestamp(parent: etree._Element, stamp: TimestampFact) -> None:
    element = _child(parent, "Timestamp")
    _child(element, "Token", base64.b64encode(stamp.token_der).decode("ascii"))
    _child(element, "GenTime", stamp.gen_time)
    _child(element, "TSA", stamp.tsa)
    _child(element, "SerialNumber", stamp.serial_number)
    _child(element, "Policy", stamp.policy_oid)


def _verification(parent: etree._Element, verification: VerificationFact) -> None:
    element = _child(parent, "Verification")
    _child(element, "Verdict", verification.verdict)
    for signature in verification.signatures:
        sig = _child(element, "Signature")
        _child(sig, "Document", signature.document)
        _child(sig, "Format", signature.format)
        _child(sig, "Indication", signature.indication)
        if signature.sub_indication:
            _child(sig, "SubIndication", signature.sub_indication)
        if signature.signer:
            _child(sig, "Signer", signature.signer)
        if signature.signing_time is not None:
            _child(sig, "SigningTime", _time(signature.signing_time))
        _child(sig, "Qualification", signature.qualification)
        _child(sig, "Level", signature.level)


def _decision(parent: etree._Element, decision: DecisionFact) -> None:
    element = _child(parent, "Decision")
    _child(element, "ReplacesWrittenForm", decision.outcome)
    if decision.means:
        _child(element, "Means", decision.means)
    _child(element, "Procedure", decision.procedure)
    for reason in decision.reasons:
        _child(element, "Reason", reason)


def _item(root: etree._Element, facts: ItemFacts) -> None:
    _child(root, "Sender", facts.sender)
    for recipient in facts.recipients:
        _child(root, "Recipient", recipient)
    _child(root, "Subject", facts.subject)
    _child(root, "ReceiptTime", _time(facts.received_at))
    _child(root, "ItemSize", str(facts.size))
    if facts.timestamp is not None:
        _timestamp(root, facts.timestamp)
    documents = _child(root, "Documents")
    for document in facts.documents:
        element = _child(documents, "Document")
        _child(element, "Name", document.name)
        _child(element, "ContentType", document.content_type)
        _child(element, "Size", str(document.size))
        _child(element, "SHA256", document.sha256)
    if facts.verification is not None:
        _verification(root, facts.verification)
    if facts.decision is not None:
        _decision(root, facts.decision)


def _serialise(root: etree._Element) -> bytes:
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data


def receipt_xml(facts: ItemFacts) -> bytes:
    root = _root(ConfirmationKind.RECEIPT, facts.authority, facts.registry_number, facts.sha256)
    _item(root, facts)
    return _serialise(root)


def notice_xml(notice: NoticeFacts) -> bytes:
    facts = notice.item
    root = _root(ConfirmationKind.NOTICE, facts.authority, facts.registry_number, facts.sha256)
    _item(root, facts)
    element = _child(root, "Notice")
    for cause in notice.causes:
        entry = _child(element, "Cause")
        _child(entry, "Kind", cause.kind)
        if cause.document:
            _child(entry, "Document", cause.document)
        _child(entry, "Detail", cause.detail_de)
    _child(element, "Requirements", notice.requirements)
    return _serialise(root)


def delivery_xml(facts: DeliveryFacts) -> bytes:
    root = _root(
        ConfirmationKind.DELIVERY_RECORD, facts.authority, facts.registry_number, facts.sha256
    )
    element = _child(root, "Delivery")
    _child(element, "Department", facts.department)
    _child(element, "AcknowledgedBy", facts.acknowledged_by)
    _child(element, "AcknowledgedAt", _time(facts.acknowledged_at))
    return _serialise(root)
