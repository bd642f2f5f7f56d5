"""The Zustellnachweis: a sealed record that a department acknowledged an item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from poststelle.confirmations.facts import ConfirmationKind, DeliveryFacts
from poststelle.confirmations.message import Issuer, mail_entity, mail_headers
from poststelle.confirmations.seal import Seal
from poststelle.confirmations.smime import detached_signature, sign_entity
from poststelle.confirmations.wording import local_time
from poststelle.confirmations.xml import delivery_xml


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    xml: bytes  # kind "delivery-record" of eingangsbestaetigung.xsd
    signature: bytes  # detached CMS SignedData (DER) over `xml` exactly as it is


def build_delivery_record(facts: DeliveryFacts, seal: Seal) -> DeliveryRecord:
    xml = delivery_xml(facts)
    return DeliveryRecord(xml, detached_signature(xml, seal))


def delivery_text(facts: DeliveryFacts, subject: str) -> str:
    return (
        f"Ihre Nachricht „{subject}“ (Registriernummer {facts.registry_number}) wurde am "
        f"{local_time(facts.acknowledged_at)} von der zuständigen Stelle ({facts.department}) "
        f"bei {facts.authority} entgegengenommen.\n\n"
        "Der beigefügte Zustellnachweis (XML) ist mit dem Siegel der Behörde elektronisch "
        "signiert (Zustellnachweis-….p7s, CMS); er nennt den SHA-256-Wert Ihrer Nachricht "
        f"({facts.sha256}).\n"
    )


def build_delivery_mail(
    facts: DeliveryFacts,
    record: DeliveryRecord,
    issuer: Issuer,
    *,
    subject: str,
    recipient: str,
    issued_at: datetime,
) -> bytes:
    """The Zustellnachweis as a signed mail to the sender: text, the XML and its signature."""
    basename = f"Zustellnachweis-{facts.registry_number}"
    entity = mail_entity(
        delivery_text(facts, subject),
        (
            (f"{basename}.xml", "application/xml", record.xml),
            (f"{basename}.p7s", "application/pkcs7-signature", record.signature),
        ),
    )
    headers = mail_headers(
        ConfirmationKind.DELIVERY_RECORD,
        facts.registry_number,
        f"*Zustellnachweis* {subject}".rstrip(),
        sender=issuer.sender,
        recipient=recipient,
        issued_at=issued_at,
    )
    return headers + sign_entity(entity, issuer.seal)
