"""Finding the parts of a multipart/signed body: the same delimiter lines as RFC 2046's grammar."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from poststelle.verification.unwrap import delimiter_lines

BOUNDARY = b"=-sig_1"
PIECES = [b"--", BOUNDARY, b"\r\n", b"\n", b"\r", b" ", b"\t", b"x", b"-", b"=-sig"]


def by_pattern(body: bytes, boundary: bytes) -> list[tuple[int, int]]:
    """The reference: a delimiter line as a regular expression (made anew per boundary)."""
    line = re.compile(rb"(?:^|\r?\n)" + re.escape(b"--" + boundary) + rb"(--)?[ \t]*\r?\n?")
    return [m.span() for m in line.finditer(body)]


@given(st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join))
def test_delimiter_lines_are_found_as_the_grammar_finds_them(body: bytes) -> None:
    assert delimiter_lines(body, BOUNDARY) == by_pattern(body, BOUNDARY)


def test_the_parts_of_a_signed_message_lie_between_its_delimiter_lines() -> None:
    body = b"--b\r\nsigned\r\n--b\r\nsignature\r\n--b-- \r\nepilogue"
    marks = delimiter_lines(body, b"b")
    assert [body[a:b] for a, b in marks] == [b"--b\r\n", b"\r\n--b\r\n", b"\r\n--b-- \r\n"]
    assert body[marks[0][1] : marks[1][0]] == b"signed"
