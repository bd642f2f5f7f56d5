"""The Prüfprotokoll states what a court printout must, for every kind of outcome."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from poststelle.serialize import from_jsonable
from poststelle.verification.model import (
    CertificateInfo,
    Check,
    CheckOutcome,
    DocumentReport,
    Indication,
    ItemVerdict,
    Qualification,
    RevocationInfo,
    RevocationStatus,
    SignatureFormat,
    SignatureReport,
    SubIndication,
    VerificationReport,
)
from poststelle.verification.protocol import (
    ProtocolHeader,
    render_html,
    render_pdf,
    report_json,
    revocation_de,
)

AT = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
SIGNER = CertificateInfo("Common Name: Jürgen Müßig", "Common Name: QCA", "1a", AT, AT, "ff")


def report(
    indication: Indication, sub: SubIndication | None, verdict: ItemVerdict
) -> VerificationReport:
    signature = SignatureReport(
        SignatureFormat.PADES,
        indication,
        sub,
        (Check("integrity", CheckOutcome.PASSED, "ok", "Die signierten Daten sind unverändert."),),
        signer=SIGNER,
        signing_time=AT,
        revocation=RevocationInfo(
            RevocationStatus.GOOD, "ocsp", "http://ocsp.example/qca", AT - timedelta(minutes=5)
        ),
        qualification=Qualification.QESIG
        if indication is Indication.TOTAL_PASSED
        else Qualification.INDETERMINATE,
    )
    return VerificationReport(
        "1", AT, AT, verdict, (DocumentReport("antrag.pdf", "ab", "application/pdf", (signature,)),)
    )


HEADER = ProtocolHeader("Bauantrag", "2026-000042", AT, "juergen@example.org", "cd" * 32)


@pytest.mark.parametrize(
    ("indication", "sub", "verdict", "sentence"),
    [
        (
            Indication.TOTAL_PASSED,
            None,
            ItemVerdict.PASSED,
            "Die Signatur ist gültig (qualifizierte elektronische Signatur (QES)).",
        ),
        (
            Indication.TOTAL_FAILED,
            SubIndication.HASH_FAILURE,
            ItemVerdict.FAILED,
            "Die Signatur ist UNGÜLTIG (HASH_FAILURE).",
        ),
        (
            Indication.INDETERMINATE,
            SubIndication.TRY_LATER,
            ItemVerdict.INDETERMINATE,
            "konnte nicht abschließend geprüft werden (TRY_LATER)",
        ),
    ],
)
def test_the_html_states_integrity_signer_time_and_a_conclusion(
    indication: Indication, sub: SubIndication | None, verdict: ItemVerdict, sentence: str
) -> None:
    html = render_html(report(indication, sub, verdict), HEADER)
    assert '<html lang="de">' in html
    for fact in (
        "2026-000042",
        "Jürgen Müßig",
        "25.11.2026, 10:30:00 Uhr",
        "Die signierten Daten sind unverändert.",
        sentence,
    ):
        assert fact in html


def test_the_revocation_row_names_source_address_and_time() -> None:
    html = render_html(report(Indication.TOTAL_PASSED, None, ItemVerdict.PASSED), HEADER)
    assert (
        "nicht gesperrt (OCSP, http://ocsp.example/qca, Antwort vom 25.11.2026, 10:25:00 Uhr)"
        in html
    )


@pytest.mark.parametrize(
    ("revocation", "expected"),
    [
        (
            RevocationInfo(RevocationStatus.GOOD, "crl", "http://crl.example/q.crl", AT),
            "nicht gesperrt (Sperrliste (CRL), http://crl.example/q.crl, "
            "Sperrliste vom 25.11.2026, 10:30:00 Uhr)",
        ),
        (
            RevocationInfo(RevocationStatus.GOOD, "embedded-ocsp", "", AT),
            "nicht gesperrt (in der Signatur eingebettete OCSP-Antwort, "
            "Antwort vom 25.11.2026, 10:30:00 Uhr)",
        ),
        (
            RevocationInfo(
                RevocationStatus.REVOKED,
                "ocsp",
                "http://ocsp.example/qca",
                AT,
                revoked_at=datetime(2026, 3, 1, tzinfo=UTC),
                reason="key_compromise",
            ),
            "GESPERRT seit 01.03.2026, 01:00:00 Uhr (Grund: key_compromise) "
            "(OCSP, http://ocsp.example/qca, Antwort vom 25.11.2026, 10:30:00 Uhr)",
        ),
        (RevocationInfo(RevocationStatus.UNAVAILABLE, ""), "Sperrdienst nicht erreichbar"),
    ],
    ids=["crl", "embedded-ocsp", "revoked", "unavailable"],
)
def test_the_revocation_row_for_each_source(revocation: RevocationInfo, expected: str) -> None:
    assert revocation_de(revocation) == expected


def test_an_unsigned_item_says_so() -> None:
    empty = VerificationReport("1", AT, AT, ItemVerdict.UNSIGNED, ())
    assert "Es wurde keine elektronische Signatur gefunden." in render_html(empty, HEADER)


def test_the_pdf_carries_the_same_facts_with_umlauts(tmp_path: Path) -> None:
    pdf = tmp_path / "p.pdf"
    pdf.write_bytes(render_pdf(report(Indication.TOTAL_PASSED, None, ItemVerdict.PASSED), HEADER))
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Jürgen Müßig" in text and "Prüfprotokoll" in text and "nicht gesperrt" in text


def test_the_json_report_round_trips_to_the_same_record() -> None:
    original = report(Indication.TOTAL_FAILED, SubIndication.REVOKED, ItemVerdict.FAILED)
    assert from_jsonable(VerificationReport, json.loads(report_json(original))) == original
