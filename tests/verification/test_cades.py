"""CAdES enveloping `.p7m` and signature time-stamps (B-T), with the test PKI and DSS's files."""

from __future__ import annotations

import base64
import csv
import mimetypes
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from asn1crypto import cms
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.registry import SimpleCertificateStore

from poststelle.verification.cades import CadesDetached
from poststelle.verification.cades_enveloping import CadesEnveloping
from poststelle.verification.cms_signatures import _single_signer
from poststelle.verification.engine import verify_item
from poststelle.verification.formats import DocumentInput, SignatureHandler, VerificationContext
from poststelle.verification.model import (
    BaselineLevel,
    CheckOutcome,
    Indication,
    ItemVerdict,
    Qualification,
    SignatureFormat,
    SignatureReport,
    SubIndication,
    VerificationReport,
)
from poststelle.verification.pades import PdfSignatures
from poststelle.verification.qualification import CertificateQualifier
from poststelle.verification.trust import TrustSettings, validation_contexts
from tests.support.corpora import CORPORA
from tests.support.testpki import RECEIVED, GeneratedPki

# Signatures are made during the test run; they arrive within the hour after collection.
PDF = b"%PDF-1.7\n% Antrag auf Baugenehmigung\n"
HANDLERS: tuple[SignatureHandler, ...] = (CadesDetached(), CadesEnveloping(), PdfSignatures())


def context(pki: GeneratedPki, session: aiohttp.ClientSession) -> VerificationContext:
    settings = TrustSettings(anchors=(pki.root_path,))
    return VerificationContext(
        validation_time=RECEIVED,
        validation_context=validation_contexts(settings, AIOHttpFetcherBackend(session)),
        qualify=CertificateQualifier(),
    )


async def cades(
    pki: GeneratedPki,
    label: str,
    data: bytes,
    *,
    detached: bool = False,
    session: aiohttp.ClientSession | None = None,
    key_of: str | None = None,
    signing_time: datetime | None = None,
) -> bytes:
    """A CAdES signature (signing-certificate-v2) by `label`, time-stamped by the test TSA
    when a session is given; `key_of` signs with another signer's key, `signing_time` is the
    time the signature states (now when not given)."""
    signer = SimpleSigner(
        signing_cert=pki.certificate(label),
        signing_key=pki.private_key(key_of or label),
        cert_registry=SimpleCertificateStore.from_certs([pki.certificate("interm")]),
    )
    stamper = HTTPTimeStamper(pki.tsa_url, session=session) if session is not None else None
    signed = await signer.async_sign_general_data(
        data,
        "sha256",
        detached=detached,
        use_cades=True,
        timestamper=stamper,
        signed_attr_settings=PdfCMSSignedAttributes(signing_time=signing_time),
    )
    return bytes(signed.dump())


async def report_for(
    documents: list[DocumentInput], ctx: VerificationContext
) -> VerificationReport:
    return await verify_item(None, documents, ctx, HANDLERS)


def outcome(report: SignatureReport, name: str) -> CheckOutcome:
    (check,) = [c for c in report.checks if c.name == name]
    return check.outcome


def p7m(name: str, data: bytes) -> DocumentInput:
    return DocumentInput(name, "application/pkcs7-mime", data)


async def test_a_qualified_enveloping_signature_passes_and_shows_its_content(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await cades(pki, "qualified", PDF)
    report = await report_for([p7m("antrag.pdf.p7m", signed)], context(pki, pki_session))
    outer, inner = report.documents
    (sig,) = outer.signatures
    assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_PASSED, None)
    assert sig.format is SignatureFormat.CADES_ENVELOPING
    assert sig.qualification is Qualification.QESIG
    assert sig.level is BaselineLevel.B_B
    assert sig.timestamps == ()
    assert sig.signer is not None and "Alice Qualifiziert" in sig.signer.subject
    assert (inner.name, inner.content_type, inner.signatures) == (
        "antrag.pdf",
        "application/pdf",
        (),
    )
    assert inner.notes == ("Signierter Inhalt von antrag.pdf.p7m",)
    assert report.verdict is ItemVerdict.PASSED


@pytest.mark.parametrize("encoding", ["base64", "pem"])
async def test_a_text_encoded_p7m_is_read_too(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession, encoding: str
) -> None:
    der = await cades(pki, "seal", PDF)
    text = base64.encodebytes(der)
    if encoding == "pem":
        text = b"-----BEGIN PKCS7-----\n" + text + b"-----END PKCS7-----\n"
    report = await report_for([p7m("bescheid.p7m", text)], context(pki, pki_session))
    (sig,) = report.documents[0].signatures
    assert (sig.indication, sig.qualification) == (Indication.TOTAL_PASSED, Qualification.QESEAL)


