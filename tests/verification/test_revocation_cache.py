"""Revocation data and signature checks reused across items, never past their validity."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from asn1crypto import algos, keys
from certomancer.integrations.aiohttp_illusionist import AsyncIllusionist
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko_certvalidator import sig_validate
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import Fetchers

from poststelle.verification.formats import VerificationContext
from poststelle.verification.model import Indication, RevocationStatus, SubIndication
from poststelle.verification.qualification import CertificateQualifier
from poststelle.verification.revocation_cache import RevocationCache
from poststelle.verification.signature_memo import MemoizingSignatureValidator
from poststelle.verification.trust import TrustSettings, fetching, validation_contexts
from tests.support.smime import detached
from tests.support.testpki import RECEIVED, GeneratedPki
from tests.verification.test_smime import check


class _Counted:
    """Counts the fetches that reach the network side of a fetcher."""

    def __init__(self, inner: Any, counts: dict[str, int], kind: str) -> None:
        self._inner = inner
        self._counts = counts
        self._kind = kind

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        self._counts[self._kind] += 1
        return await self._inner.fetch(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CountingBackend(AIOHttpFetcherBackend):
    """New fetchers per validation context, as in the daemon, counting OCSP and CRL fetches."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        super().__init__(session)
        self.counts = {"ocsp": 0, "crl": 0}

    def get_fetchers(self) -> Fetchers:
        inner = super().get_fetchers()
        return Fetchers(
            _Counted(inner.ocsp_fetcher, self.counts, "ocsp"),  # type: ignore[arg-type]
            _Counted(inner.crl_fetcher, self.counts, "crl"),  # type: ignore[arg-type]
            inner.cert_fetcher,
        )


@pytest.fixture
async def backend(pki: GeneratedPki) -> AsyncIterator[CountingBackend]:
    async with AsyncIllusionist(pki.arch, at_time=RECEIVED).serving_session() as session:
        yield CountingBackend(session)


def verification(
    pki: GeneratedPki, backend: CountingBackend, cache_seconds: float, sender: str
) -> VerificationContext:
    settings = TrustSettings(anchors=(pki.root_path,), revocation_cache_seconds=cache_seconds)
    return VerificationContext(
        validation_time=RECEIVED,
        validation_context=validation_contexts(settings, backend),
        qualify=CertificateQualifier(),
        sender_address=sender,
    )


async def test_later_items_from_the_same_ca_are_checked_against_the_answers_already_fetched(
    pki: GeneratedPki, backend: CountingBackend
) -> None:
    sender = "alice@example.org"
    ctx = verification(pki, backend, 300, sender)
    _, (first,) = await check(detached(pki, "qualified", sender, "bauamt@amt.example"), ctx)
    fetched = dict(backend.counts)
    _, (second,) = await check(detached(pki, "qualified", sender, "ordnungsamt@amt.example"), ctx)
    assert sum(fetched.values()) >= 1
    assert backend.counts == fetched
    for sig in (first, second):
        assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_PASSED, None)
        assert sig.revocation is not None and sig.revocation.status is RevocationStatus.GOOD


async def test_without_the_cache_every_item_fetches_again(
    pki: GeneratedPki, backend: CountingBackend
) -> None:
    sender = "alice@example.org"
    ctx = verification(pki, backend, 0, sender)
    await check(detached(pki, "qualified", sender), ctx)
    fetched = sum(backend.counts.values())
    await check(detached(pki, "qualified", sender), ctx)
    assert fetched >= 1
    assert sum(backend.counts.values()) == 2 * fetched


async def test_a_revoked_certificate_stays_revoked_when_its_answer_comes_from_the_cache(
    pki: GeneratedPki, backend: CountingBackend
) -> None:
    sender = "rita@example.org"
    ctx = verification(pki, backend, 300, sender)
    results = [(await check(detached(pki, "revoked", sender), ctx))[1][0] for _ in range(2)]
    fetched = dict(backend.counts)
    await check(detached(pki, "revoked", sender), ctx)
    assert backend.counts == fetched
    for sig in results:
        assert sig.indication is not Indication.TOTAL_PASSED
        assert sig.sub_indication in (SubIndication.REVOKED, SubIndication.REVOKED_NO_POE)


