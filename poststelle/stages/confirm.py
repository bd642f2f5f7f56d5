"""Confirm stage: send the sender exactly one Eingangsbestätigung."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.confirmations.receipt import ReceiptDocument, ReceiptFacts, build_receipt
from poststelle.model import Item
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome, earlier_result
from poststelle.ports import OutboundMessage
from poststelle.stages.analyse import AnalysisRecord
from poststelle.stages.stamp import StampRecord


@dataclass(frozen=True, slots=True)
class ReceiptRecord:
    sent: bool
    key: str
    location: str
    reason: str


def run(item: Item, services: Services) -> StageOutcome:
    key = f"receipt/{item.registry_number}"
    recipient = item.envelope.sender
    if not recipient:
        record = ReceiptRecord(False, key, "", "no sender address (null reverse-path)")
        return StageOutcome(record, {"sent": False, "reason": record.reason})
    location = services.store.outbound_location(key)
    if location is None:
        content = build_receipt(
            _facts(item, services), sender=services.config.receipts.sender, recipient=recipient
        )
        location = services.outbox.send(
            OutboundMessage(key, services.config.receipts.sender, (recipient,), content)
        )
        services.store.record_outbound(key, item.id, location)
    record = ReceiptRecord(True, key, location, "")
    return StageOutcome(record, {"sent": True, "key": key, "to": recipient})


def _facts(item: Item, services: Services) -> ReceiptFacts:
    stamp = earlier_result(services, item, "stamp", StampRecord)
    analysis = earlier_result(services, item, "analyse", AnalysisRecord)
    documents = (
        [ReceiptDocument(d.name, d.content_type, d.size, d.sha256) for d in analysis.documents]
        if analysis is not None
        else []
    )
    return ReceiptFacts(
        authority=services.config.authority,
        item=item,
        subject=analysis.subject if analysis is not None else "",
        timestamp_gen_time=stamp.gen_time if stamp is not None else "",
        timestamp_tsa=stamp.tsa if stamp is not None else "",
        documents=documents,
    )
