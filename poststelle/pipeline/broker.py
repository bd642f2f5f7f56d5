"""Dramatiq set-up: the broker the configuration names and one actor per stage."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from poststelle.config import BrokerSettings
from poststelle.pipeline import runner
from poststelle.pipeline.redis_batch import BatchingRedisBroker
from poststelle.pipeline.services import current
from poststelle.pipeline.stage import StageFunction

MAX_RETRIES = 8
FAILURE_ACTOR = "item_failed"


@dataclass(frozen=True)
class Pipeline:
    broker: dramatiq.Broker
    actors: Mapping[str, dramatiq.Actor[Any, Any]]

    def enqueue(self, stage: str, item_id: str) -> None:
        self.actors[stage].send(item_id)

    def enqueue_many(self, stage: str, item_ids: Sequence[str]) -> None:
        """With Redis in one round trip; with the embedded broker one by one."""
        messages = [self.actors[stage].message(item_id) for item_id in item_ids]
        if isinstance(self.broker, BatchingRedisBroker):
            self.broker.enqueue_many(messages)
            return
        for message in messages:
            self.broker.enqueue(message)

    @property
    def queues(self) -> list[str]:
        return [actor.queue_name for actor in self.actors.values()]


def worth_retrying(retries: int, exception: BaseException) -> bool:
    """Up to MAX_RETRIES, unless the error says no retry can help (a relay's 5xx)."""
    return retries < MAX_RETRIES and not getattr(exception, "permanent", False)


def last_error(message: Mapping[str, Any]) -> str:
    """The exception line of the last attempt's traceback, as Dramatiq kept it."""
    lines = str(message.get("options", {}).get("traceback", "")).strip().splitlines()
    return lines[-1] if lines else "unknown error"


def make_broker(settings: BrokerSettings) -> dramatiq.Broker:
    middleware = [
        AgeLimit(),
        TimeLimit(time_limit=int(runner.STAGE_TIME_LIMIT.total_seconds() * 1000)),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(min_backoff=500, max_backoff=120_000, retry_when=worth_retrying),
    ]
    if settings.kind == "redis":
        # A dead worker's messages come back after heartbeat silence and a maintenance pass;
        # Dramatiq's defaults make that minutes. A pass rides on one command in ten (idle
        # workers poll about ten times a second): ~1 s after the 5 s of silence. The
        # store-driven reconciler covers what no queue holds.
        return BatchingRedisBroker(  # type: ignore[no-untyped-call]
            url=settings.url,
            middleware=middleware,
            namespace="poststelle",
            heartbeat_timeout=5_000,
            maintenance_chance=100_000,
            # A Redis host that stops answering (rather than refusing) must not hold a 250 or a
            # worker for the kernel's connect timeout; the reconciler re-drives what failed.
            socket_connect_timeout=2.0,
            socket_timeout=10.0,
        )
    return StubBroker(middleware=middleware)


def declare_actors(
    broker: dramatiq.Broker, stages: Mapping[str, StageFunction], pipeline: tuple[str, ...]
) -> Pipeline:
    """One actor (and queue) per stage, so CPU-heavy stages can get their own workers."""
    actors: dict[str, dramatiq.Actor[Any, Any]] = {}

    def enqueue(stage: str, item_id: str) -> None:
        actors[stage].send(item_id)

    def stage_actor(name: str) -> Callable[[str], None]:
        def run(item_id: str) -> None:
            runner.run_stage(name, item_id, services=current(), stages=stages, enqueue=enqueue)

        run.__name__ = f"stage_{name}"
        return run

    for name in pipeline:
        actors[name] = dramatiq.actor(
            actor_name=f"stage_{name}",
            queue_name=f"stage_{name}",
            broker=broker,
            on_retry_exhausted=FAILURE_ACTOR,
        )(stage_actor(name))

    def item_failed(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
        stage = str(message["actor_name"]).removeprefix("stage_")
        (item_id,) = message["args"]
        attempts = int(retry_info["retries"]) + 1
        runner.mark_failed(
            current().store, item_id, stage, f"{attempts} attempt(s) failed: {last_error(message)}"
        )

    dramatiq.actor(actor_name=FAILURE_ACTOR, queue_name="failures", broker=broker)(item_failed)
    return Pipeline(broker, actors)
