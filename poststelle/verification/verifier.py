"""The configured verification engine: trust, qualification and format handlers together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
from poststelle.verification.trust import (
    TrustSettings,
    fetching,
    load_certificates,
    validation_contexts,
)
from poststelle.verification.trustedlists import TrustedList, TrustedListSet, configured_qualifier
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


def _list_name(kind: str, tl: TrustedList) -> str:
    issued = f", issued {tl.issued.isoformat()}" if tl.issued is not None else ""
    return f"{kind} {tl.territory} #{tl.sequence_number}{issued} ({tl.source})"


def trust_source_names(
    anchors: Sequence[Path], lists: TrustedListSet | None = None
) -> tuple[str, ...]:
    """What verification trusts, for the report: each configured anchor certificate (subject
    and file) and, with trusted lists, the list of lists and each national list loaded
    (territory, sequence number, issue date). The CA certificates the lists contribute as
    anchors are not listed one by one: the lists stand for them."""
    names = [
        f"anchor: {cert.subject.human_friendly} ({path.name})"
        for path in anchors
        for cert in load_certificates(path)
    ]
    if lists is not None:
        if lists.lotl is not None:
            names.append(_list_name("list of trusted lists", lists.lotl))
        names += [_list_name("trusted list", tl) for tl in lists.lists]
    return tuple(names)


@dataclass(frozen=True)
class Verifier:
    contexts: Callable[[datetime], ValidationContext]
    qualify: Qualifier
    handlers: tuple[SignatureHandler, ...]
    decryption_keys: tuple[DecryptionKey, ...] = ()
    trust_sources: tuple[str, ...] = ()  # written into every report

    @classmethod
    def from_settings(cls, settings: VerificationSettings) -> Verifier:
        anchors = settings.anchors
        qualify: Qualifier = CertificateQualifier()
        lists: TrustedListSet | None = None
        if settings.trusted_lists is not None:
            qualify, list_anchors = configured_qualifier(settings.trusted_lists)
            lists = qualify.lists
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
            trust_source_names(settings.anchors, lists),
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
            report = await verify_item(unwrapped, documents, context, self.handlers)
        return replace(report, trust_sources=self.trust_sources)

    def context(
        self, *, received_at: datetime, sender: str, message_date: datetime | None = None
    ) -> VerificationContext:
        """What a format module is given, as of the item's receipt time."""
        return VerificationContext(received_at, self.contexts, self.qualify, sender, message_date)
