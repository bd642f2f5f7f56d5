"""The report names the OCSP response or CRL that answered for the signer's certificate: its
source, address and time, as pyHanko chose it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tzlocal
from asn1crypto import crl
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko_certvalidator.errors import OCSPFetchError
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import Fetchers
from pyhanko_certvalidator.util import get_ocsp_urls

from poststelle.verification.cms_signatures import as_utc_if_naive
from poststelle.verification.engine import verify_item
from poststelle.verification.formats import VerificationContext
from poststelle.verification.model import (
    CheckOutcome,
    Indication,
    RevocationInfo,
    RevocationStatus,
    SignatureReport,
)
from poststelle.verification.pades import archived_revinfo
from poststelle.verification.protocol import revocation_de
from poststelle.verification.qualification import CertificateQualifier
from poststelle.verification.trust import TrustSettings, validation_contexts
from poststelle.verification.unwrap import unwrap
from tests.support.corpora import CORPORA
from tests.support.smime import detached
from tests.support.testpki import RECEIVED, GeneratedPki
from tests.verification.test_pades import sign, unsigned_pdf, verify

CRL_URL = "http://pki.test/poststelle/crls/interm/latest.crl"


def context(
    pki: GeneratedPki,
    backend: AIOHttpFetcherBackend,
    sender: str = "",
    *,
    allow_fetching: bool = True,
) -> VerificationContext:
    settings = TrustSettings(anchors=(pki.root_path,), allow_fetching=allow_fetching)
    return VerificationContext(
        validation_time=RECEIVED,
        validation_context=validation_contexts(settings, backend),
        qualify=CertificateQualifier(),
        sender_address=sender,
    )


async def smime(raw: bytes, ctx: VerificationContext) -> SignatureReport:
    report = await verify_item(unwrap(raw), [], ctx, [])
    ((signature,),) = [d.signatures for d in report.documents]
    return signature


def near_now(moment: datetime | None) -> bool:
    return moment is not None and abs(moment - datetime.now(UTC)) < timedelta(hours=3)


async def test_a_good_signature_names_the_ocsp_responder_and_its_answer_time(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    sender = "alice@example.org"
    sig = await smime(
        detached(pki, "qualified", sender),
        context(pki, AIOHttpFetcherBackend(pki_session), sender),
    )
    assert sig.indication is Indication.TOTAL_PASSED
    revocation = sig.revocation
    assert revocation is not None and revocation.status is RevocationStatus.GOOD
    (responder,) = get_ocsp_urls(pki.certificate("qualified"))
    assert (revocation.source, revocation.url) == ("ocsp", responder)
    assert near_now(revocation.produced_at)
    assert responder in revocation_de(revocation)


async def test_a_revoked_signature_names_the_answer_and_since_when(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    sender = "rita@example.org"
    sig = await smime(
        detached(pki, "revoked", sender),
        context(pki, AIOHttpFetcherBackend(pki_session), sender),
    )
    revocation = sig.revocation
    assert revocation is not None and revocation.status is RevocationStatus.REVOKED
    assert revocation.revoked_at == datetime(2026, 3, 1, tzinfo=UTC)
    assert revocation.reason == "key_compromise"
    (responder,) = get_ocsp_urls(pki.certificate("revoked"))
    assert (revocation.source, revocation.url) == ("ocsp", responder)
    assert near_now(revocation.produced_at)


class _NoOcspForSigners:
    """The signers' CA answers no OCSP request (as if it published CRLs only)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def fetch(self, cert: Any, authority: Any) -> Any:
        if not cert.ca:
            raise OCSPFetchError("this CA runs no OCSP responder")
        return await self._inner.fetch(cert, authority)

    def fetched_responses(self) -> Any:
        return self._inner.fetched_responses()

    def fetched_responses_for_cert(self, cert: Any) -> Any:
        return self._inner.fetched_responses_for_cert(cert)


class _CrlOnly(AIOHttpFetcherBackend):
    def get_fetchers(self) -> Fetchers:
        fetchers = super().get_fetchers()
        ocsps = _NoOcspForSigners(fetchers.ocsp_fetcher)
        return Fetchers(ocsps, fetchers.crl_fetcher, fetchers.cert_fetcher)  # type: ignore[arg-type]


