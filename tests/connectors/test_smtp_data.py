"""DATA read in blocks agrees with the line-by-line reading of RFC 5321 4.5.2, however the
bytes arrive."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.smtp_data import DataReader

LIMIT = 1001  # aiosmtpd's line_length_limit, also its reader's limit


def line_by_line(stream: bytes) -> tuple[bytes, int, bytes]:
    """Content, longest line (with CR LF) and what follows the end-of-data line."""
    position, longest = 0, 0
    content: list[bytes] = []
    while True:
        end = stream.index(b"\r\n", position) + 2
        line, position = stream[position:end], end
        if line == b".\r\n":
            return b"".join(content), longest, stream[position:]
        longest = max(longest, len(line))
        content.append(line[1:] if line.startswith(b".") else line)


async def in_blocks(stream: bytes, cuts: list[int]) -> tuple[bytes, int, bytes]:
    reader = asyncio.StreamReader(limit=LIMIT)

    async def arrive() -> None:
        start = 0
        for cut in [*sorted(c % (len(stream) + 1) for c in cuts), len(stream)]:
            reader.feed_data(stream[start:cut])
            start = max(start, cut)
            await asyncio.sleep(0)
        reader.feed_eof()

    arriving = asyncio.ensure_future(arrive())
    body, longest = DataReader(reader), 0
    content: list[bytes] = []
    while True:
        block = await body.next_block()
        content.append(block.content)
        longest = max(longest, block.longest_line)
        if block.last:
            break
    await arriving
    return b"".join(content), longest, await reader.read()


lines = st.lists(
    st.one_of(
        st.binary(max_size=80),
        st.sampled_from([b"", b".", b"..", b". ", b"\r", b"\n", b".\r", b"\n.", b"\x00.\x00"]),
        st.binary(min_size=990, max_size=1100),
        st.binary(min_size=3000, max_size=5000),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(lines=lines, cuts=st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=12))
def test_blocks_agree_with_lines(lines: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(line + b"\r\n" for line in lines) + b".\r\nQUIT\r\n"

    assert asyncio.run(in_blocks(stream, cuts)) == line_by_line(stream)


def test_an_empty_body_ends_at_once() -> None:
    assert asyncio.run(in_blocks(b".\r\nQUIT\r\n", [])) == (b"", 0, b"QUIT\r\n")


def test_smuggled_ends_are_content() -> None:
    stream = b"a\n.\nb\r.\rc\r.\nd\n.\r\ne\r\n.\n\r\n.\x00\r\nf\r\n.\r\nMAIL FROM:<x@y>\r\n"

    content, _, rest = asyncio.run(in_blocks(stream, [3, 7, 11]))

    assert content == b"a\n.\nb\r.\rc\r.\nd\n.\r\ne\r\n\n\r\n\x00\r\nf\r\n"
    assert rest == b"MAIL FROM:<x@y>\r\n"


def test_lines_cut_between_cr_and_lf_by_the_readers_limit_are_counted_once() -> None:
    stream = b"xxxxxxxx\r\n" * 200 + b".\r\n"
    overrun_after_a_cr = 1011  # the reader gives up 1,009 bytes, the 101st line's CR the last

    content, longest, _ = asyncio.run(in_blocks(stream, [overrun_after_a_cr]))

    assert (len(content), longest) == (2000, 10)