async def test_tampered_enveloped_content_fails_with_a_hash_failure(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await cades(pki, "qualified", PDF)
    tampered = signed.replace(b"Baugenehmigung", b"Abrissgenehmig")
    assert tampered != signed and len(tampered) == len(signed)
    report = await report_for([p7m("antrag.pdf.p7m", tampered)], context(pki, pki_session))
    (sig,) = report.documents[0].signatures
    assert (sig.indication, sig.sub_indication) == (
        Indication.TOTAL_FAILED,
        SubIndication.HASH_FAILURE,
    )
    assert outcome(sig, "integrity") is CheckOutcome.FAILED
    assert sig.level is BaselineLevel.NONE
    assert report.verdict is ItemVerdict.FAILED


async def test_a_signature_made_with_another_key_than_the_certificate_s_fails(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await cades(pki, "qualified", PDF, key_of="plain")
    report = await report_for([p7m("antrag.pdf.p7m", signed)], context(pki, pki_session))
    (sig,) = report.documents[0].signatures
    assert (sig.indication, sig.sub_indication) == (
        Indication.TOTAL_FAILED,
        SubIndication.SIG_CRYPTO_FAILURE,
    )
    assert outcome(sig, "signature") is CheckOutcome.FAILED


async def test_a_revoked_signer_fails(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await cades(pki, "revoked", PDF)
    report = await report_for([p7m("antrag.pdf.p7m", signed)], context(pki, pki_session))
    (sig,) = report.documents[0].signatures
    assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)


async def test_an_enveloping_signature_with_a_time_stamp_reaches_b_t(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    stated = RECEIVED - timedelta(minutes=90)  # the signer's clock, well before the time-stamp
    signed = await cades(pki, "qualified", PDF, session=pki_session, signing_time=stated)
    report = await report_for([p7m("antrag.pdf.p7m", signed)], context(pki, pki_session))
    (sig,) = report.documents[0].signatures
    assert (sig.indication, sig.level) == (Indication.TOTAL_PASSED, BaselineLevel.B_T)
    (stamp,) = sig.timestamps
    assert (stamp.kind, stamp.valid, stamp.detail) == ("signature", True, "")
    assert "Test Zeitstempeldienst" in stamp.tsa
    assert stamp.gen_time <= RECEIVED
    # the time the signer states, as for a PDF and in the Prüfprotokoll ("Angegebene
    # Signaturzeit"); the time the time-stamp proves is the time-stamp's
    assert stamp.gen_time > stated
    assert sig.signing_time == stated
    assert outcome(sig, "signature_timestamp") is CheckOutcome.PASSED


async def test_a_detached_p7s_with_a_time_stamp_reaches_b_t(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signature = await cades(pki, "plain", PDF, detached=True, session=pki_session)
    documents = [
        DocumentInput("antrag.pdf", "application/pdf", PDF),
        DocumentInput("antrag.pdf.p7s", "application/pkcs7-signature", signature),
    ]
    report = await report_for(documents, context(pki, pki_session))
    (document,) = report.documents
    (sig,) = document.signatures
    assert sig.format is SignatureFormat.CADES_DETACHED
    assert (sig.indication, sig.level) == (Indication.TOTAL_PASSED, BaselineLevel.B_T)
    assert [(t.kind, t.valid) for t in sig.timestamps] == [("signature", True)]


async def test_a_time_stamp_over_another_signature_is_not_b_t_and_says_why(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    donor = cms.ContentInfo.load(await cades(pki, "qualified", b"other", session=pki_session))
    signed = cms.ContentInfo.load(await cades(pki, "qualified", PDF))
    signer = signed["content"]["signer_infos"][0]
    signer["unsigned_attrs"] = donor["content"]["signer_infos"][0]["unsigned_attrs"]
    report = await report_for(
        [p7m("antrag.pdf.p7m", signed.dump(force=True))], context(pki, pki_session)
    )
    (sig,) = report.documents[0].signatures
    assert sig.level is BaselineLevel.B_B
    (stamp,) = sig.timestamps
    assert not stamp.valid
    assert "imprint does not match the signature value" in stamp.detail
    (check,) = [c for c in sig.checks if c.name == "signature_timestamp"]
    assert check.outcome is CheckOutcome.FAILED
    assert "imprint does not match" in check.detail
    assert "bezieht sich nicht auf diese Signatur" in check.detail_de
    assert (sig.indication, sig.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.SIG_CONSTRAINTS_FAILURE,
    )
    assert sig.signing_time != stamp.gen_time


async def test_a_detached_p7m_finds_its_document_or_says_it_is_missing(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signature = p7m("antrag.pdf.p7m", await cades(pki, "qualified", PDF, detached=True))
    pdf = DocumentInput("antrag.pdf", "application/pdf", PDF)
    found = await report_for([pdf, signature], context(pki, pki_session))
    ((sig,),) = [d.signatures for d in found.documents]
    assert (sig.indication, sig.format) == (Indication.TOTAL_PASSED, SignatureFormat.CADES_DETACHED)
    alone = await report_for([signature], context(pki, pki_session))
    ((sig,),) = [d.signatures for d in alone.documents]
    assert (sig.indication, sig.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.SIGNED_DATA_NOT_FOUND,
    )


async def test_a_signed_pdf_inside_a_p7m_is_verified_as_a_document_of_its_own(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    inner = await cades(pki, "plain", PDF)
    outer = await cades(pki, "qualified", inner)
    report = await report_for([p7m("antrag.pdf.p7m.p7m", outer)], context(pki, pki_session))
    assert [(d.name, len(d.signatures)) for d in report.documents] == [
        ("antrag.pdf.p7m.p7m", 1),
        ("antrag.pdf.p7m", 1),
        ("antrag.pdf", 0),
    ]
    assert report.verdict is ItemVerdict.PASSED


def test_claims_signed_data_files_only() -> None:
    handler = CadesEnveloping()
    enveloped = cms.ContentInfo(
        {"content_type": "enveloped_data", "content": cms.EnvelopedData({"version": "v0"})}
    )
    assert not handler.claims(p7m("smime.p7m", enveloped.dump()))
    assert not handler.claims(p7m("brief.p7m", enveloped.dump()))
    assert not handler.claims(DocumentInput("brief.txt", "text/plain", b"Hallo"))
    assert not handler.claims(p7m("smime.p7m", b"not CMS"))  # an unreadable S/MIME layer
    assert handler.claims(DocumentInput("brief.p7m", "application/octet-stream", b"not CMS"))


async def test_a_broken_p7m_is_a_format_failure(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await cades(pki, "qualified", PDF)
    report = await report_for(
        [p7m("antrag.pdf.p7m", signed[: len(signed) // 2])], context(pki, pki_session)
    )
    (sig,) = report.documents[0].signatures
    assert (sig.indication, sig.sub_indication) == (
        Indication.TOTAL_FAILED,
        SubIndication.FORMAT_FAILURE,
    )


# --- DSS's CAdES files ---------------------------------------------------------------------------

DSS = CORPORA / "dss"
CADES_FILES = DSS / "dss-cades" / "src" / "test" / "resources" / "validation"
# What an uploader would declare for a CMS file whose extension has no registered type.
SIGNATURE_TYPES = {".p7s": "application/pkcs7-signature"}
QUOTED_CONTENT = re.compile(r'detached content(?: =)?(?: the \d+ bytes)? "([^"]+)"')
NAMED_CONTENT = re.compile(r"detached content(?: =)? ([\w./-]+\.\w+)")
CONTENT_OF = re.compile(r"detached content of ([^;,]+)")


def _rows() -> list[dict[str, str]]:
    lines = (DSS / "EXPECTED_cades.tsv").read_text().splitlines()
    return list(csv.DictReader([x for x in lines if not x.startswith("#")], delimiter="\t"))


def _document(path: Path) -> DocumentInput:
    content_type = SIGNATURE_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    if content_type is None or content_type == "application/octet-stream":
        content_type = "application/pkcs7-mime"
    return DocumentInput(path.name, content_type, path.read_bytes())


def _detached_contents(rows: list[dict[str, str]]) -> dict[str, DocumentInput]:
    """The detached content each signature is validated with upstream, from the manifest's notes:
    a quoted literal, a file named in the signature's note, or an aux file naming its signature."""
    found: dict[str, DocumentInput] = {}
    for row in rows:
        path = DSS / row["file"]
        if quoted := QUOTED_CONTENT.search(row["note"]):
            found[row["file"]] = DocumentInput("content", "text/plain", quoted[1].encode())
        elif (named := NAMED_CONTENT.search(row["note"])) and (path.parent / named[1]).exists():
            content = path.parent / named[1]
            found[row["file"]] = DocumentInput(
                content.name, "application/octet-stream", content.read_bytes()
            )
        if "aux" in row["expected"].split(";") and (of := CONTENT_OF.search(row["note"])):
            for name in of[1].split(" and ")[0].split(", "):
                signature = path.parent / name.strip()
                key = str(signature.relative_to(DSS))
                found.setdefault(
                    key, DocumentInput(path.name, "application/octet-stream", path.read_bytes())
                )
    return found


@dataclass(frozen=True)
class Comparison:
    """One asserted fact of DSS's and what Poststelle says about it."""

    file: str
    fact: str
    agrees: bool
    ours: str


def _technically_ok(report: SignatureReport) -> bool:
    outcomes = {c.name: c.outcome for c in report.checks}
    return (
        outcomes.get("integrity") is CheckOutcome.PASSED
        and outcomes.get("signature") is CheckOutcome.PASSED
    )


def _timestamp_outcomes(reports: tuple[SignatureReport, ...]) -> set[CheckOutcome]:
    return {c.outcome for r in reports for c in r.checks if c.name == "signature_timestamp"}


def compare(row: dict[str, str], reports: tuple[SignatureReport, ...]) -> list[Comparison]:
    """DSS's asserted B-level and T-level facts against ours. DSS trusts none of these real-world
    signers and neither do we, so indications are compared only where DSS states one."""
    tokens = set(row["expected"].split(";"))
    ours = "; ".join(
        f"{r.indication}/{r.sub_indication or '-'} "
        + ",".join(
            f"{c.name}={c.outcome}" for c in r.checks if c.outcome is not CheckOutcome.PASSED
        )
        for r in reports
    )
    facts: list[tuple[str, bool]] = []
    if "parse_error" in tokens:
        facts.append(
            ("parse_error", any(r.sub_indication is SubIndication.FORMAT_FAILURE for r in reports))
        )
    if "sig_ok" in tokens and "sig_bad" not in tokens:
        facts.append(("sig_ok", bool(reports) and all(_technically_ok(r) for r in reports)))
    if tokens & {"sig_bad", "not_intact"}:
        facts.append(("sig_bad", not all(_technically_ok(r) for r in reports)))
    if "digest_mismatch" in tokens:
        facts.append(
            (
                "digest_mismatch",
                any(r.sub_indication is SubIndication.HASH_FAILURE for r in reports),
            )
        )
    stamps = _timestamp_outcomes(reports)
    if "T_ok" in tokens:
        facts.append(("T_ok", bool(stamps) and CheckOutcome.FAILED not in stamps))
    if "T_bad" in tokens:
        facts.append(("T_bad", CheckOutcome.PASSED not in stamps))
    stated = row["indication"].split(" ")[0]
    if stated.startswith(("TOTAL_FAILED", "INDETERMINATE")) and "[" not in row["indication"]:
        main = Indication(stated.split("/")[0])
        facts.append((stated, any(r.indication is main for r in reports)))
    if row["n_sigs"].isdigit() and int(row["n_sigs"]) > 0:
        facts.append((f"n_sigs={row['n_sigs']}", len(reports) == int(row["n_sigs"])))
    return [Comparison(row["file"], fact, agrees, ours) for fact, agrees in facts]


async def _verify_dss(
    row: dict[str, str], contents: dict[str, DocumentInput]
) -> VerificationReport:
    documents = [_document(DSS / row["file"])]
    if row["file"] in contents:
        documents.insert(0, contents[row["file"]])
    settings = TrustSettings(anchors=(), allow_fetching=False, revocation_mode="soft-fail")
    async with aiohttp.ClientSession() as session:
        ctx = VerificationContext(
            validation_time=datetime.now(UTC),
            validation_context=validation_contexts(settings, AIOHttpFetcherBackend(session)),
            qualify=CertificateQualifier(),
        )
        return await verify_item(None, documents, ctx, HANDLERS)


# Signatures DSS asserts intact whose value pyHanko and OpenSSL's `cms -verify -noverify` find
# broken. Kept here, with the reason, so that a fix shows up as a failing test to be removed.
BROKEN_FOR_US = {
    "cades-broken-sig-tst-and-ats-v3.cms": "OpenSSL's `cms -verify -noverify` rejects it too",
}
ROWS = [r for r in _rows() if (DSS / r["file"]).exists()]
CONTENTS = _detached_contents(ROWS)
SIGNATURE_ROWS = [r for r in ROWS if not {"aux", "unasserted"} & set(r["expected"].split(";"))]


def _signatures(row: dict[str, str], report: VerificationReport) -> tuple[SignatureReport, ...]:
    name = Path(row["file"]).name
    return tuple(s for d in report.documents if d.name == name for s in d.signatures)


@pytest.mark.parametrize(
    "row", SIGNATURE_ROWS, ids=[r["file"].rsplit("/", 1)[-1] for r in SIGNATURE_ROWS]
)
async def test_dss_cades_file_never_passes_and_is_never_called_broken_wrongly(
    row: dict[str, str],
) -> None:
    """Nothing DSS ships is trusted here, so nothing passes; where DSS asserts a signature value
    intact, we never call it a hash or crypto failure (pyHanko may refuse a structure DSS
    tolerates: that is a format failure, reported, never a false 'broken')."""
    report = await _verify_dss(row, CONTENTS)
    reports = _signatures(row, report)
    assert all(r.indication is not Indication.TOTAL_PASSED for r in reports)
    tokens = set(row["expected"].split(";"))
    if "sig_ok" in tokens and "sig_bad" not in tokens and "via_ext" not in tokens:
        broken = (SubIndication.HASH_FAILURE, SubIndication.SIG_CRYPTO_FAILURE)
        known = Path(row["file"]).name in BROKEN_FOR_US
        assert any(r.sub_indication in broken for r in reports) is known, reports
    if "digest_mismatch" in tokens:
        assert any(r.sub_indication is SubIndication.HASH_FAILURE for r in reports)
    if "parse_error" in tokens:
        assert all(r.sub_indication is SubIndication.FORMAT_FAILURE for r in reports)


@pytest.mark.parametrize("path", sorted(p for p in CADES_FILES.rglob("*") if p.is_file()), ids=str)
async def test_every_dss_cades_file_is_examined_without_crashing(path: Path) -> None:
    settings = TrustSettings(anchors=(), allow_fetching=False, revocation_mode="soft-fail")
    async with aiohttp.ClientSession() as session:
        ctx = VerificationContext(
            validation_time=datetime.now(UTC),
            validation_context=validation_contexts(settings, AIOHttpFetcherBackend(session)),
            qualify=CertificateQualifier(),
        )
        report = await verify_item(None, [_document(path)], ctx, HANDLERS)
    for document in report.documents:
        for sig in document.signatures:
            assert sig.checks, sig
            assert sig.sub_indication is not SubIndication.SIGNED_DATA_NOT_FOUND or any(
                c.name == "integrity" for c in sig.checks
            ), sig  # SIGNED_DATA_NOT_FOUND with a "format" check is the engine's crash marker


async def test_a_copied_signature_time_stamp_leaves_the_signature_intact_and_is_reported() -> None:
    """DSS's CAdESLevelTWithCopiedSigTstTest: the signature time-stamp is a copy of the content
    time-stamp, so its imprint is the content's digest, not the signature value's. The signature
    itself is intact (OpenSSL agrees). Its SignerInfo's length, 0x1780, ends in 0x80, which
    asn1crypto takes for an indefinite length when dumping: re-encoded as DER, the content
    time-stamp's unsorted certificate SET among the signed attributes changed and the signature
    looked broken."""
    path = CADES_FILES / "cades-t-copied-sigtst.p7m"
    (row,) = [r for r in SIGNATURE_ROWS if r["file"].endswith("/" + path.name)]
    (sig,) = _signatures(row, await _verify_dss(row, CONTENTS))
    assert outcome(sig, "integrity") is CheckOutcome.PASSED
    assert outcome(sig, "signature") is CheckOutcome.PASSED
    assert (sig.indication, sig.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.NO_CERTIFICATE_CHAIN_FOUND,  # DSS's test PKI is not trusted here
    )
    (stamp,) = sig.timestamps
    assert (stamp.kind, stamp.valid) == ("signature", False)
    assert stamp.detail == "its message imprint does not match the signature value"
    assert "good-tsa" in stamp.tsa
    (check,) = [c for c in sig.checks if c.name == "signature_timestamp"]
    assert check.outcome is CheckOutcome.FAILED
    assert "bezieht sich nicht auf diese Signatur" in check.detail_de
    assert sig.level is BaselineLevel.B_B  # not B-T: the time-stamp does not cover the signature
    assert sig.signing_time != stamp.gen_time
    # the SignerInfo pyHanko checks is the file's, byte for byte
    single = _single_signer(cms.ContentInfo.load(path.read_bytes())["content"], 0)
    signer_der = single["signer_infos"].contents
    assert signer_der.startswith(bytes.fromhex("30821780")) and signer_der in path.read_bytes()
    assert [(c.fact, c.agrees) for c in compare(row, (sig,))] == [("sig_ok", True), ("T_bad", True)]
