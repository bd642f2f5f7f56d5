"""German wording of confirmation facts, laid out once for both the text part and the PDF."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from poststelle.confirmations.facts import DecisionFact, ItemFacts, VerificationFact

BERLIN = ZoneInfo("Europe/Berlin")

VERDICT_DE = {
    "passed": "Alle Signaturen sind gültig.",
    "failed": "Mindestens eine Signatur ist ungültig.",
    "indeterminate": "Das Prüfergebnis ist unbestimmt; die Prüfung wird wiederholt.",
    "unsigned": "Die Nachricht enthält keine elektronische Signatur.",
}
INDICATION_DE = {
    "TOTAL_PASSED": "gültig",
    "TOTAL_FAILED": "ungültig",
    "INDETERMINATE": "unbestimmt",
}
OUTCOME_DE = {
    "yes": "Die Schriftform ist ersetzt.",
    "no": "Die Schriftform ist nicht ersetzt.",
    "undetermined": "Ob die Schriftform ersetzt ist, steht noch nicht fest.",
    "not_required": "Für dieses Verfahren ist keine Schriftform vorgeschrieben.",
}


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    value: str
    mono: bool = False  # hashes and similar: set in a fixed-width font


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    rows: tuple[Row, ...] = ()
    paragraphs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Sheet:
    """One confirmation as a reader sees it: title, opening, sections, closing."""

    title: str
    authority: str
    intro: tuple[str, ...]
    sections: tuple[Section, ...]
    closing: tuple[str, ...]


def local_time(moment: datetime) -> str:
    local = moment.astimezone(BERLIN)
    return f"{local:%d.%m.%Y, %H:%M:%S} Uhr"


def _time_value(moment: datetime) -> str:
    return f"{local_time(moment)} ({moment.isoformat()})"


def item_section(facts: ItemFacts) -> Section:
    rows = [
        Row("Registriernummer", facts.registry_number),
        Row("Absender", facts.sender),
        Row("Empfänger", ", ".join(facts.recipients)),
        Row("Betreff", facts.subject or "(ohne Betreff)"),
        Row("Eingangszeitpunkt", _time_value(facts.received_at)),
        Row("Größe", f"{facts.size} Bytes"),
        Row("SHA-256 der Nachricht", facts.sha256, mono=True),
    ]
    if facts.timestamp is not None:
        stamp = facts.timestamp
        rows += [
            Row("Zeitstempel (RFC 3161)", _time_value(datetime.fromisoformat(stamp.gen_time))),
            Row("Zeitstempeldienst", stamp.tsa),
            Row("Seriennummer", stamp.serial_number),
        ]
    return Section("Angaben zur Nachricht", tuple(rows))


def documents_section(facts: ItemFacts) -> Section:
    if not facts.documents:
        return Section("Enthaltene Dokumente", paragraphs=("(keine Dokumente erkannt)",))
    rows: list[Row] = []
    for number, document in enumerate(facts.documents, start=1):
        rows += [
            Row(f"{number}. {document.name}", f"{document.content_type}, {document.size} Bytes"),
            Row("SHA-256", document.sha256, mono=True),
        ]
    return Section("Enthaltene Dokumente", tuple(rows))


def verification_section(verification: VerificationFact) -> Section:
    rows: list[Row] = []
    for signature in verification.signatures:
        result = INDICATION_DE.get(signature.indication, signature.indication)
        if signature.sub_indication:
            result += f" ({signature.sub_indication})"
        rows.append(Row(signature.document, f"{result}; {signature.qualification}"))
        if signature.signer:
            rows.append(Row("Unterzeichner", signature.signer))
        if signature.signing_time is not None:
            rows.append(Row("Signaturzeitpunkt", _time_value(signature.signing_time)))
    verdict = VERDICT_DE.get(verification.verdict, verification.verdict)
    return Section("Prüfung der Signaturen", tuple(rows), (verdict,))


def decision_section(decision: DecisionFact) -> Section:
    outcome = OUTCOME_DE.get(decision.outcome, decision.outcome)
    return Section("Schriftformersatz", paragraphs=(outcome, *decision.reasons))


def fact_sections(facts: ItemFacts) -> tuple[Section, ...]:
    """The item's facts as every receipt and notice states them."""
    sections = [item_section(facts), documents_section(facts)]
    if facts.verification is not None:
        sections.append(verification_section(facts.verification))
    if facts.decision is not None:
        sections.append(decision_section(facts.decision))
    return tuple(sections)


def sheet_text(sheet: Sheet) -> str:
    lines = [sheet.title, "=" * len(sheet.title), "", *sheet.intro]
    for section in sheet.sections:
        lines += ["", section.heading, "-" * len(section.heading)]
        width = max((len(row.label) for row in section.rows), default=0)
        lines += [f"{row.label + ':':<{width + 1}} {row.value}" for row in section.rows]
        if section.rows and section.paragraphs:
            lines.append("")
        lines += section.paragraphs
    lines += ["", *sheet.closing]
    return "\n".join(lines) + "\n"
