"""The facts a confirmation states, gathered once and rendered as XML, PDF and text."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from poststelle.decision.rules import Decision
from poststelle.verification.model import VerificationReport


class ConfirmationKind(enum.StrEnum):
    RECEIPT = "receipt"  # Eingangsbestätigung
    NOTICE = "notice"  # Hinweis nach § 3a Abs. 3 VwVfG
    DELIVERY_RECORD = "delivery-record"  # Zustellnachweis


@dataclass(frozen=True, slots=True)
class DocumentFact:
    name: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class TimestampFact:
    """The RFC 3161 token over the item's SHA-256, made when the item was stored."""

    token_der: bytes
    gen_time: str
    tsa: str
    serial_number: str
    policy_oid: str


@dataclass(frozen=True, slots=True)
class SignatureFact:
    document: str
    format: str
    indication: str
    sub_indication: str
    signer: str
    signing_time: datetime | None
    qualification: str
    level: str


@dataclass(frozen=True, slots=True)
class VerificationFact:
    verdict: str  # an ItemVerdict value
    signatures: tuple[SignatureFact, ...]


@dataclass(frozen=True, slots=True)
class DecisionFact:
    outcome: str  # an Outcome value
    means: str  # a Means value, "" when none
    procedure: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What is known about one item when a receipt or notice about it is made."""

    authority: str
    registry_number: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    received_at: datetime
    sha256: str
    size: int
    timestamp: TimestampFact | None
    documents: tuple[DocumentFact, ...]
    verification: VerificationFact | None = None
    decision: DecisionFact | None = None


def verification_fact(report: VerificationReport) -> VerificationFact:
    return VerificationFact(
        verdict=report.verdict.value,
        signatures=tuple(
            SignatureFact(
                document=document.name,
                format=signature.format.value,
                indication=signature.indication.value,
                sub_indication=signature.sub_indication.value if signature.sub_indication else "",
                signer=signature.signer.subject if signature.signer else "",
                signing_time=signature.signing_time,
                qualification=signature.qualification.value,
                level=signature.level.value,
            )
            for document in report.documents
            for signature in document.signatures
        ),
    )


def decision_fact(decision: Decision) -> DecisionFact:
    return DecisionFact(
        outcome=decision.outcome.value,
        means=decision.means.value if decision.means else "",
        procedure=decision.procedure,
        reasons=decision.reasons_de,
    )


@dataclass(frozen=True, slots=True)
class NoticeCause:
    """Why an item is not processed: an Unsuitability value or CLERK_REJECTED."""

    kind: str
    document: str  # "" when the cause concerns the whole item
    detail_de: str


CLERK_REJECTED = "clerk_rejected"


@dataclass(frozen=True, slots=True)
class NoticeFacts:
    item: ItemFacts
    causes: tuple[NoticeCause, ...]
    requirements: str  # the procedure's technical requirements text


@dataclass(frozen=True, slots=True)
class DeliveryFacts:
    """A department's acknowledgement of an item."""

    authority: str
    registry_number: str
    sha256: str
    department: str
    acknowledged_by: str
    acknowledged_at: datetime
