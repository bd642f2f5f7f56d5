"""PDF signatures made at test time with the generated PKI, and the public PAdES corpora."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import aiohttp
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.pdfgen import canvas

from poststelle.verification.formats import DocumentInput, VerificationContext
from poststelle.verification.model import (
    BaselineLevel,
    CheckOutcome,
    Indication,
    Qualification,
    RevocationStatus,
    SignatureFormat,
    SignatureReport,
    SubIndication,
)
from poststelle.verification.pades import PdfSignatures
from poststelle.verification.qualification import CertificateQualifier
from poststelle.verification.trust import TrustSettings, validation_contexts
from tests.support.corpora import CORPORA
from tests.support.testpki import RECEIVED, GeneratedPki

# pyHanko signs at the wall clock; the item arrives a little later.


def context(
    pki: GeneratedPki, session: aiohttp.ClientSession, *, at: datetime = RECEIVED
) -> VerificationContext:
    settings = TrustSettings(anchors=(pki.root_path,))
    return VerificationContext(
        validation_time=at,
        validation_context=validation_contexts(settings, AIOHttpFetcherBackend(session)),
        qualify=CertificateQualifier(),
    )


def unsigned_pdf(pages: int = 1, text: str = "Bescheid über die Baugenehmigung") -> bytes:
    out = BytesIO()
    page = canvas.Canvas(out)
    for number in range(pages):
        page.drawString(72, 720, f"{text}, Seite {number + 1}")
        page.showPage()
    page.save()
    return out.getvalue()


async def sign(
    pdf: bytes,
    pki: GeneratedPki,
    label: str,
    *,
    field: str = "Signatur1",
    subfilter: SigSeedSubFilter = SigSeedSubFilter.PADES,
    session: aiohttp.ClientSession | None = None,
    long_term: bool = False,
) -> bytes:
    signer = SimpleSigner(
        signing_cert=pki.certificate(label),
        signing_key=pki.private_key(label),
        cert_registry=SimpleCertificateStore.from_certs([pki.certificate("interm")]),
    )
    signing_context = (
        ValidationContext(
            trust_roots=[pki.certificate("root")],
            allow_fetching=True,
            fetcher_backend=AIOHttpFetcherBackend(session),
        )
        if long_term and session is not None
        else None
    )
    meta = PdfSignatureMetadata(
        field_name=field,
        subfilter=subfilter,
        embed_validation_info=long_term,
        use_pades_lta=long_term,
        validation_context=signing_context,
    )
    stamper = HTTPTimeStamper(pki.tsa_url, session=session) if session is not None else None
    out = await PdfSigner(meta, signer, timestamper=stamper).async_sign_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    )
    return bytes(out.getbuffer())


async def verify(pdf: bytes, ctx: VerificationContext) -> tuple[SignatureReport, ...]:
    return await PdfSignatures().verify(
        DocumentInput("bescheid.pdf", "application/pdf", pdf), [], ctx
    )


def outcome(report: SignatureReport, name: str) -> CheckOutcome:
    (check,) = [c for c in report.checks if c.name == name]
    return check.outcome


def test_claims_pdfs_by_type_or_magic() -> None:
    handler = PdfSignatures()
    assert handler.claims(DocumentInput("a.bin", "application/octet-stream", b"%PDF-1.7\n"))
    assert handler.claims(DocumentInput("a.pdf", "application/pdf", b""))
    assert not handler.claims(DocumentInput("a.txt", "text/plain", b"Hallo"))


async def test_a_qualified_pades_signature_passes_as_qesig_at_level_b_b(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    (sig,) = await verify(await sign(unsigned_pdf(), pki, "qualified"), context(pki, pki_session))
    assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_PASSED, None)
    assert sig.format is SignatureFormat.PADES
    assert sig.qualification is Qualification.QESIG
    assert sig.level is BaselineLevel.B_B
    assert sig.field_name == "Signatur1"
    assert sig.signer is not None and "Alice Qualifiziert" in sig.signer.subject
    assert sig.revocation is not None and sig.revocation.status is RevocationStatus.GOOD
    assert sig.signing_time is not None and sig.signing_time <= RECEIVED
    for name in ("coverage", "integrity", "signature", "certificate_path", "modifications"):
        assert outcome(sig, name) is CheckOutcome.PASSED, name


async def test_an_adbe_pkcs7_signature_is_reported_as_such(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await sign(
        unsigned_pdf(), pki, "plain", subfilter=SigSeedSubFilter.ADOBE_PKCS7_DETACHED
    )
    (sig,) = await verify(signed, context(pki, pki_session))
    assert sig.format is SignatureFormat.PDF_PKCS7
    assert (sig.indication, sig.qualification) == (Indication.TOTAL_PASSED, Qualification.ADESIG)


async def test_a_signature_time_stamp_reaches_b_t(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await sign(unsigned_pdf(), pki, "qualified", session=pki_session)
    (sig,) = await verify(signed, context(pki, pki_session))
    assert sig.indication is Indication.TOTAL_PASSED
    assert sig.level is BaselineLevel.B_T
    (stamp,) = sig.timestamps
    assert (stamp.kind, stamp.valid) == ("signature", True)
    assert "Zeitstempeldienst" in stamp.tsa


async def test_validation_data_and_a_document_time_stamp_reach_b_lta(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await sign(unsigned_pdf(), pki, "qualified", session=pki_session, long_term=True)
    (sig,) = await verify(signed, context(pki, pki_session))
    assert sig.indication is Indication.TOTAL_PASSED
    assert sig.level is BaselineLevel.B_LTA
    assert {(t.kind, t.valid) for t in sig.timestamps} == {("signature", True), ("document", True)}


async def test_a_page_added_after_signing_fails_and_says_so(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await sign(unsigned_pdf(), pki, "qualified")
    writer = IncrementalPdfFileWriter(BytesIO(signed))
    writer.insert_page(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Page"),
                generic.NameObject("/MediaBox"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (0, 0, 595, 842)]
                ),
            }
        )
    )
    out = BytesIO()
    writer.write(out)
    (sig,) = await verify(out.getvalue(), context(pki, pki_session))
    assert sig.indication is not Indication.TOTAL_PASSED
    assert outcome(sig, "integrity") is CheckOutcome.PASSED
    (check,) = [c for c in sig.checks if c.name == "modifications"]
    assert check.outcome is CheckOutcome.FAILED
    assert "1" in check.detail and "2" in check.detail and "Seite" in check.detail_de


async def test_content_changed_after_signing_is_not_passed(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await sign(unsigned_pdf(), pki, "qualified")
    writer = IncrementalPdfFileWriter(BytesIO(signed))
    overlay = writer.add_object(
        generic.StreamObject(stream_data=b"1 1 1 rg 0 0 595 842 re f")  # white-out the page
    )
    writer.add_stream_to_page(0, overlay)
    out = BytesIO()
    writer.write(out)
    (sig,) = await verify(out.getvalue(), context(pki, pki_session))
    assert sig.indication is not Indication.TOTAL_PASSED
    (check,) = [c for c in sig.checks if c.name == "modifications"]
    assert check.outcome is CheckOutcome.FAILED
    assert "unzulässig verändert" in check.detail_de


async def test_a_revoked_signer_fails(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    (sig,) = await verify(await sign(unsigned_pdf(), pki, "revoked"), context(pki, pki_session))
    assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    assert sig.revocation is not None and sig.revocation.status is RevocationStatus.REVOKED


async def test_an_unreachable_responder_means_try_later(pki: GeneratedPki) -> None:
    signed = await sign(unsigned_pdf(), pki, "qualified")
    async with aiohttp.ClientSession() as nowhere:  # pki.test does not resolve
        (sig,) = await verify(signed, context(pki, nowhere))
    assert (sig.indication, sig.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.TRY_LATER,
    )
    assert sig.revocation is not None and sig.revocation.status is RevocationStatus.UNAVAILABLE


async def test_two_signatures_are_both_reported(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    once = await sign(unsigned_pdf(), pki, "qualified", field="Antragsteller")
    twice = await sign(once, pki, "seal", field="Behoerde")
    first, second = await verify(twice, context(pki, pki_session))
    assert (first.field_name, second.field_name) == ("Antragsteller", "Behoerde")
    assert (first.indication, second.indication) == (
        Indication.TOTAL_PASSED,
        Indication.TOTAL_PASSED,
    )
    assert (first.qualification, second.qualification) == (
        Qualification.QESIG,
        Qualification.QESEAL,
    )


async def test_a_signing_time_after_receipt_is_not_passed(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await sign(unsigned_pdf(), pki, "qualified")
    (sig,) = await verify(signed, context(pki, pki_session, at=RECEIVED - timedelta(days=1)))
    assert sig.indication is not Indication.TOTAL_PASSED
    assert outcome(sig, "signing_time") is CheckOutcome.FAILED


async def test_a_corrupt_signed_pdf_is_a_format_failure(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await sign(unsigned_pdf(), pki, "qualified")
    start = signed.index(b"/ByteRange")
    broken = b"%PDF-1.7\n" + signed[start : start + 200]  # the signature without its document
    (sig,) = await verify(broken, context(pki, pki_session))
    assert (sig.indication, sig.sub_indication) == (
        Indication.TOTAL_FAILED,
        SubIndication.FORMAT_FAILURE,
    )


async def test_a_damaged_pdf_without_any_signature_is_unsigned(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    assert await verify(b"%PDF-1.4 fake", context(pki, pki_session)) == ()


async def test_a_signature_with_garbage_contents_is_a_format_failure(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await sign(unsigned_pdf(), pki, "qualified")
    start = signed.index(b"/Contents <") + len(b"/Contents <")
    broken = signed[:start] + b"0badc0de" + signed[start + 8 :]
    (sig,) = await verify(broken, context(pki, pki_session))
    assert sig.indication is Indication.TOTAL_FAILED
    assert sig.field_name == "Signatur1"


async def test_an_unsigned_pdf_has_no_signatures(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    assert await verify(unsigned_pdf(), context(pki, pki_session)) == ()


# --- public corpora -----------------------------------------------------------------------------


def _rows(manifest: Path) -> list[dict[str, str]]:
    lines = [line for line in manifest.read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


def _corpus_context(
    session: aiohttp.ClientSession,
    anchors: tuple[Path, ...] = (),
    at: datetime | None = None,
) -> VerificationContext:
    """The corpora's CAs publish no reachable revocation data and nothing is fetched here, so
    revocation is soft-fail, as trust.py allows for public corpora only."""
    settings = TrustSettings(anchors=anchors, allow_fetching=False, revocation_mode="soft-fail")
    return VerificationContext(
        validation_time=at or datetime.now(UTC),
        validation_context=validation_contexts(settings, AIOHttpFetcherBackend(session)),
        qualify=CertificateQualifier(),
    )


def _check_outcome(report: SignatureReport, name: str) -> CheckOutcome | None:
    return next((c.outcome for c in report.checks if c.name == name), None)


def _technically_ok(report: SignatureReport) -> bool:
    names = {c.name: c.outcome for c in report.checks}
    return (
        names.get("integrity") is CheckOutcome.PASSED
        and names.get("signature") is CheckOutcome.PASSED
    )


async def _verify_corpus_file(
    path: Path, anchors: tuple[Path, ...] = (), at: datetime | None = None
) -> tuple[SignatureReport, ...]:
    async with aiohttp.ClientSession() as session:
        return await verify(path.read_bytes(), _corpus_context(session, anchors, at))


DSS = CORPORA / "dss"
DSS_ROWS = [
    row
    for row in _rows(DSS / "EXPECTED_pades.tsv")
    if row["file"].endswith(".pdf") and (DSS / row["file"]).exists()
]


@pytest.mark.parametrize("row", DSS_ROWS, ids=[r["file"].rsplit("/", 1)[-1] for r in DSS_ROWS])
async def test_dss_pades_corpus_agrees(row: dict[str, str]) -> None:
    """DSS's anchors are its own test PKI, none of which we trust: nothing may pass. Where DSS
    asserts an indication, ours agrees; where it asserts the signature value intact, we never
    call it broken (pyHanko may refuse to process a file DSS tolerates: that is a format
    failure or indeterminate, never a hash or crypto failure)."""
    reports = await _verify_corpus_file(DSS / row["file"])
    tokens = set(row["expected"].split(";"))
    stated = row["indication"].split(" ")[0]
    assert all(r.indication is not Indication.TOTAL_PASSED for r in reports)
    if stated.startswith("TOTAL_FAILED"):
        assert any(r.indication is Indication.TOTAL_FAILED for r in reports)
        sub = SubIndication(stated.split("/")[1])
        assert any(r.sub_indication is sub for r in reports)
    elif stated.startswith("INDETERMINATE"):
        assert any(r.indication is Indication.INDETERMINATE for r in reports)
    unreadable = any(r.sub_indication is SubIndication.FORMAT_FAILURE for r in reports)
    if row["n_sigs"].isdigit() and stated != "NO_SIGNATURE" and not unreadable:
        assert len(reports) >= int(row["n_sigs"])
    if "sig_ok" in tokens and "sig_bad" not in tokens:
        broken = (SubIndication.HASH_FAILURE, SubIndication.SIG_CRYPTO_FAILURE)
        assert not any(r.sub_indication in broken for r in reports)
    if "not_intact" in tokens:
        # DSS calls a signature whose byte range misses part of the file not intact; pyHanko
        # finds the covered bytes intact, and the failed coverage check says the rest.
        assert not all(
            _technically_ok(r) and _check_outcome(r, "coverage") is not CheckOutcome.FAILED
            for r in reports
        )


PYHANKO = CORPORA / "pyhanko"
PYHANKO_ROOT = PYHANKO / "data" / "crypto" / "testing-ca" / "root" / "root.cert.pem"
PYHANKO_ROWS = [
    row
    for row in _rows(PYHANKO / "EXPECTED_signed_pdfs.tsv")
    if row["test"] != "-" and (PYHANKO / "data" / "pdf" / row["file(data/pdf/)"]).exists()
]


def _pyhanko_moment(column: str) -> datetime | None:
    try:
        return datetime.strptime(column.split(" ")[0], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None  # "wall clock"


@pytest.mark.parametrize(
    "row", PYHANKO_ROWS, ids=[r["file(data/pdf/)"].rsplit("/", 1)[-1] for r in PYHANKO_ROWS]
)
async def test_pyhanko_corpus_agrees(row: dict[str, str]) -> None:
    """pyHanko's own assertions on its signed PDFs: coverage anomalies, sneaky incremental
    updates, unusual CMS. Its testing CA is trusted where its tests trust it."""
    expected = row[
        "expected outcome per pyHanko tests (pkgs/pyhanko/tests/*.py at mirror HEAD 7db4e6f)"
    ]
    own = expected.split("derived:")[0]  # the rest is about copies the tests modify
    trusted = row["trust_anchor"].startswith("testing-ca root")
    reports = await _verify_corpus_file(
        PYHANKO / "data" / "pdf" / row["file(data/pdf/)"],
        (PYHANKO_ROOT,) if trusted else (),
        _pyhanko_moment(row["validation_time"]),
    )
    first = reports[0]
    if "raises SignatureValidationError" in own:
        assert first.sub_indication is SubIndication.FORMAT_FAILURE
        return
    if "NONSTANDARD_COVERAGE" in own:
        assert outcome(first, "coverage") is CheckOutcome.FAILED
        assert first.indication is Indication.TOTAL_FAILED
    if "modification_level OTHER" in own or "SuspiciousModification" in own:
        assert outcome(first, "modifications") is CheckOutcome.FAILED
        assert first.indication is not Indication.TOTAL_PASSED
    if "modification_level FORM_FILLING" in own or "gives FORM_FILLING" in own:
        assert outcome(first, "modifications") is CheckOutcome.PASSED
    if "val_untrusted" in own or "valid + intact" in own:
        assert _technically_ok(first)
    if "val_trusted -> intact, valid, trusted" in own:
        moment = _pyhanko_moment(row["validation_time"])
        if first.signing_time is not None and moment is not None and first.signing_time > moment:
            # pyHanko does not check that the signing time precedes validation; we do.
            assert outcome(first, "signing_time") is CheckOutcome.FAILED
            assert first.indication is Indication.INDETERMINATE
        else:
            assert first.indication is Indication.TOTAL_PASSED
    if "CRYPTO_CONSTRAINTS_FAILURE" in own:
        assert first.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
