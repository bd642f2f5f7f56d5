"""Confirmations a person's action makes owed: the notice of a clerk's rejection, and the
Zustellnachweis of a department's acknowledgement; each made once, retried until it is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from poststelle.confirmations.delivery import build_delivery_mail, build_delivery_record
from poststelle.confirmations.facts import DeliveryFacts, NoticeFacts
from poststelle.confirmations.notice import build_notice, rejection_cause
from poststelle.model import Item, ItemState
from poststelle.outbound import sending_once
from poststelle.pipeline.services import Services
from poststelle.ports import OutboundMessage
from poststelle.stages.confirm import issuer, item_facts

log = structlog.get_logger("poststelle.followups")

REJECTION = "rejection/"
DELIVERY = "delivery/"
NOT_SENT = "not-sent: "  # an outbound location that records why nothing went out


def _record(services: Services, key: str, item: Item, location: str) -> None:
    sent = not location.startswith(NOT_SENT)
    event = "mail.sent" if sent else "mail.not_needed"
    services.store.record_outbound(key, item.id, location, event=event)


def _last(services: Services, item: Item, *events: str) -> dict[str, object] | None:
    found = [e for e in services.store.journal(item_id=item.id) if e.event in events]
    return dict(found[-1].data) | {"event": found[-1].event, "at": found[-1].at} if found else None


def _send(services: Services, item: Item, key: str, content: bytes) -> str:
    sender = services.config.receipts.sender
    message = OutboundMessage(key, sender, (item.envelope.sender,), content)
    return services.outbox.send(message)


def _once(services: Services, key: str, make: Callable[[], str]) -> str:
    """`make` the confirmation `key` names unless it was made before (or is being made)."""
    with sending_once(services.store, key) as settled:
        return settled if settled is not None else make()


def settle_rejection(item: Item, services: Services) -> str:
    """Send the § 3a notice of a clerk's rejection; a spam marking and an item without a
    sender address owe none, which is recorded too. Returns the outbound location."""
    key = REJECTION + item.registry_number
    return _once(services, key, lambda: _reject(item, services, key))


def _reject(item: Item, services: Services, key: str) -> str:
    rejected = _last(services, item, "clerk.rejected", "clerk.not_an_application")
    if rejected is None or rejected["event"] != "clerk.rejected":
        location = NOT_SENT + "not an application"
    elif not item.envelope.sender:
        location = NOT_SENT + "no sender address"
    else:
        edited = str(rejected.get("requirements", ""))
        notice = NoticeFacts(
            item_facts(item, services),
            (rejection_cause(str(rejected.get("reason", ""))),),
            edited or services.procedures.for_envelope(item.envelope).requirements,
        )
        content = build_notice(
            notice, issuer(services), recipient=item.envelope.sender, issued_at=datetime.now(UTC)
        )
        location = _send(services, item, key, content)
    _record(services, key, item, location)
    return location


def settle_delivery(item: Item, services: Services) -> str:
    """Seal the Zustellnachweis of the department's acknowledgement, keep it with the item,
    and mail it to the sender where the procedure says so. Returns the outbound location."""
    key = DELIVERY + item.registry_number
    return _once(services, key, lambda: _deliver(item, services, key))


def _deliver(item: Item, services: Services, key: str) -> str:
    acknowledged = _last(services, item, "department.acknowledged")
    if acknowledged is None:
        raise ValueError(f"{item.registry_number} was not acknowledged")
    at = acknowledged["at"]
    assert isinstance(at, datetime)
    facts = DeliveryFacts(
        authority=services.config.authority,
        registry_number=item.registry_number,
        sha256=item.sha256,
        department=str(acknowledged["department"]),
        acknowledged_by=str(acknowledged["by"]),
        acknowledged_at=at,
    )
    sign = issuer(services)
    record = build_delivery_record(facts, sign.seal)
    xml, signature = services.blobs.put(record.xml), services.blobs.put(record.signature)
    services.store.note(
        item.id,
        "delivery_record.created",
        {"xml_sha256": xml.sha256, "signature_sha256": signature.sha256},
    )
    procedure = services.procedures.for_envelope(item.envelope)
    if procedure.delivery_record_to_sender and item.envelope.sender:
        subject = item_facts(item, services).subject
        content = build_delivery_mail(
            facts,
            record,
            sign,
            subject=subject,
            recipient=item.envelope.sender,
            issued_at=datetime.now(UTC),
        )
        location = _send(services, item, key, content)
    else:
        location = NOT_SENT + "kept with the item; the procedure does not mail it"
    _record(services, key, item, location)
    return location


OWED = (
    (ItemState.REJECTED, REJECTION, settle_rejection),
    (ItemState.ACKNOWLEDGED, DELIVERY, settle_delivery),
)


def settle_item(item_id: str, services: Services) -> None:
    """Make what this item is owed now (right after the action); raises if that fails, and
    the reconciler's next sweep tries again."""
    item = services.store.item(item_id)
    if item is None:
        return
    for state, prefix, settle in OWED:
        owed = services.store.outbound_location(prefix + item.registry_number) is None
        if item.state is state and owed:
            settle(item, services)


def settle_owed(services: Services) -> int:
    """Make every confirmation still owed; one that fails is tried again on the next call."""
    done = 0
    for state, prefix, settle in OWED:
        for item in services.store.items_owing(state, prefix):
            try:
                settle(item, services)
                done += 1
            except Exception as exc:  # the next sweep tries again
                log.warning("followup.failed", registry_number=item.registry_number, error=str(exc))
    return done
