"""Re-drive every item the pipeline still owes a step, from the store, never from a queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog

from poststelle.model import Item
from poststelle.pipeline.runner import Enqueue, pending_stage
from poststelle.processes import holder_is_gone
from poststelle.store.sql import SqlStore

log = structlog.get_logger("poststelle.reconciler")


def reconcile(
    store: SqlStore,
    pipeline: Sequence[str],
    enqueue: Enqueue,
    *,
    idle_since: datetime | None = None,
) -> int:
    """Enqueue the pending stage of each unfinished item a gone process held, at once, and of
    every other unfinished item (only of those untouched since `idle_since`, if given); return
    how many were re-driven. Stages are idempotent, so an item that is in a queue already and
    gets enqueued again costs a lookup, not a second effect."""
    orphaned = [
        item
        for holder in store.holders()
        if holder_is_gone(holder)
        for item in store.release_holder(holder)
    ]
    idle = store.items_awaiting_pipeline(idle_since=idle_since)
    seen = {item.id for item in orphaned}
    return sum(
        _redrive(store, pipeline, enqueue, item)
        for item in [*orphaned, *(i for i in idle if i.id not in seen)]
    )


def _redrive(store: SqlStore, pipeline: Sequence[str], enqueue: Enqueue, item: Item) -> bool:
    stage = pending_stage(store, pipeline, item)
    if stage is None:
        return False
    enqueue(stage, item.id)
    store.mark_redriven(item.id)
    log.info("reconciler.redriven", registry_number=item.registry_number, stage=stage)
    return True


def idle_cutoff(now: datetime, stale_after_seconds: float) -> datetime:
    return now - timedelta(seconds=stale_after_seconds)
