"""In a real browser: the clerk finds a new item, reads its report and assigns it; the
department member sees it, downloads it and acknowledges it; every page passes axe-core."""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DOMAIN, REPO, Installation, Server, poststelle, wait_for

pytestmark = pytest.mark.browser

PASSWORD = "ein langes Kennwort 42"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(os.environ.get("POSTSTELLE_SCREENSHOTS", REPO / "tests" / "browser" / "screenshots"))


def accessibility_violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "opts => axe.run(document, opts)",
        {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}},
    )
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]} for v in result["violations"]
    ]


def check_page(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert accessibility_violations(page) == [], name


def login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/anmelden")
    check_page(page, "anmelden")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Kennwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()


@pytest.fixture
def served(
    installation: Installation, start: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[Installation, Server]:
    monkeypatch.setenv("POSTSTELLE_PASSWORD", PASSWORD)
    poststelle(
        "user",
        "add",
        "clara",
        "--role",
        "clerk",
        "--name",
        "Clara Schreiber",
        config=installation.config,
    )
    poststelle(
        "user",
        "add",
        "berta",
        "--role",
        "department",
        "--department",
        "bauamt",
        "--name",
        "Berta Bau",
        config=installation.config,
    )
    server = start(installation).wait_listening()
    return installation, server


def send_unroutable_mail(installation: Installation) -> None:
    message = EmailMessage()
    message["From"] = "erika@example.org"
    message["To"] = f"info@{DOMAIN}"
    message["Subject"] = "Anfrage zum Bauvorhaben Lindenweg 3"
    message.set_content("Sehr geehrte Damen und Herren,\nanbei meine Unterlagen.\n")
    message.add_attachment(
        b"%PDF-1.4\n%%EOF\n", maintype="application", subtype="pdf", filename="lageplan.pdf"
    )
    with smtplib.SMTP("127.0.0.1", installation.smtp_port, timeout=30) as smtp:
        smtp.starttls()
        smtp.send_message(message)


def test_clerk_assigns_and_department_acknowledges(
    served: tuple[Installation, Server], page: Page
) -> None:
    installation, _ = served
    base = f"http://127.0.0.1:{installation.http_port}"
    send_unroutable_mail(installation)

    login(page, base, "clara")
    expect(page.get_by_role("heading", name="Posteingang")).to_be_visible()

    def held_for_clerk() -> bool:
        page.goto(f"{base}/posteingang?zustand=needs_review")
        return (
            page.get_by_role("link", name=DOMAIN).count() == 0
            and page.locator("tbody a").count() == 1
        )

    wait_for(held_for_clerk, 30, "the item to reach the clerk's queue")
    check_page(page, "posteingang")
    page.locator("tbody a").first.click()
    expect(page.get_by_role("heading", name="Eingang")).to_contain_text("Eingang 20")
    expect(page.get_by_text("Anfrage zum Bauvorhaben Lindenweg 3").first).to_be_visible()
    check_page(page, "eingang-sachbearbeitung")

    report = page.context.new_page()
    report.goto(
        base + str(page.get_by_role("link", name="Prüfprotokoll öffnen").get_attribute("href"))
    )
    expect(report.get_by_text("Prüfprotokoll").first).to_be_visible()
    report.close()

    page.get_by_label("Abteilung").select_option("bauamt")
    page.get_by_role("button", name="Zuweisen und freigeben").click()
    expect(page.get_by_role("status")).to_contain_text("zugewiesen")
    registry_number = page.get_by_role("heading", level=1).inner_text().removeprefix("Eingang ")
    page.get_by_role("button", name="Abmelden").click()

    login(page, base, "berta")

    def delivered() -> bool:
        page.goto(f"{base}/abteilung")
        return page.get_by_role("link", name=registry_number).count() == 1

    wait_for(delivered, 30, "the item in the Bauamt's inbox")
    check_page(page, "abteilung")
    page.get_by_role("link", name=registry_number).click()
    check_page(page, "eingang-abteilung")
    with page.expect_download() as download:
        page.get_by_role("link", name="Original herunterladen").click()
    saved = download.value.path()
    assert b"Lindenweg 3" in Path(saved).read_bytes()

    page.get_by_role("button", name="Empfang bestätigen").click()
    expect(page.get_by_role("status")).to_contain_text("Empfang ist bestätigt")
    expect(page.get_by_role("cell", name="department.acknowledged")).to_be_visible()
    expect(page.get_by_role("cell", name="delivery_record.created")).to_be_visible()
    record = page.context.request.get(
        base + str(page.get_by_role("link", name="Nachweis (XML)").get_attribute("href"))
    )
    assert registry_number.encode() in record.body()
    check_page(page, "empfang-bestaetigt")
