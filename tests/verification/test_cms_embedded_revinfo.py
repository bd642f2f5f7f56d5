"""A CMS signature's own revocation data answers for its certificates when nothing can be
fetched (offline, or once the CA's responder is gone): the SignedData's `crls` field (CRLs,
OCSP responses as id-ri-ocsp-response) and the CAdES revocation-values attribute (B-LT).

The signatures are made at test time by the test PKI; their OCSP responses and CRLs are fetched
from it at test time too, then verified with fetching off and hard-fail revocation checking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from asn1crypto import cms, core, crl, ocsp, parser
from pyhanko_certvalidator.authority import AuthorityWithCert
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from poststelle.verification.ber import elements
from poststelle.verification.cades import CadesDetached
from poststelle.verification.cades_enveloping import CadesEnveloping
from poststelle.verification.carried_revinfo import carried_revinfo
from poststelle.verification.cms_signatures import _single_signer
from poststelle.verification.engine import verify_item
from poststelle.verification.formats import DocumentInput, VerificationContext
from poststelle.verification.model import (
    Indication,
    RevocationStatus,
    SignatureReport,
    SubIndication,
)
from poststelle.verification.qualification import CertificateQualifier
from poststelle.verification.trust import TrustSettings, validation_contexts
from tests.support.testpki import RECEIVED, GeneratedPki
from tests.verification.test_cades import cades

PDF = b"%PDF-1.7\n% Antrag auf Baugenehmigung\n"
REVOCATION_VALUES = "1.2.840.113549.1.9.16.2.24"
OCSP_RESPONSE_FORMAT = "1.3.6.1.5.5.7.16.2"


@dataclass(frozen=True)
class Fetched:
    """What the test PKI serves for a signer: its OCSP response and the CRLs of its CA and of
    the root (the CA certificate's own revocation status is checked too)."""

    ocsp: ocsp.OCSPResponse
    signer_crl: bytes
    root_crl: bytes

    @property
    def basic_ocsp(self) -> bytes:
        return bytes(self.ocsp["response_bytes"]["response"].contents)


async def fetch(pki: GeneratedPki, session: aiohttp.ClientSession, label: str) -> Fetched:
    cert, ca = pki.certificate(label), pki.certificate("interm")
    fetchers = AIOHttpFetcherBackend(session).get_fetchers()
    response = await fetchers.ocsp_fetcher.fetch(cert, AuthorityWithCert(ca))

    async def get(url: str) -> bytes:
        async with session.get(url) as reply:
            assert reply.status == 200
            return await reply.read()

    (signer_crl_url,) = [p.url for p in cert.crl_distribution_points]
    (root_crl_url,) = [p.url for p in ca.crl_distribution_points]
    return Fetched(response, await get(signer_crl_url), await get(root_crl_url))


def offline(pki: GeneratedPki, session: aiohttp.ClientSession) -> VerificationContext:
    """A clerk's `poststelle verify` without network: nothing is fetched, revocation hard-fail."""
    settings = TrustSettings(anchors=(pki.root_path,), allow_fetching=False)
    assert settings.revocation_mode == "hard-fail"
    return VerificationContext(
        validation_time=RECEIVED,
        validation_context=validation_contexts(settings, AIOHttpFetcherBackend(session)),
        qualify=CertificateQualifier(),
    )


# --- splicing revocation data into a signature, byte for byte --------------------------------


def _tlv(class_: int, method: int, tag: int, encoded: bytes) -> bytes:
    """The contents of one element, which must have this class, method and tag."""
    info = parser.parse(encoded, strict=True)
    assert info[:3] == (class_, method, tag), info[:3]
    return bytes(info[4])


def _signed_data_fields(signature: bytes) -> list[bytes]:
    content_info = elements(_tlv(0, 1, 16, signature))
    signed_data = _tlv(2, 1, 0, content_info[1])
    return elements(_tlv(0, 1, 16, signed_data))


def _with_signed_data_fields(signature: bytes, fields: Sequence[bytes]) -> bytes:
    content_type = elements(_tlv(0, 1, 16, signature))[0]
    signed_data = parser.emit(0, 1, 16, b"".join(fields))
    return parser.emit(0, 1, 16, content_type + parser.emit(2, 1, 0, signed_data))


def with_crls_field(signature: bytes, choices: Sequence[bytes]) -> bytes:
    """The signature with a SignedData `crls` field holding these RevocationInfoChoices."""
    fields = _signed_data_fields(signature)
    assert all(f[0] != 0xA1 for f in fields), "the signature already has a crls field"
    crls = parser.emit(2, 1, 1, b"".join(choices))
    return _with_signed_data_fields(signature, [*fields[:-1], crls, fields[-1]])


def ocsp_choice(response: bytes) -> bytes:
    """A RevocationInfoChoice `other` [1] with format id-ri-ocsp-response."""
    return parser.emit(2, 1, 1, core.ObjectIdentifier(OCSP_RESPONSE_FORMAT).dump() + response)


def revocation_values(crls: Sequence[bytes], basic_ocsps: Sequence[bytes]) -> bytes:
    """RevocationValues (ETSI EN 319 122-1), encoded by hand, not with the class under test."""
    parts = b""
    if crls:
        parts += parser.emit(2, 1, 0, parser.emit(0, 1, 16, b"".join(crls)))
    if basic_ocsps:
        parts += parser.emit(2, 1, 1, parser.emit(0, 1, 16, b"".join(basic_ocsps)))
    return parser.emit(0, 1, 16, parts)


def with_unsigned_attribute(signature: bytes, attr_type: str, value: bytes) -> bytes:
    """The signature with an unsigned attribute added to its (only) SignerInfo."""
    fields = _signed_data_fields(signature)
    (signer,) = elements(_tlv(0, 1, 17, fields[-1]))
    parts = elements(_tlv(0, 1, 16, signer))
    attribute = parser.emit(
        0, 1, 16, core.ObjectIdentifier(attr_type).dump() + parser.emit(0, 1, 17, value)
    )
    if parts[-1][0] == 0xA1:  # unsignedAttrs [1] already there (a signature time-stamp)
        attribute = _tlv(2, 1, 1, parts.pop()) + attribute
    signer = parser.emit(0, 1, 16, b"".join([*parts, parser.emit(2, 1, 1, attribute)]))
    return _with_signed_data_fields(signature, [*fields[:-1], parser.emit(0, 1, 17, signer)])


def indefinite(encoded: bytes) -> bytes:
    """The same SEQUENCE in BER's indefinite-length form (header 30 80, end-of-contents 00 00)."""
    return b"\x30\x80" + _tlv(0, 1, 16, encoded) + b"\x00\x00"


# --- verifying ---------------------------------------------------------------------------------


async def verify(signature: bytes, ctx: VerificationContext, *, detached: bool) -> SignatureReport:
    if detached:
        documents = [
            DocumentInput("antrag.pdf", "application/pdf", PDF),
            DocumentInput("antrag.pdf.p7s", "application/pkcs7-signature", signature),
        ]
    else:
        documents = [DocumentInput("antrag.pdf.p7m", "application/pkcs7-mime", signature)]
    report = await verify_item(None, documents, ctx, [CadesDetached(), CadesEnveloping()])
    (sig,) = [s for d in report.documents for s in d.signatures]
    return sig


def near_now(moment: datetime | None) -> bool:
    return moment is not None and abs(moment - datetime.now(UTC)) < timedelta(hours=3)


def assert_good(sig: SignatureReport, source: str, fetched: Fetched) -> None:
    """Passed, answered for by the embedded OCSP response (its producedAt) or by the embedded
    CRL of the signer's CA (its thisUpdate)."""
    assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_PASSED, None), sig.checks
    assert sig.revocation is not None
    assert (sig.revocation.status, sig.revocation.source) == (RevocationStatus.GOOD, source)
    assert sig.revocation.url == ""
    if source == "embedded-ocsp":
        assert near_now(sig.revocation.produced_at)
    else:
        this_update = crl.CertificateList.load(fetched.signer_crl)["tbs_cert_list"]["this_update"]
        assert sig.revocation.produced_at == this_update.native


