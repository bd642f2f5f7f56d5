"""The § 3a (3) VwVfG notice: the item cannot be processed, and what the authority accepts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from poststelle.confirmations.facts import (
    CLERK_REJECTED,
    ConfirmationKind,
    NoticeCause,
    NoticeFacts,
)
from poststelle.confirmations.message import Confirmation, Issuer, signed_mail
from poststelle.confirmations.wording import Row, Section, Sheet, fact_sections, local_time
from poststelle.confirmations.xml import notice_xml
from poststelle.decision.rules import Unsuitability, UnsuitableCause

TITLE = "Hinweis zu Ihrer Nachricht"
CAUSE_TITLES_DE = {
    Unsuitability.TYPE_NOT_ACCEPTED.value: "Dateiformat nicht zugelassen",
    Unsuitability.TOO_LARGE.value: "Dokument zu groß",
    Unsuitability.UNDECRYPTABLE.value: "Nicht zu entschlüsseln",
    Unsuitability.CORRUPT.value: "Nicht lesbar",
    Unsuitability.MALWARE.value: "Schadsoftware gefunden",
    CLERK_REJECTED: "Von der Poststelle zurückgewiesen",
}


def unsuitability_causes(causes: Sequence[UnsuitableCause]) -> tuple[NoticeCause, ...]:
    return tuple(NoticeCause(c.kind.value, c.document, c.detail_de) for c in causes)


def rejection_cause(reason: str) -> NoticeCause:
    """A clerk's rejection, with the clerk's reason as the sender is to read it."""
    return NoticeCause(CLERK_REJECTED, "", reason)


def _paragraphs(text: str) -> tuple[str, ...]:
    """Paragraphs of a policy text whose lines were wrapped by hand; blank lines separate them."""
    blocks = re.split(r"\n\s*\n", text.strip())
    return tuple(" ".join(block.split()) for block in blocks if block.strip())


def notice_subject(original_subject: str) -> str:
    return f"*{TITLE}* {original_subject}".rstrip()


def notice_sheet(notice: NoticeFacts) -> Sheet:
    facts = notice.item
    rejected = any(c.kind == CLERK_REJECTED for c in notice.causes)
    received = (
        f"Ihre Nachricht ist am {local_time(facts.received_at)} unter der Registriernummer "
        f"{facts.registry_number} bei {facts.authority} eingegangen."
    )
    verdict = (
        "Sie wurde von der Poststelle zurückgewiesen und wird nicht bearbeitet."
        if rejected
        else "Sie ist zur Bearbeitung nicht geeignet (§ 3a Abs. 3 VwVfG) und wird in dieser "
        "Form nicht bearbeitet."
    )
    causes = Section(
        "Gründe",
        tuple(
            Row(
                CAUSE_TITLES_DE.get(c.kind, c.kind),
                f"{c.detail_de} ({c.document})"
                if c.document and c.document not in c.detail_de
                else c.detail_de,
            )
            for c in notice.causes
        ),
    )
    requirements = Section(
        "Technische Rahmenbedingungen",
        paragraphs=_paragraphs(notice.requirements),
    )
    return Sheet(
        title=TITLE,
        authority=facts.authority,
        intro=(received, verdict),
        sections=(causes, requirements, *fact_sections(facts)),
        closing=(
            "Bitte senden Sie Ihr Anliegen erneut in einer Form, die den technischen "
            "Rahmenbedingungen entspricht.",
            "Dieser Hinweis ist automatisch erstellt und mit dem Siegel der Behörde versehen. "
            "Bitte geben Sie bei Rückfragen die Registriernummer an.",
        ),
    )


def build_notice(
    notice: NoticeFacts, issuer: Issuer, *, recipient: str, issued_at: datetime
) -> bytes:
    """The signed notice mail: text, XML (kind "notice") and sealed PDF, S/MIME-signed."""
    if not notice.causes:
        raise ValueError("a notice needs at least one cause")
    confirmation = Confirmation(
        kind=ConfirmationKind.NOTICE,
        registry_number=notice.item.registry_number,
        subject=notice_subject(notice.item.subject),
        sheet=notice_sheet(notice),
        xml=notice_xml(notice),
    )
    return signed_mail(confirmation, issuer, recipient=recipient, issued_at=issued_at)
