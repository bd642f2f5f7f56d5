"""`poststelle verify FILE…`: the engine on files, offline, for a clerk without the daemon."""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path

from poststelle.analysis.limits import MimeLimits
from poststelle.analysis.mime import analyse_message
from poststelle.verification.formats import DocumentInput
from poststelle.verification.model import ItemVerdict, VerificationReport
from poststelle.verification.unwrap import Unwrapped, unwrap
from poststelle.verification.verifier import Verifier, message_date

EXIT_CODES = {
    ItemVerdict.PASSED: 0,
    ItemVerdict.FAILED: 1,
    ItemVerdict.INDETERMINATE: 2,
    ItemVerdict.UNSIGNED: 3,
}


def exit_code(report: VerificationReport) -> int:
    """0 every signature passed, 1 one failed, 2 one is indeterminate, 3 nothing was signed."""
    return EXIT_CODES[report.verdict]


def _message(
    raw: bytes, verifier: Verifier
) -> tuple[Unwrapped, list[DocumentInput], str, datetime | None]:
    limits = MimeLimits()
    unwrapped = unwrap(raw, verifier.decryption_keys)
    outer = analyse_message(raw, limits).analysis
    analysed = analyse_message(unwrapped.content, limits) if unwrapped.layers else None
    inner = analysed if analysed is not None else analyse_message(raw, limits)
    documents = [
        DocumentInput(d.original_name or d.safe_name, d.content_type, payload)
        for d, payload in zip(inner.analysis.documents, inner.payloads, strict=True)
    ]
    return unwrapped, documents, parseaddr(outer.from_address)[1], message_date(outer.date)


async def verify_files(
    paths: Sequence[Path], verifier: Verifier, *, at: datetime | None = None
) -> VerificationReport:
    """An .eml is verified as a message (S/MIME and its attachments); other files as documents,
    a detached signature finding its document among the other files given."""
    moment = at or datetime.now(UTC)
    unwrapped: Unwrapped | None = None
    sender = ""
    date: datetime | None = None
    documents: list[DocumentInput] = []
    for path in paths:
        data = path.read_bytes()
        if path.suffix.lower() == ".eml":
            unwrapped, attached, sender, date = _message(data, verifier)
            documents += attached
        else:
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            documents.append(DocumentInput(path.name, content_type, data))
    return await verifier.verify(
        unwrapped, documents, received_at=moment, sender=sender, message_date=date
    )
