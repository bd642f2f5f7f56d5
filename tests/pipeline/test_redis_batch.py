"""Enqueueing a batch in one round trip: the same entries in Redis, the same work done."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq import Message, Worker

from poststelle.pipeline.redis_batch import BatchingRedisBroker

REDIS_DB = 6
QUEUE = "stage_batch"

pytestmark = pytest.mark.redis


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def broker(client: redis.Redis) -> Iterator[BatchingRedisBroker]:
    broker = BatchingRedisBroker(  # type: ignore[no-untyped-call]
        url=f"redis://127.0.0.1:6379/{REDIS_DB}", namespace="batchtest"
    )
    yield broker
    broker.close()


def recording_actor(broker: BatchingRedisBroker) -> tuple[dramatiq.Actor[Any, Any], list[str]]:
    seen: list[str] = []
    lock = threading.Lock()

    def stage_batch(item_id: str) -> None:
        with lock:
            seen.append(item_id)

    return dramatiq.actor(queue_name=QUEUE, broker=broker)(stage_batch), seen


def snapshot(client: redis.Redis, enqueued: list[Message[Any]]) -> dict[bytes, Any]:
    """Every key with its content; each message's random Redis id replaced by its position."""
    ids = {m.options["redis_message_id"].encode(): b"m%d" % i for i, m in enumerate(enqueued)}

    def plain(value: bytes) -> bytes:
        for random_id, position in ids.items():
            value = value.replace(random_id, position)
        return value

    keys: dict[bytes, Any] = {}
    for key in client.keys("*"):
        kind = client.type(key)
        if kind == b"list":
            keys[key] = [plain(v) for v in client.lrange(key, 0, -1)]
        elif kind == b"hash":
            keys[key] = {plain(k): plain(v) for k, v in client.hgetall(key).items()}
        elif kind == b"zset":  # heartbeats: the member matters, the time does not
            keys[key] = sorted(client.zrange(key, 0, -1))
        else:
            keys[key] = (kind, client.dump(key))
    return keys


def test_a_batch_leaves_in_redis_what_enqueueing_one_by_one_leaves(
    client: redis.Redis, broker: BatchingRedisBroker
) -> None:
    actor, _ = recording_actor(broker)
    messages = [actor.message(f"item-{n}") for n in range(3)]

    one_by_one = [broker.enqueue(message) for message in messages]
    expected = snapshot(client, one_by_one)
    client.flushdb()
    batch = broker.enqueue_many(messages)

    assert expected  # the queue and the messages are there
    assert snapshot(client, batch) == expected


def test_a_worker_does_the_work_of_a_batch(broker: BatchingRedisBroker) -> None:
    actor, seen = recording_actor(broker)
    item_ids = [f"item-{n}" for n in range(25)]

    broker.enqueue_many([actor.message(item_id) for item_id in item_ids])
    worker = Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        broker.join(QUEUE, timeout=20_000)
    finally:
        worker.stop()

    assert sorted(seen) == sorted(item_ids)


def counting_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sent: list[int] = []
    original: Callable[..., Any] = redis.connection.Connection.send_packed_command

    def counting(self: redis.connection.Connection, command: Any, *args: Any, **kw: Any) -> Any:
        sent.append(1)
        return original(self, command, *args, **kw)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting)
    return sent


def test_a_batch_takes_one_round_trip_for_all_its_messages(
    broker: BatchingRedisBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor, _ = recording_actor(broker)
    broker.enqueue(actor.message("warm-up"))  # Dramatiq loads its script
    sent = counting_round_trips(monkeypatch)

    broker.enqueue_many([actor.message(f"item-{n}") for n in range(20)])

    assert len(sent) == 1


def test_a_redis_that_lost_the_script_still_takes_the_whole_batch(
    client: redis.Redis, broker: BatchingRedisBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor, _ = recording_actor(broker)
    broker.enqueue(actor.message("warm-up"))
    client.script_flush()  # as after a restart of Redis
    sent = counting_round_trips(monkeypatch)

    batch = broker.enqueue_many([actor.message(f"item-{n}") for n in range(5)])

    assert len(sent) == 3  # the batch, the script's load, the batch again
    queued = client.lrange(f"batchtest:{QUEUE}", 0, -1)
    assert [m.options["redis_message_id"].encode() for m in batch] == queued[1:]
