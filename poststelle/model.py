"""The mailroom's vocabulary: items, their states and the typed records stages produce."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Channel(enum.StrEnum):
    SMTP = "smtp"
    UPLOAD = "upload"


class ItemState(enum.StrEnum):
    RECEIVED = "received"
    STAMPED = "stamped"
    ANALYSED = "analysed"
    VERIFIED = "verified"
    DECIDED = "decided"
    ROUTED = "routed"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    NEEDS_REVIEW = "needs_review"
    REJECTED = "rejected"
    ATTACHED = "attached"  # a De-Mail provider's confirmation, filed with the item it concerns
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def awaits_pipeline(self) -> bool:
        """True while the pipeline, not a person, owes this item its next step."""
        return self not in _TERMINAL and self not in _WAITING_FOR_PERSON


_TERMINAL = frozenset(
    {ItemState.DELIVERED, ItemState.ACKNOWLEDGED, ItemState.REJECTED, ItemState.ATTACHED}
)
_WAITING_FOR_PERSON = frozenset({ItemState.NEEDS_REVIEW, ItemState.FAILED})


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the channel told us besides the bytes: who sent it to whom, from where."""

    sender: str
    recipients: tuple[str, ...]
    peer: str = ""
    helo: str = ""
    tls: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Item:
    """One accepted submission as the store knows it."""

    id: str
    registry_number: str
    channel: Channel
    received_at: datetime
    sha256: str
    size: int
    envelope: Envelope
    state: ItemState
    department: str | None = None


@dataclass(frozen=True, slots=True)
class StageResult:
    """A stage's stored outcome: the typed record as JSON-ready data plus when it was made."""

    item_id: str
    stage: str
    completed_at: datetime
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    seq: int
    at: datetime
    item_id: str | None
    event: str
    data: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One item handed to one department; unique per (item, department)."""

    item_id: str
    department: str
    delivered_at: datetime
    location: str
