"""Verify again what could not be verified yet (TRY_LATER: a responder was unreachable)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from poststelle.model import Item, ItemState
from poststelle.review import REVERIFIED_STAGES
from poststelle.serialize import from_jsonable
from poststelle.store.sql import SqlStore
from poststelle.verification.model import SubIndication, VerificationReport

log = structlog.get_logger("poststelle.retry")

Enqueue = Callable[[str, str], None]  # (stage name, item id)
GIVE_UP_AFTER = timedelta(hours=24)  # then the clerk decides, with the last report


def _waiting_for_a_responder(store: SqlStore, item: Item) -> datetime | None:
    """When the item's verification said TRY_LATER, if it did."""
    result = store.stage_result(item.id, "verify")
    if result is None:
        return None
    report = from_jsonable(VerificationReport, result.data)
    signatures = [s for d in report.documents for s in d.signatures]
    if any(s.sub_indication is SubIndication.TRY_LATER for s in signatures):
        return result.completed_at
    return None


def reverify_due(
    store: SqlStore, enqueue: Enqueue, *, retry_after: timedelta, now: datetime
) -> int:
    """Send items back to the verify stage whose TRY_LATER is older than `retry_after`,
    for up to a day after their receipt; returns how many."""
    count = 0
    for item in store.items(states=(ItemState.NEEDS_REVIEW,)):
        verified_at = _waiting_for_a_responder(store, item)
        if verified_at is None or now - verified_at < retry_after:
            continue
        if now - item.received_at > GIVE_UP_AFTER:
            continue
        store.reset_stages(
            item.id,
            list(REVERIFIED_STAGES),
            ItemState.ANALYSED,
            "verify.retry",
            {"previous_verification": verified_at.isoformat()},
        )
        enqueue("verify", item.id)
        log.info("verify.retry", registry_number=item.registry_number)
        count += 1
    return count
