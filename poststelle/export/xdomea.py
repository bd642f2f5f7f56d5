"""An item handed to a department's e-file system as an xdomea 3.1.0 Geschaeftsgang.0201 zip."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from zoneinfo import ZoneInfo

from lxml import etree

from poststelle.analysis.names import safe_filename
from poststelle.dossier import OUTCOME_DE, Dossier

NS = "urn:xoev-de:xdomea:schema:3.1.0"
MESSAGE = "Geschaeftsgang.Geschaeftsgang.0201"
BERLIN = ZoneInfo("Europe/Berlin")
PRODUCT = "Poststelle"

_NACHRICHTENTYP = ("urn:xoev-de:xdomea:codeliste:nachrichtentyp", "2.0")
_BETEILIGUNGSSTATUS = ("urn:xoev-de:xdomea:codeliste:beteiligungsstatus", "1.1")
_MEDIUM = ("urn:xoev-de:xdomea:codeliste:medium", "1.0")
_DATEIFORMAT = ("urn:xoev-de:xdomea:codeliste:dateiformat", "1.0")
_ELEKTRONISCH = "001"
_AKTUELL = "002"
_SONSTIGES = "100"

# Content type → code of the xdomea code list Dateiformat 1.0.
_FORMATS = {
    "image/bmp": "001",
    "text/csv": "002",
    "application/msword": "003",
    "message/rfc822": "006",
    "text/html": "008",
    "image/jpeg": "011",
    "application/vnd.ms-outlook": "012",
    "application/vnd.oasis.opendocument.presentation": "013",
    "application/vnd.oasis.opendocument.spreadsheet": "014",
    "application/vnd.oasis.opendocument.text": "015",
    "application/pdf": "018",
    "image/png": "019",
    "application/vnd.ms-powerpoint": "020",
    "application/postscript": "021",
    "application/rtf": "022",
    "text/rtf": "022",
    "image/tiff": "024",
    "application/vnd.ms-excel": "028",
    "application/xml": "030",
    "text/xml": "030",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "035",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "036",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "037",
    "text/plain": "045",
}

# Stable IDs: the same item, document or step gets the same UUID in every export.
_IDS = uuid.UUID("5b0a3f0e-2c1d-4f61-9a57-6f7374656c6c")


@dataclass(frozen=True, slots=True)
class Party:
    """One side of the exchange as xdomea's Kontakt names it."""

    institution: str  # Institution/Name, e.g. the authority
    unit: str  # Organisationseinheit/Name, e.g. "Poststelle" or the department's title
    authority_key: str = ""  # Behoerdenkennung/Behoerdenschluessel, e.g. a DVDV key


@dataclass(frozen=True, slots=True)
class _File:
    """One primary document: its name in the zip, the sender's name for it, its bytes."""

    id: uuid.UUID
    zip_name: str
    original_name: str
    content_type: str
    data: bytes


def message_name(process_id: uuid.UUID) -> str:
    """The xdomea file name of the message inside the zip."""
    return f"{process_id}_{MESSAGE}.xml"


def process_id(dossier: Dossier, recipient: Party, now: datetime) -> uuid.UUID:
    """The ProzessID of one hand-over of this item to this recipient at this moment."""
    return uuid.uuid5(_IDS, f"process/{dossier.item.id}/{recipient.unit}/{now.isoformat()}")


def geschaeftsgang_zip(
    dossier: Dossier,
    *,
    sender: Party,
    recipient: Party,
    read: Callable[[str], bytes],
    now: datetime,
) -> bytes:
    """The zip a department's e-file system imports: the 0201 message and every file it names.

    `read(sha256)` returns a blob's bytes (`BlobStore.read`); `now` is the Erstellungszeitpunkt.
    """
    item = dossier.item
    message = _file(
        dossier, "message", f"{item.registry_number}.eml", "message/rfc822", read(item.sha256)
    )
    documents = [
        _file(
            dossier,
            f"document/{doc.index}",
            doc.safe_name or doc.name,
            doc.content_type,
            read(doc.sha256),
            original_name=doc.name or doc.safe_name,
            index=doc.index,
        )
        for doc in dossier.documents
    ]
    protocol_html = dossier.protocol_html()
    protocol = (
        _file(
            dossier,
            "protocol",
            "Pruefprotokoll.html",
            "text/html",
            protocol_html.encode("utf-8"),
            original_name=f"Prüfprotokoll {item.registry_number}.html",
        )
        if protocol_html is not None
        else None
    )
    prozess = process_id(dossier, recipient, now)
    root = _message(dossier, sender, recipient, now, prozess, message, documents, protocol)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_entry(message_name(prozess), now), xml)
        for file in [message, *documents, *([protocol] if protocol else [])]:
            archive.writestr(_entry(file.zip_name, now), file.data)
    return out.getvalue()


def _file(
    dossier: Dossier,
    key: str,
    name: str,
    content_type: str,
    data: bytes,
    *,
    original_name: str = "",
    index: int = 0,
) -> _File:
    """A primary document named `<UUID>_<safe name>` as xdomea's stringDateinameType wants."""
    file_id = uuid.uuid5(_IDS, f"{dossier.item.id}/{key}")
    safe = safe_filename(name, index, content_type)
    return _File(file_id, f"{file_id}_{safe}", original_name or name, content_type, data)


