"""Stamp stage: obtain an RFC 3161 time-stamp token over the item's SHA-256."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.model import Item, ItemState
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome


@dataclass(frozen=True, slots=True)
class StampRecord:
    token_der: bytes
    gen_time: str
    serial_number: str
    policy_oid: str
    tsa: str
    imprint_sha256: str


def run(item: Item, services: Services) -> StageOutcome:
    token = services.timestamper.timestamp(bytes.fromhex(item.sha256))
    record = StampRecord(
        token_der=token.token_der,
        gen_time=token.gen_time_iso,
        serial_number=str(token.serial_number),
        policy_oid=token.policy_oid,
        tsa=token.tsa,
        imprint_sha256=item.sha256,
    )
    return StageOutcome(
        result=record,
        summary={"gen_time": record.gen_time, "tsa": record.tsa, "serial": record.serial_number},
        state=ItemState.STAMPED,
    )
