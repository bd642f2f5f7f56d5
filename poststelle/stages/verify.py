"""Verify stage: check every signature the item carries (placeholder until the engine lands)."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.model import Item, ItemState
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome


@dataclass(frozen=True, slots=True)
class NotVerified:
    status: str
    reason: str


def run(item: Item, services: Services) -> StageOutcome:
    record = NotVerified("not_verified", "signature verification is not part of this build yet")
    return StageOutcome(record, {"status": record.status}, ItemState.VERIFIED)
