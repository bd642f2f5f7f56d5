"""PDF signatures (PAdES and adbe.pkcs7.detached) and document time-stamps, as ETSI indications."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC
from io import BytesIO
from typing import Any

import structlog
from asn1crypto import cms, crl, ocsp, parser
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel, SuspiciousModification
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import (
    PdfSignatureStatus,
    SignatureCoverageLevel,
    TimestampSignatureStatus,
)

from poststelle.verification.cms_signatures import (
    NO_KEY_USAGE_DEMAND,
    Verdict,
    _check,
    _classify,
    _constraints,
    constraint_failure,
    format_failure,
    signature_report,
)
from poststelle.verification.formats import DocumentInput, VerificationContext
from poststelle.verification.model import (
    BaselineLevel,
    Check,
    Indication,
    SignatureFormat,
    SignatureReport,
    SubIndication,
    TimestampInfo,
)
from poststelle.verification.trust import embedded_revinfo, fetch_failures

log = structlog.get_logger("poststelle.verification")

PADES_SUBFILTER = "/ETSI.CAdES.detached"
# Every signature dictionary states the bytes it covers; a file without one holds no signature.
SIGNATURE_MARKER = b"/ByteRange"
# Where in the file a PDF's header may start (ISO 32000-2, 7.5.2 tolerates leading bytes).
HEADER_WINDOW = 1024
MAX_PAGE_TREE_NODES = 100_000
RANK = {Indication.TOTAL_PASSED: 0, Indication.INDETERMINATE: 1, Indication.TOTAL_FAILED: 2}


@dataclass(frozen=True, slots=True)
class _DocumentTimestamp:
    revision: int
    info: TimestampInfo


@dataclass(frozen=True, slots=True)
class _FileFacts:
    """What the whole file holds besides the signature under examination."""

    reader: PdfFileReader
    document_timestamps: tuple[_DocumentTimestamp, ...]
    dss_revisions: tuple[int, ...]  # revisions whose DSS holds revocation data
    dss_crls: tuple[crl.CertificateList, ...] = ()
    dss_ocsps: tuple[ocsp.OCSPResponse, ...] = ()


def _format_of(sig_object: Any) -> SignatureFormat:
    try:
        subfilter = sig_object.get_object().get("/SubFilter")
    except Exception:
        return SignatureFormat.PADES
    return SignatureFormat.PDF_PKCS7 if subfilter != PADES_SUBFILTER else SignatureFormat.PADES


def _worst(verdicts: Sequence[Verdict]) -> Verdict:
    worst: Verdict = (Indication.TOTAL_PASSED, None)
    for verdict in verdicts:
        if RANK[verdict[0]] > RANK[worst[0]]:
            worst = verdict
    return worst


def _pages(root: Any) -> list[Any]:
    """The page dictionaries in document order (bounded, so a cyclic page tree cannot hang)."""
    pages: list[Any] = []
    stack = [root["/Pages"]]
    visits = 0
    while stack and visits < MAX_PAGE_TREE_NODES:
        visits += 1
        node = stack.pop().get_object()
        if "/Kids" in node:
            stack.extend(reversed(list(node["/Kids"])))
        else:
            pages.append(node)
    return pages


def _content(page: Any) -> bytes:
    contents = page.get("/Contents")
    if contents is None:
        return b""
    contents = contents.get_object()
    streams = contents if isinstance(contents, generic.ArrayObject) else [contents]
    return b"".join(stream.get_object().data for stream in streams)


def _page_changes(reader: PdfFileReader, revision: int) -> tuple[int, int, list[int]]:
    """Pages signed, pages now, and the numbers of pages whose content streams differ."""
    signed = _pages(reader.get_historical_root(revision))
    now = _pages(reader.root)
    changed = [
        number
        for number, (before, after) in enumerate(zip(signed, now, strict=False), start=1)
        if _content(before) != _content(after)
    ]
    return len(signed), len(now), changed


def _holds_revocation_data(dss: Any) -> bool:
    entries = [dss.get_object().get(key) for key in ("/OCSPs", "/CRLs")]
    return any(e is not None and len(e.get_object()) > 0 for e in entries)


def _dss_revisions(reader: PdfFileReader) -> tuple[int, ...]:
    """Revisions whose Document Security Store holds OCSP responses or CRLs."""
    return tuple(
        revision
        for revision in range(reader.total_revisions)
        if (dss := reader.get_historical_root(revision).get("/DSS")) is not None
        and _holds_revocation_data(dss)
    )


def _dss_revinfo(
    reader: PdfFileReader,
) -> tuple[tuple[crl.CertificateList, ...], tuple[ocsp.OCSPResponse, ...]]:
    """The CRLs and OCSP responses in the document's (latest) Document Security Store."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return (), ()
    crls = tuple(
        crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL)) for ref in dss.crls
    )
    ocsps = tuple(
        ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE))
        for ref in dss.ocsps
    )
    return crls, ocsps


