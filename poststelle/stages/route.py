"""Route stage: pick the department by policy, or send the item to the clerk's queue."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.decision.rules import Decision
from poststelle.model import Item, ItemState
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome, earlier_result
from poststelle.routing import RoutingFacts
from poststelle.stages.analyse import AnalysisRecord


@dataclass(frozen=True, slots=True)
class RouteRecord:
    department: str | None  # where the rules send it (a suggestion when held for the clerk)
    rule: str
    source: str
    reason: str
    held: bool  # the clerk decides first


def run(item: Item, services: Services) -> StageOutcome:
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
