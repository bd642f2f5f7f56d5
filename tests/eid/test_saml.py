"""eID-identified submissions: signed SAML assertions verified, refused, and used only once."""

from __future__ import annotations

import copy
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from lxml import etree

from poststelle.config import load_config
from poststelle.eid.saml import DS, SAML, EidFinding, normalise_level, verify_assertion
from poststelle.eid.settings import EidSettings
from poststelle.store.backends import SqliteBackend
from poststelle.store.sql import SqlStore
from poststelle.tomlfile import TomlError
from poststelle.verification.model import CheckOutcome
from tests.support.saml import (
    EIDAS_SUBSTANTIAL,
    AssertionSpec,
    Attr,
    SamlIdp,
    assertion,
    response,
    sign,
    signed_assertion,
    to_bytes,
)

SP = "https://poststelle.amt.example/sp"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def idp() -> SamlIdp:
    return SamlIdp.generate()


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    s = SqlStore(SqliteBackend(tmp_path / "db.sqlite3"))
    s.migrate()
    return s


@pytest.fixture
def settings(tmp_path: Path, idp: SamlIdp) -> EidSettings:
    return EidSettings(
        idp_entity_id=idp.entity_id,
        idp_certificate=idp.write_certificate(tmp_path / "idp.pem"),
        sp_entity_id=SP,
    )


def spec(idp: SamlIdp, **changes: object) -> AssertionSpec:
    return replace(AssertionSpec(idp.entity_id, SP, NOW), **changes)  # type: ignore[arg-type]


