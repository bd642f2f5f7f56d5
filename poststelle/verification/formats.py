"""The one interface every signature format module implements, and what it is given."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from poststelle.verification.model import CertificateInfo, Qualification, SignatureReport

if TYPE_CHECKING:
    from pyhanko_certvalidator import ValidationContext


@dataclass(frozen=True, slots=True)
class DocumentInput:
    """A document to examine: an attachment, an uploaded file or a whole message."""

    name: str
    content_type: str
    data: bytes


class Qualifier(Protocol):
    def __call__(
        self, signer: CertificateInfo, path_der: Sequence[bytes], at: datetime
    ) -> Qualification:
        """Qualification of a signature whose signing certificate and path (leaf first, DER)
        were validated, as of `at`, from the trusted lists and the certificate's qcStatements."""
        ...


@dataclass(frozen=True, slots=True)
class VerificationContext:
    """Everything a format module needs besides the bytes.

    `validation_context` builds a pyHanko ValidationContext with the configured trust anchors and
    hard-fail revocation checking as of the given moment (the item's receipt time).
    """

    validation_time: datetime
    validation_context: Callable[[datetime], ValidationContext]
    qualify: Qualifier
    sender_address: str = ""
    message_date: datetime | None = None  # the message's Date header, for S/MIME


class SignatureHandler(Protocol):
    """One signature format (S/MIME, CAdES, PAdES ...)."""

    name: str

    def claims(self, document: DocumentInput) -> bool:
        """Whether this document is (or carries) a signature of this format."""
        ...

    async def verify(
        self,
        document: DocumentInput,
        others: Sequence[DocumentInput],
        context: VerificationContext,
    ) -> tuple[SignatureReport, ...]:
        """Every signature in `document` (a detached one finds its data among `others`).
        Never raises for bad input: malformed data yields TOTAL_FAILED / FORMAT_FAILURE."""
        ...
