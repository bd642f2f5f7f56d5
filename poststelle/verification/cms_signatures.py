"""Validate each SignerInfo of a CMS SignedData over given content, as ETSI indications."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from asn1crypto import cms, parser, tsp
from cryptography.hazmat.primitives import hashes
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import StandardCMSSignatureStatus, TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from poststelle.verification.ber import elements
from poststelle.verification.carried_revinfo import carried_certificates, carried_revinfo
from poststelle.verification.certinfo import certificate_info
from poststelle.verification.formats import VerificationContext
from poststelle.verification.model import (
    BaselineLevel,
    Check,
    CheckOutcome,
    Indication,
    Qualification,
    RevocationInfo,
    RevocationStatus,
    SignatureFormat,
    SignatureReport,
    SubIndication,
    TimestampInfo,
)
from poststelle.verification.revocation_evidence import revocation_evidence
from poststelle.verification.trust import embedded_revinfo, fetch_failures

log = structlog.get_logger("poststelle.verification")

WEAK_DIGESTS = frozenset({"md5", "sha1"})
# A signed message whose Date header and signing time disagree by more than this was re-dated
# or replayed; Thunderbird flags it too.
DATE_TOLERANCE = timedelta(hours=1)
SIGNING_KEY_USAGES = frozenset({"digital_signature", "non_repudiation"})
# pyHanko would demand a keyUsage extension; RFC 5280 reads its absence as "unrestricted".
# The "key_usage" check below applies the rule instead.
NO_KEY_USAGE_DEMAND = KeyUsageConstraints(key_usage=set())
# ESS signing-certificate-v2 (RFC 5035) and its SHA-1 predecessor (RFC 2634): what makes a CMS
# signature a CAdES baseline signature (ETSI EN 319 122-1, B-B).
SIGNING_CERTIFICATE_ATTRIBUTES = frozenset(
    {"1.2.840.113549.1.9.16.2.47", "1.2.840.113549.1.9.16.2.12"}
)
SIGNATURE_TIME_STAMP = "1.2.840.113549.1.9.16.2.14"  # id-aa-signatureTimeStampToken
Verdict = tuple[Indication, SubIndication | None]


def _check(name: str, ok: bool | None, detail: str, detail_de: str) -> Check:
    outcome = {
        True: CheckOutcome.PASSED,
        False: CheckOutcome.FAILED,
        None: CheckOutcome.INDETERMINATE,
    }[ok]
    return Check(name, outcome, detail, detail_de)


def format_failure(fmt: SignatureFormat, reason: str, field_name: str = "") -> SignatureReport:
    return SignatureReport(
        format=fmt,
        indication=Indication.TOTAL_FAILED,
        sub_indication=SubIndication.FORMAT_FAILURE,
        checks=(
            _check(
                "format", False, reason, f"Die Signatur ist nicht lesbar oder fehlerhaft: {reason}"
            ),
        ),
        qualification=Qualification.NOT_ADES,
        field_name=field_name,
    )


def _single_signer(signed_data: cms.SignedData, index: int) -> cms.SignedData:
    """A detached copy of `signed_data` holding only its `index`-th SignerInfo (pyHanko validates
    SignedData with exactly one), spliced from the original encodings without re-encoding any.

    Re-encoding may change signed bytes: asn1crypto 1.5.1 takes every value whose header ends in
    0x80 (such as the definite length 0x1780) for an indefinite-length one and re-encodes it as
    DER when it is dumped (wbond/asn1crypto#249). Putting such a SignerInfo into a new SET OF
    dumps it, sorting a non-DER certificate SET inside a content time-stamp among its signed
    attributes: the signature over the signed attributes then looks broken although it is not.
    """
    fields = elements(signed_data.contents)
    content_type = elements(cms.EncapsulatedContentInfo.load(fields[2]).contents)[0]
    signer = elements(cms.SignerInfos.load(fields[-1]).contents)[index]
    spliced = [
        *fields[:2],
        parser.emit(0, 1, 16, content_type),  # SEQUENCE { eContentType } without the content
        *fields[3:-1],
        parser.emit(0, 1, 17, signer),  # SET OF with the one SignerInfo
    ]
    return cms.SignedData.load(parser.emit(0, 1, 16, b"".join(spliced)))


def _sub_indication(name: str) -> SubIndication:
    try:
        return SubIndication(name)
    except ValueError:
        return SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE


def _revocation(
    status: StandardCMSSignatureStatus,
    fetch_failed: bool,
    validation_context: ValidationContext | None,
) -> RevocationInfo:
    """The signer certificate's revocation status, with the OCSP response or CRL that answered
    for it where that can be determined (else source "")."""
    details = status.revocation_details
    if details is not None or status.trusted:
        evidence = (
            revocation_evidence(
                validation_context, status.signing_cert, revoked=details is not None
            )
            if validation_context is not None
            else None
        )
        source, url, produced_at = (
            (evidence.source, evidence.url, evidence.produced_at) if evidence else ("", "", None)
        )
        if details is not None:
            return RevocationInfo(
                status=RevocationStatus.REVOKED,
                source=source,
                url=url,
                produced_at=produced_at,
                revoked_at=details.revocation_date,
                reason=str(details.revocation_reason.native) if details.revocation_reason else "",
            )
        return RevocationInfo(RevocationStatus.GOOD, source, url, produced_at)
    if fetch_failed:
        return RevocationInfo(RevocationStatus.UNAVAILABLE, "")
    return RevocationInfo(RevocationStatus.NOT_CHECKED, "")


def _classify(
    status: StandardCMSSignatureStatus, fetch_failed: bool, moment: datetime
) -> tuple[Indication, SubIndication | None, list[Check]]:
    checks = [
        _check(
            "integrity",
            status.intact,
            "the signed content is unchanged" if status.intact else "the content was changed",
            "Die signierten Daten sind unverändert."
            if status.intact
            else "Die signierten Daten wurden nach dem Signieren verändert.",
        ),
    ]
    if not status.intact:
        return Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE, checks
    checks.append(
        _check(
            "signature",
            status.valid,
            "the cryptographic signature is valid" if status.valid else "the signature is broken",
            "Die kryptografische Signatur ist gültig."
            if status.valid
            else "Die kryptografische Signatur ist ungültig.",
        )
    )
    if not status.valid:
        return Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE, checks
    if status.revoked:
        checks.append(
            _check(
                "revocation", False, "the certificate is revoked", "Das Zertifikat ist gesperrt."
            )
        )
        return Indication.TOTAL_FAILED, SubIndication.REVOKED, checks
    if status.trusted:
        checks.append(
            _check(
                "certificate_path",
                True,
                "a path to a trust anchor was validated, revocation checked",
                "Der Zertifikatspfad zu einem Vertrauensanker ist gültig; der Sperrstatus ist "
                "geprüft.",
            )
        )
        return Indication.TOTAL_PASSED, None, checks
    indic = status.trust_problem_indic
    name = str(getattr(indic, "name", "CERTIFICATE_CHAIN_GENERAL_FAILURE"))
    if fetch_failed and name == "CERTIFICATE_CHAIN_GENERAL_FAILURE":
        checks.append(
            _check(
                "revocation",
                None,
                "the revocation service could not be reached; verify again later",
                "Der Sperrdienst war nicht erreichbar; die Prüfung wird später wiederholt.",
            )
        )
        return Indication.INDETERMINATE, SubIndication.TRY_LATER, checks
    sub = _sub_indication(name)
    if sub is SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE:
        if status.signing_cert.not_valid_before > moment:
            sub = SubIndication.NOT_YET_VALID
        elif status.signing_cert.not_valid_after < moment:
            sub = SubIndication.OUT_OF_BOUNDS_NO_POE
    total_failed = sub in (SubIndication.EXPIRED, SubIndication.NOT_YET_VALID)
    checks.append(
        _check(
            "certificate_path",
            False if total_failed else None,
            f"the certificate path does not validate: {name}",
            f"Der Zertifikatspfad ist nicht gültig ({name}).",
        )
    )
    return (Indication.TOTAL_FAILED if total_failed else Indication.INDETERMINATE), sub, checks


def as_utc_if_naive(moment: datetime | None) -> tuple[datetime | None, bool]:
    """`moment`, read as UTC if it has no time zone (a PDF /M entry may lack one: pyHanko then
    returns a naive time, which cannot be compared with the receipt time), and whether it had
    to be."""
    if moment is None or (moment.tzinfo is not None and moment.utcoffset() is not None):
        return moment, False
    return moment.replace(tzinfo=UTC), True


def stated_time(status: StandardCMSSignatureStatus) -> tuple[datetime | None, bool]:
    """The signing time the signer states, and whether it was read as UTC for want of a zone."""
    return as_utc_if_naive(status.signer_reported_dt)


def _constraints(
    status: StandardCMSSignatureStatus,
    context: VerificationContext,
    bind_to_sender: bool,
) -> list[Check]:
    checks = []
    signed_at, zoneless = stated_time(status)
    if signed_at is not None:
        future = signed_at > context.validation_time
        checks.append(
            _check(
                "signing_time",
                not future,
                f"claimed signing time {signed_at.isoformat()}"
                + (" (stated without a time zone, read as UTC)" if zoneless else "")
                + (" is after the receipt time" if future else ""),
                f"Angegebene Signaturzeit {signed_at.astimezone(UTC):%d.%m.%Y %H:%M:%S} UTC"
                + (" (ohne Zeitzone angegeben, als UTC gelesen)" if zoneless else "")
                + (" liegt nach dem Eingangszeitpunkt." if future else "."),
            )
        )
    usage = status.signing_cert.key_usage_value
    if usage is not None:
        fit = bool(set(usage.native) & SIGNING_KEY_USAGES)
        checks.append(
            _check(
                "key_usage",
                fit,
                f"key usage {', '.join(sorted(usage.native))}",
                "Das Zertifikat ist zum Signieren bestimmt."
                if fit
                else "Das Zertifikat ist nicht zum Signieren bestimmt.",
            )
        )
    digest = status.md_algorithm.lower()
    weak = digest in WEAK_DIGESTS
    checks.append(
        _check(
            "algorithms",
            not weak,
            f"digest algorithm {digest}" + (" is too weak" if weak else ""),
            f"Hashverfahren {digest}" + (" gilt nicht mehr als sicher." if weak else "."),
        )
    )
    if bind_to_sender and signed_at is not None and context.message_date is not None:
        drift = abs(context.message_date - signed_at)
        checks.append(
            _check(
                "message_date",
                drift <= DATE_TOLERANCE,
                f"Date header and signing time differ by {drift}",
                "Datum der Nachricht und Signaturzeit passen zusammen."
                if drift <= DATE_TOLERANCE
                else f"Datum der Nachricht und Signaturzeit weichen um {drift} voneinander ab.",
            )
        )
    if bind_to_sender:
        addresses = certificate_info(status.signing_cert).email_addresses
        sender = context.sender_address.lower()
        bound = bool(sender) and sender in addresses
        checks.append(
            _check(
                "sender_identity",
                bound,
                f"signer {', '.join(addresses) or '(no e-mail address)'} vs sender {sender}",
                "Der Unterzeichner ist der Absender der Nachricht."
                if bound
                else f"Der Unterzeichner ({', '.join(addresses) or 'ohne E-Mail-Adresse'}) "
                f"ist nicht der Absender ({sender or 'unbekannt'}).",
            )
        )
    return checks


async def verify_signed_data(
    content: bytes,
    cms_der: bytes,
    context: VerificationContext,
    *,
    fmt: SignatureFormat,
    field_name: str,
    bind_to_sender: bool = False,
    any_content_type: bool = False,
) -> tuple[SignatureReport, ...]:
    """One report per SignerInfo; never raises for malformed input. S/MIME signs MIME data
    only; a CAdES file (`any_content_type`) may sign content of any declared type."""
    try:
        info = cms.ContentInfo.load(cms_der)
        if info["content_type"].native != "signed_data":
            return (format_failure(fmt, "the CMS object is not SignedData", field_name),)
        signed_data = info["content"]
        signers: Sequence[cms.SignerInfo] = list(signed_data["signer_infos"])
        econtent_type = signed_data["encap_content_info"]["content_type"].native
    except (ValueError, TypeError, KeyError) as exc:
        return (format_failure(fmt, f"the CMS structure cannot be parsed: {exc}", field_name),)
    if not signers:
        return (format_failure(fmt, "the SignedData holds no signature", field_name),)
    reports = []
    for index in range(len(signers)):
        label = field_name if len(signers) == 1 else f"{field_name}#{index + 1}"
        if econtent_type != "data" and not any_content_type:
            reports.append(
                format_failure(fmt, f"unexpected encapsulated content type {econtent_type}", label)
            )
            continue
        try:
            single = _single_signer(signed_data, index)
        except (ValueError, TypeError, IndexError) as exc:
            reports.append(format_failure(fmt, f"the CMS structure cannot be split: {exc}", label))
            continue
        reports.append(await _verify_signer(content, single, context, fmt, label, bind_to_sender))
    return tuple(reports)


def _attribute_values(attributes: cms.CMSAttributes, oids: frozenset[str]) -> list[Any]:
    if not isinstance(attributes, cms.CMSAttributes):
        return []
    return [value for a in attributes if a["type"].dotted in oids for value in a["values"]]


def _imprint_matches(signer: cms.SignerInfo) -> bool:
    """Whether some signature time-stamp token's message imprint is the hash of this
    SignerInfo's signature value (RFC 3161 over the signature, ETSI EN 319 122-1 5.3)."""
    signature = signer["signature"].native
    for token in _attribute_values(signer["unsigned_attrs"], frozenset({SIGNATURE_TIME_STAMP})):
        try:
            content = token["content"]["encap_content_info"]["content"]
            imprint = tsp.TSTInfo.load(bytes(content))["message_imprint"]
            digest = hashes.Hash(
                get_pyca_cryptography_hash(imprint["hash_algorithm"]["algorithm"].native)
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
        digest.update(signature)
        if digest.finalize() == imprint["hashed_message"].native:
            return True
    return False


def _timestamp_problem(
    status: TimestampSignatureStatus, signer: cms.SignerInfo, future: bool
) -> tuple[str, str]:
    """Why a signature time-stamp proves nothing, in English and German; empty if it does."""
    if future:
        return "the time-stamp is dated after receipt", "er liegt nach dem Eingangszeitpunkt"
    if not status.intact:
        if not _imprint_matches(signer):
            return (
                "its message imprint does not match the signature value",
                "er bezieht sich nicht auf diese Signatur",
            )
        return "the time-stamp token was altered", "er wurde verändert"
    if not status.valid:
        return "the time-stamp's signature is broken", "seine Signatur ist fehlerhaft"
    if not status.trusted:
        return (
            "the time-stamping authority is not trusted",
            "der Zeitstempeldienst ist nicht vertrauenswürdig",
        )
    return "", ""


def signature_timestamp(
    status: TimestampSignatureStatus, signer: cms.SignerInfo, context: VerificationContext
) -> tuple[TimestampInfo, Check]:
    """The signature time-stamp (B-T): valid only if intact, signed by a TSA whose path
    validates, and not dated after receipt."""
    future = status.timestamp > context.validation_time
    detail, detail_de = _timestamp_problem(status, signer, future)
    tsa = str(status.signing_cert.subject.human_friendly)
    info = TimestampInfo("signature", status.timestamp, tsa, not detail, detail)
    when = f"{status.timestamp.astimezone(UTC):%d.%m.%Y %H:%M:%S} UTC"
    if info.valid:
        return info, _check(
            "signature_timestamp",
            True,
            f"signature time-stamp of {status.timestamp.isoformat()} by {tsa}",
            f"Die Signaturzeit ist durch einen Zeitstempel vom {when} belegt ({tsa}).",
        )
    untrusted = status.intact and status.valid and not future
    return info, _check(
        "signature_timestamp",
        None if untrusted else False,
        f"signature time-stamp of {status.timestamp.isoformat()} by {tsa}: {detail}",
        f"Der Signaturzeitstempel vom {when} ({tsa}) belegt die Signaturzeit nicht: {detail_de}.",
    )


def _refused_algorithm(status: StandardCMSSignatureStatus, signer: cms.SignerInfo) -> str:
    """Why the signature could not be checked (an unknown or disallowed algorithm), else ''.
    Such a signature is not shown to be broken: ETSI calls it CRYPTO_CONSTRAINTS_FAILURE."""
    algorithm = signer["signature_algorithm"]
    try:
        known = bool(algorithm.signature_algo)
    except ValueError:
        known = False
    if not known:
        return f"signature algorithm {algorithm['algorithm'].dotted} is not supported"
    if getattr(status.trust_problem_indic, "name", "") == "CRYPTO_CONSTRAINTS_FAILURE":
        return f"algorithm {status.pkcs7_signature_mechanism} or its key size is not allowed"
    return ""


def _level(signer: cms.SignerInfo, intact: bool, timestamp_ok: bool) -> BaselineLevel:
    """B-B needs the ESS signing-certificate attribute; B-T adds a valid signature time-stamp."""
    if not intact or not _attribute_values(signer["signed_attrs"], SIGNING_CERTIFICATE_ATTRIBUTES):
        return BaselineLevel.NONE
    return BaselineLevel.B_T if timestamp_ok else BaselineLevel.B_B


async def _verify_signer(
    content: bytes,
    signed_data: cms.SignedData,
    context: VerificationContext,
    fmt: SignatureFormat,
    label: str,
    bind_to_sender: bool,
) -> SignatureReport:
    # Revocation data the signature carries (B-LT) counts too, as fresh as pyHanko accepts it:
    # offline, or once the CA's responder is gone, it is all there is.
    carried = carried_revinfo(signed_data, label)
    with embedded_revinfo(*carried, carried_certificates(signed_data, label)):
        validation_context = context.validation_context(context.validation_time)
    try:
        status = await async_validate_detached_cms(
            content,
            signed_data,
            signer_validation_context=validation_context,
            key_usage_settings=NO_KEY_USAGE_DEMAND,
        )
    except Exception as exc:  # pyHanko raises for structurally unusable signatures
        log.info("verification.unusable_signature", error=str(exc), field=label)
        return format_failure(fmt, f"{type(exc).__name__}: {exc}", label)
    signer_info: cms.SignerInfo = signed_data["signer_infos"][0]
    fetch_failed = bool(fetch_failures(validation_context))
    indication, sub, checks = _classify(status, fetch_failed, context.validation_time)
    refused = _refused_algorithm(status, signer_info)
    if refused and sub is SubIndication.SIG_CRYPTO_FAILURE:
        checks[-1] = _check(
            "signature",
            None,
            f"the signature was not checked: {refused}",
            f"Die Signatur wurde nicht geprüft: {refused}",
        )
        indication, sub = Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    timestamps: tuple[TimestampInfo, ...] = ()
    if status.timestamp_validity is not None:
        stamp, stamp_check = signature_timestamp(status.timestamp_validity, signer_info, context)
        timestamps = (stamp,)
        checks.append(stamp_check)
    checks += _constraints(status, context, bind_to_sender)
    if indication is Indication.TOTAL_PASSED and (failure := constraint_failure(checks)):
        indication, sub = failure
    proven = any(t.valid for t in timestamps)
    return signature_report(
        status,
        signer_info,
        context,
        fmt=fmt,
        verdict=(indication, sub),
        checks=checks,
        fetch_failed=fetch_failed,
        timestamps=timestamps,
        level=_level(signer_info, bool(status.intact and status.valid), proven),
        field_name=label,
        validation_context=validation_context,
    )


def constraint_failure(checks: Sequence[Check]) -> Verdict | None:
    """What failed constraint checks make of a signature that is otherwise sound: a weak
    algorithm is a CRYPTO_CONSTRAINTS_FAILURE, any other failed check a SIG_CONSTRAINTS_FAILURE."""
    failed = [c for c in checks if c.outcome is CheckOutcome.FAILED]
    if any(c.name == "algorithms" for c in failed):
        return Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    if failed:
        return Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE
    return None


def signature_report(
    status: StandardCMSSignatureStatus,
    signer_info: cms.SignerInfo,
    context: VerificationContext,
    *,
    fmt: SignatureFormat,
    verdict: Verdict,
    checks: Sequence[Check],
    fetch_failed: bool,
    timestamps: Sequence[TimestampInfo],
    level: BaselineLevel,
    field_name: str,
    validation_context: ValidationContext | None = None,
) -> SignatureReport:
    """The report on one signature pyHanko validated (CMS or PDF): the verdict and checks as the
    caller determined them, with what follows from the status itself: signer, certificate path,
    revocation, algorithms and, for a passed signature only, its qualification.

    `signing_time` is the time the signer states (the signed signing-time attribute or, in a PDF
    signature without one, its /M entry), never a time-stamp's: the time a time-stamp proves is
    reported with it in `timestamps`."""
    indication, sub = verdict
    signer = certificate_info(status.signing_cert)
    root_first = (
        list(status.validation_path.iter_certs(include_root=True))
        if status.validation_path is not None
        else []
    )
    qualification = Qualification.INDETERMINATE
    if indication is Indication.TOTAL_PASSED:
        # leaf first: a trusted list recognises the issuing CA among the path's certificates
        leaf_first = [c.dump() for c in reversed(root_first)] or [status.signing_cert.dump()]
        qualification = context.qualify(signer, leaf_first, context.validation_time)
    return SignatureReport(
        format=fmt,
        indication=indication,
        sub_indication=sub,
        checks=tuple(checks),
        signer=signer,
        validation_path=tuple(certificate_info(c) for c in root_first),
        signing_time=stated_time(status)[0],
        revocation=_revocation(status, fetch_failed, validation_context),
        timestamps=tuple(timestamps),
        level=level,
        qualification=qualification,
        digest_algorithm=status.md_algorithm,
        signature_algorithm=str(signer_info["signature_algorithm"]["algorithm"].native),
        field_name=field_name,
    )