class Ledger:
    """An in-memory replay store with the signature of SqlStore.remember_assertion."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, datetime]] = []

    def __call__(self, issuer: str, assertion_id: str, expires_at: datetime) -> bool:
        first = all(seen_id != assertion_id for _, seen_id, _ in self.calls)
        self.calls.append((issuer, assertion_id, expires_at))
        return first


def verify(xml: bytes, settings: EidSettings, now: datetime = NOW) -> EidFinding:
    return verify_assertion(xml, settings, Ledger(), now)


def outcome(finding: EidFinding, name: str) -> CheckOutcome:
    (check,) = [c for c in finding.checks if c.name == name]
    return check.outcome


def assert_refused(finding: EidFinding, check: str) -> None:
    assert not finding.valid
    assert outcome(finding, check) is CheckOutcome.FAILED
    assert finding.problem


def test_a_valid_high_assertion_records_who_asserted_what(
    idp: SamlIdp, settings: EidSettings
) -> None:
    s = spec(idp)
    ledger = Ledger()
    finding = verify_assertion(to_bytes(signed_assertion(s, idp)), settings, ledger, NOW)
    assert finding.valid, finding.problem
    assert finding.problem == ""
    assert all(c.outcome is CheckOutcome.PASSED for c in finding.checks)
    assert {c.name for c in finding.checks} == {
        "signature",
        "version",
        "issuer",
        "validity",
        "audience",
        "level",
        "one_time_use",
    }
    assert all(c.detail and c.detail_de for c in finding.checks)
    assert (finding.issuer, finding.subject, finding.assertion_id) == (
        idp.entity_id,
        s.subject,
        s.assertion_id,
    )
    assert finding.level == "high"
    assert finding.issue_instant == NOW
    assert finding.signer_sha256 == idp.certificate.fingerprint(hashes.SHA256()).hex()
    surname = finding.attribute("surname")
    mail = finding.attribute("urn:oid:0.9.2342.19200300.100.1.3")
    assert surname is not None and surname.values == ("Mustermann",)
    assert (surname.trust_level, surname.level) == ("HOCH", "high")
    assert mail is not None and (mail.trust_level, mail.level) == ("NORMAL", "low")
    assert ledger.calls == [(idp.entity_id, s.assertion_id, NOW + timedelta(minutes=7))]


def test_an_assertion_inside_a_response_is_accepted(idp: SamlIdp, settings: EidSettings) -> None:
    finding = verify(to_bytes(response(signed_assertion(spec(idp), idp))), settings)
    assert finding.valid, finding.problem


def test_a_response_that_reports_failure_is_refused(idp: SamlIdp, settings: EidSettings) -> None:
    status = "urn:oasis:names:tc:SAML:2.0:status:Responder"
    finding = verify(to_bytes(response(signed_assertion(spec(idp), idp), status=status)), settings)
    assert_refused(finding, "structure")
    assert "Responder" in finding.problem


def test_attributes_without_trust_levels_are_recorded_without_one(
    idp: SamlIdp, settings: EidSettings
) -> None:
    s = spec(idp, attributes=(Attr("urn:oid:2.5.4.42", ("Erika", "Maria")),))
    finding = verify(to_bytes(signed_assertion(s, idp)), settings)
    assert finding.valid, finding.problem
    (given,) = finding.attributes
    assert (given.values, given.trust_level, given.level) == (("Erika", "Maria"), "", "")


def test_a_signature_by_another_key_is_refused(idp: SamlIdp, settings: EidSettings) -> None:
    impostor = SamlIdp.generate(idp.entity_id)
    ledger = Ledger()
    xml = to_bytes(signed_assertion(spec(idp), impostor))
    finding = verify_assertion(xml, settings, ledger, NOW)
    assert_refused(finding, "signature")
    assert (finding.issuer, finding.subject, finding.attributes) == ("", "", ())
    assert ledger.calls == []  # a forged assertion cannot use up a genuine assertion's ID


def test_an_attribute_changed_after_signing_is_refused(idp: SamlIdp, settings: EidSettings) -> None:
    xml = to_bytes(signed_assertion(spec(idp), idp))
    tampered = xml.replace(b">Mustermann<", b">Musterfrau<")
    assert tampered != xml
    assert_refused(verify(tampered, settings), "signature")


def test_a_trust_level_raised_after_signing_is_refused(idp: SamlIdp, settings: EidSettings) -> None:
    xml = to_bytes(signed_assertion(spec(idp), idp))
    tampered = xml.replace(b'TrustLevel="NORMAL"', b'TrustLevel="HOCH"')
    assert tampered != xml
    assert_refused(verify(tampered, settings), "signature")


def test_a_comment_inserted_after_signing_cannot_truncate_a_value(
    idp: SamlIdp, settings: EidSettings
) -> None:
    s = spec(idp, subject="erika@bund.example.org")
    xml = to_bytes(signed_assertion(s, idp))
    commented = xml.replace(b">erika@bund.example.org<", b">erika@bund.example<!---->.org<")
    assert commented != xml
    finding = verify(commented, settings)  # comments are outside what exclusive c14n signs
    assert finding.valid, finding.problem
    assert finding.subject == "erika@bund.example.org"


def test_an_unsigned_assertion_is_refused(idp: SamlIdp, settings: EidSettings) -> None:
    unsigned = assertion(spec(idp))
    for placeholder in unsigned.iter(f"{{{DS}}}Signature"):
        unsigned.remove(placeholder)
    assert_refused(verify(to_bytes(unsigned), settings), "signature")


def _evil(idp: SamlIdp) -> etree._Element:
    evil_spec = spec(idp, subject="attacker", attributes=(Attr("surname", ("Evil",), "HOCH"),))
    evil = assertion(evil_spec)
    for placeholder in evil.iter(f"{{{DS}}}Signature"):
        evil.remove(placeholder)
    return evil


def test_wrapping_a_signed_assertion_inside_a_forged_one_is_refused(
    idp: SamlIdp, settings: EidSettings
) -> None:
    genuine = signed_assertion(spec(idp), idp)
    evil = _evil(idp)
    advice = etree.SubElement(evil, f"{{{SAML}}}Advice")
    advice.append(genuine)
    for document in (evil, response(evil)):
        finding = verify(to_bytes(document), settings)
        assert_refused(finding, "structure")
        assert finding.subject == "" and finding.attributes == ()


def test_a_forged_assertion_beside_a_signed_one_is_refused(
    idp: SamlIdp, settings: EidSettings
) -> None:
    genuine = signed_assertion(spec(idp), idp)
    for order in ((_evil(idp), genuine), (copy.deepcopy(genuine), _evil(idp))):
        assert_refused(verify(to_bytes(response(*order)), settings), "structure")


def test_a_forged_assertion_carrying_the_genuine_signature_is_refused(
    idp: SamlIdp, settings: EidSettings
) -> None:
    genuine_spec = spec(idp)
    genuine = signed_assertion(genuine_spec, idp)
    evil = _evil(idp)
    evil.set("ID", genuine_spec.assertion_id)
    (signature,) = genuine.iter(f"{{{DS}}}Signature")
    evil.insert(1, signature)
    finding = verify(to_bytes(response(evil)), settings)
    assert_refused(finding, "signature")
    assert finding.subject == ""


def test_a_signature_moved_out_of_the_assertion_is_refused(
    idp: SamlIdp, settings: EidSettings
) -> None:
    genuine = signed_assertion(spec(idp), idp)
    (signature,) = genuine.iter(f"{{{DS}}}Signature")
    document = response(genuine)
    document.append(signature)
    assert_refused(verify(to_bytes(document), settings), "signature")


def test_a_signature_over_the_whole_response_does_not_cover_the_assertion(
    idp: SamlIdp, settings: EidSettings
) -> None:
    unsigned = assertion(spec(idp))
    document = response(unsigned)
    signed_document = sign(document, idp)  # reference to the Response's ID, not the assertion's
    assert_refused(verify(to_bytes(signed_document), settings), "signature")


def test_another_issuer_is_refused(idp: SamlIdp, settings: EidSettings) -> None:
    s = spec(idp, issuer="https://idp.elsewhere.example")
    finding = verify(to_bytes(signed_assertion(s, idp)), settings)
    assert_refused(finding, "issuer")
    assert finding.issuer == "https://idp.elsewhere.example"  # what was asserted, for the record
    assert outcome(finding, "one_time_use") is CheckOutcome.NOT_APPLICABLE


def test_an_assertion_for_another_audience_is_refused(idp: SamlIdp, settings: EidSettings) -> None:
    s = spec(idp, audience="https://other-authority.example/sp")
    finding = verify(to_bytes(signed_assertion(s, idp)), settings)
    assert_refused(finding, "audience")
    assert "other-authority" in finding.problem


def test_an_expired_assertion_is_refused(idp: SamlIdp, settings: EidSettings) -> None:
    xml = to_bytes(signed_assertion(spec(idp), idp))
    finding = verify(xml, settings, now=NOW + timedelta(minutes=7, seconds=1))
    assert_refused(finding, "validity")
    assert "expired" in finding.problem


def test_the_clock_skew_tolerates_a_little_lateness(idp: SamlIdp, settings: EidSettings) -> None:
    xml = to_bytes(signed_assertion(spec(idp), idp))
    assert verify(xml, settings, now=NOW + timedelta(minutes=6)).valid
    strict = replace(settings, clock_skew_seconds=0)
    assert_refused(verify(xml, strict, now=NOW + timedelta(minutes=6)), "validity")


def test_an_assertion_not_yet_valid_is_refused(idp: SamlIdp, settings: EidSettings) -> None:
    xml = to_bytes(signed_assertion(spec(idp, issued=NOW + timedelta(minutes=10)), idp))
    finding = verify(xml, settings)
    assert_refused(finding, "validity")
    assert "not yet valid" in finding.problem


def test_a_condition_poststelle_does_not_understand_is_refused(
    idp: SamlIdp, settings: EidSettings
) -> None:
    unsigned = assertion(spec(idp))
    (conditions,) = unsigned.iter(f"{{{SAML}}}Conditions")
    etree.SubElement(conditions, f"{{{SAML}}}ProxyRestriction", Count="0")
    finding = verify(to_bytes(sign(unsigned, idp)), settings)
    assert_refused(finding, "validity")
    assert "ProxyRestriction" in finding.problem


def test_a_replayed_assertion_is_refused_the_second_time(
    idp: SamlIdp, settings: EidSettings, store: SqlStore
) -> None:
    xml = to_bytes(signed_assertion(spec(idp), idp))
    first = verify_assertion(xml, settings, store.remember_assertion, NOW)
    second = verify_assertion(xml, settings, store.remember_assertion, NOW)
    assert first.valid, first.problem
    assert_refused(second, "one_time_use")
    assert "replay" in second.problem


def test_a_refused_assertion_does_not_use_up_its_id(
    idp: SamlIdp, settings: EidSettings, store: SqlStore
) -> None:
    xml = to_bytes(signed_assertion(spec(idp), idp))
    too_early = verify_assertion(xml, settings, store.remember_assertion, NOW - timedelta(hours=1))
    assert_refused(too_early, "validity")
    assert verify_assertion(xml, settings, store.remember_assertion, NOW).valid


def test_level_substantial_is_not_enough_when_high_is_required(
    idp: SamlIdp, settings: EidSettings
) -> None:
    xml = to_bytes(signed_assertion(spec(idp, level=EIDAS_SUBSTANTIAL), idp))
    finding = verify(xml, settings)
    assert_refused(finding, "level")
    assert finding.level == "substantial"
    assert verify(xml, replace(settings, required_level="substantial")).valid


@pytest.mark.parametrize("level", ["STORK-QAA-Level-4", "http://bsi.bund.de/eID/LoA/hoch", "hoch"])
def test_bundid_and_eid_server_names_for_high_are_accepted(
    idp: SamlIdp, settings: EidSettings, level: str
) -> None:
    finding = verify(to_bytes(signed_assertion(spec(idp, level=level), idp)), settings)
    assert finding.valid, finding.problem
    assert (finding.level, finding.level_stated) == ("high", level)


def test_an_unknown_level_is_refused(idp: SamlIdp, settings: EidSettings) -> None:
    xml = to_bytes(signed_assertion(spec(idp, level="urn:example:very-trustworthy"), idp))
    finding = verify(xml, settings)
    assert_refused(finding, "level")
    assert finding.level == ""


@pytest.mark.parametrize(
    ("stated", "level"),
    [
        ("http://eidas.europa.eu/LoA/low", "low"),
        ("http://eidas.europa.eu/LoA/substantial", "substantial"),
        ("http://bsi.bund.de/eID/LoA/normal", "low"),
        ("http://bsi.bund.de/eID/LoA/substantiell", "substantial"),
        ("STORK-QAA-Level-1", "none"),
        ("STORK-QAA-Level-3", "substantial"),
        ("UNTERGEORDNET", "none"),
        ("SUBSTANTIELL", "substantial"),
        ("HOCH", "high"),
        ("gut", ""),
    ],
)
def test_stated_levels_are_normalised(stated: str, level: str) -> None:
    assert normalise_level(stated) == level


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">&lol9;</saml:Assertion>
"""


