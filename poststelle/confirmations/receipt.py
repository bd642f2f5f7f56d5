"""The Eingangsbestätigung: the sender's evidence of what arrived and when."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

from poststelle.model import Item

BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True, slots=True)
class ReceiptDocument:
    name: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ReceiptFacts:
    """Everything a receipt states, gathered from the item and its stage results."""

    authority: str
    item: Item
    subject: str
    timestamp_gen_time: str
    timestamp_tsa: str
    documents: Sequence[ReceiptDocument]


def receipt_subject(original_subject: str) -> str:
    return f"*Eingangsbestätigung* {original_subject}".rstrip()


def receipt_text(facts: ReceiptFacts) -> str:
    item = facts.item
    local = item.received_at.astimezone(BERLIN)
    lines = [
        f"{facts.authority} bestätigt den Eingang Ihrer Nachricht.",
        "",
        f"Registriernummer:   {item.registry_number}",
        f"Eingangszeitpunkt:  {local:%d.%m.%Y, %H:%M:%S} Uhr ({item.received_at.isoformat()})",
        f"SHA-256 der Nachricht: {item.sha256}",
        f"Größe:              {item.size} Bytes",
    ]
    if facts.timestamp_gen_time:
        lines.append(
            f"Zeitstempel:        {facts.timestamp_gen_time} ({facts.timestamp_tsa}, RFC 3161)"
        )
    lines += ["", "Enthaltene Dokumente:"]
    if facts.documents:
        lines += [
            f"  {i}. {d.name} ({d.content_type}, {d.size} Bytes)\n     SHA-256: {d.sha256}"
            for i, d in enumerate(facts.documents, start=1)
        ]
    else:
        lines.append("  (keine Dokumente erkannt)")
    lines += [
        "",
        "Der Eingangszeitpunkt ist der Zeitpunkt, zu dem die Nachricht dauerhaft auf dem für den",
        "Empfang bestimmten System gespeichert wurde. Diese Bestätigung ist automatisch erstellt;",
        "eine Prüfung des Inhalts ist damit nicht verbunden.",
        "",
        "Bitte geben Sie bei Rückfragen die Registriernummer an.",
    ]
    return "\n".join(lines) + "\n"


def build_receipt(facts: ReceiptFacts, *, sender: str, recipient: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = receipt_subject(facts.subject)
    message["Date"] = format_datetime(facts.item.received_at.astimezone(BERLIN))
    message["Message-ID"] = make_msgid(
        idstring=f"receipt.{facts.item.registry_number}", domain=sender.rpartition("@")[2]
    )
    message["Auto-Submitted"] = "auto-replied"
    message["X-Poststelle-Registry-Number"] = facts.item.registry_number
    message.set_content(receipt_text(facts))
    return bytes(message)
