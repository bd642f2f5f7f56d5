"""Analyse stage: the message's structure and documents, each document stored as a blob."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.analysis.limits import MimeLimits
from poststelle.analysis.mime import analyse_message
from poststelle.model import Item, ItemState
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome
from poststelle.verification.unwrap import unwrap


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
    date: str
    message_id: str
    defects: tuple[str, ...]
    documents: tuple[DocumentRecord, ...]
    smime_layers: tuple[str, ...] = ()  # outermost first: signed-detached, encrypted, …
    undecryptable: bool = False  # encrypted for a key the authority does not hold


def run(item: Item, services: Services) -> StageOutcome:
    raw = services.blobs.read(item.sha256)
    limits = MimeLimits()
    outer = analyse_message(raw, limits)
    unwrapped = unwrap(raw, services.verifier.decryption_keys)
    # Header facts come from the message as sent; documents from inside its S/MIME layers.
    analysed = analyse_message(unwrapped.content, limits) if unwrapped.layers else outer
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
    headers = outer.analysis
    record = AnalysisRecord(
        parseable=headers.parseable and analysis.parseable,
        problem=headers.problem or analysis.problem,
        subject=headers.subject,
        from_address=headers.from_address,
        date=headers.date,
        message_id=headers.message_id,
        defects=headers.defects + (analysis.defects if analysis is not headers else ()),
        documents=tuple(documents),
        smime_layers=tuple(layer.kind.value for layer in unwrapped.layers),
        undecryptable=any(
            layer.problem for layer in unwrapped.layers if layer.kind.value == "encrypted"
        ),
    )
    summary = {
        "parseable": record.parseable,
        "documents": len(record.documents),
        **({"problem": record.problem} if record.problem else {}),
    }
    return StageOutcome(record, summary, ItemState.ANALYSED)