def archived_revinfo(
    embedded: EmbeddedPdfSignature,
) -> tuple[list[crl.CertificateList], list[ocsp.OCSPResponse]]:
    """The CRLs and OCSP responses of the signature's adbe-revocationInfoArchival attribute.

    Read from a copy: parsing the signed attributes in place may change how asn1crypto dumps
    them (wbond/asn1crypto#249), and pyHanko verifies the signature over that dump."""
    original = embedded.signer_info["signed_attrs"]
    if not isinstance(original, cms.CMSAttributes):
        return [], []
    # The field is [0] IMPLICIT: its contents under a SET's own header are the attributes.
    signed_attrs = cms.CMSAttributes.load(parser.emit(0, 1, 17, original.contents))
    crls: list[crl.CertificateList] = []
    ocsps: list[ocsp.OCSPResponse] = []
    for attribute in signed_attrs:
        if attribute["type"].native != "adobe_revocation_info_archival":
            continue
        for archival in attribute["values"]:
            crls += list(archival["crl"]) if archival["crl"].native else []
            ocsps += list(archival["ocsp"]) if archival["ocsp"].native else []
    return crls, ocsps


def _tsa_name(status: TimestampSignatureStatus) -> str:
    return str(status.signing_cert.subject.human_friendly)


def _timestamp_ok(status: TimestampSignatureStatus) -> bool:
    return bool(status.intact and status.valid and status.trusted)


def _timestamp_detail(status: TimestampSignatureStatus) -> str:
    if not status.intact:
        return "the time-stamp does not match the data it claims to cover"
    if not status.valid:
        return "the time-stamp's signature is broken"
    if not status.trusted:
        return "the time-stamping authority is not trusted"
    return ""


async def _document_timestamp(
    embedded: EmbeddedPdfSignature, context: VerificationContext
) -> _DocumentTimestamp:
    validation_context = context.validation_context(context.validation_time)
    status = await async_validate_pdf_timestamp(embedded, validation_context=validation_context)
    unchanged = status.modification_level in (
        ModificationLevel.NONE,
        ModificationLevel.LTA_UPDATES,
        ModificationLevel.FORM_FILLING,
    )
    in_time = status.timestamp <= context.validation_time
    valid = _timestamp_ok(status) and unchanged and in_time
    detail = _timestamp_detail(status)
    if not detail and not in_time:
        detail = "the time-stamp is dated after receipt"
    elif not detail and not unchanged:
        detail = "the document was changed in a disallowed way after the time-stamp"
    return _DocumentTimestamp(
        embedded.signed_revision,
        TimestampInfo("document", status.timestamp, _tsa_name(status), valid, detail),
    )


def _coverage(status: PdfSignatureStatus) -> tuple[Check, Verdict]:
    coverage = status.coverage
    if coverage in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION):
        return (
            _check(
                "coverage",
                True,
                "the byte range covers the whole signed revision",
                "Die Signatur erfasst die gesamte signierte Fassung des Dokuments.",
            ),
            (Indication.TOTAL_PASSED, None),
        )
    name = coverage.name if coverage is not None else "unknown"
    return (
        _check(
            "coverage",
            False,
            f"the byte range does not cover the signed revision ({name})",
            "Die Signatur erfasst nicht das ganze Dokument (ungewöhnlicher Byte-Bereich); "
            "nicht signierte Teile können untergeschoben sein.",
        ),
        (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE),
    )


