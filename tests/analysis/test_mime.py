"""MIME analysis: documents named safely, limits that hold, no exception for any input."""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poststelle.analysis.limits import MimeLimits
from poststelle.analysis.mime import analyse_message
from poststelle.analysis.names import safe_filename
from tests.support.corpora import CORPORA

LIMITS = MimeLimits()


def simple_message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Erika Müller <erika@example.org>"
    msg["To"] = "bauamt@amt.example"
    msg["Subject"] = "Bauantrag für Grundstück 12"
    msg.set_content("Sehr geehrte Damen und Herren,\nanbei mein Antrag.")
    msg.add_attachment(
        b"%PDF-1.7 antrag", maintype="application", subtype="pdf", filename="Antrag.pdf"
    )
    msg.add_attachment(b"\x89PNG plan", maintype="image", subtype="png", filename="Plan ü.png")
    return bytes(msg)


def test_body_and_attachments_are_listed_with_hashes() -> None:
    analysed = analyse_message(simple_message(), LIMITS)
    a = analysed.analysis
    assert a.parseable and a.subject == "Bauantrag für Grundstück 12"
    assert [(d.role, d.original_name, d.content_type) for d in a.documents] == [
        ("body", "", "text/plain"),
        ("attachment", "Antrag.pdf", "application/pdf"),
        ("attachment", "Plan ü.png", "image/png"),
    ]
    assert analysed.payloads[1] == b"%PDF-1.7 antrag"
    assert a.documents[1].sha256 == hashlib.sha256(b"%PDF-1.7 antrag").hexdigest()
    assert a.documents[0].safe_name == "dokument-1.txt"


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Windows\\evil.exe", "evil.exe"),
        ("a\x00b\x07c.pdf", "abc.pdf"),
        ("...", "dokument-3.bin"),
        ("", "dokument-3.bin"),
        ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
    ],
)
def test_unsafe_names_are_stored_under_safe_ones(original: str, expected: str) -> None:
    assert safe_filename(original, 3) == expected


def test_an_attachment_name_with_path_separators_keeps_its_original_as_data() -> None:
    msg = EmailMessage()
    msg.set_content("x")
    msg.add_attachment(b"data", maintype="application", subtype="pdf", filename="../../x/../a.pdf")
    doc = analyse_message(bytes(msg), LIMITS).analysis.documents[1]
    assert doc.original_name == "../../x/../a.pdf"
    assert doc.safe_name == "a.pdf"


def nested(depth: int) -> bytes:
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    )
    tail = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return b"From: a@example.org\r\n" + head + b"Content-Type: text/plain\r\n\r\nhi" + tail


def test_nesting_within_the_limit_is_analysed() -> None:
    analysis = analyse_message(nested(10), LIMITS).analysis
    assert analysis.parseable and len(analysis.documents) == 1


def test_a_thousand_deep_nesting_is_refused_in_bounded_time() -> None:
    started = time.perf_counter()
    analysis = analyse_message(nested(1000), LIMITS).analysis
    assert not analysis.parseable and "nesting" in analysis.problem
    assert time.perf_counter() - started < 10


def test_a_hundred_thousand_parts_are_refused_before_parsing() -> None:
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(100_000))
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n"
    started = time.perf_counter()
    analysis = analyse_message(raw, LIMITS).analysis
    assert not analysis.parseable and "parts" in analysis.problem
    assert time.perf_counter() - started < 5


def test_a_one_megabyte_header_is_refused() -> None:
    raw = b"Subject: " + b"a" * (1 << 20) + b"\r\n\r\nbody"
    analysis = analyse_message(raw, LIMITS).analysis
    assert not analysis.parseable and "header" in analysis.problem


def test_an_encoded_word_display_name_built_for_backtracking_is_bounded() -> None:
    evil = "=?utf-8?q?" + "=41" * 5000 + "?= " + '"' * 5000 + "<" * 2000
    raw = f"From: {evil}\r\nTo: a@amt.example\r\nSubject: x\r\n\r\nbody".encode()
    started = time.perf_counter()
    analysis = analyse_message(raw, LIMITS).analysis
    assert time.perf_counter() - started < 5
    assert analysis.parseable


