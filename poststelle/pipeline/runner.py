"""Run one stage for one item, idempotently, and hand the item on to the next stage."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

import structlog

from poststelle.model import Item, ItemState
from poststelle.outbound import SendingElsewhere
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageFunction
from poststelle.processes import this_process
from poststelle.store.sql import SqlStore

log = structlog.get_logger("poststelle.pipeline")

Enqueue = Callable[[str, str], None]  # (stage name, item id)
STAGE_TIME_LIMIT = timedelta(minutes=10)  # a stage still running then is stopped


def next_stage(pipeline: Sequence[str], stage: str) -> str | None:
    index = pipeline.index(stage)
    return pipeline[index + 1] if index + 1 < len(pipeline) else None


def pending_stage(store: SqlStore, pipeline: Sequence[str], item: Item) -> str | None:
    """The first stage of the pipeline that has no result yet for this item."""
    done = {r.stage for r in store.stage_results(item.id)}
    return next((s for s in pipeline if s not in done), None)


def run_stage(
    stage: str,
    item_id: str,
    *,
    services: Services,
    stages: Mapping[str, StageFunction],
    enqueue: Enqueue,
) -> None:
    store = services.store
    item = store.item(item_id)
    if item is None:
        log.error("stage.unknown_item", stage=stage, item_id=item_id)
        return
    bound = log.bind(registry_number=item.registry_number, stage=stage)
    if not item.state.awaits_pipeline:
        bound.info("stage.skipped", state=item.state.value)
        return
    if store.stage_result(item_id, stage) is None:
        try:
            outcome = stages[stage](item, services)
        except SendingElsewhere:
            # A duplicate of this run is sending the stage's message; it completes the stage
            # (or, if it dies, the reconciler re-drives the item once its claim is stale).
            bound.info("stage.sending_elsewhere")
            return
        if store.complete_stage(
            item_id,
            stage,
            outcome.result,
            state=outcome.state,
            summary=outcome.summary,
            department=outcome.department,
            holder=this_process(),
        ):
            bound.info("stage.completed", **outcome.summary)
        else:
            bound.info("stage.already_completed_concurrently")
    after = store.item(item_id)
    following = next_stage(services.config.pipeline, stage)
    if after is not None and after.state.awaits_pipeline and following is not None:
        enqueue(following, item_id)


def mark_failed(store: SqlStore, item_id: str, stage: str, reason: str) -> None:
    """Retries are exhausted: the item waits for the clerk, with the reason."""
    item = store.item(item_id)
    if item is None or item.state.is_terminal:
        return
    store.change_state(item_id, ItemState.FAILED, "item.failed", {"stage": stage, "reason": reason})
    log.error("item.failed", registry_number=item.registry_number, stage=stage, reason=reason)