async def test_a_signer_answered_for_by_a_crl_names_the_crl_and_its_this_update(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    sender = "alice@example.org"
    sig = await smime(
        detached(pki, "qualified", sender), context(pki, _CrlOnly(pki_session), sender)
    )
    assert sig.indication is Indication.TOTAL_PASSED
    revocation = sig.revocation
    assert revocation is not None and revocation.status is RevocationStatus.GOOD
    assert (revocation.source, revocation.url) == ("crl", CRL_URL)
    async with pki_session.get(CRL_URL) as response:
        served = crl.CertificateList.load(await response.read())
    assert revocation.produced_at == served["tbs_cert_list"]["this_update"].native
    assert "Sperrliste (CRL)" in revocation_de(revocation)


async def test_a_b_lt_pdf_verified_offline_is_answered_for_by_its_embedded_data(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await sign(unsigned_pdf(), pki, "qualified", session=pki_session, long_term=True)
    offline = context(pki, AIOHttpFetcherBackend(pki_session), allow_fetching=False)
    (sig,) = await verify(signed, offline)
    assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_PASSED, None)
    revocation = sig.revocation
    assert revocation is not None and revocation.status is RevocationStatus.GOOD
    assert revocation.source == "embedded-ocsp"
    assert revocation.url == ""
    assert near_now(revocation.produced_at)
    assert "eingebettete OCSP-Antwort" in revocation_de(revocation)


async def test_a_pdf_without_embedded_data_offline_names_no_source(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await sign(unsigned_pdf(), pki, "qualified")
    offline = context(pki, AIOHttpFetcherBackend(pki_session), allow_fetching=False)
    (sig,) = await verify(signed, offline)
    assert sig.indication is Indication.INDETERMINATE
    assert sig.revocation is not None and sig.revocation.source == ""


def test_an_undetermined_source_is_said_so_in_the_protocol() -> None:
    text = revocation_de(RevocationInfo(RevocationStatus.GOOD, ""))
    assert text == "nicht gesperrt (Quelle der Sperrauskunft nicht festgestellt)"


async def test_a_pdf_signing_time_without_time_zone_is_read_as_utc(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyHanko writes /M without a zone when it signs at a naive local time; a PAdES signature
    has no signing-time attribute, so that /M is the stated signing time."""
    monkeypatch.setattr(tzlocal, "get_localzone", lambda: None)
    signed = await sign(unsigned_pdf(), pki, "qualified")
    monkeypatch.undo()
    assert re.search(rb"/M \(D(:|\\072)\d{14}\)", signed), "the /M entry should carry no zone"
    (sig,) = await verify(signed, context(pki, AIOHttpFetcherBackend(pki_session)))
    assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_PASSED, None)
    assert sig.signing_time is not None and sig.signing_time.tzinfo is not None
    (check,) = [c for c in sig.checks if c.name == "signing_time"]
    assert check.outcome is CheckOutcome.PASSED
    assert "read as UTC" in check.detail and "als UTC gelesen" in check.detail_de


def test_only_a_time_without_zone_is_read_as_utc() -> None:
    naive = datetime(2026, 11, 25, 9, 30)
    assert as_utc_if_naive(naive) == (naive.replace(tzinfo=UTC), True)
    aware = datetime(2026, 11, 25, 9, 30, tzinfo=UTC) + timedelta(hours=1)
    assert as_utc_if_naive(aware) == (aware, False)
    assert as_utc_if_naive(None) == (None, False)


def _archived(path: Path) -> list[tuple[int, int]]:
    """(CRLs, OCSP responses) in each signature's adbe-revocationInfoArchival attribute."""
    reader = PdfFileReader(BytesIO(path.read_bytes()), strict=False)
    counts = []
    for embedded in reader.embedded_signatures:
        crls, ocsps = archived_revinfo(embedded)
        counts.append((len(crls), len(ocsps)))
    return counts


@pytest.mark.parametrize(
    ("name", "crls", "ocsps"),
    [("Signature-P-BG_BOR-1.pdf", 0, 1), ("Signature-P-FR_CS-5.pdf", 2, 0)],
)
def test_the_revocation_data_a_pdf_signature_archives_in_its_signed_attributes_is_read(
    name: str, crls: int, ocsps: int
) -> None:
    (path,) = (CORPORA / "dss").rglob(name)
    assert (crls, ocsps) in _archived(path)


async def test_a_signature_without_archived_revocation_data_has_none(
    pki: GeneratedPki, tmp_path: Path
) -> None:
    path = tmp_path / "b-b.pdf"
    path.write_bytes(await sign(unsigned_pdf(), pki, "qualified"))
    assert _archived(path) == [(0, 0)]
