"""Channel stage: what the channel establishes about the sender (De-Mail, eID identification)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from poststelle.demail.headers import MessageType, is_demail
from poststelle.demail.sender_confirmed import DemailFinding, verify_demail
from poststelle.eid.saml import EidFinding
from poststelle.model import Channel, Item
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome
from poststelle.serialize import from_jsonable
from poststelle.verification.formats import VerificationContext
from poststelle.verification.model import SignatureReport
from poststelle.verification.trust import fetching

EID_METADATA = "eid"  # envelope metadata key under which the upload API keeps the eID finding


@dataclass(frozen=True, slots=True)
class DemailRecord:
    """The De-Mail facts of an item: its type, the provider's integrity signature, and
    whether it is absenderbestätigt (sender-confirmed), with the reasons."""

    message_type: str
    demail_message_id: str
    sender: str
    protection: str  # none / hash-only / signed
    report: SignatureReport | None  # of X-de-mail-integrity
    sender_confirmed: bool
    sender_confirmation_requested: bool
    errors: tuple[str, ...]  # FC-01 … FC-04
    reasons_de: tuple[str, ...]
    concerns: str  # a provider confirmation: the X-de-mail-message-id of the original
    defects: tuple[str, ...]

    @property
    def is_provider_message(self) -> bool:
        """A provider's confirmation or notification, not an application."""
        return self.message_type != MessageType.NORMAL.value


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    demail: DemailRecord | None
    eid: EidFinding | None


def _demail_record(finding: DemailFinding) -> DemailRecord:
    headers = finding.headers
    confirmation = finding.sender_confirmation
    return DemailRecord(
        message_type=headers.message_type.value,
        demail_message_id=headers.demail_message_id,
        sender=headers.sender,
        protection=finding.integrity.protection.value,
        report=finding.report,
        sender_confirmed=confirmation.confirmed,
        sender_confirmation_requested=confirmation.requested,
        errors=tuple(e.value for e in confirmation.errors),
        reasons_de=confirmation.reasons_de,
        concerns=finding.confirmation.original_message_id if finding.confirmation else "",
        defects=tuple(d.detail for d in headers.defects),
    )


async def _verify_demail(raw: bytes, context: VerificationContext) -> DemailFinding:
    async with fetching():
        return await verify_demail(raw, context)


def run(item: Item, services: Services) -> StageOutcome:
    demail: DemailRecord | None = None
    if item.channel is Channel.SMTP:
        raw = services.blobs.read(item.sha256)
        if is_demail(raw):
            context = services.verifier.context(
                received_at=item.received_at, sender=item.envelope.sender
            )
            demail = _demail_record(asyncio.run(_verify_demail(raw, context)))
            if demail.demail_message_id and not demail.is_provider_message:
                services.store.remember_message_id(demail.demail_message_id, item.id)
    stated = item.envelope.metadata.get(EID_METADATA)
    eid = from_jsonable(EidFinding, json.loads(stated)) if stated else None
    summary: dict[str, object] = {"demail": demail is not None, "eid": eid is not None}
    if demail is not None:
        summary |= {
            "message_type": demail.message_type,
            "protection": demail.protection,
            "sender_confirmed": demail.sender_confirmed,
            "errors": list(demail.errors),
        }
    if eid is not None:
        summary |= {"eid_valid": eid.valid, "eid_level": eid.level, "eid_issuer": eid.issuer}
    return StageOutcome(ChannelRecord(demail, eid), summary)