def test_entity_expansion_is_refused_without_expanding(settings: EidSettings) -> None:
    started = time.monotonic()
    finding = verify(BILLION_LAUGHS, settings)
    assert time.monotonic() - started < 1
    assert_refused(finding, "parse")
    assert "DTD" in finding.problem
    assert "lol" not in finding.problem


def test_external_entities_are_never_read(tmp_path: Path, settings: EidSettings) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]>'
        f'<saml:Assertion xmlns:saml="{SAML}">&x;</saml:Assertion>'
    ).encode()
    finding = verify(xml, settings)
    assert_refused(finding, "parse")
    assert "TOP-SECRET" not in repr(finding)


def test_a_dtd_in_utf16_is_refused_too(idp: SamlIdp, settings: EidSettings) -> None:
    xml = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]>'
        f'<saml:Assertion xmlns:saml="{SAML}">&x;</saml:Assertion>'
    ).encode("utf-16")
    assert_refused(verify(xml, settings), "parse")


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x00\xff\xfe garbage \x89PNG",
        b"<saml:Assertion",
        b"<html><body>not SAML</body></html>",
        b"x" * (600 * 1024),
    ],
)
def test_garbage_is_invalid_with_a_problem_never_an_exception(
    settings: EidSettings, garbage: bytes
) -> None:
    finding = verify(garbage, settings)
    assert not finding.valid
    assert finding.problem
    assert finding.checks[-1].detail_de