def assert_undetermined(sig: SignatureReport) -> None:
    """Not passed, and not for a broken signature: only the revocation status is missing."""
    assert sig.indication is Indication.INDETERMINATE, sig.checks
    assert sig.sub_indication is not SubIndication.FORMAT_FAILURE
    assert {c.name: c.outcome.value for c in sig.checks}["signature"] == "passed"
    assert sig.revocation is not None and sig.revocation.source == ""
    assert sig.revocation.status is not RevocationStatus.GOOD


@pytest.mark.parametrize("detached", [False, True], ids=["p7m", "p7s"])
async def test_crls_in_the_signed_data_answer_offline(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession, detached: bool
) -> None:
    signed = await cades(pki, "qualified", PDF, detached=detached)
    fetched = await fetch(pki, pki_session, "qualified")
    ctx = offline(pki, pki_session)
    assert_undetermined(await verify(signed, ctx, detached=detached))
    carrying = with_crls_field(signed, [fetched.signer_crl, fetched.root_crl])
    assert_good(await verify(carrying, ctx, detached=detached), "embedded-crl", fetched)


@pytest.mark.parametrize("form", ["OCSPResponse", "bare BasicOCSPResponse"])
async def test_an_ocsp_response_in_the_signed_data_answers_offline(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession, form: str
) -> None:
    """RFC 5940's id-ri-ocsp-response holds an OCSPResponse; some signers put the bare
    BasicOCSPResponse there (DSS's Signature-C-HU_POL-3.p7m): it answers too."""
    signed = await cades(pki, "qualified", PDF)
    fetched = await fetch(pki, pki_session, "qualified")
    response = fetched.ocsp.dump() if form == "OCSPResponse" else fetched.basic_ocsp
    carrying = with_crls_field(signed, [ocsp_choice(response), fetched.root_crl])
    assert_good(
        await verify(carrying, offline(pki, pki_session), detached=False), "embedded-ocsp", fetched
    )


