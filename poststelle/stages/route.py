"""Route stage: pick the department by policy, or send the item to the clerk's queue."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.model import Item, ItemState
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome, earlier_result
from poststelle.routing import RoutingFacts
from poststelle.stages.analyse import AnalysisRecord


@dataclass(frozen=True, slots=True)
class RouteRecord:
    department: str | None
    rule: str
    source: str
    reason: str


def run(item: Item, services: Services) -> StageOutcome:
    analysis = earlier_result(services, item, "analyse", AnalysisRecord)
    if analysis is not None and not analysis.parseable:
        record = RouteRecord(None, "", "", f"the message could not be analysed: {analysis.problem}")
    else:
        subject = analysis.subject if analysis is not None else ""
        decision = services.routing.route(
            RoutingFacts(item.envelope.recipients, item.envelope.sender, subject)
        )
        record = RouteRecord(decision.department, decision.rule, decision.source, decision.reason)
    if record.department is None:
        return StageOutcome(
            record, {"queue": "clerk", "reason": record.reason}, ItemState.NEEDS_REVIEW
        )
    return StageOutcome(
        record,
        {"department": record.department, "rule": record.rule, "source": record.source},
        ItemState.ROUTED,
        department=record.department,
    )