def _entry(name: str, now: datetime) -> zipfile.ZipInfo:
    local = now.astimezone(BERLIN)
    info = zipfile.ZipInfo(name, date_time=local.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _message(
    dossier: Dossier,
    sender: Party,
    recipient: Party,
    now: datetime,
    prozess: uuid.UUID,
    message: _File,
    documents: list[_File],
    protocol: _File | None,
) -> etree._Element:
    item = dossier.item
    root = etree.Element(_q(MESSAGE), nsmap={"xdomea": NS})
    kopf = _sub(root, "Kopf")
    _text(kopf, "ProzessID", str(prozess))
    _code(kopf, "Nachrichtentyp", "0201", _NACHRICHTENTYP)
    _text(kopf, "Erstellungszeitpunkt", _datetime(now))
    _contact(_sub(kopf, "Absender"), sender)
    _contact(_sub(kopf, "Empfaenger"), recipient)
    system = _sub(kopf, "SendendesSystem")
    _text(system, "Produktname", PRODUCT)
    _text(system, "Version", version("poststelle"))
    _text(kopf, "EmpfangsbestaetigungAnInitiator", "true")
    _text(kopf, "EmpfangsbestaetigungAnVorgaenger", "false")

    dokument = _sub(_sub(root, "Hauptobjekt"), "Dokument")
    _identification(dokument, message.id)
    metadata = _sub(dokument, "AllgemeineMetadaten")
    _text(metadata, "Betreff", dossier.subject or f"Eingang {item.registry_number}")
    _text(metadata, "Kennzeichen", item.registry_number)
    if dossier.decision is not None:
        _text(metadata, "Bemerkung", f"Schriftformersatz: {OUTCOME_DE[dossier.decision.outcome]}")
    _code(metadata, "Medium", _ELEKTRONISCH, _MEDIUM)
    _text(dokument, "Posteingangsdatum", item.received_at.astimezone(BERLIN).date().isoformat())
    _text(dokument, "Typ", "Eingang")
    _version(dokument, message, item.received_at)
    for number, document in enumerate(documents, start=1):
        anlage = _sub(dokument, "Anlage")
        _identification(anlage, document.id)
        _text(_sub(anlage, "AllgemeineMetadaten"), "Betreff", document.original_name)
        _version(anlage, document, item.received_at)
        _text(anlage, "Nummer", str(number))
    _text(_sub(_sub(dokument, "Absender"), "Kommunikation"), "Kennung", item.envelope.sender)

    gang = _sub(root, "ExternerGeschaeftsgang")
    _identification(gang, uuid.uuid5(_IDS, f"{item.id}/geschaeftsgang"))
    schritt = _sub(gang, "Beteiligungsschritt")
    _text(schritt, "Nummer", "1")
    _code(schritt, "Status", _AKTUELL, _BETEILIGUNGSSTATUS)
    verfuegung = _sub(schritt, "Verfuegung")
    _contact(_sub(verfuegung, "Ersteller"), sender)
    _contact(_sub(verfuegung, "Adressat"), recipient)
    local = now.astimezone(BERLIN)
    _text(verfuegung, "Erstellungsdatum", local.date().isoformat())
    _text(verfuegung, "Erstellungsuhrzeit", local.timetz().isoformat(timespec="seconds"))
    _text(verfuegung, "Verfuegung", "zur Bearbeitung")
    _text(
        verfuegung,
        "Notiz",
        f"Eingang {item.registry_number} vom {_datetime(item.received_at)}",
    )

    if protocol is not None:
        anlage = _sub(_sub(root, "Anlage"), "Dokument")
        _identification(anlage, protocol.id)
        metadata = _sub(anlage, "AllgemeineMetadaten")
        _text(metadata, "Betreff", f"Prüfprotokoll zu {item.registry_number}")
        _text(metadata, "Kennzeichen", item.registry_number)
        _text(anlage, "Typ", "Prüfprotokoll")
        _version(anlage, protocol, now)
    return root


def _contact(parent: etree._Element, party: Party) -> None:
    if party.authority_key:
        _text(
            _sub(_sub(parent, "Behoerdenkennung"), "Behoerdenschluessel"),
            "code",
            party.authority_key,
            qualified=False,
        )
    _text(_sub(parent, "Institution"), "Name", party.institution)
    _text(_sub(parent, "Organisationseinheit"), "Name", party.unit)


def _identification(parent: etree._Element, object_id: uuid.UUID) -> None:
    _text(_sub(parent, "Identifikation"), "ID", str(object_id))


def _version(parent: etree._Element, file: _File, created: datetime) -> None:
    version_ = _sub(parent, "Version")
    _text(version_, "Nummer", "1")
    fmt = _sub(version_, "Format")
    code = _FORMATS.get(file.content_type.lower(), _SONSTIGES)
    _code(fmt, "Name", code, _DATEIFORMAT)
    if code == _SONSTIGES:
        _text(fmt, "SonstigerName", file.content_type or "application/octet-stream")
    _text(fmt, "Version", "")
    primaer = _sub(fmt, "Primaerdokument")
    _text(primaer, "Dateiname", file.zip_name)
    _text(primaer, "DateinameOriginal", file.original_name)
    _text(primaer, "DatumUhrzeit", _datetime(created))


def _code(parent: etree._Element, name: str, code: str, code_list: tuple[str, str]) -> None:
    element = _sub(parent, name)
    element.set("listURI", code_list[0])
    element.set("listVersionID", code_list[1])
    _text(element, "code", code, qualified=False)


def _sub(parent: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(parent, _q(name))


def _text(parent: etree._Element, name: str, value: str, *, qualified: bool = True) -> None:
    etree.SubElement(parent, _q(name) if qualified else name).text = value


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _datetime(moment: datetime) -> str:
    return moment.astimezone(BERLIN).isoformat(timespec="seconds")
