"""What a stage is: a named function from an item to a typed outcome."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from poststelle.model import Item, ItemState
from poststelle.pipeline.services import Services
from poststelle.serialize import from_jsonable
from poststelle.store.sql import SqlStore

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StageOutcome:
    """A stage's result record, the item's state after it, and what the journal should say."""

    result: Any
    summary: Mapping[str, Any]
    state: ItemState | None = None
    department: str | None = None


StageFunction = Callable[[Item, Services], StageOutcome]


def stored_record(store: SqlStore, item_id: str, stage: str, record: type[T]) -> T | None:
    """The typed record `stage` stored for an item, if that stage ran."""
    stored = store.stage_result(item_id, stage)
    return None if stored is None else from_jsonable(record, stored.data)


def earlier_result(services: Services, item: Item, stage: str, record: type[T]) -> T | None:
    """The typed record an earlier stage stored for this item, if that stage ran."""
    return stored_record(services.store, item.id, stage, record)
