"""Everything known about one item, gathered from the store for a person to read."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.decision.rules import Decision, Outcome
from poststelle.model import Item, JournalEntry
from poststelle.pipeline.stage import stored_record
from poststelle.stages.analyse import AnalysisRecord, DocumentRecord
from poststelle.stages.route import RouteRecord
from poststelle.store.sql import SqlStore
from poststelle.verification.model import VerificationReport
from poststelle.verification.protocol import DecisionSummary, ProtocolHeader, render_html

OUTCOME_DE = {
    Outcome.YES: "ersetzt die Schriftform",
    Outcome.NO: "ersetzt die Schriftform nicht",
    Outcome.UNDETERMINED: "unbestimmt, Prüfung durch die Poststelle",
    Outcome.NOT_REQUIRED: "keine Form vorgeschrieben",
}


@dataclass(frozen=True, slots=True)
class Dossier:
    item: Item
    analysis: AnalysisRecord | None
    report: VerificationReport | None
    decision: Decision | None
    route: RouteRecord | None
    journal: tuple[JournalEntry, ...]

    @property
    def subject(self) -> str:
        return self.analysis.subject if self.analysis is not None else ""

    @property
    def documents(self) -> tuple[DocumentRecord, ...]:
        return self.analysis.documents if self.analysis is not None else ()

    def document(self, sha256: str) -> DocumentRecord | None:
        return next((d for d in self.documents if d.sha256 == sha256), None)

    @property
    def delivery_record(self) -> tuple[str, str] | None:
        """SHA-256 of the sealed Zustellnachweis (XML) and of its signature, once made."""
        made = [e for e in self.journal if e.event == "delivery_record.created"]
        if not made:
            return None
        return str(made[-1].data["xml_sha256"]), str(made[-1].data["signature_sha256"])

    def protocol_html(self) -> str | None:
        """The Prüfprotokoll for this item, once it was verified."""
        if self.report is None:
            return None
        header = ProtocolHeader(
            title=self.subject or self.item.registry_number,
            registry_number=self.item.registry_number,
            received_at=self.item.received_at,
            sender=self.item.envelope.sender,
            sha256=self.item.sha256,
        )
        summary = (
            DecisionSummary(OUTCOME_DE[self.decision.outcome], self.decision.reasons_de)
            if self.decision is not None
            else None
        )
        return render_html(self.report, header, summary)


def gather(store: SqlStore, item: Item, *, with_journal: bool = True) -> Dossier:
    return Dossier(
        item=item,
        analysis=stored_record(store, item.id, "analyse", AnalysisRecord),
        report=stored_record(store, item.id, "verify", VerificationReport),
        decision=stored_record(store, item.id, "decide", Decision),
        route=stored_record(store, item.id, "route", RouteRecord),
        journal=tuple(store.journal(item_id=item.id)) if with_journal else (),
    )
