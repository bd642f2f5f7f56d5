"""The configured verification engine: trust, qualification and format handlers together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko_certvalidator import ValidationContext

from poststelle.config import VerificationSettings
from poststelle.verification.cades import CadesDetached
from poststelle.verification.cades_enveloping import CadesEnveloping
from poststelle.verification.decrypt import DecryptionKey
from poststelle.verification.engine import verify_item
from poststelle.verification.formats import (
    DocumentInput,
    Qualifier,
    SignatureHandler,
    VerificationContext,
)
from poststelle.verification.model import VerificationReport
from poststelle.verification.pades import PdfSignatures
from poststelle.verification.qualification import CertificateQualifier
from poststelle.verification.trust import TrustSettings, fetching, validation_contexts
from poststelle.verification.trustedlists import configured_qualifier
from poststelle.verification.unwrap import Unwrapped


def message_date(header: str) -> datetime | None:
    """The Date header as a time, or None if it is missing or not a date."""
    try:
        parsed = parsedate_to_datetime(header) if header else None
    except (ValueError, TypeError):
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def load_decryption_keys(pairs: Sequence[tuple[Path, Path]]) -> tuple[DecryptionKey, ...]:
    keys = []
    for key_path, cert_path in pairs:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: only RSA and EC keys can decrypt")
        for cert in x509.load_pem_x509_certificates(cert_path.read_bytes())[:1]:
            keys.append(DecryptionKey(cert, key))
    return tuple(keys)


@dataclass(frozen=True)
class Verifier:
    contexts: Callable[[datetime], ValidationContext]
    qualify: Qualifier
    handlers: tuple[SignatureHandler, ...]
    decryption_keys: tuple[DecryptionKey, ...] = ()

    @classmethod
    def from_settings(cls, settings: VerificationSettings) -> Verifier:
        anchors = settings.anchors
        qualify: Qualifier = CertificateQualifier()
        if settings.trusted_lists is not None:
            qualify, list_anchors = configured_qualifier(settings.trusted_lists)
            anchors = (*anchors, *list_anchors)
        trust = TrustSettings(
            anchors,
            settings.intermediates,
            settings.allow_fetching,
            revocation_cache_seconds=settings.revocation_cache_seconds,
        )
        return cls(
            validation_contexts(trust),
            qualify,
            (CadesDetached(), CadesEnveloping(), PdfSignatures()),
            load_decryption_keys(settings.decryption_keys),
        )

    async def verify(
        self,
        unwrapped: Unwrapped | None,
        documents: Sequence[DocumentInput],
        *,
        received_at: datetime,
        sender: str,
        message_date: datetime | None = None,
    ) -> VerificationReport:
        context = self.context(received_at=received_at, sender=sender, message_date=message_date)
        async with fetching():
            return await verify_item(unwrapped, documents, context, self.handlers)

    def context(
        self, *, received_at: datetime, sender: str, message_date: datetime | None = None
    ) -> VerificationContext:
        """What a format module is given, as of the item's receipt time."""
        return VerificationContext(received_at, self.contexts, self.qualify, sender, message_date)
