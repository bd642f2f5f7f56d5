"""Peel the S/MIME layers off a message, byte-exact, without judging any signature."""

from __future__ import annotations

import base64
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import BytesParser
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


def _detached(raw: bytes, boundary: str) -> tuple[bytes, bytes] | str:
    """The first body part exactly as sent, and the signature part's DER."""
    _, body = _split(raw)
    delimiter = b"--" + boundary.encode("ascii", "replace")
    lines = re.compile(rb"(?:^|\r?\n)" + re.escape(delimiter) + rb"(--)?[ \t]*\r?\n?")
    marks = list(lines.finditer(body))
    if len(marks) < 3:
        return "multipart/signed without two parts"
    signed = body[marks[0].end() : marks[1].start()]
    signature_entity = body[marks[1].end() : marks[2].start()]
    part = BytesParser(policy=compat32).parsebytes(signature_entity)
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes) or not payload:
        return "the signature part is empty"
    return signed, payload


def _pkcs7_payload(raw: bytes) -> bytes:
    _, body = _split(raw)
    message = BytesParser(policy=compat32).parsebytes(raw)
    if (message.get("content-transfer-encoding") or "").strip().lower() == "base64":
        return base64.b64decode(b"".join(body.split()), validate=False)
    return body


def unwrap(raw: bytes, keys: Sequence[DecryptionKey] = ()) -> Unwrapped:
    """Follow signed and encrypted layers inwards, as far as they can be opened."""
    layers: list[SmimeLayer] = []
    content = raw
    for depth in range(MAX_LAYERS):
        header = BytesParser(policy=compat32).parsebytes(_split(content)[0] + b"\r\n\r\n")
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
        der = _pkcs7_payload(content)
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
    header = BytesParser(policy=compat32).parsebytes(_split(entity)[0] + b"\r\n\r\n")
    return (
        header.get_content_type()
        in (
            "application/pkcs7-mime",
            "application/x-pkcs7-mime",
        )
        and str(header.get_param("smime-type") or "").lower() == "signed-data"
    )
