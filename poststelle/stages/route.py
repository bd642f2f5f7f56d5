"""Route stage: pick the department by policy, or send the item to the clerk's queue."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.decision.rules import Decision
from poststelle.model import Item, ItemState
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome, earlier_result
from poststelle.routing import RoutingFacts
from poststelle.stages.analyse import AnalysisRecord
from poststelle.stages.channel import ChannelRecord, DemailRecord


@dataclass(frozen=True, slots=True)
class RouteRecord:
    department: str | None  # where the rules send it (a suggestion when held for the clerk)
    rule: str
    source: str
    reason: str
    held: bool  # the clerk decides first


def _file_provider_message(item: Item, demail: DemailRecord, services: Services) -> StageOutcome:
    """A provider's confirmation goes with the item it concerns, not to a department."""
    concerned = services.store.item_by_message_id(demail.concerns) if demail.concerns else None
    if concerned is None:
        reason = f"a De-Mail {demail.message_type} for a message this mailroom does not know"
        record = RouteRecord(None, "", "", reason, True)
        return StageOutcome(record, {"queue": "clerk", "reason": reason}, ItemState.NEEDS_REVIEW)
    services.store.note(
        concerned.id,
        "demail.provider_message",
        {"kind": demail.message_type, "item": item.registry_number},
    )
    reason = f"De-Mail {demail.message_type} for {concerned.registry_number}"
    record = RouteRecord(None, "", "", reason, False)
    return StageOutcome(
        record,
        {"attached_to": concerned.registry_number, "kind": demail.message_type},
        ItemState.ATTACHED,
    )


def run(item: Item, services: Services) -> StageOutcome:
    channel = earlier_result(services, item, "channel", ChannelRecord)
    if channel is not None and channel.demail is not None and channel.demail.is_provider_message:
        return _file_provider_message(item, channel.demail, services)
    analysis = earlier_result(services, item, "analyse", AnalysisRecord)
    decision = earlier_result(services, item, "decide", Decision)
    subject = analysis.subject if analysis is not None else ""
    routed = services.routing.route(
        RoutingFacts(
            item.envelope.recipients,
            item.envelope.sender,
            subject,
            item.envelope.metadata.get("procedure", ""),
        )
    )
    hold = ""
    if analysis is not None and not analysis.parseable:
        hold = f"the message could not be analysed: {analysis.problem}"
    elif decision is not None and decision.needs_review:
        hold = (
            "the item is unsuitable for processing"
            if not decision.suitable
            else "whether it replaces the written form is undetermined"
        )
    elif routed.department is None:
        hold = routed.reason
    record = RouteRecord(
        routed.department, routed.rule, routed.source, hold or routed.reason, bool(hold)
    )
    if record.held:
        summary = {"queue": "clerk", "reason": record.reason, "suggested": record.department}
        return StageOutcome(record, summary, ItemState.NEEDS_REVIEW)
    return StageOutcome(
        record,
        {"department": record.department, "rule": record.rule, "source": record.source},
        ItemState.ROUTED,
        department=record.department,
    )
