"""Decide stage: whether the item replaces the written form (placeholder until policy lands)."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.model import Item, ItemState
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome


@dataclass(frozen=True, slots=True)
class NotDecided:
    status: str
    reason: str


def run(item: Item, services: Services) -> StageOutcome:
    record = NotDecided(
        "not_decided", "the Schriftformersatz decision is not part of this build yet"
    )
    return StageOutcome(record, {"status": record.status}, ItemState.DECIDED)
