"""Confirm stage: send the sender exactly one signed Eingangsbestätigung, and a notice if unfit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from poststelle.confirmations.facts import (
    DocumentFact,
    ItemFacts,
    NoticeFacts,
    TimestampFact,
    decision_fact,
    verification_fact,
)
from poststelle.confirmations.message import Issuer
from poststelle.confirmations.notice import build_notice, unsuitability_causes
from poststelle.confirmations.receipt import build_receipt
from poststelle.confirmations.seal import Seal
from poststelle.decision.rules import Decision
from poststelle.model import Item
from poststelle.outbound import sending_once
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome, earlier_result
from poststelle.ports import OutboundMessage
from poststelle.stages.analyse import AnalysisRecord
from poststelle.stages.channel import ChannelRecord
from poststelle.stages.stamp import StampRecord
from poststelle.store.sql import SqlStore
from poststelle.verification.model import VerificationReport

Builder = Callable[[], bytes]
CONFIRMATION_MADE = "confirmation.made"


@dataclass(frozen=True, slots=True)
class ReceiptRecord:
    sent: bool
    key: str
    location: str
    reason: str
    notice_key: str = ""  # set when a § 3a notice went out too
    notice_location: str = ""


def issuer(services: Services) -> Issuer:
    """The seal and TSA that sign this installation's confirmations."""
    settings = services.config.receipts
    return Issuer(
        settings.sender,
        Seal.load(settings.seal_key, settings.seal_certificate),
        services.timestamper,
    )


def item_facts(item: Item, services: Services) -> ItemFacts:
    """What the stages so far established about the item, as a confirmation states it."""
    stamp = earlier_result(services, item, "stamp", StampRecord)
    analysis = earlier_result(services, item, "analyse", AnalysisRecord)
    report = earlier_result(services, item, "verify", VerificationReport)
    decision = earlier_result(services, item, "decide", Decision)
    return ItemFacts(
        authority=services.config.authority,
        registry_number=item.registry_number,
        sender=item.envelope.sender,
        recipients=item.envelope.recipients,
        subject=analysis.subject if analysis is not None else "",
        received_at=item.received_at,
        sha256=item.sha256,
        size=item.size,
        timestamp=TimestampFact(
            stamp.token_der, stamp.gen_time, stamp.tsa, stamp.serial_number, stamp.policy_oid
        )
        if stamp is not None
        else None,
        documents=tuple(
            DocumentFact(d.name or d.safe_name, d.content_type, d.size, d.sha256)
            for d in (analysis.documents if analysis is not None else ())
        ),
        verification=verification_fact(report) if report is not None else None,
        decision=decision_fact(decision) if decision is not None else None,
    )


def _send_once(services: Services, item: Item, key: str, recipient: str, build: Builder) -> str:
    """Build and send what `key` names unless it went out before (or is going out in another
    run: SendingElsewhere); the content is kept as a blob (journal event `confirmation.made`),
    so that it can be shown again later."""
    with sending_once(services.store, key) as sent:
        if sent is not None:
            return sent
        content = build()
        kept = services.blobs.put(content)
        services.store.note(item.id, CONFIRMATION_MADE, {"key": key, "sha256": kept.sha256})
        sender = services.config.receipts.sender
        location = services.outbox.send(OutboundMessage(key, sender, (recipient,), content))
        services.store.record_outbound(key, item.id, location)
        return location


def made_confirmation(store: SqlStore, item: Item, key: str) -> str | None:
    """SHA-256 of the blob holding the confirmation `key` of this item, once it was made."""
    made = [
        e.data["sha256"]
        for e in store.journal(item_id=item.id)
        if e.event == CONFIRMATION_MADE and e.data.get("key") == key
    ]
    return str(made[-1]) if made else None


def run(item: Item, services: Services) -> StageOutcome:
    key = f"receipt/{item.registry_number}"
    recipient = item.envelope.sender
    channel = earlier_result(services, item, "channel", ChannelRecord)
    unsent = ""
    if not recipient:
        unsent = "no sender address (null reverse-path)"
    elif channel is not None and channel.demail is not None and channel.demail.is_provider_message:
        unsent = "a De-Mail provider's confirmation or notification gets no receipt"
    if unsent:
        record = ReceiptRecord(False, key, "", unsent)
        return StageOutcome(record, {"sent": False, "reason": record.reason})
    now = datetime.now(UTC)

    def receipt() -> bytes:
        return build_receipt(
            item_facts(item, services), issuer(services), recipient=recipient, issued_at=now
        )

    location = _send_once(services, item, key, recipient, receipt)
    record = ReceiptRecord(True, key, location, "")
    decision = earlier_result(services, item, "decide", Decision)
    if decision is not None and decision.unsuitable:
        notice_key = f"notice/{item.registry_number}"
        procedure = services.procedures.for_envelope(item.envelope)
        unsuitable = decision.unsuitable

        def notice() -> bytes:
            facts = NoticeFacts(
                item_facts(item, services),
                unsuitability_causes(unsuitable),
                procedure.requirements,
            )
            return build_notice(facts, issuer(services), recipient=recipient, issued_at=now)

        notice_location = _send_once(services, item, notice_key, recipient, notice)
        record = ReceiptRecord(True, key, location, "", notice_key, notice_location)
    summary = {"sent": True, "key": key, "to": recipient}
    if record.notice_key:
        summary["notice"] = record.notice_key
    return StageOutcome(record, summary)
