"""What a department sees of its items, and its acknowledgement that it has one."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.model import Item, ItemState
from poststelle.store.sql import SqlStore

VISIBLE = (ItemState.DELIVERED, ItemState.ACKNOWLEDGED)


class NotYours(LookupError):
    """The item does not exist or is not this department's: both look the same from outside."""


@dataclass(frozen=True)
class DepartmentInboxes:
    store: SqlStore

    def items(self, department: str, limit: int = 200) -> list[Item]:
        return self.store.items(states=VISIBLE, department=department, limit=limit)

    def item(self, department: str, item_id: str) -> Item:
        item = self.store.item(item_id)
        if item is None or item.department != department or item.state not in VISIBLE:
            raise NotYours(item_id)
        return item

    def acknowledge(self, department: str, item_id: str, who: str) -> bool:
        """Record that `department` has the item; True the first time, False when it had
        acknowledged it already (a repeated acknowledgement changes nothing)."""
        item = self.item(department, item_id)
        return self.store.transition(
            item.id,
            (ItemState.DELIVERED,),
            ItemState.ACKNOWLEDGED,
            "department.acknowledged",
            {"department": department, "by": who, "sha256": item.sha256},
        )
