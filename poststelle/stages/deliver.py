"""Deliver stage: hand the item to its department's inbox, once per (item, department)."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.model import Item, ItemState
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome
from poststelle.ports import InboxDelivery


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    department: str
    location: str


def trace_headers(item: Item) -> bytes:
    """Headers put in front of the original message, like a Received: line, never inside it."""
    lines = [
        f"X-Poststelle-Registry-Number: {item.registry_number}",
        f"X-Poststelle-Received-At: {item.received_at.isoformat()}",
        f"X-Poststelle-SHA256: {item.sha256}",
        f"X-Poststelle-Channel: {item.channel.value}",
    ]
    return "".join(f"{line}\r\n" for line in lines).encode("ascii")


def run(item: Item, services: Services) -> StageOutcome:
    department = item.department
    if department is None:
        raise RuntimeError(f"{item.registry_number} reached delivery without a department")
    done = services.store.delivery(item.id, department)
    if done is None:
        location = services.inbox.deliver(
            InboxDelivery(
                key=f"{item.registry_number}/{department}",
                department=department,
                content=trace_headers(item) + services.blobs.read(item.sha256),
            )
        )
        services.store.record_delivery(item.id, department, location)
    else:
        location = done.location
    record = DeliveryRecord(department, location)
    return StageOutcome(
        record, {"department": department, "location": location}, ItemState.DELIVERED
    )
