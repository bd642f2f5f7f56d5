"""Verify stage: every signature the item carries, checked as of its receipt time."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from email.utils import parseaddr

from poststelle.model import Item, ItemState
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome, earlier_result
from poststelle.stages.analyse import AnalysisRecord
from poststelle.stages.channel import ChannelRecord
from poststelle.verification.engine import verdict
from poststelle.verification.formats import DocumentInput
from poststelle.verification.model import DocumentReport, SignatureReport, VerificationReport
from poststelle.verification.unwrap import unwrap
from poststelle.verification.verifier import message_date

DEMAIL_MESSAGE = "De-Mail-Nachricht (Versanddienst)"


def with_demail(
    report: VerificationReport, demail: SignatureReport, message_sha256: str
) -> VerificationReport:
    """The report with the De-Mail provider's integrity signature over the message added."""
    document = DocumentReport(DEMAIL_MESSAGE, message_sha256, "message/rfc822", (demail,))
    every = [*(s for d in report.documents for s in d.signatures), demail]
    return replace(report, documents=(*report.documents, document), verdict=verdict(every))


def run(item: Item, services: Services) -> StageOutcome:
    analysis = earlier_result(services, item, "analyse", AnalysisRecord)
    documents = (
        [
            DocumentInput(d.name or d.safe_name, d.content_type, services.blobs.read(d.sha256))
            for d in analysis.documents
        ]
        if analysis is not None
        else []
    )
    sender = parseaddr(analysis.from_address)[1] if analysis is not None else ""
    report = asyncio.run(
        services.verifier.verify(
            unwrap(services.blobs.read(item.sha256), services.verifier.decryption_keys),
            documents,
            received_at=item.received_at,
            sender=sender or item.envelope.sender,
            message_date=message_date(analysis.date if analysis is not None else ""),
        )
    )
    channel = earlier_result(services, item, "channel", ChannelRecord)
    if channel is not None and channel.demail is not None and channel.demail.report is not None:
        report = with_demail(report, channel.demail.report, item.sha256)
    signatures = [s for d in report.documents for s in d.signatures]
    summary = {
        "verdict": report.verdict.value,
        "signatures": len(signatures),
        "indications": sorted({f"{s.indication}/{s.sub_indication or '-'}" for s in signatures}),
    }
    return StageOutcome(report, summary, ItemState.VERIFIED)
