"""The X-de-mail-* header fields of a raw message (BSI TR 01201 PVD IO, section 3.1), typed."""

from __future__ import annotations

import email
import email.policy
import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.utils import getaddresses
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

DEMAIL_PREFIX = "x-de-mail-"
DEMAIL_XML_NAMESPACE = "urn:de-mail"
FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")
LINE_END = re.compile(rb"\r?\n(?=[ \t])")


@dataclass(frozen=True, slots=True)
class HeaderField:
    """One header field as received: `raw` holds its lines byte-exact, folding and line ends
    included (what DKIM "simple" canonicalisation hashes)."""

    name: str
    raw: bytes

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def value(self) -> str:
        """The unfolded value, decoded as UTF-8 (RFC 6532), surrounding whitespace removed."""
        _, _, rest = self.raw.partition(b":")
        unfolded = LINE_END.sub(b"", rest).rstrip(b"\r\n")
        return unfolded.decode("utf-8", errors="replace").strip()


@dataclass(frozen=True, slots=True)
class Defect:
    """Something about the header section that deviates from the specification."""

    header: str
    detail: str
    detail_de: str


@dataclass(frozen=True, slots=True)
class HeaderSection:
    fields: tuple[HeaderField, ...]
    body: bytes
    defects: tuple[Defect, ...]

    def first(self, name: str) -> HeaderField | None:
        """The first field of that name from the top: the one De-Mail uses (TR PVD IO 3.1.1)."""
        key = name.lower()
        return next((f for f in self.fields if f.key == key), None)


def split_message(raw: bytes) -> HeaderSection:
    """Header fields and body of an RFC 5322 message; never raises. Lines that are not
    fields are recorded as defects and skipped."""
    fields: list[tuple[str, bytearray]] = []
    defects: list[Defect] = []
    position = 0
    body = b""
    while position < len(raw):
        end = raw.find(b"\n", position)
        end = len(raw) if end < 0 else end + 1
        line = raw[position:end]
        position = end
        if line in (b"\r\n", b"\n"):
            body = raw[position:]
            break
        if line[:1] in (b" ", b"\t"):
            if fields:
                fields[-1][1].extend(line)
            else:
                defects.append(
                    Defect(
                        "",
                        "a continuation line precedes the first header field",
                        "Eine Fortsetzungszeile steht vor dem ersten Kopffeld.",
                    )
                )
            continue
        name, colon, _ = line.partition(b":")
        name = name.rstrip(b" \t")
        if not colon or not FIELD_NAME.fullmatch(name):
            shown = line[:40].decode("ascii", errors="replace").strip()
            defects.append(
                Defect(
                    "",
                    f"a header line is not a field and was ignored: {shown!r}",
                    f"Eine Kopfzeile ist kein gültiges Feld und wurde übergangen: {shown!r}",
                )
            )
            continue
        fields.append((name.decode("ascii"), bytearray(line)))
    return HeaderSection(tuple(HeaderField(n, bytes(r)) for n, r in fields), body, tuple(defects))


class MessageType(enum.StrEnum):
    """Values of X-de-mail-message-type (TR PVD IO table 12)."""

    NORMAL = "normal"
    CONFIRMATION_OF_DISPATCH = "confirmation of dispatch"
    CONFIRMATION_OF_RECEIPT = "confirmation of receipt"
    CONFIRMATION_OF_RETRIEVE = "confirmation of retrieve"
    MALWARE_ACKNOWLEDGE = "malware-acknowledge"
    MALWARE_NOTIFICATION = "malware-notification"
    NOTIFICATION = "notification"
    IDENTIFICATION = "identification"
    UNKNOWN = "unknown"  # a value the specification does not define (recorded as a defect)


CONFIRMATIONS = frozenset(
    {
        MessageType.CONFIRMATION_OF_DISPATCH,
        MessageType.CONFIRMATION_OF_RECEIPT,
        MessageType.CONFIRMATION_OF_RETRIEVE,
        MessageType.MALWARE_ACKNOWLEDGE,
    }
)
NOTIFICATIONS = frozenset({MessageType.NOTIFICATION, MessageType.MALWARE_NOTIFICATION})
# Subject prefixes of confirmations (TR PVD IO 3.5.1).
SUBJECT_PREFIXES = {
    MessageType.CONFIRMATION_OF_DISPATCH: "*Versandbestätigung*",
    MessageType.CONFIRMATION_OF_RECEIPT: "*Eingangsbestätigung*",
    MessageType.CONFIRMATION_OF_RETRIEVE: "*Abholbestätigung*",
}
NOTIFICATION_TYPES = frozenset({"unknown-recipient", "closed-account", "invalid-format", "other"})


