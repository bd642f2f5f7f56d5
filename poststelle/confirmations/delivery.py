"""The Zustellnachweis: a sealed record that a department acknowledged an item."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.confirmations.facts import DeliveryFacts
from poststelle.confirmations.seal import Seal
from poststelle.confirmations.smime import detached_signature
from poststelle.confirmations.xml import delivery_xml


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    xml: bytes  # kind "delivery-record" of eingangsbestaetigung.xsd
    signature: bytes  # detached CMS SignedData (DER) over `xml` exactly as it is


def build_delivery_record(facts: DeliveryFacts, seal: Seal) -> DeliveryRecord:
    xml = delivery_xml(facts)
    return DeliveryRecord(xml, detached_signature(xml, seal))
