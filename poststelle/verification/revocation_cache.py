"""OCSP responses and CRLs kept across items until they expire: one fetch serves many items."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

from asn1crypto import cms, crl, ocsp, x509
from pyhanko_certvalidator.authority import Authority
from pyhanko_certvalidator.fetchers.api import CRLFetcher, Fetchers, OCSPFetcher
from pyhanko_certvalidator.fetchers.common_utils import enumerate_delivery_point_urls
from pyhanko_certvalidator.policy_decl import FRESHNESS_FALLBACK_VALIDITY_DEFAULT
from pyhanko_certvalidator.util import get_relevant_crl_dps, issuer_serial

Certificate: TypeAlias = x509.Certificate | cms.AttributeCertificateV2


@dataclass(frozen=True, slots=True)
class _Kept:
    # Parsed once and shared: asn1crypto parses lazily and caches what it parsed (names
    # prepared for comparison, the encoding), and a race between two threads parsing the same
    # child builds the same value twice, never a wrong one.
    values: tuple[Any, ...]
    until: datetime


class RevocationCache:
    """Fetched revocation data, shared by every validation context of a process.

    An entry is kept until the earliest of its own next update (for an OCSP response without
    one: as long as pyHanko would accept it) and `max_age` after it was fetched. Failed fetches
    are never kept, so an unreachable responder is asked again for every item (hard-fail).
    """

    def __init__(
        self, max_age: timedelta, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.max_age = max_age
        self._clock = clock
        self._entries: dict[Hashable, _Kept] = {}
        self._lock = threading.Lock()

    def fetchers(self, inner: Fetchers) -> Fetchers:
        """`inner`'s fetchers (bound to one event loop), answering from the cache first."""
        if self.max_age <= timedelta(0):
            return inner
        return Fetchers(
            ocsp_fetcher=_CachedOCSP(inner.ocsp_fetcher, self),
            crl_fetcher=_CachedCRL(inner.crl_fetcher, self),
            cert_fetcher=inner.cert_fetcher,
        )

    def get(self, key: Hashable) -> tuple[Any, ...] | None:
        now = self._clock()
        with self._lock:
            kept = self._entries.get(key)
            if kept is None:
                return None
            if kept.until <= now:
                del self._entries[key]
                return None
            return kept.values

    def keep(
        self, key: Hashable, values: tuple[Any, ...], next_updates: Iterable[datetime]
    ) -> None:
        now = self._clock()
        until = min((now + self.max_age, *next_updates))
        if until <= now:
            return
        with self._lock:
            self._entries = {k: v for k, v in self._entries.items() if v.until > now}
            self._entries[key] = _Kept(values, until)


def ocsp_next_update(response: ocsp.OCSPResponse) -> datetime:
    """When pyHanko stops accepting this response: its next update, or this update plus
    pyHanko's fallback validity when it names none."""
    single = response["response_bytes"]["response"].parsed["tbs_response_data"]["responses"][0]
    next_update = single["next_update"].native
    if isinstance(next_update, datetime):
        return next_update
    this_update: datetime = single["this_update"].native
    return this_update + FRESHNESS_FALLBACK_VALIDITY_DEFAULT


class _CachedOCSP(OCSPFetcher):
    def __init__(self, inner: OCSPFetcher, cache: RevocationCache) -> None:
        self._inner = inner
        self._cache = cache
        self._served: dict[tuple[Any, Any], ocsp.OCSPResponse] = {}

    async def fetch(self, cert: Certificate, authority: Authority) -> ocsp.OCSPResponse:
        key = ("ocsp", issuer_serial(cert), authority.hashable)
        kept = self._cache.get(key)
        if kept is not None:
            response = kept[0]
        else:
            response = await self._inner.fetch(cert, authority)
            if response["response_status"].native == "successful":
                self._cache.keep(key, (response,), (ocsp_next_update(response),))
        self._served[key[1:]] = response
        return response

    def fetched_responses(self) -> Iterable[ocsp.OCSPResponse]:
        return set(self._served.values())

    def fetched_responses_for_cert(self, cert: Certificate) -> Iterable[ocsp.OCSPResponse]:
        target = issuer_serial(cert)
        return {r for (subject, _), r in self._served.items() if subject == target}


class _CachedCRL(CRLFetcher):
    def __init__(self, inner: CRLFetcher, cache: RevocationCache) -> None:
        self._inner = inner
        self._cache = cache
        self._by_cert: dict[bytes, list[crl.CertificateList]] = {}

    async def fetch(
        self, cert: Certificate, *, use_deltas: bool | None = True
    ) -> Iterable[crl.CertificateList]:
        urls = tuple(
            url
            for point in get_relevant_crl_dps(cert, use_deltas=bool(use_deltas))
            for url in enumerate_delivery_point_urls(point)
        )
        key = ("crl", urls)
        kept = self._cache.get(key) if urls else None
        if kept is not None:
            lists = list(kept)
        else:
            lists = list(await self._inner.fetch(cert, use_deltas=use_deltas))
            next_updates = [c["tbs_cert_list"]["next_update"].native for c in lists]
            if urls and lists and all(isinstance(n, datetime) for n in next_updates):
                self._cache.keep(key, tuple(lists), next_updates)
        self._by_cert[issuer_serial(cert)] = lists
        return lists

    def fetched_crls(self) -> Iterable[crl.CertificateList]:
        return {c for lists in self._by_cert.values() for c in lists}

    def fetched_crls_for_cert(self, cert: Certificate) -> Iterable[crl.CertificateList]:
        return self._by_cert[issuer_serial(cert)]