async def test_revocation_values_of_a_b_lt_signature_answer_offline(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await cades(pki, "qualified", PDF, session=pki_session)  # time-stamped: B-T
    fetched = await fetch(pki, pki_session, "qualified")
    ctx = offline(pki, pki_session)
    assert_undetermined(await verify(signed, ctx, detached=False))
    values = revocation_values([fetched.root_crl], [fetched.basic_ocsp])
    carrying = with_unsigned_attribute(signed, REVOCATION_VALUES, values)
    sig = await verify(carrying, ctx, detached=False)
    assert_good(sig, "embedded-ocsp", fetched)
    assert [t.valid for t in sig.timestamps] == [True]


async def test_revocation_values_with_crls_only_answer_offline(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    signed = await cades(pki, "qualified", PDF)
    fetched = await fetch(pki, pki_session, "qualified")
    values = revocation_values([fetched.signer_crl, fetched.root_crl], [])
    carrying = with_unsigned_attribute(signed, REVOCATION_VALUES, values)
    assert_good(
        await verify(carrying, offline(pki, pki_session), detached=False), "embedded-crl", fetched
    )


@pytest.mark.parametrize("where", ["signed data crls", "revocation values"])
async def test_a_revoked_signer_s_own_revocation_data_shows_it_revoked(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession, where: str
) -> None:
    signed = await cades(pki, "revoked", PDF)
    fetched = await fetch(pki, pki_session, "revoked")
    if where == "signed data crls":
        carrying, source = with_crls_field(signed, [fetched.signer_crl, fetched.root_crl]), "crl"
    else:
        values = revocation_values([fetched.root_crl], [fetched.basic_ocsp])
        carrying, source = with_unsigned_attribute(signed, REVOCATION_VALUES, values), "ocsp"
    ctx = offline(pki, pki_session)
    assert_undetermined(await verify(signed, ctx, detached=False))
    sig = await verify(carrying, ctx, detached=False)
    assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    revocation = sig.revocation
    assert revocation is not None and revocation.status is RevocationStatus.REVOKED
    assert revocation.source == f"embedded-{source}"
    assert revocation.revoked_at == datetime(2026, 3, 1, tzinfo=UTC)
    assert revocation.reason == "key_compromise"


NOT_A_CRL = parser.emit(0, 1, 16, core.Integer(1).dump() + core.Integer(2).dump())


async def test_unreadable_revocation_data_counts_as_none(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    """A broken entry is passed by: the readable ones still answer, and with none readable the
    signature is undetermined, never a format failure."""
    signed = await cades(pki, "qualified", PDF)
    fetched = await fetch(pki, pki_session, "qualified")
    broken_ocsp = ocsp_choice(parser.emit(0, 1, 16, core.Integer(7).dump()))
    assert carried_revinfo(
        _single_signer(
            cms.ContentInfo.load(with_crls_field(signed, [NOT_A_CRL, broken_ocsp]))["content"], 0
        )
    ) == ([], [])
    ctx = offline(pki, pki_session)
    garbage_only = with_crls_field(signed, [NOT_A_CRL, broken_ocsp])
    assert_undetermined(await verify(garbage_only, ctx, detached=False))
    garbage_too = with_crls_field(
        signed, [NOT_A_CRL, broken_ocsp, fetched.signer_crl, fetched.root_crl]
    )
    assert_good(await verify(garbage_too, ctx, detached=False), "embedded-crl", fetched)
    values = revocation_values([fetched.root_crl], [fetched.basic_ocsp])
    cut = values[:-25]  # shorter than its header says: not even its structure parses
    broken_values = with_unsigned_attribute(signed, REVOCATION_VALUES, cut)
    assert_undetermined(await verify(broken_values, ctx, detached=False))


async def test_an_embedded_basic_ocsp_response_is_offered_as_encoded(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    """A BasicOCSPResponse in BER's indefinite-length form (its header ends in 0x80) is wrapped
    into the OCSPResponse pyHanko takes byte for byte: asn1crypto would re-encode it as DER when
    dumping it (wbond/asn1crypto#249)."""
    signed = await cades(pki, "qualified", PDF)
    fetched = await fetch(pki, pki_session, "qualified")
    ber = indefinite(fetched.basic_ocsp)
    assert ocsp.BasicOCSPResponse.load(ber).dump() != ber  # what re-encoding would do
    carrying = with_unsigned_attribute(
        signed, REVOCATION_VALUES, revocation_values([fetched.root_crl], [ber])
    )
    single = _single_signer(cms.ContentInfo.load(carrying)["content"], 0)
    before = bytes(single.contents)
    crls, (response,) = carried_revinfo(single)
    assert [c.dump() for c in crls] == [fetched.root_crl]
    assert response["response_status"].native == "successful"
    assert response["response_bytes"]["response_type"].native == "basic_ocsp_response"
    assert response["response_bytes"]["response"].contents == ber
    assert bytes(single.contents) == before  # the SignedData pyHanko verifies is untouched
    assert_good(
        await verify(carrying, offline(pki, pki_session), detached=False), "embedded-ocsp", fetched
    )


CERTIFICATE_VALUES = "1.2.840.113549.1.9.16.2.23"


def without_certificate(signature: bytes, unwanted: bytes) -> bytes:
    """The signature with one certificate left out of its SignedData `certificates` field."""
    fields = _signed_data_fields(signature)
    (index,) = [i for i, f in enumerate(fields) if f[0] == 0xA0]  # certificates [0]
    kept = [c for c in elements(_tlv(2, 1, 0, fields[index])) if c != unwanted]
    assert len(kept) == len(elements(_tlv(2, 1, 0, fields[index]))) - 1
    fields[index] = parser.emit(2, 1, 0, b"".join(kept))
    return _with_signed_data_fields(signature, fields)


async def test_a_ca_certificate_carried_in_certificate_values_builds_the_path_offline(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    """A B-LT signature may carry its CA's certificate in certificate-values only; without it
    no path leads from the signer to the anchor."""
    interm = pki.certificate("interm").dump()
    signed = without_certificate(await cades(pki, "qualified", PDF), interm)
    fetched = await fetch(pki, pki_session, "qualified")
    carrying = with_crls_field(signed, [fetched.signer_crl, fetched.root_crl])
    ctx = offline(pki, pki_session)
    pathless = await verify(carrying, ctx, detached=False)
    assert pathless.indication is Indication.INDETERMINATE
    assert pathless.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    values = parser.emit(0, 1, 16, interm)  # CertificateValues ::= SEQUENCE OF Certificate
    complete = with_unsigned_attribute(carrying, CERTIFICATE_VALUES, values)
    assert_good(await verify(complete, ctx, detached=False), "embedded-crl", fetched)
