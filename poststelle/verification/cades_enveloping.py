"""CAdES enveloping signatures: a `.p7m` file that carries the document it signs."""

from __future__ import annotations

import base64
import binascii
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import cms, core, pem

from poststelle.verification.cades import _signed_document
from poststelle.verification.cms_signatures import format_failure, verify_signed_data
from poststelle.verification.formats import DocumentInput, VerificationContext
from poststelle.verification.model import (
    Check,
    CheckOutcome,
    Indication,
    SignatureFormat,
    SignatureReport,
    SubIndication,
)

PKCS7_MIME = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
SUFFIX = ".p7m"
# The name S/MIME gives a message's own opaque layer (RFC 8551 3.2.1).
SMIME_LAYER_NAME = "smime.p7m"
PDF_MAGIC = b"%PDF-"
NOT_SIGNED = "the CMS object holds no signed data"


def _der(data: bytes) -> bytes:
    """The DER (or BER) bytes of a CMS file stored as binary, PEM or bare base64."""
    if pem.detect(data):
        _, _, der = pem.unarmor(data)
        return bytes(der)
    if data[:1] == b"\x30":
        return data
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return data


@dataclass(frozen=True, slots=True)
class _Parsed:
    der: bytes
    content: bytes | None  # the encapsulated content; None for a detached signature


def _parse(data: bytes) -> _Parsed | str:
    """The CMS file's DER and the content it encapsulates, or why it is not signed data."""
    try:
        der = _der(data)
        info = cms.ContentInfo.load(der)
        kind = info["content_type"].native
        if kind != "signed_data":
            return f"{NOT_SIGNED}: {kind}"
        inner = info["content"]["encap_content_info"]["content"]
        if isinstance(inner, core.Void):
            return _Parsed(der, None)
        content = bytes(inner) if isinstance(inner, core.ParsableOctetString) else inner.native
    except (ValueError, TypeError, KeyError) as exc:
        return f"the file is not a CMS signature (DER, PEM or base64): {exc}"
    return _Parsed(der, content if isinstance(content, bytes) else inner.contents or b"")


def _inner_name(name: str) -> str:
    return (
        name[: -len(SUFFIX)]
        if name.lower().endswith(SUFFIX) and len(name) > len(SUFFIX)
        else f"{name}.inhalt"
    )


def _content_type(name: str, data: bytes) -> str:
    if data.startswith(PDF_MAGIC):
        return "application/pdf"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _content_missing(name: str) -> SignatureReport:
    return SignatureReport(
        format=SignatureFormat.CADES_DETACHED,
        indication=Indication.INDETERMINATE,
        sub_indication=SubIndication.SIGNED_DATA_NOT_FOUND,
        checks=(
            Check(
                "integrity",
                CheckOutcome.INDETERMINATE,
                "the signature carries no content and the document it signs was not found",
                "Die Signatur enthält die signierten Daten nicht, und das signierte Dokument "
                "wurde nicht gefunden.",
            ),
        ),
        field_name=name,
    )


class CadesEnveloping:
    """`.p7m` files and application/pkcs7-mime documents holding signed data.

    A message's own opaque S/MIME layer never reaches this handler: unwrapping consumes it, and
    the documents come from inside it. A signed-data `smime.p7m` that is a document is one
    unwrapping left alone (a signature inside another opaque one), so it is verified here.
    Unreadable data is claimed only under a `.p7m` name other than `smime.p7m`, since an
    unreadable S/MIME layer is already reported by the S/MIME check.
    """

    name = SignatureFormat.CADES_ENVELOPING.value

    def claims(self, document: DocumentInput) -> bool:
        name = document.name.lower()
        by_name = name.endswith(SUFFIX)
        if not (by_name or document.content_type.lower() in PKCS7_MIME):
            return False
        parsed = _parse(document.data)
        if isinstance(parsed, _Parsed):
            return True
        return by_name and name != SMIME_LAYER_NAME and not parsed.startswith(NOT_SIGNED)

    def enveloped(self, document: DocumentInput) -> DocumentInput | None:
        """The signed document the file carries, as a document of its own."""
        parsed = _parse(document.data)
        if isinstance(parsed, str) or parsed.content is None:
            return None
        name = _inner_name(document.name)
        return DocumentInput(name, _content_type(name, parsed.content), parsed.content)

    async def verify(
        self,
        document: DocumentInput,
        others: Sequence[DocumentInput],
        context: VerificationContext,
    ) -> tuple[SignatureReport, ...]:
        parsed = _parse(document.data)
        if isinstance(parsed, str):
            return (format_failure(SignatureFormat.CADES_ENVELOPING, parsed, document.name),)
        if parsed.content is not None:
            return await verify_signed_data(
                parsed.content,
                parsed.der,
                context,
                fmt=SignatureFormat.CADES_ENVELOPING,
                field_name=document.name,
                any_content_type=True,
            )
        signed = _signed_document(document, others)
        if signed is None:
            return (_content_missing(document.name),)
        return await verify_signed_data(
            signed.data,
            parsed.der,
            context,
            fmt=SignatureFormat.CADES_DETACHED,
            field_name=f"{document.name} → {signed.name}",
            any_content_type=True,
        )