def _mutate(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    if rnd.random() < 0.5:
        for _ in range(rnd.randint(1, 3)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
    else:
        start = rnd.randrange(len(b))
        del b[start : start + rnd.randint(1, 80)]
    return bytes(b)


def test_damaged_assertions_never_raise_and_never_change_what_is_accepted(
    idp: SamlIdp, settings: EidSettings
) -> None:
    original = to_bytes(signed_assertion(spec(idp), idp))
    accepted = verify(original, settings)
    rnd = random.Random(20260501)
    for _ in range(300):
        finding = verify(_mutate(original, rnd), settings)
        assert finding.valid or finding.problem
        if finding.valid:  # only bytes outside what is signed changed (e.g. the KeyInfo)
            assert replace(finding, checks=()) == replace(accepted, checks=())


def test_an_unreadable_idp_certificate_is_a_problem_not_an_exception(
    idp: SamlIdp, settings: EidSettings, tmp_path: Path
) -> None:
    broken = replace(settings, idp_certificate=tmp_path / "missing.pem")
    finding = verify(to_bytes(signed_assertion(spec(idp), idp)), broken)
    assert_refused(finding, "configuration")


def test_the_store_remembers_assertion_ids_until_they_expire(tmp_path: Path) -> None:
    moments = iter(
        [datetime(2026, 5, 1, 12, 0, tzinfo=UTC)] * 2 + [datetime(2026, 5, 1, 13, 0, tzinfo=UTC)]
    )
    store = SqlStore(SqliteBackend(tmp_path / "r.sqlite3"), clock=lambda: next(moments))
    store.migrate()
    expires = datetime(2026, 5, 1, 12, 10, tzinfo=UTC)
    assert store.remember_assertion("https://idp.example", "_a1", expires)
    assert not store.remember_assertion("https://idp.example", "_a1", expires)
    # an hour later the ID has expired (any assertion carrying it is refused as expired anyway)
    assert store.remember_assertion("https://idp.example", "_a1", expires)


def test_the_store_tells_ids_apart(store: SqlStore) -> None:
    expires = datetime.now(UTC) + timedelta(minutes=5)
    assert store.remember_assertion("https://idp.example", "_a", expires)
    assert store.remember_assertion("https://idp.example", "_b", expires)
    assert not store.remember_assertion("https://idp.example", "_b", expires)


CONFIG = """\
[poststelle]
authority = "Stadt Test"
domains = ["amt.example"]

[timestamp]
url = "http://127.0.0.1:1/tsa"

[departments.bauamt]
title = "Bauamt"
"""


def test_the_eid_section_is_optional_and_parsed(tmp_path: Path) -> None:
    path = tmp_path / "poststelle.toml"
    path.write_text(CONFIG, encoding="utf-8")
    assert load_config(path).eid is None
    path.write_text(
        CONFIG + '\n[eid]\nidp_entity_id = "https://idp.example"\nidp_certificate = "idp.pem"\n'
        'sp_entity_id = "https://amt.example/sp"\nrequired_level = "substantial"\n',
        encoding="utf-8",
    )
    eid = load_config(path).eid
    assert eid == EidSettings(
        "https://idp.example",
        tmp_path / "idp.pem",
        "https://amt.example/sp",
        clock_skew_seconds=120,
        required_level="substantial",
    )


EID_BASE = 'idp_entity_id = "x"\nidp_certificate = "a"\n'


@pytest.mark.parametrize(
    ("section", "key", "message"),
    [
        (EID_BASE + 'sp_entity_id = "y"\nskew = 1\n', "skew", "unknown key"),
        ('idp_certificate = "a"\nsp_entity_id = "y"\n', "idp_entity_id", "required"),
        (EID_BASE + 'sp_entity_id = " "\n', "sp_entity_id", "empty"),
        (EID_BASE + 'sp_entity_id = "y"\nrequired_level = "max"\n', "required_level", "one of"),
        (EID_BASE + 'sp_entity_id = "y"\nclock_skew_seconds = -1\n', "clock_skew_seconds", "least"),
    ],
)
def test_a_bad_eid_section_names_its_key(
    tmp_path: Path, section: str, key: str, message: str
) -> None:
    path = tmp_path / "poststelle.toml"
    path.write_text(CONFIG + "\n[eid]\n" + section, encoding="utf-8")
    with pytest.raises(TomlError) as raised:
        load_config(path)
    assert raised.value.key == f"eid.{key}"
    assert message in raised.value.message
    assert raised.value.line is not None
