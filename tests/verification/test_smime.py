"""S/MIME verification against a test PKI made at test time: what an authority may act on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pyhanko_certvalidator.errors import CRLFetchError
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import Fetchers

from poststelle.verification.cades import CadesDetached
from poststelle.verification.engine import verify_item
from poststelle.verification.formats import DocumentInput, VerificationContext
from poststelle.verification.model import (
    Indication,
    ItemVerdict,
    Qualification,
    RevocationStatus,
    SignatureFormat,
    SubIndication,
)
from poststelle.verification.qualification import CertificateQualifier
from poststelle.verification.trust import TrustSettings, validation_contexts
from poststelle.verification.trustedlists import ListFile, TrustedListQualifier, load_trusted_lists
from poststelle.verification.unwrap import unwrap
from tests.support.smime import body, detached, opaque, p7s
from tests.support.testpki import RECEIVED, GeneratedPki
from tests.support.trustedlist import (
    ListSigner,
    Pointer,
    granted_ca_qc,
    list_of_lists,
    national_list,
)


def context(
    pki: GeneratedPki,
    session: aiohttp.ClientSession,
    sender: str,
    *,
    at: datetime = RECEIVED,
) -> VerificationContext:
    settings = TrustSettings(anchors=(pki.root_path,))
    return VerificationContext(
        validation_time=at,
        validation_context=validation_contexts(settings, AIOHttpFetcherBackend(session)),
        qualify=CertificateQualifier(),
        sender_address=sender,
    )


async def check(raw: bytes, ctx: VerificationContext):  # type: ignore[no-untyped-def]
    report = await verify_item(unwrap(raw), [], ctx, [])
    (document,) = report.documents
    return report, document.signatures


async def test_a_qualified_signature_by_the_sender_passes_as_qesig(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    sender = "alice@example.org"
    report, (sig,) = await check(
        detached(pki, "qualified", sender), context(pki, pki_session, sender)
    )
    assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_PASSED, None)
    assert sig.format is SignatureFormat.SMIME_DETACHED
    assert sig.qualification is Qualification.QESIG
    assert sig.signer is not None and "Alice Qualifiziert" in sig.signer.subject
    assert sig.revocation is not None and sig.revocation.status is RevocationStatus.GOOD
    assert report.verdict is ItemVerdict.PASSED
    assert {c.name for c in sig.checks} >= {
        "integrity",
        "signature",
        "certificate_path",
        "sender_identity",
    }


async def test_an_opaque_signature_passes_too(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    sender = "alice@example.org"
    _, (sig,) = await check(opaque(pki, "qualified", sender), context(pki, pki_session, sender))
    assert sig.indication is Indication.TOTAL_PASSED
    assert sig.format is SignatureFormat.SMIME_OPAQUE


async def test_a_signer_without_qc_statements_is_an_advanced_signature(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    sender = "bob@example.org"
    _, (sig,) = await check(detached(pki, "plain", sender), context(pki, pki_session, sender))
    assert sig.indication is Indication.TOTAL_PASSED
    assert sig.qualification is Qualification.ADESIG


async def test_a_detached_p7s_with_a_qualified_seal_is_a_qeseal(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    pdf = DocumentInput("bescheid.pdf", "application/pdf", b"%PDF-1.7 Bescheid")
    signature = DocumentInput(
        "bescheid.pdf.p7s", "application/pkcs7-signature", p7s(pki, "seal", pdf.data)
    )
    report = await verify_item(
        None, [pdf, signature], context(pki, pki_session, ""), [CadesDetached()]
    )
    ((sig,),) = [d.signatures for d in report.documents]
    assert (sig.indication, sig.qualification) == (Indication.TOTAL_PASSED, Qualification.QESEAL)
    assert sig.format is SignatureFormat.CADES_DETACHED


async def test_a_p7s_over_other_bytes_fails(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    pdf = DocumentInput("antrag.pdf", "application/pdf", b"%PDF-1.7 Antrag")
    signature = DocumentInput(
        "antrag.pdf.p7s", "application/pkcs7-signature", p7s(pki, "qualified", b"other")
    )
    report = await verify_item(
        None, [pdf, signature], context(pki, pki_session, ""), [CadesDetached()]
    )
    assert report.documents[0].signatures[0].sub_indication is SubIndication.HASH_FAILURE


async def test_tampered_content_is_a_hash_failure(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    sender = "alice@example.org"
    raw = detached(pki, "qualified", sender).replace(b"Baugenehmigung", b"Abrissgenehmigung", 1)
    report, (sig,) = await check(raw, context(pki, pki_session, sender))
    assert (sig.indication, sig.sub_indication) == (
        Indication.TOTAL_FAILED,
        SubIndication.HASH_FAILURE,
    )
    assert report.verdict is ItemVerdict.FAILED


async def test_a_revoked_certificate_fails(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    sender = "rita@example.org"
    _, (sig,) = await check(detached(pki, "revoked", sender), context(pki, pki_session, sender))
    assert sig.indication is not Indication.TOTAL_PASSED
    assert sig.sub_indication in (SubIndication.REVOKED, SubIndication.REVOKED_NO_POE)


async def test_an_expired_certificate_does_not_pass(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    sender = "erik@example.org"
    _, (sig,) = await check(detached(pki, "expired", sender), context(pki, pki_session, sender))
    assert sig.indication is not Indication.TOTAL_PASSED
    assert sig.sub_indication in (SubIndication.EXPIRED, SubIndication.OUT_OF_BOUNDS_NO_POE)


async def test_a_not_yet_valid_certificate_does_not_pass(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    sender = "nora@example.org"
    _, (sig,) = await check(detached(pki, "notyet", sender), context(pki, pki_session, sender))
    assert sig.indication is not Indication.TOTAL_PASSED
    assert sig.sub_indication in (SubIndication.NOT_YET_VALID, SubIndication.OUT_OF_BOUNDS_NO_POE)


async def test_a_signer_who_is_not_the_sender_is_indeterminate(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    raw = detached(pki, "qualified", "mallory@example.org")
    _, (sig,) = await check(raw, context(pki, pki_session, "mallory@example.org"))
    assert (sig.indication, sig.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.SIG_CONSTRAINTS_FAILURE,
    )
    failed = [c for c in sig.checks if c.name == "sender_identity"]
    assert failed and "nicht der Absender" in failed[0].detail_de


async def test_a_signing_time_after_receipt_is_indeterminate(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    sender = "alice@example.org"
    earlier = datetime(2026, 1, 1, tzinfo=UTC)  # received before it claims to be signed
    _, (sig,) = await check(
        detached(pki, "qualified", sender), context(pki, pki_session, sender, at=earlier)
    )
    assert sig.indication is not Indication.TOTAL_PASSED
    assert any(c.name == "signing_time" and c.outcome.value == "failed" for c in sig.checks)


async def test_an_unreachable_responder_means_try_later_never_valid(pki: GeneratedPki) -> None:
    sender = "alice@example.org"
    async with aiohttp.ClientSession() as nowhere:  # pki.test does not resolve
        _, (sig,) = await check(detached(pki, "qualified", sender), context(pki, nowhere, sender))
    assert sig.indication is Indication.INDETERMINATE
    assert sig.sub_indication is SubIndication.TRY_LATER


@pytest.mark.parametrize(
    "raw",
    [
        b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\r\n",
        b'Content-Type: multipart/signed; boundary="b"; protocol="application/pkcs7-signature"\r\n'
        b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
        b"Content-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"Z2FyYmFnZQ==\r\n--b--\r\n",
    ],
    ids=["truncated-cms", "garbage-signature"],
)
async def test_malformed_signatures_are_format_failures_not_exceptions(
    raw: bytes, pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    _, (sig,) = await check(raw, context(pki, pki_session, "a@example.org"))
    assert (sig.indication, sig.sub_indication) == (
        Indication.TOTAL_FAILED,
        SubIndication.FORMAT_FAILURE,
    )


def test_an_unsigned_message_has_no_layers(tmp_path: Path) -> None:
    assert unwrap(body()).layers == ()


async def test_a_trusted_list_qualifies_the_signature_through_its_issuing_ca(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    lotl_signer, de_signer = ListSigner.generate("LOTL"), ListSigner.generate("DE TL")
    service = granted_ca_qc(pki.certificate("interm").dump())
    lists = load_trusted_lists(
        ListFile(
            "lotl", list_of_lists([Pointer("DE", "https://tl.test/de", (de_signer,))], lotl_signer)
        ),
        [ListFile("de", national_list("DE", (service,), de_signer))],
        [lotl_signer.certificate],
    )
    sender = "alice@example.org"
    settings = TrustSettings(anchors=(pki.root_path,))
    listed = VerificationContext(
        validation_time=RECEIVED,
        validation_context=validation_contexts(settings, AIOHttpFetcherBackend(pki_session)),
        qualify=TrustedListQualifier(lists),
        sender_address=sender,
    )
    _, (sig,) = await check(detached(pki, "qualified", sender), listed)
    assert (sig.indication, sig.qualification) == (Indication.TOTAL_PASSED, Qualification.QESIG)
    _, (plain,) = await check(
        detached(pki, "plain", "bob@example.org"), replace(listed, sender_address="bob@example.org")
    )
    assert plain.qualification is Qualification.ADESIG


class _NoCrlForSigners:
    """The signers' CA publishes OCSP only: a CRL fetch for an end-entity certificate fails;
    the root's CRL (for the intermediate CA) is fetched as usual."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def fetch(self, cert: Any, *, use_deltas: bool = True) -> Any:
        if not cert.ca:
            raise CRLFetchError("this CA publishes no CRL")
        return await self._inner.fetch(cert, use_deltas=use_deltas)

    def fetched_crls(self) -> Any:
        return self._inner.fetched_crls()

    def fetched_crls_for_cert(self, cert: Any) -> Any:
        return self._inner.fetched_crls_for_cert(cert)


class _OcspOnly(AIOHttpFetcherBackend):
    def get_fetchers(self) -> Fetchers:
        fetchers = super().get_fetchers()
        crls = _NoCrlForSigners(fetchers.crl_fetcher)
        return Fetchers(fetchers.ocsp_fetcher, crls, fetchers.cert_fetcher)  # type: ignore[arg-type]


async def test_an_ocsp_answer_newer_than_the_receipt_still_answers_for_it(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    """The item arrived half an hour before the responder made its answer (a retry later, a
    busy pipeline): "not revoked" then also means "not revoked" at the receipt time."""
    sender = "alice@example.org"
    listed = VerificationContext(
        validation_time=RECEIVED - timedelta(minutes=30),
        validation_context=validation_contexts(
            TrustSettings(anchors=(pki.root_path,)), _OcspOnly(pki_session)
        ),
        qualify=CertificateQualifier(),
        sender_address=sender,
    )
    _, (sig,) = await check(detached(pki, "qualified", sender), listed)
    assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_PASSED, None)
    assert sig.revocation is not None and sig.revocation.status is RevocationStatus.GOOD
