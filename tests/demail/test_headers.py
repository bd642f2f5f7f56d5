"""Parsing the X-de-mail-* header fields: spec rules, defects, and never raising."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poststelle.demail.headers import (
    AuthLevel,
    MessageType,
    Recipients,
    confirmation_reference,
    is_demail,
    parse_headers,
    split_message,
)
from poststelle.demail.integrity import (
    IntegrityFormatError,
    Protection,
    canonical_body,
    parse_integrity,
    verify_integrity,
)
from poststelle.verification.formats import VerificationContext
from poststelle.verification.model import Indication, SubIndication
from tests.support.demail import normal_fields, seal


def message(fields: list[tuple[str, str]], body: bytes = b"Text\r\n") -> bytes:
    return b"".join(f"{n}: {v}\r\n".encode() for n, v in fields) + b"\r\n" + body


def test_a_normal_demail_reads_as_the_spec_defines_it() -> None:
    headers = parse_headers(seal(normal_fields(), algorithm="sha256"))
    assert headers.message_type is MessageType.NORMAL
    assert headers.authoritative and not headers.private
    assert headers.confirmation_of_receipt and not headers.confirmation_of_dispatch
    assert headers.auth_level is AuthLevel.HIGH
    assert headers.auth_mechanism == "nPA"
    assert headers.sender == "max.mustermann@provider.de-mail.de"
    assert headers.chosen_recipients == Recipients(
        to=("poststelle@stadt.de-mail.de",), cc=("bauamt@stadt.de-mail.de",)
    )
    assert headers.actual_recipients.to == ("poststelle@stadt.de-mail.de",)
    assert headers.originator_provider == "mail.provider.de-mail.de"
    assert headers.version == "1.8"
    assert headers.demail_message_id == "dm-4711-0001@provider.de-mail.de"
    assert headers.message_id == "<4711@provider.de-mail.de>"
    assert headers.private_id == "AZ-2026-0815"
    assert headers.account_holder == "Max Mustermann"
    assert headers.integrity.startswith("v=1; a=sha256;")
    assert headers.defects == ()
    assert "x-de-mail-integrity" in headers.present
    assert not headers.is_confirmation and not headers.is_notification


def test_names_are_case_insensitive_and_the_first_occurrence_wins() -> None:
    raw = message(
        [
            ("x-DE-MAIL-authoritative", "yes"),
            ("X-de-mail-Authoritative", "no"),
            ("X-DE-MAIL-AUTH-LEVEL", "high"),
            ("subject", "erster"),
            ("Subject", "zweiter"),
        ]
    )
    headers = parse_headers(raw)
    assert headers.authoritative
    assert headers.auth_level is AuthLevel.HIGH
    assert headers.subject == "erster"
    duplicated = {d.header.lower() for d in headers.defects if "first" in d.detail}
    assert duplicated == {"x-de-mail-authoritative", "subject"}
    assert all(d.detail_de for d in headers.defects)


def test_yes_no_fields_are_case_sensitive_and_default_to_no() -> None:
    headers = parse_headers(message([("X-de-mail-authoritative", "Yes")]))
    assert not headers.authoritative
    assert not headers.private  # absent: "no"
    assert any(d.header == "X-de-mail-authoritative" for d in headers.defects)


def test_missing_mandatory_fields_of_a_demail_are_defects() -> None:
    headers = parse_headers(message([("X-de-mail-sender", "a@b.de-mail.de")]))
    missing = {d.header for d in headers.defects if "missing" in d.detail}
    assert {"X-de-mail-integrity", "X-de-mail-message-id", "X-de-mail-auth-level"} <= missing
    assert headers.message_type is MessageType.NORMAL  # absent: normal


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("normal", MessageType.NORMAL),
        ("confirmation of dispatch", MessageType.CONFIRMATION_OF_DISPATCH),
        ("Confirmation  of\r\n receipt", MessageType.CONFIRMATION_OF_RECEIPT),
        ("confirmation of retrieve", MessageType.CONFIRMATION_OF_RETRIEVE),
        ("malware-acknowledge", MessageType.MALWARE_ACKNOWLEDGE),
        ("malware-notification", MessageType.MALWARE_NOTIFICATION),
        ("notification", MessageType.NOTIFICATION),
        ("identification", MessageType.IDENTIFICATION),
        ("spam", MessageType.UNKNOWN),
    ],
)
def test_message_types(value: str, expected: MessageType) -> None:
    headers = parse_headers(message([("X-de-mail-message-type", value)]))
    assert headers.message_type is expected
    unknown = [d for d in headers.defects if "unknown message type" in d.detail]
    assert bool(unknown) is (expected is MessageType.UNKNOWN)


def test_a_notification_is_recognised_with_its_type() -> None:
    headers = parse_headers(
        message(
            [
                ("X-de-mail-message-type", "notification"),
                ("X-de-mail-notification-type", "unknown-recipient"),
            ]
        )
    )
    assert headers.is_notification and not headers.is_confirmation
    assert headers.notification_type == "unknown-recipient"
    assert not any("notification type" in d.detail for d in headers.defects)
    assert confirmation_reference(b"", headers) is None


def test_a_confirmation_without_its_xml_part_is_recorded() -> None:
    raw = message(
        [
            ("X-de-mail-message-type", "confirmation of dispatch"),
            ("Subject", "*Versandbestätigung* Antrag"),
            ("X-de-mail-private-id", "AZ-1"),
        ]
    )
    reference = confirmation_reference(raw, parse_headers(raw))
    assert reference is not None
    assert reference.kind is MessageType.CONFIRMATION_OF_DISPATCH
    assert (reference.original_subject, reference.original_private_id) == ("Antrag", "AZ-1")
    assert reference.original_message_id == ""
    assert reference.defects and "Acknowledge-Message" in reference.defects[0].detail


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("to=a@x.de", Recipients(to=("a@x.de",))),
        ("to = a@x.de; b@x.de ; cc=c@x.de", Recipients(to=("a@x.de", "b@x.de"), cc=("c@x.de",))),
        ('to="Amt; Bau" <a@x.de>; bcc=d@x.de', Recipients(to=("a@x.de",), bcc=("d@x.de",))),
        ("to=a@x.de, b@x.de", Recipients(to=("a@x.de", "b@x.de"))),
    ],
)
def test_recipient_lists(value: str, expected: Recipients) -> None:
    headers = parse_headers(message([("X-de-mail-chosen-recipient", value)]))
    assert headers.chosen_recipients == expected


def test_recipient_defects() -> None:
    value = "a@x.de; to=b@x.de; to=c@x.de"
    headers = parse_headers(message([("X-de-mail-chosen-recipient", value)]))
    assert headers.chosen_recipients.to == ("b@x.de", "c@x.de")
    details = [d.detail for d in headers.defects if d.header == "X-de-mail-chosen-recipient"]
    assert len(details) == 2


def test_is_demail() -> None:
    assert is_demail(seal(normal_fields(), algorithm="sha256"))
    assert not is_demail(message([("From", "a@example.org"), ("Subject", "Hallo")]))


def test_split_message_keeps_fields_byte_exact() -> None:
    raw = b"A: 1\r\nB: x\r\n\ty\r\nNoColon\r\n: empty name\r\n\r\nbody\r\n\r\n"
    section = split_message(raw)
    assert [f.raw for f in section.fields] == [b"A: 1\r\n", b"B: x\r\n\ty\r\n"]
    assert section.fields[1].value == "x\ty"
    assert section.body == b"body\r\n\r\n"
    assert len(section.defects) == 2


@pytest.mark.parametrize(
    ("body", "canonical"),
    [(b"", b"\r\n"), (b"\r\n", b"\r\n"), (b"a", b"a\r\n"), (b"a\r\n\r\n\r\n", b"a\r\n")],
)
def test_simple_body_canonicalisation(body: bytes, canonical: bytes) -> None:
    assert canonical_body(body) == canonical


printable = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
field_names = st.sampled_from(
    [
        "X-de-mail-integrity",
        "X-de-mail-authoritative",
        "x-de-mail-message-type",
        "X-de-mail-chosen-recipient",
        "X-de-mail-auth-level",
        "X-de-mail-signature-certificate",
        "Subject",
        "From",
    ]
)


@given(st.binary(max_size=2000))
@settings(max_examples=300)
def test_the_parser_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    headers = parse_headers(raw)
    assert isinstance(headers.defects, tuple)
    assert is_demail(raw) is bool(headers.present)
    confirmation_reference(raw, headers)


@given(
    st.lists(
        st.tuples(field_names, st.binary(max_size=80)),
        max_size=12,
    ),
    st.binary(max_size=200),
)
@settings(max_examples=300)
def test_the_parser_never_raises_on_arbitrary_header_values(
    fields: list[tuple[str, bytes]], body: bytes
) -> None:
    raw = b"".join(n.encode() + b":" + v + b"\r\n" for n, v in fields) + b"\r\n" + body
    headers = parse_headers(raw)
    assert headers.message_type in MessageType


@given(st.binary(max_size=600))
@settings(max_examples=200)
def test_a_confirmation_with_an_arbitrary_body_never_raises(body: bytes) -> None:
    raw = message(
        [
            ("X-de-mail-message-type", "confirmation of receipt"),
            ("Content-Type", 'multipart/mixed; boundary="b"'),
        ],
        b"--b\r\nContent-Type: application/xml\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body,
    )
    reference = confirmation_reference(raw, parse_headers(raw))
    assert reference is not None


H_LIST = (
    "From:Date:Message-ID:Subject:Reply-To:X-de-mail-confirmation-of-dispatch:"
    "X-de-mail-confirmation-of-receipt:X-de-mail-confirmation-of-retrieve:"
    "X-de-mail-authoritative:X-de-mail-private:X-de-mail-sender:X-de-mail-chosen-recipient:"
    "X-de-mail-auth-mechanism:X-de-mail-auth-level:X-de-mail-originator-provider:"
    "X-de-mail-message-type:X-de-mail-version:X-de-mail-message-id:X-de-mail-account-holder"
)
tag_values = {
    "a": st.sampled_from(["sha256", "sha512/rsa", "sha256/ec-dsa", "sha384/rsassa-pss", "md5"]),
    "c": st.sampled_from(["simple/simple", "simple", "relaxed"]),
    "q": st.sampled_from(["x-header/x-de-mail-signature-certificate", "dns/txt"]),
    "h": st.sampled_from([H_LIST, H_LIST + ":X-de-mail-private-id", "From"]),
    "bh": st.sampled_from(["", "AAAA", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]),
    "b": st.sampled_from(["", "AAAA", "b=="]),
    "t": st.sampled_from(["1700000000", "x", "99999999999999", "-1"]),
    "l": st.sampled_from(["1", "x"]),
}
tag_lists = st.fixed_dictionaries({}, optional=tag_values).map(
    lambda tags: "; ".join(f"{k}={v}" for k, v in tags.items())
)


@given(st.one_of(printable, tag_lists))
@settings(max_examples=500)
def test_the_integrity_parser_raises_only_its_format_error(value: str) -> None:
    error: IntegrityFormatError | None = None
    try:
        parse_integrity(value)
    except IntegrityFormatError as exc:
        error = exc
    assert error is None or (error.detail and error.detail_de)


def _unused_context() -> VerificationContext:
    def refuse(*_: object) -> object:
        raise AssertionError("no certificate should reach validation")

    return VerificationContext(
        validation_time=datetime(2026, 11, 25, tzinfo=UTC),
        validation_context=refuse,  # type: ignore[arg-type]
        qualify=refuse,  # type: ignore[arg-type]
    )


@given(st.one_of(printable, tag_lists), st.binary(max_size=200))
@settings(max_examples=300)
def test_integrity_verification_never_raises_on_arbitrary_values(value: str, body: bytes) -> None:
    raw = b"X-de-mail-integrity: " + value.encode() + b"\r\n\r\n" + body
    result = asyncio.run(verify_integrity(raw, _unused_context()))
    assert result.report is not None
    assert result.protection is not Protection.NONE
    assert not result.intact or result.report.indication is not Indication.TOTAL_FAILED
    assert result.report.sub_indication is not SubIndication.TRY_LATER