class AuthLevel(enum.StrEnum):
    NORMAL = "normal"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class Recipients:
    """X-de-mail-chosen-recipient / -actual-recipient: `to=…; cc=…; bcc=…` (TR PVD IO 3.1.8)."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DemailHeaders:
    """What the De-Mail header fields say; a repeated field counts once, first from the top."""

    present: frozenset[str]  # lower-case names of the X-de-mail-* fields found
    message_type: MessageType
    authoritative: bool
    private: bool
    confirmation_of_dispatch: bool
    confirmation_of_receipt: bool
    confirmation_of_retrieve: bool
    auth_level: AuthLevel | None
    auth_mechanism: str
    sender: str
    chosen_recipients: Recipients
    actual_recipients: Recipients
    originator_provider: str
    version: str
    private_id: str
    demail_message_id: str
    account_holder: str
    notification_type: str
    integrity: str
    signature_certificate: str
    from_: str
    date: str
    message_id: str
    subject: str
    defects: tuple[Defect, ...]

    @property
    def is_confirmation(self) -> bool:
        return self.message_type in CONFIRMATIONS

    @property
    def is_notification(self) -> bool:
        return self.message_type in NOTIFICATIONS


def _yes_no(section: HeaderSection, name: str, defects: list[Defect]) -> bool:
    field = section.first(name)
    if field is None:
        return False  # "wird der Wert standardmäßig auf „no“ gesetzt" (3.1.2-3.1.6)
    if field.value not in ("yes", "no"):
        defects.append(
            Defect(
                name,
                f"{name} is {field.value!r}, not 'yes' or 'no' (case-sensitive): read as 'no'",
                f"{name} hat den Wert {field.value!r} statt „yes“ oder „no“; er gilt als „no“.",
            )
        )
    return field.value == "yes"


def _text(section: HeaderSection, name: str) -> str:
    field = section.first(name)
    return field.value if field is not None else ""


def _split_outside_quotes(value: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def parse_recipients(value: str, name: str, defects: list[Defect]) -> Recipients:
    """`to=a@x; b@y; cc=c@z`: a segment without `to|cc|bcc=` continues the previous list
    (footnote 5 of TR PVD IO 3.1.8 allows several addresses separated by ";")."""
    lists: dict[str, list[str]] = {"to": [], "cc": [], "bcc": []}
    current: str | None = None
    seen: set[str] = set()
    for segment in _split_outside_quotes(value, ";"):
        match = re.match(r"\s*(to|cc|bcc)\s*=(.*)", segment, re.IGNORECASE | re.DOTALL)
        if match is not None:
            current = match.group(1).lower()
            if current in seen:
                defects.append(
                    Defect(
                        name,
                        f"{name} names '{current}' more than once",
                        f"{name} enthält „{current}“ mehrfach.",
                    )
                )
            seen.add(current)
            segment = match.group(2)
        if not segment.strip():
            continue
        if current is None:
            defects.append(
                Defect(
                    name,
                    f"{name} lists addresses before 'to=', 'cc=' or 'bcc='",
                    f"{name} nennt Adressen ohne vorangestelltes „to=“, „cc=“ oder „bcc=“.",
                )
            )
            continue
        lists[current] += [addr for _, addr in getaddresses([segment]) if addr]
    return Recipients(tuple(lists["to"]), tuple(lists["cc"]), tuple(lists["bcc"]))


def _message_type(section: HeaderSection, defects: list[Defect]) -> MessageType:
    name = "X-de-mail-message-type"
    field = section.first(name)
    if field is None:
        return MessageType.NORMAL
    value = " ".join(field.value.split()).lower()
    try:
        found = MessageType(value)
    except ValueError:
        found = MessageType.UNKNOWN
    if found is MessageType.UNKNOWN:
        defects.append(
            Defect(
                name,
                f"unknown message type {field.value!r}",
                f"Unbekannter Nachrichtentyp {field.value!r}.",
            )
        )
    return found


def _auth_level(section: HeaderSection, defects: list[Defect]) -> AuthLevel | None:
    name = "X-de-mail-auth-level"
    field = section.first(name)
    if field is None:
        return None
    try:
        return AuthLevel(field.value)
    except ValueError:
        defects.append(
            Defect(
                name,
                f"unknown authentication level {field.value!r}",
                f"Unbekanntes Authentisierungsniveau {field.value!r}.",
            )
        )
        return None


def _duplicates(section: HeaderSection, names: Iterable[str]) -> list[Defect]:
    wanted = {n.lower(): n for n in names}
    counts: dict[str, int] = {}
    for field in section.fields:
        if field.key in wanted or field.key.startswith(DEMAIL_PREFIX):
            counts[field.key] = counts.get(field.key, 0) + 1
    return [
        Defect(
            wanted.get(key, key),
            f"{wanted.get(key, key)} occurs {count} times: the first from the top is used",
            f"{wanted.get(key, key)} kommt {count}-mal vor; es gilt das erste von oben.",
        )
        for key, count in counts.items()
        if count > 1
    ]


# Fields every De-Mail carries ("XX" for N, B, M and I in TR PVD IO table 1), and those
# only a normal message must carry.
MANDATORY = (
    "From",
    "Date",
    "Message-ID",
    "Subject",
    "X-de-mail-sender",
    "X-de-mail-chosen-recipient",
    "X-de-mail-message-id",
    "X-de-mail-originator-provider",
    "X-de-mail-message-type",
    "X-de-mail-integrity",
    "X-de-mail-actual-recipient",
    "X-de-mail-version",
)
MANDATORY_NORMAL = ("X-de-mail-auth-level", "X-de-mail-auth-mechanism", "X-de-mail-account-holder")


def _missing(section: HeaderSection, message_type: MessageType) -> list[Defect]:
    names = MANDATORY + (MANDATORY_NORMAL if message_type is MessageType.NORMAL else ())
    return [
        Defect(n, f"mandatory field {n} is missing", f"Das Pflichtfeld {n} fehlt.")
        for n in names
        if section.first(n) is None
    ]


def headers_of(section: HeaderSection) -> DemailHeaders:
    defects = list(section.defects)
    defects += _duplicates(section, ("From", "Date", "Message-ID", "Subject", "Reply-To"))
    present = frozenset(f.key for f in section.fields if f.key.startswith(DEMAIL_PREFIX))
    message_type = _message_type(section, defects)
    if present:
        defects += _missing(section, message_type)
    notification_type = _text(section, "X-de-mail-notification-type")
    if notification_type and notification_type not in NOTIFICATION_TYPES:
        defects.append(
            Defect(
                "X-de-mail-notification-type",
                f"unknown notification type {notification_type!r}",
                f"Unbekannter Meldungstyp {notification_type!r}.",
            )
        )
    flags = {
        name: _yes_no(section, f"X-de-mail-{name.replace('_', '-')}", defects)
        for name in (
            "authoritative",
            "private",
            "confirmation_of_dispatch",
            "confirmation_of_receipt",
            "confirmation_of_retrieve",
        )
    }
    recipients = {
        kind: parse_recipients(
            _text(section, f"X-de-mail-{kind}-recipient"), f"X-de-mail-{kind}-recipient", defects
        )
        for kind in ("chosen", "actual")
    }
    auth_level = _auth_level(section, defects)
    return DemailHeaders(
        present=present,
        message_type=message_type,
        authoritative=flags["authoritative"],
        private=flags["private"],
        confirmation_of_dispatch=flags["confirmation_of_dispatch"],
        confirmation_of_receipt=flags["confirmation_of_receipt"],
        confirmation_of_retrieve=flags["confirmation_of_retrieve"],
        auth_level=auth_level,
        auth_mechanism=_text(section, "X-de-mail-auth-mechanism"),
        sender=_text(section, "X-de-mail-sender"),
        chosen_recipients=recipients["chosen"],
        actual_recipients=recipients["actual"],
        originator_provider=_text(section, "X-de-mail-originator-provider"),
        version=_text(section, "X-de-mail-version"),
        private_id=_text(section, "X-de-mail-private-id"),
        demail_message_id=_text(section, "X-de-mail-message-id"),
        account_holder=_text(section, "X-de-mail-account-holder"),
        notification_type=notification_type,
        integrity=_text(section, "X-de-mail-integrity"),
        signature_certificate="".join(_text(section, "X-de-mail-signature-certificate").split()),
        from_=_text(section, "From"),
        date=_text(section, "Date"),
        message_id=_text(section, "Message-ID"),
        subject=_text(section, "Subject"),
        defects=tuple(defects),
    )


def parse_headers(raw: bytes) -> DemailHeaders:
    """The De-Mail view of a raw RFC 5322 message; never raises."""
    return headers_of(split_message(raw))


def is_demail(raw: bytes) -> bool:
    """Whether the message carries any X-de-mail-* field, i.e. claims to be a De-Mail."""
    return any(f.key.startswith(DEMAIL_PREFIX) for f in split_message(raw).fields)


@dataclass(frozen=True, slots=True)
class ConfirmationReference:
    """The message a provider's confirmation concerns (TR PVD IO 3.5.1): from the headers
    (subject, X-de-mail-private-id copied from the original) and the XML part
    `Acknowledge-Message` (Metadata of the original, its X-de-mail-integrity as Hash)."""

    kind: MessageType
    original_subject: str
    original_private_id: str
    original_message_id: str  # the original's X-de-mail-message-id
    original_integrity: str  # the original's full X-de-mail-integrity value
    original_metadata: tuple[tuple[str, str], ...]  # (Name, Value) of each Metadate
    issuer: str  # Sender: the De-Mail address of the confirming provider
    issued_at: datetime | None
    delivered_at: datetime | None  # DeliveryTime, confirmations of retrieve only
    defects: tuple[Defect, ...]


def _acknowledge_xml(message: Message) -> Element | None:
    for part in message.walk():
        if part.get_content_type() not in ("application/xml", "text/xml"):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        try:
            root: Element = fromstring(payload)
        except (ParseError, DefusedXmlException, ValueError):
            continue
        if root.tag == f"{{{DEMAIL_XML_NAMESPACE}}}Acknowledge-Message":
            return root
    return None


def _xml_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def confirmation_reference(raw: bytes, headers: DemailHeaders) -> ConfirmationReference | None:
    """For a confirmation, what it confirms; None for every other message type."""
    if not headers.is_confirmation:
        return None
    subject = headers.subject
    prefix = SUBJECT_PREFIXES.get(headers.message_type, "")
    if prefix and subject.startswith(prefix):
        subject = subject[len(prefix) :].strip()
    defects: list[Defect] = []
    root = _acknowledge_xml(email.message_from_bytes(raw, policy=email.policy.compat32))
    ns = {"dm": DEMAIL_XML_NAMESPACE}
    if root is None:
        defects.append(
            Defect(
                "",
                "the confirmation has no XML part Acknowledge-Message (urn:de-mail)",
                "Die Bestätigung enthält keinen XML-Teil „Acknowledge-Message“ (urn:de-mail).",
            )
        )
        metadata: tuple[tuple[str, str], ...] = ()
        texts: dict[str, str] = {}
    else:
        metadata = tuple(
            (m.findtext("dm:Name", "", ns).strip(), m.findtext("dm:Value", "", ns).strip())
            for m in root.iterfind("dm:Metadata/dm:Metadate", ns)
        )
        texts = {
            t: root.findtext(f"dm:{t}", "", ns).strip()
            for t in ("Sender", "Hash", "Time", "DeliveryTime")
        }
    by_name = {name.lower(): value for name, value in reversed(metadata)}
    return ConfirmationReference(
        kind=headers.message_type,
        original_subject=subject,
        original_private_id=headers.private_id,
        original_message_id=by_name.get("x-de-mail-message-id", ""),
        original_integrity=texts.get("Hash", ""),
        original_metadata=metadata,
        issuer=texts.get("Sender", ""),
        issued_at=_xml_time(texts.get("Time", "")),
        delivered_at=_xml_time(texts.get("DeliveryTime", "")),
        defects=tuple(defects),
    )
