"""Scaled-out operation (Redis broker, separate workers) and recovery after a hard crash."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

import pytest
import redis

from tests.e2e.conftest import DOMAIN, Installation, Server, free_port, wait_for
from tests.e2e.test_walking_skeleton import message, send

REDIS_DB = 7


@pytest.fixture
def redis_installation(installation: Installation) -> Iterator[Installation]:
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    client.flushdb()
    installation.edit_config(
        r'^kind = "embedded"',
        f'kind = "redis"\nurl = "redis://127.0.0.1:6379/{REDIS_DB}"\n'
        "reconcile_interval_seconds = 1",
    )
    yield installation
    client.flushdb()


def deliveries(installation: Installation) -> int:
    with sqlite3.connect(installation.data / "poststelle.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0])


@pytest.mark.redis
def test_a_separate_worker_process_delivers_through_redis(
    redis_installation: Installation, start: Callable[..., Server]
) -> None:
    start(redis_installation).wait_listening()
    start(redis_installation, "worker")
    send(redis_installation, f"bauamt@{DOMAIN}", message(f"bauamt@{DOMAIN}"))
    inbox = redis_installation.inbox("bauamt")
    wait_for(lambda: deliveries(redis_installation) == 1, 30, "the delivery to be recorded")
    assert len(redis_installation.maildir_messages(inbox)) == 1


@pytest.mark.redis
def test_items_queued_while_no_worker_runs_are_delivered_once_a_worker_starts(
    redis_installation: Installation, start: Callable[..., Server]
) -> None:
    serve = start(redis_installation).wait_listening()
    for _ in range(3):
        send(redis_installation, f"bauamt@{DOMAIN}", message(f"bauamt@{DOMAIN}"))
    serve.kill()
    start(redis_installation).wait_listening()
    start(redis_installation, "worker")
    inbox = redis_installation.inbox("bauamt")
    wait_for(lambda: deliveries(redis_installation) == 3, 30, "3 deliveries to be recorded")
    assert len(redis_installation.maildir_messages(inbox)) == 3


def test_an_item_accepted_before_a_sigkill_is_delivered_exactly_once_after_restart(
    installation: Installation, start: Callable[..., Server]
) -> None:
    working_tsa = f"http://127.0.0.1:{installation.http_port}/tsa"
    installation.edit_config(
        r'^url = "http://127\.0\.0\.1:\d+/tsa"', f'url = "http://127.0.0.1:{free_port()}/tsa"'
    )
    serve = start(installation).wait_listening()
    number = send(installation, f"bauamt@{DOMAIN}", message(f"bauamt@{DOMAIN}"))
    serve.kill()
    inbox = installation.inbox("bauamt")
    assert installation.maildir_messages(inbox) == [], "nothing was delivered before the crash"

    installation.edit_config(r'^url = "http://127\.0\.0\.1:\d+/tsa"', f'url = "{working_tsa}"')
    restarted = start(installation).wait_listening()
    wait_for(lambda: len(installation.maildir_messages(inbox)) == 1, 30, "delivery after restart")
    assert number.encode() in installation.maildir_messages(inbox)[0].read_bytes()
    restarted.stop()
    start(installation).wait_listening()
    assert len(installation.maildir_messages(inbox)) == 1
    assert deliveries(installation) == 1
