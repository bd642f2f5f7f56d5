"""Confirmations owed after a person's action: the Zustellnachweis when a department
acknowledges, the § 3a notice when the clerk rejects; made once, and made later when the
first attempt fails."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from poststelle.followups import settle_owed
from poststelle.model import ItemState
from poststelle.timestamp.client import HttpTimestamper
from tests.pipeline.conftest import pem_file, trusting
from tests.support.testpki import GeneratedPki
from tests.web.conftest import Site, Template, open_site


@pytest.fixture
def trusted_site(template: Template, pki: GeneratedPki, tmp_path: Path) -> Iterator[Site]:
    with open_site(template, tmp_path / "poststelle", trusting(pki, tmp_path)) as opened:
        yield opened


def text_parts(mail: bytes) -> bytes:
    """Every text part of a mail, decoded, concatenated."""
    parsed = message_from_bytes(mail, policy=default)
    return b"".join(
        part.get_payload(decode=True) or b""
        for part in parsed.walk()
        if part.get_content_maintype() == "text"
    )


def outbox(site: Site) -> list[bytes]:
    new = site.mailroom.config.outbox.maildir / "new"
    return [p.read_bytes() for p in sorted(new.iterdir())] if new.is_dir() else []


def acknowledge(site: Site, item_id: str) -> dict[str, object]:
    answer = site.client.post(
        f"/api/v1/inbox/items/{item_id}/acknowledge",
        headers={"Authorization": f"Bearer {site.bauamt_token}"},
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_acknowledging_seals_a_delivery_record_and_mails_it_once(site: Site) -> None:
    item = site.item("bauamt", ItemState.DELIVERED, recipient="bauamt@amt.test")

    assert acknowledge(site, item.id) == {
        "acknowledged": True,
        "first": True,
        "record_deferred": False,
    }
    assert acknowledge(site, item.id)["first"] is False

    entries = [
        e for e in site.store.journal(item_id=item.id) if e.event == "delivery_record.created"
    ]
    assert len(entries) == 1
    mails = [m for m in outbox(site) if b"Zustellnachweis" in m]
    assert len(mails) == 1
    message = message_from_bytes(mails[0], policy=default)
    assert str(message["To"]) == "buerger@example.org"
    assert message.get_content_type() == "multipart/signed"


def test_the_delivery_record_verifies_with_openssl(site: Site, tmp_path: Path) -> None:
    item = site.item("bauamt", ItemState.DELIVERED)
    acknowledge(site, item.id)
    browser = site.login("bau")
    xml = browser.get(f"/abteilung/{item.id}/zustellnachweis.xml")
    signature = browser.get(f"/abteilung/{item.id}/zustellnachweis.p7s")
    assert (xml.status_code, signature.status_code) == (200, 200)
    assert item.sha256.encode() in xml.content and b"bauamt" in xml.content
    (tmp_path / "record.xml").write_bytes(xml.content)
    (tmp_path / "record.p7s").write_bytes(signature.content)
    root = site.mailroom.config.path.parent / "pki" / "root.crt"  # the dev PKI of `init`
    verify = [
        "openssl",
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        str(tmp_path / "record.p7s"),
        "-content",
        str(tmp_path / "record.xml"),
        "-CAfile",
        str(root),
        "-purpose",
        "any",
        "-out",
        "/dev/null",
    ]
    assert subprocess.run(verify, capture_output=True, check=False).returncode == 0
    (tmp_path / "record.xml").write_bytes(xml.content.replace(b"bauamt", b"hauptamt"))
    assert subprocess.run(verify, capture_output=True, check=False).returncode != 0


def test_a_procedure_without_mailing_keeps_the_record_only(site: Site) -> None:
    item = site.item("bauamt", ItemState.DELIVERED)  # default procedure: not mailed
    acknowledge(site, item.id)
    location = site.store.outbound_location(f"delivery/{item.registry_number}")
    assert location is not None and location.startswith("not-sent")
    assert not [m for m in outbox(site) if b"Zustellnachweis" in m]


def reject(site: Site, item_id: str, reason: str, requirements: str = "") -> str:
    browser = site.login("clerk")
    page = browser.get(f"/posteingang/{item_id}").text
    assert "Wir nehmen elektronische Dokumente" in page  # the procedure's text, offered to edit
    csrf = site.csrf(browser, f"/posteingang/{item_id}")
    answer = browser.post(
        f"/posteingang/{item_id}/zurueckweisen",
        data={"csrf": csrf, "begruendung": reason, "rahmenbedingungen": requirements},
    )
    notice = re.search(r'role="status">([^<]+)<', answer.text)
    assert notice, answer.text
    return notice.group(1)


def test_a_rejection_sends_a_sealed_notice_with_the_clerks_reason(trusted_site: Site) -> None:
    item = trusted_site.item(None, ItemState.NEEDS_REVIEW)
    shown = reject(
        trusted_site,
        item.id,
        "Der Antrag ist unvollständig: der Lageplan fehlt.",
        "Bitte senden Sie PDF-Dateien bis 20 MB an bauamt@amt.test.",
    )
    assert "zurückgewiesen" in shown and "nachgeholt" not in shown
    notices = [m for m in outbox(trusted_site) if b"Hinweis" in m]
    assert len(notices) == 1
    text = message_from_bytes(notices[0], policy=default)
    assert (
        item.registry_number in str(text["Subject"]) or item.registry_number.encode() in notices[0]
    )


def test_a_notice_that_cannot_be_made_now_is_made_by_the_next_sweep(
    site: Site, pki: GeneratedPki, tmp_path: Path
) -> None:
    item = site.item(None, ItemState.NEEDS_REVIEW)
    shown = reject(site, item.id, "Kein Anliegen erkennbar.")  # this site's TSA is not running
    assert "nachgeholt" in shown
    assert site.store.outbound_location(f"rejection/{item.registry_number}") is None
    assert settle_owed(site.mailroom.services) == 0  # still unreachable: still owed

    tsa = pem_file(pki, "tsa", tmp_path / "tsa.pem")
    back = replace(
        site.mailroom.services,
        timestamper=HttpTimestamper(pki.tsa_url, trusted_certificates=[tsa]),
    )
    assert settle_owed(back) == 1
    assert settle_owed(back) == 0
    assert len([m for m in outbox(site) if b"Hinweis" in m]) == 1


def test_marking_spam_owes_no_notice(site: Site) -> None:
    item = site.item(None, ItemState.NEEDS_REVIEW)
    browser = site.login("clerk")
    csrf = site.csrf(browser, f"/posteingang/{item.id}")
    browser.post(f"/posteingang/{item.id}/kein-antrag", data={"csrf": csrf})
    assert site.store.outbound_location(f"rejection/{item.registry_number}") == (
        "not-sent: not an application"
    )
    assert settle_owed(site.mailroom.services) == 0
