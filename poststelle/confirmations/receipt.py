"""The Eingangsbestätigung: the sender's evidence of what arrived and when."""

from __future__ import annotations

from datetime import datetime

from poststelle.confirmations.facts import ConfirmationKind, ItemFacts
from poststelle.confirmations.message import Confirmation, Issuer, signed_mail
from poststelle.confirmations.wording import Sheet, fact_sections, local_time
from poststelle.confirmations.xml import receipt_xml

TITLE = "Eingangsbestätigung"


def receipt_subject(original_subject: str) -> str:
    return f"*{TITLE}* {original_subject}".rstrip()


def receipt_sheet(facts: ItemFacts) -> Sheet:
    return Sheet(
        title=TITLE,
        authority=facts.authority,
        intro=(
            f"{facts.authority} bestätigt den Eingang Ihrer Nachricht am "
            f"{local_time(facts.received_at)} unter der Registriernummer "
            f"{facts.registry_number}.",
        ),
        sections=fact_sections(facts),
        closing=(
            "Der Eingangszeitpunkt ist der Zeitpunkt, zu dem die Nachricht dauerhaft auf dem für "
            "den Empfang bestimmten System gespeichert wurde; der prüfbare Nachweis dafür ist "
            "der Zeitstempel nach RFC 3161 über den SHA-256-Hashwert der Nachricht (im XML-Teil).",
            "Diese Bestätigung ist automatisch erstellt und mit dem Siegel der Behörde versehen; "
            "eine Prüfung des Inhalts ist damit nicht verbunden.",
            "Bitte geben Sie bei Rückfragen die Registriernummer an.",
        ),
    )


def build_receipt(
    facts: ItemFacts, issuer: Issuer, *, recipient: str, issued_at: datetime
) -> bytes:
    """The signed receipt mail: text, XML and sealed PDF, S/MIME-signed as a whole."""
    confirmation = Confirmation(
        kind=ConfirmationKind.RECEIPT,
        registry_number=facts.registry_number,
        subject=receipt_subject(facts.subject),
        sheet=receipt_sheet(facts),
        xml=receipt_xml(facts),
    )
    return signed_mail(confirmation, issuer, recipient=recipient, issued_at=issued_at)
