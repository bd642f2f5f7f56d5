"""X-de-mail-integrity and "absenderbestätigt" on De-Mails built from the spec with a test PKI."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from certomancer.integrations.aiohttp_illusionist import AsyncIllusionist
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from poststelle.demail.headers import MessageType, parse_headers
from poststelle.demail.integrity import Protection
from poststelle.demail.sender_confirmed import DemailFinding, SpecError, verify_demail
from poststelle.verification.formats import VerificationContext
from poststelle.verification.model import (
    CheckOutcome,
    Indication,
    Qualification,
    RevocationStatus,
    SignatureFormat,
    SubIndication,
)
from poststelle.verification.qualification import CertificateQualifier
from poststelle.verification.trust import TrustSettings, validation_contexts
from tests.support.demail import (
    ProviderKey,
    confirmation_of_receipt,
    normal_fields,
    provider_key,
    seal,
    self_signed_rsa,
)
from tests.support.testpki import GeneratedPki

RECEIVED = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> GeneratedPki:
    return GeneratedPki.build(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def provider(pki: GeneratedPki) -> ProviderKey:
    return provider_key(pki)


@pytest.fixture
async def pki_session(pki: GeneratedPki) -> AsyncIterator[aiohttp.ClientSession]:
    async with AsyncIllusionist(pki.arch, at_time=RECEIVED).serving_session() as session:
        yield session


def context(
    pki: GeneratedPki, session: aiohttp.ClientSession, *extra_anchors: Path
) -> VerificationContext:
    """The message carries only the provider's certificate (TR PVD IO 3.1.14): the issuing
    CA must come from the configured intermediates (or AIA), not from the message."""
    intermediate = pki.directory / "interm.der"
    intermediate.write_bytes(pki.certificate("interm").dump())
    settings = TrustSettings(anchors=(pki.root_path, *extra_anchors), intermediates=(intermediate,))
    return VerificationContext(
        validation_time=RECEIVED,
        validation_context=validation_contexts(settings, AIOHttpFetcherBackend(session)),
        qualify=CertificateQualifier(),
    )


async def verify(
    raw: bytes, pki: GeneratedPki, session: aiohttp.ClientSession, *extra_anchors: Path
) -> DemailFinding:
    return await verify_demail(raw, context(pki, session, *extra_anchors))


def outcome(finding: DemailFinding) -> tuple[Indication, SubIndication | None]:
    assert finding.report is not None
    return finding.report.indication, finding.report.sub_indication


async def test_a_signed_authoritative_demail_is_sender_confirmed_with_a_qualified_seal(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    finding = await verify(seal(normal_fields(), provider=provider), pki, pki_session)
    report = finding.report
    assert report is not None
    assert (report.indication, report.sub_indication) == (Indication.TOTAL_PASSED, None)
    assert report.format is SignatureFormat.DEMAIL
    assert report.qualification is Qualification.QESEAL
    assert report.signer is not None and "De-Mail Provider Test" in report.signer.subject
    assert report.revocation is not None and report.revocation.status is RevocationStatus.GOOD
    assert (report.digest_algorithm, report.signature_algorithm) == ("sha256", "ec-dsa")
    assert [c.name for c in report.checks] == [
        "format",
        "body_hash",
        "signature",
        "certificate_path",
        "key_usage",
    ]
    assert all(c.detail and c.detail_de for c in report.checks)
    assert finding.integrity.protection is Protection.SIGNATURE
    assert finding.integrity.intact
    confirmation = finding.sender_confirmation
    assert (confirmation.requested, confirmation.confirmed, confirmation.errors) == (
        True,
        True,
        (),
    )
    assert "Absenderbestätigt" in confirmation.reasons_de[0]


async def test_a_hash_only_demail_is_intact_but_not_sender_confirmed(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    raw = seal(normal_fields(authoritative="no"), algorithm="sha256")
    finding = await verify(raw, pki, pki_session)
    assert outcome(finding) == (
        Indication.INDETERMINATE,
        SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
    )
    assert finding.integrity.protection is Protection.HASH
    assert finding.integrity.intact
    assert finding.report is not None and finding.report.qualification is Qualification.NOT_ADES
    checks = {c.name: c.outcome for c in finding.report.checks}
    assert checks["header_hash"] is CheckOutcome.PASSED
    assert checks["signature"] is CheckOutcome.NOT_APPLICABLE
    assert not finding.sender_confirmation.requested
    assert not finding.sender_confirmation.confirmed


async def test_authoritative_with_a_hash_only_is_error_fc04(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    finding = await verify(seal(normal_fields(), algorithm="sha512"), pki, pki_session)
    assert finding.integrity.intact
    confirmation = finding.sender_confirmation
    assert confirmation.requested and not confirmation.confirmed
    assert confirmation.errors == (SpecError.FC_04,)
    assert any("FC-04" in r and "Keine Signatur" in r for r in confirmation.reasons_de)


async def test_authoritative_without_any_integrity_field_is_error_fc04(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    raw = b"".join(f"{n}: {v}\r\n".encode() for n, v in normal_fields()) + b"\r\nText\r\n"
    finding = await verify(raw, pki, pki_session)
    assert finding.report is None
    assert finding.integrity.protection is Protection.NONE
    assert not finding.integrity.intact
    assert finding.sender_confirmation.errors == (SpecError.FC_04,)
    assert any(d.header == "X-de-mail-integrity" for d in finding.headers.defects)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Subject: Antrag auf Baugenehmigung", b"Subject: Antrag auf Abrissgenehmigung"),
        (b"X-de-mail-auth-level: high", b"X-de-mail-auth-level: HIGH"),
        (b"cc=bauamt@", b"cc=kasse@"),  # inside a folded field
        (b"X-de-mail-private-id: AZ-2026-0815", b"X-de-mail-private-id: AZ-2026-0816"),
    ],
    ids=["subject", "auth-level", "folded-recipient", "private-id"],
)
async def test_a_changed_signed_header_breaks_the_signature(
    old: bytes,
    new: bytes,
    pki: GeneratedPki,
    provider: ProviderKey,
    pki_session: aiohttp.ClientSession,
) -> None:
    raw = seal(normal_fields(), provider=provider)
    assert old in raw
    finding = await verify(raw.replace(old, new, 1), pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    assert not finding.integrity.intact
    assert finding.sender_confirmation.errors == (SpecError.FC_01,)


async def test_a_changed_header_of_a_hash_only_demail_is_a_hash_failure(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    raw = seal(normal_fields(authoritative="no"), algorithm="sha256")
    raw = raw.replace(b"From: Max Mustermann", b"From: Moritz Mustermann", 1)
    finding = await verify(raw, pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)


@pytest.mark.parametrize("algorithm", ["sha256/ec-dsa", "sha256"])
async def test_a_changed_body_is_a_hash_failure(
    algorithm: str, pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    raw = seal(normal_fields(), algorithm=algorithm, provider=provider)
    finding = await verify(raw.replace(b"Baugenehmigung.", b"Abrissgenehmigung."), pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
    assert finding.report is not None
    failed = [c for c in finding.report.checks if c.outcome is CheckOutcome.FAILED]
    assert [c.name for c in failed] == ["body_hash"]
    assert "verändert" in failed[0].detail_de


async def test_trailing_empty_lines_do_not_count_simple_canonicalisation(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    raw = seal(normal_fields(), provider=provider) + b"\r\n\r\n"
    finding = await verify(raw, pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_PASSED, None)


async def test_bare_line_feeds_are_read_as_crlf(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    raw = seal(normal_fields(), provider=provider).replace(b"\r\n", b"\n")
    finding = await verify(raw, pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_PASSED, None)


async def test_the_body_length_tag_is_ignored(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    raw = seal(normal_fields(), provider=provider, extra_tags="l=5; ")
    assert (await verify(raw, pki, pki_session)).integrity.intact
    changed = raw.replace(b"Baugenehmigung", b"Abrissgenehmigung")  # after the first 5 bytes
    finding = await verify(changed, pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)


async def test_a_garbage_signature_value_is_a_crypto_failure(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    raw = seal(normal_fields(), provider=provider)
    raw, replaced = re.subn(rb"(?s) b=.*?(?=\r\nX-de-mail-signature-certificate:)", b" b=AAAA", raw)
    assert replaced == 1
    finding = await verify(raw, pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)


@pytest.mark.parametrize(
    ("signed_at", "expected"),
    [
        (datetime(2026, 11, 25, 7, 15, tzinfo=UTC), (Indication.TOTAL_PASSED, None)),
        (
            datetime(2026, 12, 24, tzinfo=UTC),
            (Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE),
        ),
    ],
    ids=["before-receipt", "after-receipt"],
)
async def test_a_signing_time_tag_after_receipt_is_indeterminate(
    signed_at: datetime,
    expected: tuple[Indication, SubIndication | None],
    pki: GeneratedPki,
    provider: ProviderKey,
    pki_session: aiohttp.ClientSession,
) -> None:
    tag = f"t={int(signed_at.timestamp())}; "
    finding = await verify(
        seal(normal_fields(), provider=provider, extra_tags=tag), pki, pki_session
    )
    assert outcome(finding) == expected
    assert finding.report is not None and finding.report.signing_time == signed_at


async def test_another_certificate_than_the_signers_is_a_crypto_failure(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    raw = seal(normal_fields(), provider=provider, certificate_der=pki.certificate("seal").dump())
    finding = await verify(raw, pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    assert finding.report is not None and finding.report.signer is not None
    assert "Stadt Siegel" in finding.report.signer.subject
    assert not finding.sender_confirmation.confirmed


async def test_duplicated_fields_first_from_the_top_wins_and_is_recorded(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    fields = normal_fields()
    fields.insert(5, ("Subject", "Zweiter Betreff"))  # below the first: not hashed
    fields.append(("X-de-mail-auth-level", "normal"))
    finding = await verify(seal(fields, provider=provider), pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_PASSED, None)
    assert finding.headers.subject == "Antrag auf Baugenehmigung"
    assert finding.headers.auth_level is not None and finding.headers.auth_level.value == "high"
    duplicated = {d.header for d in finding.headers.defects if "first" in d.detail}
    assert duplicated == {"Subject", "x-de-mail-auth-level"}
    assert finding.sender_confirmation.confirmed


async def test_a_field_added_above_the_signed_one_breaks_the_signature(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    """An attacker who puts a second field on top changes what "first wins" reads."""
    raw = b"X-de-mail-auth-level: high\r\n" + seal(
        normal_fields(auth_level="normal"), provider=provider
    )
    finding = await verify(raw, pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    assert not finding.sender_confirmation.confirmed


async def test_auth_level_normal_is_not_sender_confirmed(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    finding = await verify(
        seal(normal_fields(auth_level="normal"), provider=provider), pki, pki_session
    )
    assert outcome(finding) == (Indication.TOTAL_PASSED, None)
    confirmation = finding.sender_confirmation
    assert confirmation.requested and not confirmation.confirmed and not confirmation.errors
    assert any("Authentisierungsniveau „hoch“" in r for r in confirmation.reasons_de)


async def test_a_pseudonym_sender_is_not_sender_confirmed(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    fields = normal_fields(sender="pn_maxi@provider.de-mail.de")
    finding = await verify(seal(fields, provider=provider), pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_PASSED, None)
    assert not finding.sender_confirmation.confirmed
    assert any("Pseudonym" in r for r in finding.sender_confirmation.reasons_de)


@pytest.mark.parametrize("algorithm", ["sha256/rsa", "sha384/rsassa-pss", "sha512/rsa"])
async def test_rsa_signatures_verify_but_an_unqualified_certificate_is_fc02(
    algorithm: str, pki: GeneratedPki, pki_session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    rsa_provider = self_signed_rsa()
    anchor = tmp_path / "rsa.der"
    anchor.write_bytes(rsa_provider.certificate_der)
    raw = seal(normal_fields(), algorithm=algorithm, provider=rsa_provider)
    finding = await verify(raw, pki, pki_session, anchor)
    assert outcome(finding) == (Indication.TOTAL_PASSED, None)
    assert finding.report is not None
    assert finding.report.signature_algorithm == algorithm.partition("/")[2]
    assert finding.report.qualification is Qualification.ADESIG
    assert finding.sender_confirmation.errors == (SpecError.FC_02,)
    assert any("nicht qualifiziert" in r for r in finding.sender_confirmation.reasons_de)


async def test_an_ecdsa_key_cannot_verify_an_rsa_algorithm(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    raw = seal(normal_fields(), provider=provider).replace(b"a=sha256/ec-dsa", b"a=sha256/rsa")
    finding = await verify(raw, pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)


async def test_without_the_providers_ca_there_is_no_chain(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    settings = TrustSettings(anchors=(pki.root_path,))  # the intermediate CA is not configured
    bare = VerificationContext(
        validation_time=RECEIVED,
        validation_context=validation_contexts(settings, AIOHttpFetcherBackend(pki_session)),
        qualify=CertificateQualifier(),
    )
    finding = await verify_demail(seal(normal_fields(), provider=provider), bare)
    assert outcome(finding) == (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    assert finding.integrity.intact
    assert finding.sender_confirmation.errors == (SpecError.FC_02,)


async def test_a_revoked_provider_certificate_fails(
    pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    raw = seal(normal_fields(), provider=provider_key(pki, "revoked"))
    finding = await verify(raw, pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    assert finding.report is not None and finding.report.revocation is not None
    assert finding.report.revocation.status is RevocationStatus.REVOKED
    assert finding.report.revocation.revoked_at == datetime(2026, 3, 1, tzinfo=UTC)
    assert finding.sender_confirmation.errors == (SpecError.FC_02,)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("expired", (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE)),
        ("notyet", (Indication.TOTAL_FAILED, SubIndication.NOT_YET_VALID)),
    ],
)
async def test_a_provider_certificate_outside_its_validity_does_not_pass(
    label: str,
    expected: tuple[Indication, SubIndication],
    pki: GeneratedPki,
    pki_session: aiohttp.ClientSession,
) -> None:
    finding = await verify(
        seal(normal_fields(), provider=provider_key(pki, label)), pki, pki_session
    )
    assert outcome(finding) == expected


async def test_an_unreachable_responder_means_try_later_and_fc03(
    pki: GeneratedPki, provider: ProviderKey
) -> None:
    async with aiohttp.ClientSession() as nowhere:  # pki.test does not resolve
        finding = await verify(seal(normal_fields(), provider=provider), pki, nowhere)
    assert outcome(finding) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)
    assert finding.report is not None and finding.report.revocation is not None
    assert finding.report.revocation.status is RevocationStatus.UNAVAILABLE
    assert finding.integrity.intact
    assert finding.sender_confirmation.errors == (SpecError.FC_03,)


async def test_signed_without_a_certificate_has_no_signing_certificate(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    raw = seal(normal_fields(), provider=provider)
    head, _, rest = raw.partition(b"X-de-mail-signature-certificate:")
    raw = head + b"X-Other:" + rest
    finding = await verify(raw, pki, pki_session)
    assert outcome(finding) == (
        Indication.INDETERMINATE,
        SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
    )
    assert finding.sender_confirmation.errors == (SpecError.FC_02,)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"c=simple/simple", b"c=relaxed/relaxed"),
        (b"a=sha256/ec-dsa", b"a=sha1/ec-dsa"),
        (b"q=x-header/x-de-mail-signature-certificate", b"q=dns/txt"),
        (b"h=From:Date:", b"h=Date:"),
        (b"bh=", b"bh=!!"),
        (b"v=1;", b"v=1; a=sha256;"),
        (b"v=1;", b"v=1; junk;"),
    ],
    ids=["canonicalisation", "sha1", "dns-query", "header-list", "body-hash", "twice", "junk"],
)
async def test_integrity_fields_against_the_spec_are_format_failures(
    old: bytes,
    new: bytes,
    pki: GeneratedPki,
    provider: ProviderKey,
    pki_session: aiohttp.ClientSession,
) -> None:
    raw = seal(normal_fields(), provider=provider)
    assert old in raw
    finding = await verify(raw.replace(old, new, 1), pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
    assert finding.sender_confirmation.errors == (SpecError.FC_01,)


async def test_a_private_id_outside_the_hash_is_a_format_failure(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    raw = seal(normal_fields(private_id=None), provider=provider)
    raw = raw.replace(
        b"\r\nX-de-mail-version:", b"\r\nX-de-mail-private-id: untergeschoben\r\nX-de-mail-version:"
    )
    finding = await verify(raw, pki, pki_session)
    assert outcome(finding) == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
    assert finding.integrity.protection is Protection.SIGNATURE


async def test_a_provider_confirmation_is_recognised_with_the_message_it_confirms(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    original_fields = normal_fields()
    original = seal(original_fields, provider=provider)
    integrity = parse_headers(original).integrity
    fields, body = confirmation_of_receipt(original_fields, integrity)
    finding = await verify(seal(fields, body, provider=provider), pki, pki_session)
    assert finding.headers.message_type is MessageType.CONFIRMATION_OF_RECEIPT
    assert finding.headers.is_confirmation and not finding.headers.is_notification
    assert outcome(finding) == (Indication.TOTAL_PASSED, None)
    reference = finding.confirmation
    assert reference is not None and not reference.defects
    assert reference.kind is MessageType.CONFIRMATION_OF_RECEIPT
    assert reference.original_message_id == "dm-4711-0001@provider.de-mail.de"
    assert reference.original_integrity == integrity
    assert reference.original_private_id == "AZ-2026-0815"
    assert reference.original_subject == "Antrag auf Baugenehmigung"
    assert reference.issuer == "eingang@stadt-provider.de-mail.de"
    assert reference.issued_at == datetime.fromisoformat("2026-11-25T08:16:00+01:00")
    assert ("X-de-mail-authoritative", "yes") in reference.original_metadata
    assert not finding.sender_confirmation.requested


async def test_a_normal_demail_refers_to_nothing(
    pki: GeneratedPki, provider: ProviderKey, pki_session: aiohttp.ClientSession
) -> None:
    finding = await verify(seal(normal_fields(), provider=provider), pki, pki_session)
    assert finding.confirmation is None
    assert finding.headers.message_type is MessageType.NORMAL
