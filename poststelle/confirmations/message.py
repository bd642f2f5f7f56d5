"""A confirmation as mail: text, XML and sealed PDF in one S/MIME-signed multipart/mixed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from poststelle.confirmations.facts import ConfirmationKind
from poststelle.confirmations.pdf import render_pdf, seal_pdf
from poststelle.confirmations.seal import Seal
from poststelle.confirmations.smime import sign_entity
from poststelle.confirmations.wording import BERLIN, Sheet, sheet_text
from poststelle.ports import Timestamper

FILE_STEMS = {ConfirmationKind.RECEIPT: "Eingangsbestaetigung", ConfirmationKind.NOTICE: "Hinweis"}


@dataclass(frozen=True, slots=True)
class Issuer:
    """Who issues confirmations and with what: the sender address, the seal, the TSA."""

    sender: str
    seal: Seal
    timestamper: Timestamper


@dataclass(frozen=True, slots=True)
class Confirmation:
    """One confirmation's parts before they become a mail."""

    kind: ConfirmationKind
    registry_number: str
    subject: str
    sheet: Sheet
    xml: bytes


def mail_entity(text: str, attachments: tuple[tuple[str, str, bytes], ...]) -> bytes:
    mixed = MIMEPart(policy=SMTP)
    mixed.set_content(text, cte="quoted-printable")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        mixed.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return mixed.as_bytes(policy=SMTP)


def mail_headers(
    kind: ConfirmationKind,
    registry_number: str,
    subject: str,
    *,
    sender: str,
    recipient: str,
    issued_at: datetime,
) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(issued_at.astimezone(BERLIN))
    message["Message-ID"] = make_msgid(
        idstring=f"{kind.value}.{registry_number}", domain=sender.rpartition("@")[2] or None
    )
    message["Auto-Submitted"] = "auto-replied"
    message["X-Poststelle-Registry-Number"] = registry_number
    return b"".join(SMTP.fold_binary(name, value) for name, value in message.items())


def sealed_pdf(confirmation: Confirmation, issuer: Issuer) -> bytes:
    return seal_pdf(
        render_pdf(confirmation.sheet),
        issuer.seal,
        issuer.timestamper,
        reason=f"{confirmation.sheet.title} {confirmation.registry_number}",
        location=confirmation.sheet.authority,
    )


def signed_mail(
    confirmation: Confirmation, issuer: Issuer, *, recipient: str, issued_at: datetime
) -> bytes:
    """The whole reply: text part, XML part and sealed PDF, S/MIME-signed with the seal."""
    basename = f"{FILE_STEMS[confirmation.kind]}-{confirmation.registry_number}"
    entity = mail_entity(
        sheet_text(confirmation.sheet),
        (
            (f"{basename}.xml", "application/xml", confirmation.xml),
            (f"{basename}.pdf", "application/pdf", sealed_pdf(confirmation, issuer)),
        ),
    )
    headers = mail_headers(
        confirmation.kind,
        confirmation.registry_number,
        confirmation.subject,
        sender=issuer.sender,
        recipient=recipient,
        issued_at=issued_at,
    )
    return headers + sign_entity(entity, issuer.seal)
