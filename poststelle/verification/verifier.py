"""The configured verification engine: trust, qualification and format handlers together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pyhanko_certvalidator import ValidationContext

from poststelle.config import VerificationSettings
from poststelle.verification.cades import CadesDetached
from poststelle.verification.engine import verify_item
from poststelle.verification.formats import (
    DocumentInput,
    Qualifier,
    SignatureHandler,
    VerificationContext,
)
from poststelle.verification.model import VerificationReport
from poststelle.verification.qualification import CertificateQualifier
from poststelle.verification.trust import TrustSettings, validation_contexts
from poststelle.verification.unwrap import Unwrapped


@dataclass(frozen=True)
class Verifier:
    contexts: Callable[[datetime], ValidationContext]
    qualify: Qualifier
    handlers: tuple[SignatureHandler, ...]

    @classmethod
    def from_settings(cls, settings: VerificationSettings) -> Verifier:
        trust = TrustSettings(settings.anchors, settings.intermediates, settings.allow_fetching)
        return cls(validation_contexts(trust), CertificateQualifier(), (CadesDetached(),))

    async def verify(
        self,
        unwrapped: Unwrapped | None,
        documents: Sequence[DocumentInput],
        *,
        received_at: datetime,
        sender: str,
        message_date: datetime | None = None,
    ) -> VerificationReport:
        context = VerificationContext(
            received_at, self.contexts, self.qualify, sender, message_date
        )
        return await verify_item(unwrapped, documents, context, self.handlers)