def test_bad_base64_is_a_defect_not_a_failure() -> None:
    raw = (
        b"Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!!not base64@@@\r\n"
    )
    analysis = analyse_message(raw, LIMITS).analysis
    assert analysis.parseable and len(analysis.documents) == 1


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [(b"YWJjZA==", b"abcd"), (b"YWJjZA", b"abcd"), (b"YWJj\r\nZA==", b"abcd")],
    ids=["padded", "padding-missing", "line-broken"],
)
def test_base64_is_decoded_and_missing_padding_repaired(encoded: bytes, decoded: bytes) -> None:
    raw = (
        b"Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + encoded
        + b"\r\n"
    )
    analysed = analyse_message(raw, LIMITS)
    assert analysed.payloads == (decoded,)


def test_a_large_attachment_is_analysed_in_a_few_times_its_size_of_memory() -> None:
    """The email package given a whole message makes a string of it and a list of its lines,
    and its base64 decoding joins the lines again: seven times the message at the peak."""
    attachment = bytes(range(256)) * (3 * 1024 * 1024 // 256)
    message = EmailMessage()
    message["Subject"] = "Bauantrag"
    message.set_content("Anbei die Unterlagen.")
    message.add_attachment(attachment, maintype="application", subtype="pdf", filename="a.pdf")
    raw = message.as_bytes()
    tracemalloc.start()
    analysed = analyse_message(raw, LIMITS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert analysed.payloads[-1] == attachment
    assert peak < 3.5 * len(raw)


def _mail_files() -> list[Path]:
    sets = ["stalwart-mail-parser", "cpython-email", "jsmime-mime", "mimekit"]
    found = []
    for name in sets:
        root = CORPORA / name
        found += [
            p
            for p in sorted(root.rglob("*"))
            if p.is_file()
            and p.suffix.lower() in {".eml", ".msg", ".txt", ".mbox", ""}
            and p.stat().st_size < 8 * 1024 * 1024
        ]
    return found


MAIL_FILES = _mail_files()


def test_the_public_corpora_are_there() -> None:
    assert len(MAIL_FILES) > 150, f"found only {len(MAIL_FILES)} files under {CORPORA}"


@pytest.mark.parametrize("path", MAIL_FILES, ids=lambda p: str(p.relative_to(CORPORA)))
def test_every_corpus_message_is_analysed_within_bounds(path: Path) -> None:
    raw = path.read_bytes()
    tracemalloc.start()
    started = time.perf_counter()
    analysed = analyse_message(raw, LIMITS)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 5
    assert peak < 40 * len(raw) + 8 * 1024 * 1024
    a = analysed.analysis
    assert a.parseable or a.problem
    assert len(analysed.payloads) == len(a.documents)


header_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40
)
leaf = st.builds(
    lambda name, body, ctype: (name, body, ctype),
    header_text,
    st.binary(max_size=200),
    st.sampled_from(["application/pdf", "image/png", "application/octet-stream"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(leaf, max_size=8), header_text)
def test_built_messages_are_analysed_to_what_was_built(
    leaves: list[tuple[str, bytes, str]], subject: str
) -> None:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg.set_content("Text")
    for name, body, ctype in leaves:
        main, sub = ctype.split("/")
        msg.add_attachment(body, maintype=main, subtype=sub, filename=name or None)
    analysed = analyse_message(bytes(msg), LIMITS)
    docs = analysed.analysis.documents
    assert len(docs) == 1 + len(leaves)
    assert [d.sha256 for d in docs[1:]] == [hashlib.sha256(b).hexdigest() for _, b, _ in leaves]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_no_input_raises(raw: bytes) -> None:
    analysed = analyse_message(raw, LIMITS)
    assert len(analysed.payloads) == len(analysed.analysis.documents)


def test_raw_utf8_and_latin1_header_bytes_become_storable_text() -> None:
    raw = (
        b"From: a@example.org\r\nSubject: *Eingangsbest\xc3\xa4tigung* Gr\xfc\xdfe\r\n"
        b"Content-Type: text/plain\r\n\r\nText\r\n"
    )
    subject = analyse_message(raw, MimeLimits()).analysis.subject
    assert subject == "*Eingangsbestätigung* Gr\ufffd\ufffde"
    subject.encode("utf-8")