def test_a_failed_fetch_is_not_remembered_the_next_item_asks_again(pki: GeneratedPki) -> None:
    sender = "alice@example.org"
    settings = TrustSettings(anchors=(pki.root_path,), revocation_cache_seconds=300)
    contexts = validation_contexts(settings)
    ctx = VerificationContext(RECEIVED, contexts, CertificateQualifier(), sender)

    async def responder_down() -> SubIndication | None:
        async with aiohttp.ClientSession() as nowhere:  # pki.test does not resolve
            async with fetching(AIOHttpFetcherBackend(nowhere)):
                return (await check(detached(pki, "qualified", sender), ctx))[1][0].sub_indication

    async def responder_up() -> tuple[Indication, int]:
        async with AsyncIllusionist(pki.arch, at_time=RECEIVED).serving_session() as session:
            backend = CountingBackend(session)
            async with fetching(backend):
                (sig,) = (await check(detached(pki, "qualified", sender), ctx))[1]
            return sig.indication, sum(backend.counts.values())

    assert asyncio.run(responder_down()) is SubIndication.TRY_LATER
    indication, fetched = asyncio.run(responder_up())
    assert indication is Indication.TOTAL_PASSED
    assert fetched >= 1


def test_an_entry_ends_at_its_next_update_or_at_the_maximum_age_whichever_comes_first() -> None:
    now = [datetime(2026, 11, 30, 12, 0, tzinfo=UTC)]
    cache = RevocationCache(timedelta(minutes=5), clock=lambda: now[0])
    cache.keep("soon", (b"a",), [now[0] + timedelta(seconds=10)])
    cache.keep("later", (b"b",), [now[0] + timedelta(days=7)])
    cache.keep("stale", (b"c",), [now[0] - timedelta(seconds=1)])
    assert (cache.get("soon"), cache.get("later"), cache.get("stale")) == ((b"a",), (b"b",), None)
    now[0] += timedelta(seconds=11)
    assert (cache.get("soon"), cache.get("later")) == (None, (b"b",))
    now[0] += timedelta(minutes=5)
    assert cache.get("later") is None


def _signed(data: bytes) -> tuple[bytes, keys.PublicKeyInfo, algos.SignedDigestAlgorithm]:
    key = ec.generate_private_key(ec.SECP256R1())
    signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    algorithm = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    return signature, keys.PublicKeyInfo.load(der), algorithm


def test_a_signature_that_passed_is_not_computed_again_a_bad_one_fails_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    computed: list[bytes] = []
    original = sig_validate._validate_raw

    def counting(signature: bytes, *args: Any, **kwargs: Any) -> None:
        computed.append(signature)
        original(signature, *args, **kwargs)

    monkeypatch.setattr(sig_validate, "_validate_raw", counting)
    memo = MemoizingSignatureValidator()
    signature, public_key, algorithm = _signed(b"CRL des Zwischenzertifikats")
    for _ in range(3):
        memo.validate_signature(signature, b"CRL des Zwischenzertifikats", public_key, algorithm)
    assert len(computed) == 1
    for _ in range(2):
        with pytest.raises(InvalidSignature):
            memo.validate_signature(
                signature, b"CRL, nachtraeglich geaendert", public_key, algorithm
            )
    assert len(computed) == 3


def test_items_verified_in_separate_event_loops_share_the_cache(pki: GeneratedPki) -> None:
    """The daemon verifies each item in its own event loop with its own HTTP session."""
    sender = "alice@example.org"
    settings = TrustSettings(anchors=(pki.root_path,), revocation_cache_seconds=300)
    contexts = validation_contexts(settings)  # fetches through the running loop's backend
    fetches: list[int] = []

    async def one_item() -> Indication:
        async with AsyncIllusionist(pki.arch, at_time=RECEIVED).serving_session() as session:
            backend = CountingBackend(session)
            async with fetching(backend):
                ctx = VerificationContext(RECEIVED, contexts, CertificateQualifier(), sender)
                _, (sig,) = await check(detached(pki, "qualified", sender), ctx)
            fetches.append(sum(backend.counts.values()))
            return sig.indication

    assert [asyncio.run(one_item()) for _ in range(3)] == [Indication.TOTAL_PASSED] * 3
    assert fetches[0] >= 1
    assert fetches[1:] == [0, 0]
