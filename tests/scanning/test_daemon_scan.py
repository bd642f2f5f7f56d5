"""`poststelle serve` with `[scanner] kind = "clamd"`: a mail carrying malware goes to the clerk."""

from __future__ import annotations

import email.policy
import json
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    DOMAIN,
    Installation,
    Server,
    new_installation,
    poststelle,
    wait_for,
)
from tests.e2e.test_walking_skeleton import send
from tests.scanning.conftest import FOUND_AS, Clamd, eicar


@pytest.fixture
def scanning(tmp_path: Path, clamd: Clamd) -> Iterator[tuple[Installation, Server]]:
    installation = new_installation(tmp_path / "poststelle")
    with installation.config.open("a") as config:
        config.write(f'\n[scanner]\nkind = "clamd"\nsocket = "{clamd.socket_path}"\n')
    server = Server(installation).wait_listening()
    yield installation, server
    server.stop()


def status(installation: Installation, number: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        poststelle("status", number, "--json", config=installation.config)
    )
    return data


def test_a_mail_with_malware_is_held_for_the_clerk(
    scanning: tuple[Installation, Server],
) -> None:
    installation, _ = scanning
    mail = EmailMessage()
    mail["From"] = "buerger@example.org"
    mail["To"] = f"bauamt@{DOMAIN}"
    mail["Subject"] = "Rechnung"
    mail.set_content("Anbei die Rechnung.")
    mail.add_attachment(eicar(), maintype="application", subtype="pdf", filename="rechnung.pdf")
    number = send(installation, f"bauamt@{DOMAIN}", mail.as_bytes(policy=email.policy.SMTP))

    wait_for(
        lambda: status(installation, number)["item"]["state"] == "needs_review",
        30,
        "the item to wait for the clerk",
    )
    stages = {s["stage"]: s["result"] for s in status(installation, number)["stages"]}
    scanned = {d["name"]: d for d in stages["scan"]["documents"]}
    assert scanned["rechnung.pdf"]["status"] == "infected"
    assert scanned["rechnung.pdf"]["signature"] == FOUND_AS
    kinds = [c["kind"] for c in stages["decide"]["unsuitable"]]
    assert "malware" in kinds
    assert stages["route"]["held"] is True
    assert installation.maildir_messages(installation.inbox("bauamt")) == []
