"""The registry clerk's actions on an item, each journaled with the clerk's name."""

from __future__ import annotations

from collections.abc import Callable

from poststelle.model import Item, ItemState
from poststelle.store.sql import SqlStore

Enqueue = Callable[[str, str], None]  # (stage name, item id)

REVERIFIED_STAGES = ("verify", "decide", "route")


class ActionRefused(Exception):
    """The action does not apply to the item in its present state."""


class ReviewDesk:
    def __init__(self, store: SqlStore, enqueue: Enqueue, departments: set[str]) -> None:
        self.store = store
        self.enqueue = enqueue
        self.departments = departments

    def _item(self, item_id: str) -> Item:
        item = self.store.item(item_id)
        if item is None:
            raise ActionRefused("no such item")
        return item

    def assign(self, item_id: str, department: str, clerk: str) -> None:
        """Send the item to `department` (first assignment or reassignment)."""
        item = self._item(item_id)
        if department not in self.departments:
            raise ActionRefused(f"unknown department {department!r}")
        if item.state in (ItemState.REJECTED, ItemState.ACKNOWLEDGED):
            raise ActionRefused(f"the item is {item.state.value}")
        self.store.reset_stages(
            item_id,
            ["deliver"],
            ItemState.ROUTED,
            "clerk.assigned",
            {"clerk": clerk, "department": department, "previous": item.department},
            department=department,
        )
        self.enqueue("deliver", item_id)

    def reverify(self, item_id: str, clerk: str) -> None:
        """Verify again (e.g. after TRY_LATER); the earlier report is kept, superseded."""
        item = self._item(item_id)
        if item.state in (ItemState.RECEIVED, ItemState.STAMPED, ItemState.REJECTED):
            raise ActionRefused(f"the item is {item.state.value}")
        self.store.reset_stages(
            item_id, list(REVERIFIED_STAGES), ItemState.ANALYSED, "clerk.reverify", {"clerk": clerk}
        )
        self.enqueue("verify", item_id)

    def reject(self, item_id: str, clerk: str, reason: str, requirements: str = "") -> None:
        """Reject the item; the notice to the sender (the reason, and the technical
        requirements as the clerk edited them, "" for the procedure's own) is sent by the
        follow-ups."""
        self._close(item_id, clerk, "clerk.rejected", reason, {"requirements": requirements})

    def mark_not_an_application(self, item_id: str, clerk: str) -> None:
        self._close(item_id, clerk, "clerk.not_an_application", "kein Antrag (Spam)")

    def _close(
        self, item_id: str, clerk: str, event: str, reason: str, extra: dict[str, str] | None = None
    ) -> None:
        item = self._item(item_id)
        if item.state.is_terminal:
            raise ActionRefused(f"the item is {item.state.value} already")
        self.store.change_state(
            item_id, ItemState.REJECTED, event, {"clerk": clerk, "reason": reason, **(extra or {})}
        )
