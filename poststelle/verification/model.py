"""Typed outcome records of signature verification, in the vocabulary of ETSI EN 319 102-1."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Indication(enum.StrEnum):
    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"


class SubIndication(enum.StrEnum):
    # TOTAL_FAILED
    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    # INDETERMINATE
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"
    NO_POE = "NO_POE"
    POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"


class CheckOutcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    INDETERMINATE = "indeterminate"
    NOT_APPLICABLE = "not_applicable"


class Qualification(enum.StrEnum):
    """Qualification classes as the EU DSS reports them."""

    QESIG = "QESig"
    QESEAL = "QESeal"
    ADESIG_QC = "AdESig-QC"
    ADESEAL_QC = "AdESeal-QC"
    ADESIG = "AdESig"
    ADESEAL = "AdESeal"
    ADES = "AdES"
    INDETERMINATE = "Indeterminate"
    NOT_ADES = "Not AdES"


class BaselineLevel(enum.StrEnum):
    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"
    NONE = "none"


class SignatureFormat(enum.StrEnum):
    SMIME_DETACHED = "smime-detached"
    SMIME_OPAQUE = "smime-opaque"
    CADES_DETACHED = "cades-detached"
    CADES_ENVELOPING = "cades-enveloping"
    PADES = "pades"
    PDF_PKCS7 = "pdf-pkcs7"
    DEMAIL = "demail"


class RevocationStatus(enum.StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    UNAVAILABLE = "unavailable"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    subject: str
    issuer: str
    serial_hex: str
    not_before: datetime
    not_after: datetime
    sha256: str
    email_addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RevocationInfo:
    status: RevocationStatus
    source: str  # "ocsp", "crl", "embedded-ocsp", "embedded-crl" or "" when none was consulted
    url: str = ""
    produced_at: datetime | None = None
    revoked_at: datetime | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TimestampInfo:
    kind: str  # "signature", "document", "archive", "content"
    gen_time: datetime
    tsa: str
    valid: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Check:
    """One check that ran, what it found and why; `detail` is plain English for the log,
    `detail_de` plain German for the Prüfprotokoll."""

    name: str
    outcome: CheckOutcome
    detail: str
    detail_de: str


@dataclass(frozen=True, slots=True)
class SignatureReport:
    format: SignatureFormat
    indication: Indication
    sub_indication: SubIndication | None
    checks: tuple[Check, ...]
    signer: CertificateInfo | None = None
    validation_path: tuple[CertificateInfo, ...] = ()
    signing_time: datetime | None = None
    revocation: RevocationInfo | None = None
    timestamps: tuple[TimestampInfo, ...] = ()
    level: BaselineLevel = BaselineLevel.NONE
    qualification: Qualification = Qualification.INDETERMINATE
    digest_algorithm: str = ""
    signature_algorithm: str = ""
    field_name: str = ""  # PDF signature field, or the S/MIME layer path


@dataclass(frozen=True, slots=True)
class DocumentReport:
    name: str
    sha256: str
    content_type: str
    signatures: tuple[SignatureReport, ...]
    notes: tuple[str, ...] = ()


class ItemVerdict(enum.StrEnum):
    """Per-item summary over all signatures found."""

    PASSED = "passed"  # at least one signature, every one TOTAL_PASSED
    FAILED = "failed"  # some signature TOTAL_FAILED
    INDETERMINATE = "indeterminate"  # none failed, some INDETERMINATE
    UNSIGNED = "unsigned"  # nothing signed was found


@dataclass(frozen=True, slots=True)
class VerificationReport:
    schema_version: str
    validation_time: datetime
    generated_at: datetime
    verdict: ItemVerdict
    documents: tuple[DocumentReport, ...]
    trust_sources: tuple[str, ...] = field(default_factory=tuple)
