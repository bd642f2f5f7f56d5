"""Verify X-de-mail-integrity (TR 01201 PVD IO 3.1.21): DKIM hash or provider signature."""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pyhanko_certvalidator import CertificateValidator
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathError,
    PathValidationError,
    RevokedError,
    ValidationError,
)
from pyhanko_certvalidator.path import ValidationPath

from poststelle.demail.headers import HeaderField, HeaderSection, split_message
from poststelle.verification.certinfo import certificate_info
from poststelle.verification.formats import VerificationContext
from poststelle.verification.model import (
    CertificateInfo,
    Check,
    CheckOutcome,
    Indication,
    Qualification,
    RevocationInfo,
    RevocationStatus,
    SignatureFormat,
    SignatureReport,
    SubIndication,
)
from poststelle.verification.trust import fetch_failures

INTEGRITY = "X-de-mail-integrity"
CERTIFICATE = "X-de-mail-signature-certificate"
CANONICALIZATION = "simple/simple"
KEY_QUERY = "x-header/x-de-mail-signature-certificate"
# The fixed order of hashed header fields (TR PVD IO 3.1.21, parameter "h").
HEADER_LIST = (
    "from",
    "date",
    "message-id",
    "subject",
    "reply-to",
    "x-de-mail-confirmation-of-dispatch",
    "x-de-mail-confirmation-of-receipt",
    "x-de-mail-confirmation-of-retrieve",
    "x-de-mail-authoritative",
    "x-de-mail-private",
    "x-de-mail-sender",
    "x-de-mail-chosen-recipient",
    "x-de-mail-auth-mechanism",
    "x-de-mail-auth-level",
    "x-de-mail-originator-provider",
    "x-de-mail-message-type",
    "x-de-mail-version",
    "x-de-mail-private-id",  # "falls vorhanden"
    "x-de-mail-message-id",
    "x-de-mail-account-holder",
)
OPTIONAL_IN_LIST = "x-de-mail-private-id"
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
SIGNATURE_ALGORITHMS = ("rsa", "ec-dsa", "rsassa-pss")
SIGNING_KEY_USAGES = frozenset({"digital_signature", "non_repudiation"})
TAG = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*=(.*)", re.DOTALL)
B_TAG = re.compile(rb"((?:^|;)\s*b\s*=)[^;]*")
LOOSE_LINE_FEED = re.compile(rb"(?<!\r)\n")


class Protection(enum.StrEnum):
    """What X-de-mail-integrity declares."""

    NONE = "none"  # no X-de-mail-integrity field
    UNREADABLE = "unreadable"  # present, but not a usable tag list
    HASH = "hash"  # a=<hash>: b= is the header hash, no key involved
    SIGNATURE = "signature"  # a=<hash>/<signature algorithm>: the provider signed


@dataclass(frozen=True, slots=True)
class IntegrityResult:
    protection: Protection
    report: SignatureReport | None  # None only when there is no X-de-mail-integrity

    @property
    def intact(self) -> bool:
        """Whether body and hashed header fields are unchanged, by hash or by signature; says
        nothing about the signer's certificate."""
        passed = (
            {c.name for c in self.report.checks if c.outcome is CheckOutcome.PASSED}
            if self.report is not None
            else set()
        )
        return "body_hash" in passed and bool(passed & {"header_hash", "signature"})


@dataclass(frozen=True, slots=True)
class IntegrityTags:
    hash_name: str
    signature_algorithm: str  # "" for a hash only
    headers: tuple[str, ...]  # h=, lower-case
    body_hash: bytes
    value: bytes  # b=: the header hash or the signature
    signed_at: datetime | None  # t=, optional


