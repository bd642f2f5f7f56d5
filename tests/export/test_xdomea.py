"""An analysed, verified item becomes a Geschaeftsgang.0201 zip the xdomea 3.1.0 XSD accepts."""

from __future__ import annotations

import dataclasses
import email.policy
import hashlib
import io
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

import pytest
import xmlschema
from lxml import etree

from poststelle.dossier import Dossier, gather
from poststelle.export.xdomea import NS, Party, geschaeftsgang_zip, message_name, process_id
from poststelle.model import Channel, Envelope
from tests.web.conftest import Site
from tests.web.conftest import site as site  # the shared fixtures
from tests.web.conftest import template as template

SCHEMA = (
    Path(__file__).parents[1]
    / "support"
    / "xdomea"
    / "3.1.0"
    / "xdomea-Nachrichten-GeschaeftsgangDurchfuehren.xsd"
)
X = {"x": NS}
STAGES = ("analyse", "scan", "channel", "verify", "decide")
NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
SUBJECT = "Bauantrag für Grundstück Mühlenstraße 3 – Größenänderung"
SENDER = Party("Stadt Test", "Poststelle", "09162000")
RECIPIENT = Party("Stadt Test", "Bauamt – Untere Bauaufsichtsbehörde")


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA))


def mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jörg Müller <joerg.mueller@example.org>"
    msg["To"] = "bauamt@amt.test"
    msg["Subject"] = SUBJECT
    msg.set_content("Sehr geehrte Damen und Herren,\nanbei mein Antrag.\n")
    msg.add_attachment(
        b"%PDF-1.4\n% Bauantrag\n",
        maintype="application",
        subtype="pdf",
        filename="Bauantrag Müller.pdf",
    )
    msg.add_attachment(
        b"root:x:0:0\n", maintype="application", subtype="octet-stream", filename="../../etc/passwd"
    )
    return msg.as_bytes(policy=email.policy.SMTP)


@pytest.fixture
def dossier(site: Site) -> Dossier:
    item = site.mailroom.intake.accept_bytes(
        mail(), Channel.SMTP, Envelope("joerg.mueller@example.org", ("bauamt@amt.test",))
    )
    site.run(item.id, *STAGES)
    stored = site.store.item(item.id)
    assert stored is not None
    return gather(site.store, stored)


def export(site: Site, dossier: Dossier) -> zipfile.ZipFile:
    data = geschaeftsgang_zip(
        dossier,
        sender=SENDER,
        recipient=RECIPIENT,
        read=site.mailroom.services.blobs.read,
        now=NOW,
    )
    return zipfile.ZipFile(io.BytesIO(data))


def message_of(archive: zipfile.ZipFile, dossier: Dossier) -> etree._Element:
    name = message_name(process_id(dossier, RECIPIENT, NOW))
    return etree.fromstring(archive.read(name))


def file_names(root: etree._Element) -> list[str]:
    return [str(n) for n in root.xpath("//x:Primaerdokument/x:Dateiname/text()", namespaces=X)]


def test_the_message_validates_against_the_xdomea_schema(
    site: Site, dossier: Dossier, schema: xmlschema.XMLSchema
) -> None:
    archive = export(site, dossier)
    root = message_of(archive, dossier)

    schema.validate(root)
    assert etree.QName(root).localname == "Geschaeftsgang.Geschaeftsgang.0201"
    assert root.findtext("x:Kopf/x:Nachrichtentyp/code", namespaces=X) == "0201"
    assert root.findtext("x:Kopf/x:ProzessID", namespaces=X) == str(
        process_id(dossier, RECIPIENT, NOW)
    )
    assert root.findtext("x:Kopf/x:SendendesSystem/x:Produktname", namespaces=X) == "Poststelle"


def test_the_zip_holds_the_message_and_exactly_the_files_it_names(
    site: Site, dossier: Dossier
) -> None:
    archive = export(site, dossier)
    root = message_of(archive, dossier)
    named = file_names(root)

    xml_name = message_name(process_id(dossier, RECIPIENT, NOW))
    assert sorted(archive.namelist()) == sorted([xml_name, *named])
    assert (
        len(named) == len(set(named)) == 1 + len(dossier.documents) + 1
    )  # eml, documents, protocol
    assert archive.testzip() is None


