"""Trust settings and the pyHanko validation contexts built from them (hard-fail revocation)."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import crl, ocsp, pem, x509
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import CertificateFetcher, FetcherBackend, Fetchers
from pyhanko_certvalidator.registry import CertificateRegistry, SimpleTrustManager

import poststelle.verification.name_prep  # noqa: F401 - remembers name preparation
from poststelle.verification.revocation_cache import RevocationCache
from poststelle.verification.signature_memo import MemoizingSignatureValidator


@dataclass(frozen=True, slots=True)
class TrustSettings:
    anchors: tuple[Path, ...]  # certificates trusted as roots (PEM or DER files)
    intermediates: tuple[Path, ...] = ()  # certificates that help build paths
    allow_fetching: bool = True  # fetch OCSP/CRL online; without it, revocation is INDETERMINATE
    # "hard-fail" for every legal use. "soft-fail" exists only to run public test corpora whose
    # CAs publish no revocation information at all; the configuration file cannot select it.
    revocation_mode: str = "hard-fail"
    # Fetched OCSP responses and CRLs serve later items for this long (never past their own
    # next update); 0 fetches afresh for every signature.
    revocation_cache_seconds: float = 0.0


def load_certificates(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    if pem.detect(data):
        return [x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
    return [x509.Certificate.load(data)]


class _Recording:
    """An OCSP or CRL fetcher that remembers which fetches failed, and why."""

    def __init__(self, inner: Any, failures: list[Exception]) -> None:
        self._inner = inner
        self._failures = failures

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await self._inner.fetch(*args, **kwargs)
        except Exception as exc:
            self._failures.append(exc)
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


_FETCH_FAILURES: weakref.WeakKeyDictionary[ValidationContext, list[Exception]] = (
    weakref.WeakKeyDictionary()
)


def fetch_failures(context: ValidationContext) -> list[Exception]:
    """Revocation fetches that failed while validating with `context`: an unreachable OCSP
    responder or CRL server, which pyHanko reports only as a general chain failure."""
    return _FETCH_FAILURES.get(context, [])


@dataclass(frozen=True, slots=True)
class RevinfoSources:
    """Where a validation context could take revocation information from: its fetchers (None
    when fetching is off) and the OCSP responses and CRLs the signature or document carries."""

    fetchers: Fetchers | None
    embedded_crls: tuple[crl.CertificateList, ...] = ()
    embedded_ocsps: tuple[ocsp.OCSPResponse, ...] = ()


_SOURCES: weakref.WeakKeyDictionary[ValidationContext, RevinfoSources] = weakref.WeakKeyDictionary()


def revinfo_sources(context: ValidationContext) -> RevinfoSources | None:
    """The revocation sources of a context `validation_contexts` built, else None."""
    return _SOURCES.get(context)


@dataclass(frozen=True, slots=True)
class _Embedded:
    crls: tuple[crl.CertificateList, ...] = ()
    ocsps: tuple[ocsp.OCSPResponse, ...] = ()
    certificates: tuple[x509.Certificate, ...] = ()


_EMBEDDED: ContextVar[_Embedded | None] = ContextVar("embedded_revinfo", default=None)


@contextlib.contextmanager
def embedded_revinfo(
    crls: Sequence[crl.CertificateList],
    ocsps: Sequence[ocsp.OCSPResponse],
    certificates: Sequence[x509.Certificate] = (),
) -> Iterator[None]:
    """Validation contexts made inside also hold these CRLs and OCSP responses, carried by the
    signature or document (a PDF's DSS and revocation-info attribute; a CMS signature's crls
    field and CAdES revocation-values), and know these certificates for building paths (CAdES
    certificate-values). pyHanko asks fetched OCSP responses first and takes an embedded one
    only if it is fresh for the moment."""
    token = _EMBEDDED.set(_Embedded(tuple(crls), tuple(ocsps), tuple(certificates)))
    try:
        yield
    finally:
        _EMBEDDED.reset(token)


_LOOP_BACKEND: ContextVar[FetcherBackend | None] = ContextVar("fetcher_backend", default=None)


@contextlib.asynccontextmanager
async def fetching(backend: FetcherBackend | None = None) -> AsyncIterator[None]:
    """One HTTP session (or the given backend) for the OCSP/CRL fetches of the verifications
    inside, on the running event loop, closed at the end (a session must not outlive its loop:
    each stage run has its own)."""
    backend = backend or AIOHttpFetcherBackend()
    token = _LOOP_BACKEND.set(backend)
    try:
        yield
    finally:
        _LOOP_BACKEND.reset(token)
        await backend.close()  # type: ignore[no-untyped-call]


def registry_copy(
    template: CertificateRegistry, cert_fetcher: CertificateFetcher | None
) -> CertificateRegistry:
    """A context's own certificate registry (it adds each signature's certificates), starting
    with the template's. pyHanko would register every anchor into each new context's registry
    (16 us an anchor: 30 ms a signature with the EU's lists); copying the template's maps
    takes microseconds. The maps are pyHanko's (0.33) own attributes, so
    tests/verification/test_trust.py compares a copy with a registry built afresh."""
    registry = CertificateRegistry(cert_fetcher=cert_fetcher)
    registry.certs = dict(template.certs)
    for name in ("_subject_map", "_key_identifier_map", "_key_hash_map"):
        copied = getattr(registry, name)
        for key, certs in getattr(template, name).items():
            copied[key] = list(certs)
    return registry


def validation_contexts(
    settings: TrustSettings, fetcher_backend: FetcherBackend | None = None
) -> Callable[[datetime], ValidationContext]:
    """A factory of validation contexts as of a given moment: the configured anchors, and
    revocation checked hard-fail, so that missing revocation information is never 'valid'."""
    roots = [c for p in settings.anchors for c in load_certificates(p)]
    # Built once: making the trust anchors' index costs a context about 0.1 ms per anchor,
    # 25 ms for a national trusted list's CAs, more than the rest of a signature's check.
    # Read-only once built, so every context and thread may share it.
    anchors = SimpleTrustManager.build(trust_roots=roots)
    others = [c for p in settings.intermediates for c in load_certificates(p)]
    known = CertificateRegistry.build([*others, *roots])
    signatures = MemoizingSignatureValidator()
    revocation = RevocationCache(timedelta(seconds=settings.revocation_cache_seconds))

    def at(moment: datetime) -> ValidationContext:
        failures: list[Exception] = []
        backend = fetcher_backend or _LOOP_BACKEND.get() or AIOHttpFetcherBackend()
        fetchers = revocation.fetchers(backend.get_fetchers())
        embedded = _EMBEDDED.get() or _Embedded()
        registry = registry_copy(known, fetchers.cert_fetcher if settings.allow_fetching else None)
        for certificate in embedded.certificates:
            registry.register(certificate)
        recording = Fetchers(
            ocsp_fetcher=_Recording(fetchers.ocsp_fetcher, failures),  # type: ignore[arg-type]
            crl_fetcher=_Recording(fetchers.crl_fetcher, failures),  # type: ignore[arg-type]
            cert_fetcher=fetchers.cert_fetcher,
        )
        context = ValidationContext(
            trust_manager=anchors,
            certificate_registry=registry,
            moment=moment,
            allow_fetching=settings.allow_fetching,
            revocation_mode=settings.revocation_mode,
            # Verified after the receipt time (seconds later, or on a TRY_LATER retry), the
            # OCSP responses and CRLs are newer than that moment; they still say whether the
            # certificate was revoked before it, which is the question.
            retroactive_revinfo=True,
            signature_validator=signatures,
            # Offline, only revocation data embedded in the signature can count (hard-fail).
            crls=list(embedded.crls),
            ocsps=list(embedded.ocsps),
            fetchers=recording,
        )
        _FETCH_FAILURES[context] = failures
        _SOURCES[context] = RevinfoSources(
            recording if settings.allow_fetching else None, embedded.crls, embedded.ocsps
        )
        return context

    return at
