"""Analyse stage: the message's structure and documents, each document stored as a blob."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.analysis.limits import MimeLimits
from poststelle.analysis.mime import analyse_message
from poststelle.model import Item, ItemState
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    index: int
    role: str
    name: str  # the sender's name for it, kept as data
    safe_name: str
    content_type: str
    size: int
    sha256: str  # also its blob's name
    part_path: str


@dataclass(frozen=True, slots=True)
class AnalysisRecord:
    parseable: bool
    problem: str
    subject: str
    from_address: str
    message_id: str
    defects: tuple[str, ...]
    documents: tuple[DocumentRecord, ...]


def run(item: Item, services: Services) -> StageOutcome:
    analysed = analyse_message(services.blobs.read(item.sha256), MimeLimits())
    analysis = analysed.analysis
    documents = []
    for doc, payload in zip(analysis.documents, analysed.payloads, strict=True):
        services.blobs.put(payload)
        documents.append(
            DocumentRecord(
                index=doc.index,
                role=doc.role,
                name=doc.original_name,
                safe_name=doc.safe_name,
                content_type=doc.content_type,
                size=doc.size,
                sha256=doc.sha256,
                part_path=doc.part_path,
            )
        )
    record = AnalysisRecord(
        parseable=analysis.parseable,
        problem=analysis.problem,
        subject=analysis.subject,
        from_address=analysis.from_address,
        message_id=analysis.message_id,
        defects=analysis.defects,
        documents=tuple(documents),
    )
    summary = {
        "parseable": record.parseable,
        "documents": len(record.documents),
        **({"problem": record.problem} if record.problem else {}),
    }
    return StageOutcome(record, summary, ItemState.ANALYSED)
