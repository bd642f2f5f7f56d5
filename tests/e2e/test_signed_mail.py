"""Signed mail through the running daemon and through `poststelle verify`, with real OCSP."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import DOMAIN, REPO, Installation, Server, free_port, poststelle, wait_for
from tests.e2e.test_walking_skeleton import send
from tests.support.smime import detached, p7s
from tests.support.testpki import GeneratedPki, serve_on_loopback


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeneratedPki]:
    port = free_port()
    built = GeneratedPki.build(tmp_path_factory.mktemp("pki"), f"http://127.0.0.1:{port}")
    with serve_on_loopback(built, port):
        yield built


@pytest.fixture
def trusting(installation: Installation, pki: GeneratedPki) -> Installation:
    installation.edit_config(r"^anchors = \[\]", f'anchors = ["{pki.root_path}"]')
    return installation


def status_json(installation: Installation, number: str) -> dict[str, object]:
    return json.loads(poststelle("status", number, "--json", config=installation.config))  # type: ignore[no-any-return]


def decision(installation: Installation, number: str) -> dict[str, object]:
    stages = status_json(installation, number)["stages"]
    (decide,) = [s for s in stages if s["stage"] == "decide"]  # type: ignore[union-attr]
    return decide["result"]  # type: ignore[no-any-return]


def test_a_qualified_signed_application_replaces_the_written_form_and_is_delivered(
    trusting: Installation, pki: GeneratedPki, start: Callable[..., Server]
) -> None:
    start(trusting).wait_listening()
    raw = detached(pki, "qualified", "alice@example.org", f"bauamt@{DOMAIN}")
    number = send(trusting, f"bauamt@{DOMAIN}", raw)
    inbox = trusting.inbox("bauamt")
    wait_for(lambda: len(trusting.maildir_messages(inbox)) == 1, 30, "delivery to the Bauamt")
    result = decision(trusting, number)
    assert (result["outcome"], result["means"]) == ("yes", "qes")
    assert any("Alice Qualifiziert" in r for r in result["reasons_de"])  # type: ignore[union-attr]


def test_a_signature_by_someone_else_than_the_sender_goes_to_the_clerk(
    trusting: Installation, pki: GeneratedPki, start: Callable[..., Server]
) -> None:
    start(trusting).wait_listening()
    raw = detached(pki, "qualified", "mallory@example.org", f"bauamt@{DOMAIN}")
    number = send(trusting, f"bauamt@{DOMAIN}", raw)

    def held() -> bool:
        item = status_json(trusting, number)["item"]
        return item["state"] == "needs_review"  # type: ignore[index]

    wait_for(held, 30, "the item to wait for the clerk")
    assert decision(trusting, number)["outcome"] == "undetermined"
    assert trusting.maildir_messages(trusting.inbox("bauamt")) == []


def verify(installation: Installation, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "poststelle.cli",
            "--config",
            str(installation.config),
            "verify",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_verify_passes_a_qualified_mail_and_writes_a_readable_pruefprotokoll(
    trusting: Installation, pki: GeneratedPki, tmp_path: Path
) -> None:
    mail = tmp_path / "antrag.eml"
    mail.write_bytes(detached(pki, "qualified", "alice@example.org"))
    pdf = tmp_path / "protokoll.pdf"
    done = verify(trusting, str(mail), "--pdf", str(pdf), "--html", str(tmp_path / "p.html"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Die Signatur ist gültig (qualifizierte elektronische Signatur (QES))." in done.stdout
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Prüfprotokoll elektronischer Signaturen" in text
    assert "Alice Qualifiziert" in text
    assert "nicht gesperrt" in text


def test_verify_says_failed_for_a_p7s_over_other_bytes(
    trusting: Installation, pki: GeneratedPki, tmp_path: Path
) -> None:
    document = tmp_path / "antrag.pdf"
    document.write_bytes(b"%PDF-1.7 Antrag")
    signature = tmp_path / "antrag.pdf.p7s"
    signature.write_bytes(p7s(pki, "qualified", b"%PDF-1.7 anderer Inhalt"))
    done = verify(trusting, str(document), str(signature), "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["verdict"] == "failed"
    assert report["documents"][0]["signatures"][0]["sub_indication"] == "HASH_FAILURE"


def test_verify_says_unsigned_for_plain_files(trusting: Installation, tmp_path: Path) -> None:
    plain = tmp_path / "brief.txt"
    plain.write_text("Hallo")
    assert verify(trusting, str(plain)).returncode == 3
