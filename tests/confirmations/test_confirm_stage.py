"""The confirm stage in a `poststelle init` installation: one signed receipt per item, however
often the stage runs, and a § 3a notice when the item is unsuitable."""

from __future__ import annotations

import email
import email.policy
import subprocess
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from connectors.maildir import MaildirInbox, MaildirOutbox
from poststelle.config import Config, load_config
from poststelle.decision.procedures import load_procedure_policy
from poststelle.model import Channel, Envelope, Item
from poststelle.pipeline.runner import run_stage
from poststelle.pipeline.services import Services
from poststelle.routing import load_routing_policy
from poststelle.setup import initialise
from poststelle.stages import STAGES, confirm
from poststelle.store.backends import SqliteBackend
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore
from poststelle.verification.verifier import Verifier
from tests.confirmations.conftest import DOMAIN, LocalTimestamper

CITIZEN = "buerger@example.org"


@dataclass(frozen=True)
class Installation:
    root: Path
    config: Config

    def services(self) -> Services:
        """What one process has: a fresh store connection, outbox and TSA client."""
        config = self.config
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
        )

    def outbox(self) -> list[EmailMessage]:
        found = []
        for sub in ("new", "cur"):
            directory = self.config.outbox.maildir / sub
            for path in sorted(directory.iterdir()) if directory.is_dir() else []:
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                found.append(message)
        return found


@pytest.fixture
def installation(tmp_path: Path) -> Installation:
    path = initialise(
        tmp_path / "poststelle",
        domain=DOMAIN,
        authority="Stadtverwaltung Übersee",
        smtp_port=2525,
        http_port=8025,
    )
    return Installation(path.parent, load_config(path))


def message(attachment_type: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = CITIZEN
    mail["To"] = f"bauamt@{DOMAIN}"
    mail["Subject"] = "Bauantrag Gärtnerstraße"
    mail.set_content("Anbei mein Antrag.")
    maintype, _, subtype = attachment_type.partition("/")
    mail.add_attachment(b"%PDF-1.7 Antrag", maintype=maintype, subtype=subtype, filename="antrag.x")
    return bytes(mail)


def receive(services: Services, data: bytes) -> Item:
    item = services.store.accept(
        channel=Channel.SMTP,
        envelope=Envelope(CITIZEN, (f"bauamt@{DOMAIN}",)),
        blob=services.blobs.put(data),
    )
    for stage in ("stamp", "analyse", "verify", "decide", "confirm"):
        run_stage(stage, item.id, services=services, stages=STAGES, enqueue=lambda s, i: None)
    return item


def test_one_signed_receipt_per_item_across_retries_and_a_restart(
    installation: Installation, tmp_path: Path
) -> None:
    services = installation.services()
    item = receive(services, message("application/pdf"))
    (receipt,) = installation.outbox()
    assert receipt["Subject"] == "*Eingangsbestätigung* Bauantrag Gärtnerstraße"
    assert receipt.get_content_type() == "multipart/signed"

    confirm.run(item, services)  # a retry after the send, before the stage result was stored
    confirm.run(item, installation.services())  # the same after a restart
    assert len(installation.outbox()) == 1

    (sent,) = [
        p for sub in ("new", "cur") for p in (installation.config.outbox.maildir / sub).iterdir()
    ]
    done = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-CAfile",
            str(installation.root / "pki" / "root.crt"),
            "-in",
            str(sent),
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_an_unsuitable_item_also_gets_one_notice_with_the_procedures_requirements(
    installation: Installation,
) -> None:
    services = installation.services()
    item = receive(services, message("application/x-msdownload"))
    confirm.run(item, services)
    subjects = sorted(str(m["Subject"]) for m in installation.outbox())
    assert subjects == [
        "*Eingangsbestätigung* Bauantrag Gärtnerstraße",
        "*Hinweis zu Ihrer Nachricht* Bauantrag Gärtnerstraße",
    ]
    (notice,) = [m for m in installation.outbox() if "Hinweis" in str(m["Subject"])]
    text = notice.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert "Dateiformat nicht zugelassen" in body
    assert "application/x-msdownload" in body
    assert "Bauanträge bedürfen der Schriftform." in body
    assert item.registry_number in body
