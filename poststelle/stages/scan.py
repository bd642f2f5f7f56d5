"""Scan stage: every document of the item checked for malware by the configured scanner."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from poststelle.model import Item
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome, earlier_result
from poststelle.ports import ScanResult
from poststelle.stages.analyse import AnalysisRecord

NO_SCANNER = "no scanner configured"
NOT_ANALYSED = "the item has no analysis"


class ScanStatus(enum.StrEnum):
    CLEAN = "clean"
    INFECTED = "infected"


@dataclass(frozen=True, slots=True)
class DocumentScan:
    sha256: str
    name: str
    status: ScanStatus
    signature: str  # the malware's name when infected, else ""


@dataclass(frozen=True, slots=True)
class ScanRecord:
    scanned: bool
    not_scanned_reason: str  # why nothing was scanned; "" when scanned
    scanners: tuple[str, ...]  # scanner and signature versions used, e.g. "ClamAV 1.4.6/…"
    documents: tuple[DocumentScan, ...]

    @property
    def infected(self) -> tuple[DocumentScan, ...]:
        return tuple(d for d in self.documents if d.status is ScanStatus.INFECTED)


def _not_scanned(reason: str) -> StageOutcome:
    record = ScanRecord(False, reason, (), ())
    return StageOutcome(record, {"scanned": False, "result": f"not scanned ({reason})"})


def run(item: Item, services: Services) -> StageOutcome:
    analysis = earlier_result(services, item, "analyse", AnalysisRecord)
    scanner = services.scanner
    if scanner is None:
        return _not_scanned(NO_SCANNER)
    if analysis is None:
        return _not_scanned(NOT_ANALYSED)
    results: dict[str, ScanResult] = {}
    documents = []
    for doc in analysis.documents:
        if doc.sha256 not in results:
            # A scanner that cannot be reached or refuses raises: the stage fails and is retried.
            results[doc.sha256] = scanner.scan_path(services.blobs.path(doc.sha256))
        result = results[doc.sha256]
        documents.append(
            DocumentScan(
                sha256=doc.sha256,
                name=doc.name or doc.safe_name,
                status=ScanStatus.CLEAN if result.clean else ScanStatus.INFECTED,
                signature=result.signature,
            )
        )
    record = ScanRecord(
        scanned=True,
        not_scanned_reason="",
        scanners=tuple(sorted({r.scanner for r in results.values()})),
        documents=tuple(documents),
    )
    summary = {
        "scanned": True,
        "documents": len(record.documents),
        "infected": [f"{d.name}: {d.signature}" for d in record.infected],
        "scanners": list(record.scanners),
    }
    return StageOutcome(record, summary)
