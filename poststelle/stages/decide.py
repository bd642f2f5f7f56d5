"""Decide stage: does the item replace the written form, and is it suitable at all?"""

from __future__ import annotations

from poststelle.decision.rules import (
    ChannelFacts,
    Decision,
    DocumentFacts,
    Unsuitability,
    UnsuitableCause,
    decide,
)
from poststelle.model import Item, ItemState
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome, earlier_result
from poststelle.stages.analyse import AnalysisRecord
from poststelle.stages.channel import ChannelRecord
from poststelle.stages.scan import ScanRecord
from poststelle.verification.model import VerificationReport


def _found_causes(
    analysis: AnalysisRecord | None, scan: ScanRecord | None
) -> list[UnsuitableCause]:
    causes = [
        UnsuitableCause(
            Unsuitability.MALWARE,
            doc.name,
            f"In „{doc.name}“ wurde Schadsoftware gefunden ({doc.signature}).",
        )
        for doc in (scan.infected if scan is not None else ())
    ]
    if analysis is None:
        return causes
    if not analysis.parseable:
        causes.append(
            UnsuitableCause(
                Unsuitability.CORRUPT,
                "Nachricht",
                f"Die Nachricht ist nicht lesbar ({analysis.problem}).",
            )
        )
    if analysis.undecryptable:
        causes.append(
            UnsuitableCause(
                Unsuitability.UNDECRYPTABLE,
                "Nachricht",
                "Die Nachricht ist für einen Schlüssel verschlüsselt, den die Behörde nicht "
                "besitzt.",
            )
        )
    return causes


def channel_facts(channel: ChannelRecord | None) -> ChannelFacts:
    """What the channel stage found, as the decision rules read it."""
    if channel is None:
        return ChannelFacts()
    demail, eid = channel.demail, channel.eid
    return ChannelFacts(
        demail_absenderbestaetigt=demail.sender_confirmed if demail else None,
        demail_problem_de=" ".join(demail.reasons_de) if demail else "",
        eid_level_hoch=(eid.valid and eid.level == "high") if eid else None,
        eid_problem_de=(
            "Die eID-Identifizierung ist ungültig oder liegt unter dem Vertrauensniveau hoch."
            if eid and not (eid.valid and eid.level == "high")
            else ""
        ),
    )


def run(item: Item, services: Services) -> StageOutcome:
    analysis = earlier_result(services, item, "analyse", AnalysisRecord)
    report = earlier_result(services, item, "verify", VerificationReport)
    procedure = services.procedures.for_envelope(item.envelope)
    documents = (
        [DocumentFacts(d.name or d.safe_name, d.content_type, d.size) for d in analysis.documents]
        if analysis is not None
        else []
    )
    decision: Decision = decide(
        procedure,
        report,
        channel_facts(earlier_result(services, item, "channel", ChannelRecord)),
        documents,
        _found_causes(analysis, earlier_result(services, item, "scan", ScanRecord)),
    )
    summary = {
        "replaces_written_form": decision.outcome.value,
        "means": decision.means.value if decision.means else None,
        "procedure": decision.procedure,
        "rule": decision.rule,
        "suitable": decision.suitable,
    }
    return StageOutcome(decision, summary, ItemState.DECIDED)