def _modifications(
    status: PdfSignatureStatus, embedded: EmbeddedPdfSignature, reader: PdfFileReader
) -> tuple[Check, Verdict]:
    passed: Verdict = (Indication.TOTAL_PASSED, None)
    if status.coverage is SignatureCoverageLevel.ENTIRE_FILE:
        return (
            _check(
                "modifications",
                True,
                "the file was not changed after signing",
                "Das Dokument wurde nach dem Signieren nicht verändert.",
            ),
            passed,
        )
    level = status.modification_level
    try:
        signed_pages, pages_now, changed = _page_changes(reader, embedded.signed_revision)
    except Exception as exc:  # a hostile page tree; pyHanko's own analysis still decides below
        log.info("verification.page_comparison_failed", error=repr(exc))
        signed_pages, pages_now, changed = 0, 0, []
    if signed_pages != pages_now:
        return (
            _check(
                "modifications",
                False,
                f"pages changed after signing: {signed_pages} signed, {pages_now} now",
                f"Nach dem Signieren wurden Seiten verändert: signiert {signed_pages} Seite(n), "
                f"jetzt {pages_now}.",
            ),
            (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE),
        )
    if level is None:
        return (
            _check(
                "modifications",
                None,
                "the document was updated after signing and the updates could not be analysed",
                "Das Dokument wurde nach dem Signieren ergänzt; die Änderungen ließen sich "
                "nicht auswerten.",
            ),
            (Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE),
        )
    if status.docmdp_ok and level is not ModificationLevel.OTHER:
        return (
            _check(
                "modifications",
                True,
                f"later updates are permitted ({level.name}: signatures, time-stamps, "
                "validation data or form filling)",
                "Spätere Änderungen sind zulässig (weitere Signaturen, Zeitstempel, "
                "Prüfdaten oder Formulareingaben).",
            ),
            passed,
        )
    if isinstance(status.diff_result, SuspiciousModification):
        what = str(status.diff_result)
    else:
        what = f"modification level {level.name}"
    numbers = ", ".join(str(n) for n in changed)
    pages_en = f"content of page(s) {numbers} changed; " if changed else ""
    pages_de = f"Inhalt von Seite(n) {numbers} geändert. " if changed else ""
    certified = embedded.docmdp_level is not None and level is not ModificationLevel.OTHER
    return (
        _check(
            "modifications",
            False,
            f"the document was changed after signing in a way not permitted: {pages_en}{what}",
            "Das Dokument wurde nach dem Signieren unzulässig verändert "
            f"(z. B. Inhalt ausgetauscht oder überdeckt). {pages_de}Befund: {what}",
        ),
        (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
        if certified
        else (Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE),
    )


def _signature_timestamp(
    status: TimestampSignatureStatus, context: VerificationContext
) -> tuple[TimestampInfo, Check, Verdict]:
    ok = _timestamp_ok(status)
    future = status.timestamp > context.validation_time
    info = TimestampInfo(
        "signature",
        status.timestamp,
        _tsa_name(status),
        ok and not future,
        "the time-stamp is dated after receipt" if future else _timestamp_detail(status),
    )
    when = f"{status.timestamp.astimezone(UTC):%d.%m.%Y %H:%M:%S} UTC"
    if future:
        return (
            info,
            _check(
                "signature_timestamp",
                False,
                f"the signature time-stamp {status.timestamp.isoformat()} is after receipt",
                f"Der Signaturzeitstempel ({when}) liegt nach dem Eingangszeitpunkt.",
            ),
            (Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE),
        )
    if ok:
        return (
            info,
            _check(
                "signature_timestamp",
                True,
                f"signature time-stamp of {status.timestamp.isoformat()} by {info.tsa}",
                f"Die Signaturzeit ist durch einen Zeitstempel vom {when} belegt.",
            ),
            (Indication.TOTAL_PASSED, None),
        )
    broken = not (status.intact and status.valid)
    return (
        info,
        _check(
            "signature_timestamp",
            False if broken else None,
            f"signature time-stamp: {info.detail}",
            "Der Signaturzeitstempel ist ungültig."
            if broken
            else "Der Aussteller des Signaturzeitstempels ist nicht vertrauenswürdig.",
        ),
        (Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE)
        if broken
        else (Indication.TOTAL_PASSED, None),
    )


def _level(
    fmt: SignatureFormat,
    revision: int,
    signature_timestamp_ok: bool,
    facts: _FileFacts,
) -> BaselineLevel:
    if fmt is not SignatureFormat.PADES:
        return BaselineLevel.NONE
    later_timestamps = [
        t.revision for t in facts.document_timestamps if t.revision > revision and t.info.valid
    ]
    if not (signature_timestamp_ok or later_timestamps):
        return BaselineLevel.B_B
    dss = [r for r in facts.dss_revisions if r > revision]
    if not dss:
        return BaselineLevel.B_T
    if any(t >= dss[0] for t in later_timestamps):
        return BaselineLevel.B_LTA
    return BaselineLevel.B_LT


async def _verify_signature(
    embedded: EmbeddedPdfSignature, facts: _FileFacts, context: VerificationContext
) -> SignatureReport:
    fmt = _format_of(embedded.sig_object)
    try:
        archived_crls, archived_ocsps = archived_revinfo(embedded)
    except (ValueError, TypeError, KeyError) as exc:
        log.info("verification.unreadable_revinfo", error=repr(exc), field=embedded.field_name)
        archived_crls, archived_ocsps = [], []
    # Revocation data the file carries (B-LT) counts too, as fresh as pyHanko accepts it.
    with embedded_revinfo([*facts.dss_crls, *archived_crls], [*facts.dss_ocsps, *archived_ocsps]):
        validation_context = context.validation_context(context.validation_time)
        retry_context = context.validation_context(context.validation_time)
    try:
        status = await async_validate_pdf_signature(
            embedded,
            signer_validation_context=validation_context,
            key_usage_settings=NO_KEY_USAGE_DEMAND,
        )
    except (KeyError, PdfReadError, SuspiciousModification, RecursionError) as exc:
        # pyHanko's analysis of the later revisions broke on the file's structure: the signature
        # itself can still be checked, the changes after signing stay unexplained.
        log.info("verification.diff_failed", error=repr(exc), field=embedded.field_name)
        validation_context = retry_context
        status = await async_validate_pdf_signature(
            embedded,
            signer_validation_context=validation_context,
            key_usage_settings=NO_KEY_USAGE_DEMAND,
            skip_diff=True,
        )
    fetch_failed = bool(fetch_failures(validation_context))
    coverage_check, coverage_verdict = _coverage(status)
    indication, sub, checks = _classify(status, fetch_failed, context.validation_time)
    checks.insert(0, coverage_check)
    mechanism = _unknown_mechanism(embedded)
    if mechanism and sub is SubIndication.SIG_CRYPTO_FAILURE:
        checks[-1] = _check(
            "signature",
            None,
            f"signature algorithm {mechanism} is not supported; the signature was not checked",
            f"Das Signaturverfahren {mechanism} wird nicht unterstützt; "
            "die Signatur konnte nicht geprüft werden.",
        )
        indication, sub = Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    verdicts: list[Verdict] = [coverage_verdict, (indication, sub)]
    intact = bool(status.intact and status.valid)
    timestamps: list[TimestampInfo] = []
    timestamp_ok = False
    if intact and coverage_verdict[0] is Indication.TOTAL_PASSED:
        check, verdict = _modifications(status, embedded, facts.reader)
        checks.append(check)
        verdicts.append(verdict)
    if status.timestamp_validity is not None:
        info, check, verdict = _signature_timestamp(status.timestamp_validity, context)
        timestamps.append(info)
        checks.append(check)
        verdicts.append(verdict)
        timestamp_ok = info.valid
    if status.content_timestamp_validity is not None:
        content = status.content_timestamp_validity
        timestamps.append(
            TimestampInfo(
                "content",
                content.timestamp,
                _tsa_name(content),
                _timestamp_ok(content),
                _timestamp_detail(content),
            )
        )
    timestamps += [
        t.info for t in facts.document_timestamps if t.revision > embedded.signed_revision
    ]
    constraints = _constraints(status, context, bind_to_sender=False)
    checks += constraints
    if failure := constraint_failure(constraints):
        verdicts.append(failure)
    return signature_report(
        status,
        embedded.signer_info,
        context,
        fmt=fmt,
        verdict=_worst(verdicts),
        checks=checks,
        fetch_failed=fetch_failed,
        timestamps=timestamps,
        level=_level(fmt, embedded.signed_revision, timestamp_ok, facts)
        if intact
        else BaselineLevel.NONE,
        field_name=embedded.field_name,
        validation_context=validation_context,
    )


def _unknown_mechanism(embedded: EmbeddedPdfSignature) -> str:
    """The OID of a signature algorithm the cryptography stack does not know, else ''."""
    algorithm = embedded.signer_info["signature_algorithm"]
    try:
        known = bool(algorithm.signature_algo)
    except ValueError:
        known = False
    return "" if known else str(algorithm["algorithm"].dotted)


def _read(data: bytes) -> tuple[PdfFileReader, list[tuple[str, Any, Any]]]:
    reader = PdfFileReader(BytesIO(data), strict=False)
    if reader.encrypted:
        reader.decrypt(b"")  # signed PDFs are often encrypted with an empty user password
    return reader, list(enumerate_sig_fields(reader, filled_status=True))


class PdfSignatures:
    name = "pades"

    def claims(self, document: DocumentInput) -> bool:
        return (
            document.content_type.lower() == "application/pdf"
            or b"%PDF-" in document.data[:HEADER_WINDOW]
        )

    async def verify(
        self,
        document: DocumentInput,
        others: Sequence[DocumentInput],
        context: VerificationContext,
    ) -> tuple[SignatureReport, ...]:
        try:
            reader, fields = _read(document.data)
        except Exception as exc:  # any parse error of a hostile file is a format failure
            if SIGNATURE_MARKER not in document.data:
                return ()  # a damaged PDF that never held a signature is unsigned, not failed
            log.info("verification.unreadable_pdf", error=str(exc), document=document.name)
            return (
                format_failure(
                    SignatureFormat.PADES, f"the PDF cannot be read: {type(exc).__name__}: {exc}"
                ),
            )
        if not fields:
            return ()
        failures: list[SignatureReport] = []
        signatures: list[EmbeddedPdfSignature] = []
        stamps: list[_DocumentTimestamp] = []
        broken_stamps: list[str] = []
        for field_name, sig_object, sig_field in fields:
            try:
                embedded = EmbeddedPdfSignature(reader, sig_field, field_name)
                if embedded.sig_object_type == "/DocTimeStamp":
                    stamps.append(await _document_timestamp(embedded, context))
                else:
                    signatures.append(embedded)
            except Exception as exc:
                log.info("verification.unusable_signature", error=str(exc), field=field_name)
                reason = f"{type(exc).__name__}: {exc}"
                if _is_timestamp(sig_object):
                    broken_stamps.append(f"{field_name}: {reason}")
                else:
                    failures.append(format_failure(_format_of(sig_object), reason, field_name))
        try:
            dss_revisions = _dss_revisions(reader)
        except Exception as exc:
            log.info("verification.unreadable_dss", error=repr(exc), document=document.name)
            dss_revisions = ()
        try:
            dss_crls, dss_ocsps = _dss_revinfo(reader)
        except Exception as exc:  # unreadable validation data counts as none
            log.info("verification.unreadable_dss_revinfo", error=repr(exc), document=document.name)
            dss_crls, dss_ocsps = (), ()
        facts = _FileFacts(reader, tuple(stamps), dss_revisions, dss_crls, dss_ocsps)
        reports = list(failures)
        for embedded in sorted(signatures, key=lambda e: e.signed_revision):
            try:
                report = await _verify_signature(embedded, facts, context)
            except Exception as exc:  # pyHanko raises for structurally unusable signatures
                log.info("verification.unusable_signature", error=str(exc), field=embedded.fq_name)
                report = format_failure(
                    _format_of(embedded.sig_object),
                    f"{type(exc).__name__}: {exc}",
                    embedded.field_name,
                )
            reports.append(_with_broken_stamps(report, broken_stamps))
        return tuple(reports)


def _with_broken_stamps(report: SignatureReport, broken: Sequence[str]) -> SignatureReport:
    """Document time-stamps that cannot be read prove nothing; say so on every signature."""
    extra = tuple(
        _check(
            "document_timestamp",
            False,
            f"a document time-stamp cannot be read ({reason})",
            f"Ein Dokumentzeitstempel ist nicht lesbar ({reason}).",
        )
        for reason in broken
    )
    return replace(report, checks=report.checks + extra) if extra else report


def _is_timestamp(sig_object: Any) -> bool:
    try:
        return bool(sig_object.get_object().get("/Type") == "/DocTimeStamp")
    except Exception:
        return False
