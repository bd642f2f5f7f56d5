"""The verification engine: every signature an item carries, in one report."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import structlog

from poststelle.verification.formats import DocumentInput, SignatureHandler, VerificationContext
from poststelle.verification.model import (
    Check,
    CheckOutcome,
    DocumentReport,
    Indication,
    ItemVerdict,
    SignatureFormat,
    SignatureReport,
    SubIndication,
    VerificationReport,
)
from poststelle.verification.smime import attesting_layers, verify_layers
from poststelle.verification.unwrap import Unwrapped

log = structlog.get_logger("poststelle.verification")

SCHEMA_VERSION = "1"
MESSAGE = "Nachricht (S/MIME)"
# Signed files inside signed files (a .p7m in a .p7m …) are followed this deep.
MAX_ENVELOPING_DEPTH = 8


@runtime_checkable
class Enveloping(Protocol):
    """A handler whose signature files carry the document they sign (CAdES enveloping)."""

    def enveloped(self, document: DocumentInput) -> DocumentInput | None:
        """The signed document inside `document`, if it carries one."""
        ...


def verdict(signatures: Sequence[SignatureReport]) -> ItemVerdict:
    if not signatures:
        return ItemVerdict.UNSIGNED
    indications = {s.indication for s in signatures}
    if Indication.TOTAL_FAILED in indications:
        return ItemVerdict.FAILED
    if Indication.INDETERMINATE in indications:
        return ItemVerdict.INDETERMINATE
    return ItemVerdict.PASSED


def _format_of(handler: SignatureHandler) -> SignatureFormat:
    try:
        return SignatureFormat(handler.name)
    except ValueError:
        return SignatureFormat.CADES_DETACHED


def _crashed(fmt: SignatureFormat, exc: Exception) -> SignatureReport:
    reason = f"{type(exc).__name__}: {exc}"
    return SignatureReport(
        format=fmt,
        indication=Indication.INDETERMINATE,
        sub_indication=SubIndication.SIGNED_DATA_NOT_FOUND,
        checks=(
            Check(
                "format",
                CheckOutcome.INDETERMINATE,
                f"the check could not be completed: {reason}",
                f"Die Prüfung konnte nicht abgeschlossen werden: {reason}",
            ),
        ),
        field_name=fmt.value,
    )


async def _examine(
    document: DocumentInput,
    documents: Sequence[DocumentInput],
    context: VerificationContext,
    handlers: Sequence[SignatureHandler],
    container: str = "",
    depth: int = 0,
) -> list[DocumentReport]:
    """The document's signatures, then the documents its signature files carry, each listed
    as a document of its own (with its own signatures, if any) even when it is not signed."""
    found: list[SignatureReport] = []
    inner: list[DocumentInput] = []
    for handler in handlers:
        if not handler.claims(document):
            continue
        try:
            found += await handler.verify(document, documents, context)
            if isinstance(handler, Enveloping) and depth < MAX_ENVELOPING_DEPTH:
                content = handler.enveloped(document)
                inner += [content] if content is not None else []
        except Exception as exc:
            log.error("verification.handler_failed", handler=handler.name, exc_info=True)
            found.append(_crashed(_format_of(handler), exc))
    reports = []
    if found or container:
        reports.append(
            DocumentReport(
                document.name,
                hashlib.sha256(document.data).hexdigest(),
                document.content_type,
                tuple(found),
                (f"Signierter Inhalt von {container}",) if container else (),
            )
        )
    for content in inner:
        reports += await _examine(content, documents, context, handlers, document.name, depth + 1)
    return reports


async def verify_item(
    unwrapped: Unwrapped | None,
    documents: Sequence[DocumentInput],
    context: VerificationContext,
    handlers: Sequence[SignatureHandler],
) -> VerificationReport:
    """Never raises: a handler that fails unexpectedly yields INDETERMINATE for its document."""
    reports: list[DocumentReport] = []
    if unwrapped is not None and unwrapped.layers:
        try:
            signatures = await verify_layers(unwrapped, context)
        except Exception as exc:
            log.error("verification.smime_failed", exc_info=True)
            signatures = (_crashed(SignatureFormat.SMIME_DETACHED, exc),)
        reports.append(
            DocumentReport(
                MESSAGE,
                hashlib.sha256(unwrapped.content).hexdigest(),
                "message/rfc822",
                signatures,
                tuple(layer.problem for layer in unwrapped.layers if layer.problem)
                + tuple(attesting_layers(unwrapped)[1]),
            )
        )
    for document in documents:
        reports += await _examine(document, documents, context, handlers)
    every = [s for d in reports for s in d.signatures]
    return VerificationReport(
        schema_version=SCHEMA_VERSION,
        validation_time=context.validation_time,
        generated_at=datetime.now(UTC),
        verdict=verdict(every),
        documents=tuple(reports),
    )