def test_the_files_are_the_stored_bytes(site: Site, dossier: Dossier) -> None:
    archive = export(site, dossier)
    root = message_of(archive, dossier)
    blobs = site.mailroom.services.blobs
    by_original = {
        str(p.findtext("x:DateinameOriginal", namespaces=X)): archive.read(
            str(p.findtext("x:Dateiname", namespaces=X))
        )
        for p in root.iterfind(".//x:Primaerdokument", namespaces=X)
    }

    main = root.find("x:Hauptobjekt/x:Dokument", namespaces=X)
    assert main is not None
    eml = archive.read(
        str(main.findtext("x:Version/x:Format/x:Primaerdokument/x:Dateiname", namespaces=X))
    )
    assert hashlib.sha256(eml).hexdigest() == dossier.item.sha256
    assert eml == blobs.read(dossier.item.sha256)
    assert len(dossier.documents) >= 2
    for document in dossier.documents:
        assert (
            hashlib.sha256(by_original[document.name or document.safe_name]).hexdigest()
            == document.sha256
        )
    protocol = dossier.protocol_html()
    assert protocol is not None
    assert by_original[f"Prüfprotokoll {dossier.item.registry_number}.html"] == protocol.encode()


def test_registry_number_subject_and_umlauts_are_carried(site: Site, dossier: Dossier) -> None:
    root = message_of(export(site, dossier), dossier)
    main = root.find("x:Hauptobjekt/x:Dokument", namespaces=X)
    assert main is not None

    assert main.findtext("x:AllgemeineMetadaten/x:Kennzeichen", namespaces=X) == (
        dossier.item.registry_number
    )
    assert main.findtext("x:AllgemeineMetadaten/x:Betreff", namespaces=X) == SUBJECT
    received = dossier.item.received_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert main.findtext("x:Posteingangsdatum", namespaces=X) == received.date().isoformat()
    originals = root.xpath("//x:Primaerdokument/x:DateinameOriginal/text()", namespaces=X)
    assert "Bauantrag Müller.pdf" in originals
    assert root.findtext("x:Kopf/x:Empfaenger/x:Organisationseinheit/x:Name", namespaces=X) == (
        RECIPIENT.unit
    )
    assert (
        root.findtext(
            "x:Kopf/x:Absender/x:Behoerdenkennung/x:Behoerdenschluessel/code", namespaces=X
        )
        == SENDER.authority_key
    )
    assert any("Müller" in name for name in file_names(root))


def test_hostile_document_names_stay_inside_the_zip(site: Site, dossier: Dossier) -> None:
    assert dossier.analysis is not None
    hostile = dataclasses.replace(
        dossier,
        analysis=dataclasses.replace(
            dossier.analysis,
            documents=tuple(
                dataclasses.replace(d, name="../../etc/passwd", safe_name="../../etc/passwd")
                for d in dossier.analysis.documents
            ),
        ),
    )
    archive = export(site, hostile)

    for name in archive.namelist():
        path = PurePosixPath(name)
        assert len(path.parts) == 1 and ".." not in name and not path.is_absolute(), name
        assert "\\" not in name
    root = message_of(archive, hostile)
    assert sorted(archive.namelist()) == sorted(
        [message_name(process_id(hostile, RECIPIENT, NOW)), *file_names(root)]
    )
    assert "../../etc/passwd" in root.xpath(
        "//x:Primaerdokument/x:DateinameOriginal/text()", namespaces=X
    )


def test_an_unverified_item_is_exported_without_a_protocol(
    site: Site, dossier: Dossier, schema: xmlschema.XMLSchema
) -> None:
    bare = dataclasses.replace(dossier, report=None, decision=None)
    archive = export(site, bare)
    root = message_of(archive, bare)

    schema.validate(root)
    assert root.find("x:Anlage", namespaces=X) is None
    assert len(archive.namelist()) == 1 + 1 + len(bare.documents)


def test_the_same_inputs_give_the_same_zip(site: Site, dossier: Dossier) -> None:
    def once() -> bytes:
        return geschaeftsgang_zip(
            dossier,
            sender=SENDER,
            recipient=RECIPIENT,
            read=site.mailroom.services.blobs.read,
            now=NOW,
        )

    assert once() == once()


def test_the_schema_rejects_a_message_type_outside_the_code_list(
    site: Site, dossier: Dossier, schema: xmlschema.XMLSchema
) -> None:
    root = message_of(export(site, dossier), dossier)
    code = root.find("x:Kopf/x:Nachrichtentyp/code", namespaces=X)
    assert code is not None
    code.text = "0299"

    assert not schema.is_valid(root)
