"""The scan stage in a `poststelle init` installation: malware makes the item unsuitable and
holds it for the clerk; an unreachable scanner fails the stage; no scanner is said so."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from connectors.clamd import ClamdAddress, ClamdScanner
from connectors.maildir import MaildirInbox, MaildirOutbox
from poststelle.config import Config, load_config
from poststelle.decision.procedures import load_procedure_policy
from poststelle.decision.rules import Decision, Unsuitability
from poststelle.model import Channel, Envelope, Item, ItemState
from poststelle.pipeline.runner import run_stage
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import stored_record
from poststelle.ports import MalwareScanner, ScannerUnavailable
from poststelle.routing import load_routing_policy
from poststelle.setup import initialise
from poststelle.stages import STAGES
from poststelle.stages.route import RouteRecord
from poststelle.stages.scan import DocumentScan, ScanRecord, ScanStatus
from poststelle.store.backends import SqliteBackend
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore
from poststelle.verification.verifier import Verifier
from tests.confirmations.conftest import DOMAIN, LocalTimestamper
from tests.scanning.conftest import FOUND_AS, Clamd, eicar

CITIZEN = "buerger@example.org"
UNTIL_ROUTE = ("stamp", "analyse", "scan", "verify", "decide", "confirm", "route")


def installation(root: Path, scanner_section: str) -> Config:
    path = initialise(
        root / "poststelle",
        domain=DOMAIN,
        authority="Stadtverwaltung Übersee",
        smtp_port=2525,
        http_port=8025,
    )
    text = re.sub(
        r"^stages = \[.*\]$",
        'stages = ["stamp", "analyse", "scan", "verify", "decide", "confirm", "route", "deliver"]',
        path.read_text(),
        flags=re.M,
    )
    path.write_text(f"{text}\n[scanner]\n{scanner_section}\n")
    return load_config(path)


def services(config: Config, scanner: MalwareScanner | None) -> Services:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqlStore(SqliteBackend(config.data_dir / "poststelle.sqlite3"))
    store.migrate()
    builtin = config.timestamp.builtin
    assert builtin is not None
    return Services(
        config=config,
        store=store,
        blobs=BlobStore(config.data_dir / "blobs"),
        timestamper=LocalTimestamper(builtin.key, builtin.certificate),
        inbox=MaildirInbox({k: d.maildir for k, d in config.departments.items()}),
        outbox=MaildirOutbox(config.outbox.maildir),
        routing=load_routing_policy(config.routing_policy, config.departments.keys()),
        procedures=load_procedure_policy(config.procedure_policy),
        verifier=Verifier.from_settings(config.verification),
        scanner=scanner,
    )


def clamd_scanner(config: Config) -> ClamdScanner:
    assert config.scanner.kind == "clamd"
    assert config.scanner.socket is not None
    return ClamdScanner(ClamdAddress(config.scanner.socket), timeout=config.scanner.timeout_seconds)


def message(*attachments: tuple[str, bytes]) -> bytes:
    mail = EmailMessage()
    mail["From"] = CITIZEN
    mail["To"] = f"bauamt@{DOMAIN}"
    mail["Subject"] = "Bauantrag Gärtnerstraße"
    mail.set_content("Anbei mein Antrag.")
    for name, data in attachments:
        mail.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return bytes(mail)


def receive(services: Services, data: bytes, stages: tuple[str, ...] = UNTIL_ROUTE) -> Item:
    item = services.store.accept(
        channel=Channel.SMTP,
        envelope=Envelope(CITIZEN, (f"bauamt@{DOMAIN}",)),
        blob=services.blobs.put(data),
    )
    for stage in stages:
        run_stage(stage, item.id, services=services, stages=STAGES, enqueue=lambda s, i: None)
    return item


def scan_record(services: Services, item: Item) -> ScanRecord:
    record = stored_record(services.store, item.id, "scan", ScanRecord)
    assert record is not None
    return record


def outbox(config: Config) -> list[EmailMessage]:
    found = []
    for sub in ("new", "cur"):
        directory = config.outbox.maildir / sub
        for path in sorted(directory.iterdir()) if directory.is_dir() else []:
            mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(mail, EmailMessage)
            found.append(mail)
    return found


def test_malware_makes_the_item_unsuitable_and_holds_it_for_the_clerk(
    clamd: Clamd, tmp_path: Path
) -> None:
    config = installation(tmp_path, f'kind = "clamd"\nsocket = "{clamd.socket_path}"')
    svc = services(config, clamd_scanner(config))
    infected = b"%PDF-1.4\n" + eicar()
    item = receive(svc, message(("antrag.pdf", b"%PDF-1.7 Antrag"), ("rechnung.pdf", infected)))

    record = scan_record(svc, item)
    assert record.scanned
    assert record.scanners and record.scanners[0].startswith("ClamAV ")
    by_name = {d.name: d for d in record.documents}
    assert by_name["rechnung.pdf"].status is ScanStatus.INFECTED
    assert by_name["rechnung.pdf"].signature == FOUND_AS
    assert by_name["antrag.pdf"] == DocumentScan(
        by_name["antrag.pdf"].sha256, "antrag.pdf", ScanStatus.CLEAN, ""
    )
    assert record.infected == (by_name["rechnung.pdf"],)

    decision = stored_record(svc.store, item.id, "decide", Decision)
    assert decision is not None and not decision.suitable
    (cause,) = [c for c in decision.unsuitable if c.kind is Unsuitability.MALWARE]
    assert cause.document == "rechnung.pdf"
    assert FOUND_AS in cause.detail_de

    route = stored_record(svc.store, item.id, "route", RouteRecord)
    assert route is not None and route.held
    after = svc.store.item(item.id)
    assert after is not None and after.state is ItemState.NEEDS_REVIEW

    (notice,) = [m for m in outbox(config) if "Hinweis" in str(m["Subject"])]
    body = notice.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Schadsoftware gefunden" in text
    assert "rechnung.pdf" in text

    journal = [e for e in svc.store.journal(item_id=item.id) if e.event == "stage.scan"]
    assert len(journal) == 1
    assert journal[0].data["infected"] == [f"rechnung.pdf: {FOUND_AS}"]


def test_a_clean_item_is_scanned_and_stays_suitable(clamd: Clamd, tmp_path: Path) -> None:
    config = installation(tmp_path, f'kind = "clamd"\nsocket = "{clamd.socket_path}"')
    svc = services(config, clamd_scanner(config))
    item = receive(svc, message(("antrag.pdf", b"%PDF-1.7 Antrag")))
    record = scan_record(svc, item)
    assert record.scanned and not record.infected
    assert {d.status for d in record.documents} == {ScanStatus.CLEAN}
    assert len(record.documents) == 2  # the text body and the attachment
    decision = stored_record(svc.store, item.id, "decide", Decision)
    assert decision is not None
    assert not [c for c in decision.unsuitable if c.kind is Unsuitability.MALWARE]


def test_clamd_down_fails_the_stage_for_a_retry_and_records_nothing(tmp_path: Path) -> None:
    running = Clamd.start(tmp_path / "clamd")
    config = installation(tmp_path, f'kind = "clamd"\nsocket = "{running.socket_path}"')
    svc = services(config, clamd_scanner(config))
    running.stop()
    item = receive(svc, message(("rechnung.pdf", eicar())), ("stamp", "analyse"))
    with pytest.raises(ScannerUnavailable):
        run_stage("scan", item.id, services=svc, stages=STAGES, enqueue=lambda s, i: None)
    assert svc.store.stage_result(item.id, "scan") is None
    after = svc.store.item(item.id)
    assert after is not None and after.state is ItemState.ANALYSED

    restarted = Clamd.start(tmp_path / "clamd-again")
    try:
        retried = services(config, ClamdScanner(restarted.address))
        run_stage("scan", item.id, services=retried, stages=STAGES, enqueue=lambda s, i: None)
        assert scan_record(retried, item).infected[0].signature == FOUND_AS
    finally:
        restarted.stop()


def test_without_a_scanner_the_item_is_recorded_as_not_scanned(tmp_path: Path) -> None:
    config = installation(tmp_path, 'kind = "none"')
    assert config.scanner.kind == "none"
    svc = services(config, None)
    item = receive(svc, message(("rechnung.pdf", eicar())))
    record = scan_record(svc, item)
    assert record == ScanRecord(False, "no scanner configured", (), ())
    (entry,) = [e for e in svc.store.journal(item_id=item.id) if e.event == "stage.scan"]
    assert entry.data["result"] == "not scanned (no scanner configured)"
    decision = stored_record(svc.store, item.id, "decide", Decision)
    assert decision is not None
    assert not [c for c in decision.unsuitable if c.kind is Unsuitability.MALWARE]