class IntegrityFormatError(ValueError):
    def __init__(self, detail: str, detail_de: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.detail_de = detail_de


def parse_tag_list(value: str) -> dict[str, str]:
    """RFC 6376 section 3.2 tag=value list; a repeated tag makes it invalid."""
    tags: dict[str, str] = {}
    for spec in value.split(";"):
        if not spec.strip():
            continue
        match = TAG.fullmatch(spec)
        if match is None:
            raise IntegrityFormatError(
                f"not a tag=value pair: {spec.strip()[:40]!r}",
                f"Kein Eintrag der Form tag=wert: {spec.strip()[:40]!r}",
            )
        name, tag_value = match.group(1), match.group(2).strip()
        if name in tags:
            raise IntegrityFormatError(
                f"tag {name}= occurs twice", f"Der Eintrag {name}= kommt doppelt vor."
            )
        tags[name] = tag_value
    return tags


def _base64(tags: dict[str, str], name: str) -> bytes:
    if name not in tags:
        raise IntegrityFormatError(f"tag {name}= is missing", f"Der Eintrag {name}= fehlt.")
    try:
        return base64.b64decode("".join(tags[name].split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise IntegrityFormatError(
            f"tag {name}= is not base64", f"Der Eintrag {name}= ist nicht Base64-kodiert."
        ) from exc


def parse_integrity(value: str) -> IntegrityTags:
    """The tags of X-de-mail-integrity, checked against TR PVD IO 3.1.21; `l=` is ignored."""
    tags = parse_tag_list(value)
    algorithm = "".join(tags.get("a", "").split()).lower()
    hash_name, _, signature_algorithm = algorithm.partition("/")
    if hash_name not in HASHES or (
        signature_algorithm and signature_algorithm not in SIGNATURE_ALGORITHMS
    ):
        raise IntegrityFormatError(
            f"unsupported algorithm a={algorithm!r}",
            f"Nicht vorgesehenes Verfahren a={algorithm!r}.",
        )
    canonicalization = "".join(tags.get("c", CANONICALIZATION).split()).lower()
    if canonicalization not in (CANONICALIZATION, "simple"):
        raise IntegrityFormatError(
            f"canonicalisation c={canonicalization} instead of simple/simple",
            f"Kanonisierung c={canonicalization} statt simple/simple.",
        )
    query = "".join(tags.get("q", "").split()).lower()
    if signature_algorithm and query != KEY_QUERY:
        raise IntegrityFormatError(
            f"q={query!r}: the key must come from {KEY_QUERY}",
            f"q={query!r}: Der Schlüssel muss aus {KEY_QUERY} stammen.",
        )
    header_names = tuple(n.strip().lower() for n in tags.get("h", "").split(":"))
    if (
        tuple(n for n in header_names if n != OPTIONAL_IN_LIST)
        != tuple(n for n in HEADER_LIST if n != OPTIONAL_IN_LIST)
        or header_names.count(OPTIONAL_IN_LIST) > 1
    ):
        raise IntegrityFormatError(
            f"h= does not list the header fields the specification fixes: {tags.get('h', '')!r}",
            "h= nennt nicht die von der Spezifikation festgelegten Kopffelder.",
        )
    signed_at = None
    if "t" in tags:
        try:
            signed_at = datetime.fromtimestamp(int(tags["t"]), tz=UTC)
        except (ValueError, OverflowError, OSError) as exc:
            raise IntegrityFormatError(
                f"t={tags['t']!r} is not a time", f"t={tags['t']!r} ist kein Zeitpunkt."
            ) from exc
    return IntegrityTags(
        hash_name=hash_name,
        signature_algorithm=signature_algorithm,
        headers=header_names,
        body_hash=_base64(tags, "bh"),
        value=_base64(tags, "b"),
        signed_at=signed_at,
    )


def canonical_body(body: bytes) -> bytes:
    """RFC 6376 3.4.3 simple body canonicalisation: trailing empty lines removed, one CRLF
    at the end (an empty body becomes CRLF)."""
    while body.endswith(b"\r\n\r\n"):
        body = body[:-2]
    return body if body.endswith(b"\r\n") else body + b"\r\n"


def header_hash_input(section: HeaderSection, names: Sequence[str], own: HeaderField) -> bytes:
    """RFC 6376 3.7 with simple header canonicalisation, except that of repeated fields the
    first from the top counts (TR PVD IO 3.1.21); an absent field contributes nothing. `own`
    (the integrity field) follows with its b= value emptied and without its line end."""
    data = bytearray()
    for name in names:
        field = section.first(name)
        if field is not None:
            data += field.raw
    own_name, _, own_value = own.raw.partition(b":")
    emptied = B_TAG.sub(lambda m: m.group(1), own_value, count=1)
    data += own_name + b":" + emptied.rstrip(b"\r\n")
    return bytes(data)


def _check(name: str, ok: bool | None, detail: str, detail_de: str) -> Check:
    outcome = {
        True: CheckOutcome.PASSED,
        False: CheckOutcome.FAILED,
        None: CheckOutcome.INDETERMINATE,
    }[ok]
    return Check(name, outcome, detail, detail_de)


def _report(
    indication: Indication,
    sub: SubIndication | None,
    checks: Sequence[Check],
    tags: IntegrityTags | None,
    *,
    signer: CertificateInfo | None = None,
    validation_path: tuple[CertificateInfo, ...] = (),
    revocation: RevocationInfo | None = None,
    qualification: Qualification = Qualification.INDETERMINATE,
) -> SignatureReport:
    return SignatureReport(
        format=SignatureFormat.DEMAIL,
        indication=indication,
        sub_indication=sub,
        checks=tuple(checks),
        signer=signer,
        validation_path=validation_path,
        signing_time=tags.signed_at if tags else None,
        revocation=revocation,
        qualification=qualification,
        digest_algorithm=tags.hash_name if tags else "",
        signature_algorithm=tags.signature_algorithm if tags else "",
        field_name=INTEGRITY,
    )


def _verify_signature(
    public_key: PublicKeyTypes, tags: IntegrityTags, data: bytes
) -> tuple[bool, str, str]:
    digest = HASHES[tags.hash_name]()
    algorithm = tags.signature_algorithm
    try:
        if algorithm == "ec-dsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(tags.value, data, ec.ECDSA(digest))
        elif algorithm == "rsa" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(tags.value, data, padding.PKCS1v15(), digest)
        elif algorithm == "rsassa-pss" and isinstance(public_key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.AUTO)
            public_key.verify(tags.value, data, pss, digest)
        else:
            return (
                False,
                f"the certificate's key does not fit a={tags.hash_name}/{algorithm}",
                f"Der Schlüssel des Zertifikats passt nicht zu a={tags.hash_name}/{algorithm}.",
            )
    except InvalidSignature:
        return (
            False,
            "the signature does not match the signed header fields with the certificate's key "
            "(fields changed after signing, or not the signer's certificate)",
            "Die Signatur passt nicht zu den signierten Kopffeldern und dem Schlüssel des "
            "Zertifikats (Felder nach dem Signieren geändert oder fremdes Zertifikat).",
        )
    return (
        True,
        f"the provider's signature ({algorithm}, {tags.hash_name}) is valid",
        f"Die Signatur des Diensteanbieters ({algorithm}, {tags.hash_name}) ist gültig.",
    )


def _load_certificate(encoded: str) -> tuple[asn1_x509.Certificate, PublicKeyTypes] | None:
    try:
        der = base64.b64decode(encoded, validate=True)
        public_key = x509.load_der_x509_certificate(der).public_key()
        certificate = asn1_x509.Certificate.load(der)
        _ = certificate.native  # parse it whole now, not lazily inside path validation
    except (binascii.Error, ValueError, TypeError):
        return None
    return certificate, public_key


@dataclass(frozen=True, slots=True)
class PathResult:
    indication: Indication
    sub_indication: SubIndication | None
    checks: tuple[Check, ...]
    path: ValidationPath | None
    revocation: RevocationInfo


def _path_failure(exc: Exception, fetch_failed: bool) -> tuple[Indication, SubIndication]:
    if isinstance(exc, RevokedError):
        if exc.is_side_validation:
            return Indication.INDETERMINATE, SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE
        if exc.is_ee_cert:
            return Indication.TOTAL_FAILED, SubIndication.REVOKED
        return Indication.INDETERMINATE, SubIndication.REVOKED_CA_NO_POE
    if isinstance(exc, NotYetValidError) and exc.is_ee_cert:
        return Indication.TOTAL_FAILED, SubIndication.NOT_YET_VALID
    if isinstance(exc, ExpiredError) and exc.is_ee_cert:
        return Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE
    if isinstance(exc, InsufficientRevinfoError) or fetch_failed:
        return Indication.INDETERMINATE, SubIndication.TRY_LATER
    if isinstance(exc, PathBuildingError):
        return Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    if isinstance(exc, DisallowedAlgorithmError):
        return Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    if isinstance(exc, InvalidCertificateError):
        return Indication.INDETERMINATE, SubIndication.CHAIN_CONSTRAINTS_FAILURE
    return Indication.INDETERMINATE, SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE


async def validate_certificate(
    certificate: asn1_x509.Certificate, context: VerificationContext
) -> PathResult:
    """Path, validity and revocation of the provider's certificate as of the validation time,
    with the engine's trust anchors and hard-fail revocation checking."""
    validation_context = context.validation_context(context.validation_time)
    validator = CertificateValidator(certificate, validation_context=validation_context)
    try:
        path = await validator.async_validate_path()
    except (PathError, ValidationError) as exc:
        fetch_failed = bool(fetch_failures(validation_context))
        indication, sub = _path_failure(exc, fetch_failed)
        if sub is SubIndication.TRY_LATER:
            check = _check(
                "revocation",
                None,
                f"the revocation status could not be obtained; verify again later ({exc})",
                "Der Sperrstatus war nicht abrufbar; die Prüfung wird später wiederholt.",
            )
            revocation = RevocationInfo(RevocationStatus.UNAVAILABLE, "")
        elif isinstance(exc, RevokedError):
            check = _check(
                "revocation",
                False,
                f"the certificate is revoked since {exc.revocation_dt.isoformat()}",
                f"Das Zertifikat ist seit {exc.revocation_dt:%d.%m.%Y %H:%M} UTC gesperrt.",
            )
            revocation = RevocationInfo(
                RevocationStatus.REVOKED,
                "ocsp/crl",
                revoked_at=exc.revocation_dt,
                reason=str(exc.reason.native),
            )
        else:
            check = _check(
                "certificate_path",
                False if indication is Indication.TOTAL_FAILED else None,
                f"the certificate path does not validate: {sub.value}: {exc}",
                f"Der Zertifikatspfad ist nicht gültig ({sub.value}).",
            )
            revocation = RevocationInfo(RevocationStatus.NOT_CHECKED, "")
        original = exc.original_path if isinstance(exc, PathValidationError) else None
        return PathResult(indication, sub, (check,), original, revocation)
    checks = [
        _check(
            "certificate_path",
            True,
            "a path to a trust anchor was validated, revocation checked",
            "Der Zertifikatspfad zu einem Vertrauensanker ist gültig; der Sperrstatus ist geprüft.",
        )
    ]
    usage = certificate.key_usage_value
    fit = usage is None or bool(set(usage.native) & SIGNING_KEY_USAGES)
    if usage is not None:
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
    return PathResult(
        Indication.TOTAL_PASSED if fit else Indication.INDETERMINATE,
        None if fit else SubIndication.SIG_CONSTRAINTS_FAILURE,
        tuple(checks),
        path,
        RevocationInfo(RevocationStatus.GOOD, "ocsp/crl"),
    )


def _format_failure(detail: str, detail_de: str, tags: IntegrityTags | None) -> SignatureReport:
    return _report(
        Indication.TOTAL_FAILED,
        SubIndication.FORMAT_FAILURE,
        [_check("format", False, detail, f"X-de-mail-integrity ist fehlerhaft: {detail_de}")],
        tags,
        qualification=Qualification.NOT_ADES,
    )


def _body_check(section: HeaderSection, tags: IntegrityTags) -> Check:
    computed = hashlib.new(tags.hash_name, canonical_body(section.body)).digest()
    if computed == tags.body_hash:
        return _check(
            "body_hash",
            True,
            "the body is unchanged (bh= matches)",
            "Der Nachrichteninhalt ist unverändert (Hashwert bh= stimmt).",
        )
    return _check(
        "body_hash",
        False,
        "the body was changed: its hash does not match bh=",
        "Der Nachrichteninhalt wurde verändert: sein Hashwert stimmt nicht mit bh= überein.",
    )


def _hash_only(data: bytes, tags: IntegrityTags, checks: list[Check]) -> SignatureReport:
    """b= holds the header hash (TR PVD IO 3.1.21, parameter "b"): anyone can recompute it,
    so it shows integrity, never origin: INDETERMINATE at best."""
    intact = hashlib.new(tags.hash_name, data).digest() == tags.value
    checks.append(
        _check(
            "header_hash",
            intact,
            "the hashed header fields are unchanged (b= matches)"
            if intact
            else "hashed header fields were changed: their hash does not match b=",
            "Die gesicherten Kopffelder sind unverändert."
            if intact
            else "Gesicherte Kopffelder wurden verändert: ihr Hashwert stimmt nicht mit b= "
            "überein.",
        )
    )
    if not intact:
        return _report(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE, checks, tags)
    checks.append(
        Check(
            "signature",
            CheckOutcome.NOT_APPLICABLE,
            f"a={tags.hash_name}: a hash only, the provider did not sign",
            f"a={tags.hash_name}: nur ein Hashwert, der Diensteanbieter hat nicht signiert.",
        )
    )
    return _report(
        Indication.INDETERMINATE,
        SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
        checks,
        tags,
        qualification=Qualification.NOT_ADES,
    )


async def _signed(
    section: HeaderSection,
    data: bytes,
    tags: IntegrityTags,
    checks: list[Check],
    context: VerificationContext,
) -> SignatureReport:
    field = section.first(CERTIFICATE)
    loaded = _load_certificate("".join(field.value.split())) if field else None
    if loaded is None:
        checks.append(
            _check(
                "signing_certificate",
                None,
                f"{CERTIFICATE} is missing or not a base64 X.509 certificate",
                f"{CERTIFICATE} fehlt oder enthält kein Base64-kodiertes X.509-Zertifikat.",
            )
        )
        return _report(
            Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND, checks, tags
        )
    certificate, public_key = loaded
    signer = certificate_info(certificate)
    valid, detail, detail_de = _verify_signature(public_key, tags, data)
    checks.append(_check("signature", valid, detail, detail_de))
    if not valid:
        return _report(
            Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE, checks, tags, signer=signer
        )
    result = await validate_certificate(certificate, context)
    checks += result.checks
    indication: Indication = result.indication
    sub: SubIndication | None = result.sub_indication
    if tags.signed_at is not None:
        future = tags.signed_at > context.validation_time
        checks.append(
            _check(
                "signing_time",
                not future,
                f"claimed signing time t= {tags.signed_at.isoformat()}"
                + (" is after the receipt time" if future else ""),
                f"Angegebene Signaturzeit {tags.signed_at:%d.%m.%Y %H:%M:%S} UTC"
                + (" liegt nach dem Eingangszeitpunkt." if future else "."),
            )
        )
        if future and indication is Indication.TOTAL_PASSED:
            indication, sub = Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE
    path = tuple(result.path.iter_certs(include_root=True)) if result.path is not None else ()
    qualification = Qualification.INDETERMINATE
    if indication is Indication.TOTAL_PASSED:
        qualification = context.qualify(
            signer, [c.dump() for c in reversed(path)], context.validation_time
        )
    return _report(
        indication,
        sub,
        checks,
        tags,
        signer=signer,
        validation_path=tuple(certificate_info(c) for c in path),
        revocation=result.revocation,
        qualification=qualification,
    )


async def verify_integrity(raw: bytes, context: VerificationContext) -> IntegrityResult:
    """Check the X-de-mail-integrity of a raw message; never raises for malformed input.
    Bare LF line ends are read as CRLF (TR PVD IO 3.1.21 point 4: all lines end in CRLF)."""
    section = split_message(LOOSE_LINE_FEED.sub(b"\r\n", raw))
    own = section.first(INTEGRITY)
    if own is None:
        return IntegrityResult(Protection.NONE, None)
    try:
        tags = parse_integrity(own.value)
    except IntegrityFormatError as exc:
        return IntegrityResult(
            Protection.UNREADABLE, _format_failure(exc.detail, exc.detail_de, None)
        )
    protection = Protection.SIGNATURE if tags.signature_algorithm else Protection.HASH
    if OPTIONAL_IN_LIST not in tags.headers and section.first(OPTIONAL_IN_LIST) is not None:
        return IntegrityResult(
            protection,
            _format_failure(
                "the message has X-de-mail-private-id but h= does not cover it",
                "Die Nachricht hat X-de-mail-private-id, h= schließt das Feld aber nicht ein.",
                tags,
            ),
        )
    checks = [
        _check(
            "format",
            True,
            f"{INTEGRITY} follows TR 01201 PVD IO 3.1.21 (a={tags.hash_name}"
            + (f"/{tags.signature_algorithm}" if tags.signature_algorithm else "")
            + ", c=simple/simple, fixed h=)",
            f"{INTEGRITY} entspricht TR 01201 PVD IO 3.1.21.",
        ),
        _body_check(section, tags),
    ]
    if checks[-1].outcome is CheckOutcome.FAILED:
        return IntegrityResult(
            protection, _report(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE, checks, tags)
        )
    data = header_hash_input(section, tags.headers, own)
    if protection is Protection.HASH:
        return IntegrityResult(protection, _hash_only(data, tags, checks))
    return IntegrityResult(protection, await _signed(section, data, tags, checks, context))
