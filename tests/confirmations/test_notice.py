"""The § 3a notice: one reason per cause, the procedure's requirements, signed like a receipt."""

from __future__ import annotations

import email
import email.policy
import subprocess
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
import xmlschema

from poststelle.confirmations.facts import ItemFacts, NoticeFacts
from poststelle.confirmations.message import Issuer
from poststelle.confirmations.notice import (
    CAUSE_TITLES_DE,
    build_notice,
    notice_sheet,
    rejection_cause,
    unsuitability_causes,
)
from poststelle.confirmations.wording import sheet_text
from poststelle.confirmations.xml import SCHEMA, notice_xml
from poststelle.decision.rules import Unsuitability, UnsuitableCause
from poststelle.devpki import DevelopmentPki
from tests.confirmations.conftest import CITIZEN

REQUIREMENTS = (
    "Zugelassen sind PDF-Dateien bis 20 MB.\nVerschlüsseln Sie für das Zertifikat der Behörde."
)
DETAILS = {
    Unsuitability.TYPE_NOT_ACCEPTED: "Das Format application/x-msdownload wird nicht angenommen.",
    Unsuitability.TOO_LARGE: "„Lageplan.png“ ist 90000000 Bytes groß; zulässig sind 20000000.",
    Unsuitability.UNDECRYPTABLE: "Die Nachricht ist für einen fremden Schlüssel verschlüsselt.",
    Unsuitability.CORRUPT: "Die Nachricht ist nicht lesbar (truncated).",
    Unsuitability.MALWARE: "In „rechnung.pdf“ wurde Schadsoftware gefunden (Eicar-Signature).",
}


@pytest.mark.parametrize("kind", list(Unsuitability))
def test_each_unsuitability_is_named_with_its_detail_and_the_requirements(
    kind: Unsuitability, facts: ItemFacts
) -> None:
    cause = UnsuitableCause(kind, "Nachricht", DETAILS[kind])
    notice = NoticeFacts(facts, unsuitability_causes([cause]), REQUIREMENTS)
    text = sheet_text(notice_sheet(notice))
    assert CAUSE_TITLES_DE[kind.value] in text
    assert DETAILS[kind] in text
    assert "zur Bearbeitung nicht geeignet (§ 3a Abs. 3 VwVfG)" in text
    assert "zurückgewiesen" not in text
    assert "Zugelassen sind PDF-Dateien bis 20 MB." in text
    assert "Verschlüsseln Sie für das Zertifikat der Behörde." in text
    assert facts.registry_number in text
    xmlschema.XMLSchema(str(SCHEMA)).validate(notice_xml(notice).decode("utf-8"))


def test_every_unsuitability_has_a_german_title() -> None:
    assert {k.value for k in Unsuitability} <= CAUSE_TITLES_DE.keys()


def test_a_clerk_rejection_says_so_with_the_clerks_reason(facts: ItemFacts) -> None:
    notice = NoticeFacts(
        facts, (rejection_cause("Die Nachricht enthält keinen Antrag."),), REQUIREMENTS
    )
    text = sheet_text(notice_sheet(notice))
    assert "Von der Poststelle zurückgewiesen" in text
    assert "Die Nachricht enthält keinen Antrag." in text
    assert "von der Poststelle zurückgewiesen und wird nicht bearbeitet" in text
    assert "§ 3a Abs. 3" not in text
    assert b"<Kind>clerk_rejected</Kind>" in notice_xml(notice)


def test_a_notice_without_a_cause_is_refused(facts: ItemFacts, issuer: Issuer) -> None:
    with pytest.raises(ValueError, match="cause"):
        build_notice(
            NoticeFacts(facts, (), REQUIREMENTS),
            issuer,
            recipient=CITIZEN,
            issued_at=datetime.now(UTC),
        )


def test_the_notice_mail_is_signed_and_carries_xml_and_sealed_pdf(
    facts: ItemFacts, issuer: Issuer, pki: DevelopmentPki, tmp_path: Path
) -> None:
    cause = UnsuitableCause(
        Unsuitability.TOO_LARGE, "Lageplan.png", DETAILS[Unsuitability.TOO_LARGE]
    )
    mail = build_notice(
        NoticeFacts(facts, unsuitability_causes([cause]), REQUIREMENTS),
        issuer,
        recipient=CITIZEN,
        issued_at=datetime.now(UTC),
    )
    message = email.message_from_bytes(mail, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == f"*Hinweis zu Ihrer Nachricht* {facts.subject}"
    names = [p.get_filename() for p in message.walk() if p.get_filename()]
    assert names == [
        f"Hinweis-{facts.registry_number}.xml",
        f"Hinweis-{facts.registry_number}.pdf",
        "smime.p7s",
    ]
    (tmp_path / "notice.eml").write_bytes(mail)
    done = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-CAfile",
            str(pki.root_certificate),
            "-in",
            str(tmp_path / "notice.eml"),
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
