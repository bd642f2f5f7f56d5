"""The Prüfprotokoll: the verification report in German, as HTML and as PDF, for clerk and court."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from poststelle.serialize import to_jsonable
from poststelle.verification.model import (
    CheckOutcome,
    Indication,
    ItemVerdict,
    Qualification,
    RevocationInfo,
    RevocationStatus,
    SignatureReport,
    VerificationReport,
)

BERLIN = ZoneInfo("Europe/Berlin")
FONT_DIR = "/usr/share/fonts/truetype/dejavu"


@dataclass(frozen=True, slots=True)
class ProtocolHeader:
    """The item the report is about (empty registry number for `poststelle verify` on files)."""

    title: str
    registry_number: str = ""
    received_at: datetime | None = None
    sender: str = ""
    sha256: str = ""


@dataclass(frozen=True, slots=True)
class DecisionSummary:
    outcome_de: str
    reasons_de: tuple[str, ...]


def when(moment: datetime | None) -> str:
    if moment is None:
        return "–"
    return f"{moment.astimezone(BERLIN):%d.%m.%Y, %H:%M:%S} Uhr"


_QUALIFICATION_DE = {
    Qualification.QESIG: "qualifizierte elektronische Signatur (QES)",
    Qualification.QESEAL: "qualifiziertes elektronisches Siegel",
    Qualification.ADESIG_QC: "fortgeschrittene Signatur mit qualifiziertem Zertifikat",
    Qualification.ADESEAL_QC: "fortgeschrittenes Siegel mit qualifiziertem Zertifikat",
    Qualification.ADESIG: "fortgeschrittene elektronische Signatur",
    Qualification.ADESEAL: "fortgeschrittenes elektronisches Siegel",
    Qualification.ADES: "fortgeschrittene elektronische Signatur oder Siegel",
    Qualification.INDETERMINATE: "nicht feststellbar",
    Qualification.NOT_ADES: "keine gültige fortgeschrittene Signatur",
}
_REVOCATION_DE = {
    RevocationStatus.GOOD: "nicht gesperrt",
    RevocationStatus.REVOKED: "GESPERRT",
    RevocationStatus.UNKNOWN: "unbekannt",
    RevocationStatus.UNAVAILABLE: "Sperrdienst nicht erreichbar",
    RevocationStatus.NOT_CHECKED: "nicht geprüft",
}
# What answered for the signer's certificate, and what its time is called.
_REVOCATION_SOURCE_DE = {
    "ocsp": ("OCSP", "Antwort vom"),
    "crl": ("Sperrliste (CRL)", "Sperrliste vom"),
    "embedded-ocsp": ("in der Signatur eingebettete OCSP-Antwort", "Antwort vom"),
    "embedded-crl": ("in der Signatur eingebettete Sperrliste (CRL)", "Sperrliste vom"),
}
_VERDICT_DE = {
    ItemVerdict.PASSED: "Alle Signaturen sind gültig.",
    ItemVerdict.FAILED: "Mindestens eine Signatur ist ungültig.",
    ItemVerdict.INDETERMINATE: "Mindestens eine Signatur konnte nicht abschließend geprüft werden.",
    ItemVerdict.UNSIGNED: "Es wurde keine elektronische Signatur gefunden.",
}


def conclusion(signature: SignatureReport) -> str:
    """One plain German sentence per signature, in the manner of a Prüfvermerk."""
    kind = _QUALIFICATION_DE[signature.qualification]
    if signature.indication is Indication.TOTAL_PASSED:
        return f"Die Signatur ist gültig ({kind})."
    if signature.indication is Indication.TOTAL_FAILED:
        return f"Die Signatur ist UNGÜLTIG ({signature.sub_indication})."
    return (
        f"Die Signatur konnte nicht abschließend geprüft werden ({signature.sub_indication}); "
        "die Entscheidung trifft die Poststelle."
    )


def revocation_de(revocation: RevocationInfo | None) -> str:
    """The Sperrstatus with its evidence, e.g. "nicht gesperrt (OCSP, http://…, Antwort vom …)"."""
    if revocation is None:
        return "–"
    text = _REVOCATION_DE[revocation.status]
    if revocation.revoked_at is not None:
        text += f" seit {when(revocation.revoked_at)}"
        text += f" (Grund: {revocation.reason})" if revocation.reason else ""
    if revocation.status not in (RevocationStatus.GOOD, RevocationStatus.REVOKED):
        return text
    source = _REVOCATION_SOURCE_DE.get(revocation.source)
    if source is None:
        return f"{text} (Quelle der Sperrauskunft nicht festgestellt)"
    name, time_label = source
    parts = [name, revocation.url]
    if revocation.produced_at is not None:
        parts.append(f"{time_label} {when(revocation.produced_at)}")
    return f"{text} ({', '.join(p for p in parts if p)})"


def _signature_rows(signature: SignatureReport) -> list[tuple[str, str]]:
    rows = [
        ("Ergebnis", conclusion(signature)),
        ("ETSI-Ergebnis", f"{signature.indication} / {signature.sub_indication or '–'}"),
        ("Format", f"{signature.format} ({signature.field_name})"),
        ("Unterzeichner laut Prüfung", signature.signer.subject if signature.signer else "–"),
        ("Aussteller", signature.signer.issuer if signature.signer else "–"),
        (
            "Seriennummer",
            signature.signer.serial_hex if signature.signer else "–",
        ),
        ("Angegebene Signaturzeit", when(signature.signing_time)),
        ("Qualifikation", _QUALIFICATION_DE[signature.qualification]),
        ("Sperrstatus", revocation_de(signature.revocation)),
        (
            "Zeitstempel",
            ", ".join(f"{t.kind}: {when(t.gen_time)}" for t in signature.timestamps) or "keine",
        ),
        ("Niveau", str(signature.level)),
        ("Hashverfahren", signature.digest_algorithm or "–"),
    ]
    for check in signature.checks:
        mark = {
            CheckOutcome.PASSED: "✓",
            CheckOutcome.FAILED: "✗",
            CheckOutcome.INDETERMINATE: "?",
            CheckOutcome.NOT_APPLICABLE: "–",
        }[check.outcome]
        rows.append((f"Prüfung „{check.name}“", f"{mark} {check.detail_de}"))
    return rows


_environment = Environment(
    loader=PackageLoader("poststelle.verification", "templates"),
    autoescape=select_autoescape(["html"]),
)
_environment.globals.update(when=when, conclusion=conclusion, rows=_signature_rows)


def render_html(
    report: VerificationReport, header: ProtocolHeader, decision: DecisionSummary | None = None
) -> str:
    return _environment.get_template("pruefprotokoll.html").render(
        report=report, header=header, decision=decision, verdict=_VERDICT_DE[report.verdict]
    )


def report_json(report: VerificationReport) -> str:
    return json.dumps(to_jsonable(report), indent=2, ensure_ascii=False)


def _fonts() -> tuple[str, str]:
    try:
        pdfmetrics.registerFont(TTFont("DejaVu", f"{FONT_DIR}/DejaVuSans.ttf"))
        pdfmetrics.registerFont(TTFont("DejaVu-Bold", f"{FONT_DIR}/DejaVuSans-Bold.ttf"))
    except OSError:
        return "Helvetica", "Helvetica-Bold"
    return "DejaVu", "DejaVu-Bold"


def render_pdf(
    report: VerificationReport, header: ProtocolHeader, decision: DecisionSummary | None = None
) -> bytes:
    regular, bold = _fonts()
    styles = getSampleStyleSheet()
    body = ParagraphStyle(
        "body", parent=styles["BodyText"], fontName=regular, fontSize=9, leading=12
    )
    strong = ParagraphStyle("strong", parent=body, fontName=bold)
    h1 = ParagraphStyle("h1", parent=styles["Heading1"], fontName=bold, fontSize=16)
    h2 = ParagraphStyle("h2", parent=styles["Heading2"], fontName=bold, fontSize=12)

    def table(rows: Sequence[tuple[str, str]]) -> Table:
        data = [[Paragraph(escape(k), strong), Paragraph(escape(v), body)] for k, v in rows]
        t = Table(data, colWidths=[52 * mm, 118 * mm])
        t.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                    ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                ]
            )
        )
        return t

    story: list[object] = [
        Paragraph("Prüfprotokoll elektronischer Signaturen", h1),
        Paragraph(escape(header.title), body),
        Spacer(1, 4 * mm),
        table(
            [
                ("Registriernummer", header.registry_number or "–"),
                ("Eingangszeitpunkt", when(header.received_at)),
                ("Absender", header.sender or "–"),
                ("SHA-256", header.sha256 or "–"),
                ("Prüfzeitpunkt (Bezug)", when(report.validation_time)),
                ("Erstellt", when(report.generated_at)),
                ("Gesamtergebnis", _VERDICT_DE[report.verdict]),
            ]
        ),
    ]
    if decision is not None:
        story += [
            Spacer(1, 4 * mm),
            Paragraph("Ersatz der Schriftform", h2),
            table(
                [
                    ("Entscheidung", decision.outcome_de),
                    *[("Begründung", r) for r in decision.reasons_de],
                ]
            ),
        ]
    for document in report.documents:
        story += [Spacer(1, 5 * mm), Paragraph(f"Dokument: {escape(document.name)}", h2)]
        story.append(
            table([("SHA-256", document.sha256), ("Signaturen", str(len(document.signatures)))])
        )
        for number, signature in enumerate(document.signatures, start=1):
            story += [
                Spacer(1, 2 * mm),
                Paragraph(f"Signatur {number}", strong),
                table(_signature_rows(signature)),
            ]
    if not report.documents:
        story += [
            Spacer(1, 5 * mm),
            Paragraph("Es wurde keine elektronische Signatur gefunden.", body),
        ]
    story += [
        Spacer(1, 6 * mm),
        Paragraph(
            "Dieses Protokoll wurde automatisch von Poststelle erstellt. Die Prüfung bezieht sich "
            "auf den Eingangszeitpunkt. Die Begriffe folgen ETSI EN 319 102-1.",
            body,
        ),
    ]
    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        title="Prüfprotokoll",
        author="Poststelle",
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    ).build(story)
    return out.getvalue()
