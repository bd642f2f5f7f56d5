"""Peel the S/MIME layers off a message, byte-exact, without judging any signature."""

from __future__ import annotations

import base64
import enum
import quopri
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from asn1crypto import cms

from poststelle.verification.decrypt import DecryptionKey, decrypt

MAX_LAYERS = 8
_HEADER_END = re.compile(rb"\r?\n\r?\n")


class LayerKind(enum.StrEnum):
    SIGNED_DETACHED = "signed-detached"  # multipart/signed
    SIGNED_OPAQUE = "signed-opaque"  # application/pkcs7-mime; smime-type=signed-data
    ENCRYPTED = "encrypted"  # application/pkcs7-mime; smime-type=enveloped-data


@dataclass(frozen=True, slots=True)
class SmimeLayer:
    kind: LayerKind
    depth: int
    signed_content: bytes  # what the signature covers (detached part, or eContent)
    cms_der: bytes  # the CMS ContentInfo
    problem: str = ""  # why this layer could not be opened, if it could not


@dataclass(frozen=True, slots=True)
class Unwrapped:
    layers: tuple[SmimeLayer, ...]
    content: bytes  # the innermost MIME entity


def _split(raw: bytes) -> tuple[bytes, bytes]:
    end = _HEADER_END.search(raw)
    return (raw, b"") if end is None else (raw[: end.start()], raw[end.end() :])


def delimiter_lines(body: bytes, boundary: bytes) -> list[tuple[int, int]]:
    """Where the delimiter lines of `boundary` are in a multipart body, as (start, end): a line
    break (or the body's start), "--" and the boundary, an optional closing "--", blanks, and
    what there is of a CR LF after it. A search for the fixed bytes rather than a pattern made
    per message: the boundary differs in every message, so a compiled pattern is never reused."""
    dashed = b"--" + boundary
    found = []
    position = 0
    while (at := body.find(dashed, position)) != -1:
        position = at + 1
        if at >= 2 and body[at - 2 : at] == b"\r\n":
            start = at - 2
        elif at >= 1 and body[at - 1 : at] == b"\n":
            start = at - 1
        elif at == 0:
            start = 0
        else:
            continue
        end = at + len(dashed)
        if body.startswith(b"--", end):
            end += 2
        while body[end : end + 1] in (b" ", b"\t"):
            end += 1
        for line_break in (b"\r", b"\n"):
            if body[end : end + 1] == line_break:
                end += 1
        found.append((start, end))
        position = end
    return found


def _header(entity: bytes) -> Message:
    return BytesHeaderParser(policy=compat32).parsebytes(_split(entity)[0] + b"\r\n\r\n")


def _transfer_decoded(entity: bytes) -> bytes:
    """An entity's body with its transfer encoding (base64, quoted-printable) undone."""
    body = _split(entity)[1]
    encoding = (_header(entity).get("content-transfer-encoding") or "").strip().lower()
    if encoding == "base64":
        return base64.b64decode(b"".join(body.split()), validate=False)
    if encoding == "quoted-printable":
        return quopri.decodestring(body)
    return body


def _detached(raw: bytes, boundary: str) -> tuple[bytes, bytes] | str:
    """The first body part exactly as sent, and the signature part's DER."""
    _, body = _split(raw)
    marks = delimiter_lines(body, boundary.encode("ascii", "replace"))
    if len(marks) < 3:
        return "multipart/signed without two parts"
    signed = body[marks[0][1] : marks[1][0]]
    payload = _transfer_decoded(body[marks[1][1] : marks[2][0]])
    if not payload:
        return "the signature part is empty"
    return signed, payload


def unwrap(raw: bytes, keys: Sequence[DecryptionKey] = ()) -> Unwrapped:
    """Follow signed and encrypted layers inwards, as far as they can be opened."""
    layers: list[SmimeLayer] = []
    content = raw
    for depth in range(MAX_LAYERS):
        header = _header(content)
        ctype = header.get_content_type()
        if ctype == "multipart/signed":
            found = _detached(content, str(header.get_param("boundary") or ""))
            if isinstance(found, str):
                return Unwrapped(
                    (*layers, SmimeLayer(LayerKind.SIGNED_DETACHED, depth, b"", b"", found)),
                    content,
                )
            signed, signature = found
            layers.append(SmimeLayer(LayerKind.SIGNED_DETACHED, depth, signed, signature))
            content = signed
            continue
        if ctype not in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
            break
        der = _transfer_decoded(content)
        try:
            info = cms.ContentInfo.load(der)
            kind = info["content_type"].native
        except ValueError as exc:
            layers.append(SmimeLayer(LayerKind.SIGNED_OPAQUE, depth, b"", der, f"not CMS: {exc}"))
            break
        if kind == "signed_data":
            inner = info["content"]["encap_content_info"]["content"]
            encapsulated = inner.native if inner.native is not None else b""
            if not isinstance(encapsulated, bytes):
                encapsulated = inner.contents or b""
            layers.append(SmimeLayer(LayerKind.SIGNED_OPAQUE, depth, encapsulated, der))
            content = encapsulated
            if _is_opaque_signed(content):
                # An opaque signature around another one signs that CMS object as a whole,
                # like a signed attachment: the inner one is a document, not a layer.
                break
            continue
        if kind == "enveloped_data":
            opened = decrypt(der, keys)
            if opened is None:
                problem = "encrypted for a key the authority does not hold"
                layers.append(SmimeLayer(LayerKind.ENCRYPTED, depth, b"", der, problem))
                break
            layers.append(SmimeLayer(LayerKind.ENCRYPTED, depth, opened, der))
            content = opened
            continue
        layers.append(
            SmimeLayer(LayerKind.SIGNED_OPAQUE, depth, b"", der, f"unexpected CMS type {kind}")
        )
        break
    return Unwrapped(tuple(layers), content)


def _is_opaque_signed(entity: bytes) -> bool:
    header = _header(entity)
    return (
        header.get_content_type()
        in (
            "application/pkcs7-mime",
            "application/x-pkcs7-mime",
        )
        and str(header.get_param("smime-type") or "").lower() == "signed-data"
    )
