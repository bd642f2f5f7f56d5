"""BER elements split and read as they are encoded: nothing here re-encodes, because asn1crypto
re-encodes any parsed value whose length header ends in 0x80 when it is dumped
(wbond/asn1crypto#249), which changes signed bytes."""

from __future__ import annotations

from asn1crypto import parser


def elements(encoded: bytes) -> list[bytes]:
    """The encodings of the consecutive BER elements in `encoded`, byte for byte."""
    found = []
    while encoded:
        size = parser.peek(encoded)
        found.append(encoded[:size])
        encoded = encoded[size:]
    return found


def element(encoded: bytes) -> tuple[int, int, bytes]:
    """The class, tag and contents of one BER element."""
    class_, _, tag, _, contents, _ = parser.parse(encoded, strict=True)
    return class_, tag, contents
