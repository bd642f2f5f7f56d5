"""An outbound message goes out once, even when two runs reach it at the same moment."""

from __future__ import annotations

import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from poststelle.model import Channel, Envelope, Item
from poststelle.outbound import CLAIM_STALE, SendingElsewhere, sending_once
from poststelle.pipeline.runner import run_stage
from poststelle.pipeline.services import Services
from poststelle.pipeline.stage import StageOutcome
from poststelle.processes import host_tag
from poststelle.store.backends import SqliteBackend
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore

KEY = "receipt/2026-000001"


@pytest.fixture
def clock() -> list[datetime]:
    return [datetime(2026, 11, 30, 9, 0, tzinfo=UTC)]


@pytest.fixture
def store(tmp_path: Path, clock: list[datetime]) -> SqlStore:
    store = SqlStore(SqliteBackend(tmp_path / "db.sqlite3"), clock=lambda: clock[0])
    store.migrate()
    return store


@pytest.fixture
def item(store: SqlStore, tmp_path: Path) -> Item:
    return store.accept(
        channel=Channel.SMTP,
        envelope=Envelope("a@example.org", ("bauamt@amt.example",)),
        blob=BlobStore(tmp_path / "blobs").put(b"x"),
    )


class Relay:
    """Counts what it sends; `hold` keeps a send waiting until released."""

    def __init__(self) -> None:
        self.sent = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def send(self) -> str:
        self.entered.set()
        assert self.release.wait(10)
        self.sent += 1
        return f"relay: queued as {self.sent}"


def send_once(store: SqlStore, item: Item, relay: Relay) -> str:
    with sending_once(store, KEY) as sent:
        if sent is not None:
            return sent
        location = relay.send()
        store.record_outbound(KEY, item.id, location)
        return location


def test_of_two_runs_at_once_one_sends_and_the_other_is_told_so(
    store: SqlStore, item: Item
) -> None:
    relay = Relay()
    relay.release.clear()
    first = threading.Thread(target=send_once, args=(store, item, relay))
    first.start()
    assert relay.entered.wait(10)
    with pytest.raises(SendingElsewhere):
        send_once(store, item, relay)
    relay.release.set()
    first.join()
    assert send_once(store, item, relay) == "relay: queued as 1"
    assert relay.sent == 1


def test_a_failed_send_gives_up_its_claim_so_the_retry_sends_at_once(
    store: SqlStore, item: Item
) -> None:
    class Refusing(Relay):
        def send(self) -> str:
            raise ConnectionError("451 try again later")

    with pytest.raises(ConnectionError):
        send_once(store, item, Refusing())
    relay = Relay()
    assert send_once(store, item, relay) == "relay: queued as 1"


def test_the_claim_of_a_process_that_is_gone_is_taken_over_at_once(
    store: SqlStore, item: Item
) -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    assert store.claim_outbound(KEY, f"{host_tag()}:{child.pid}", CLAIM_STALE)
    relay = Relay()
    assert send_once(store, item, relay) == "relay: queued as 1"


def test_a_claim_of_a_process_elsewhere_is_taken_over_once_it_is_stale(
    store: SqlStore, item: Item, clock: list[datetime]
) -> None:
    assert store.claim_outbound(KEY, "0badc0de:1", CLAIM_STALE)
    relay = Relay()
    with pytest.raises(SendingElsewhere):
        send_once(store, item, relay)
    clock[0] += CLAIM_STALE + timedelta(seconds=1)
    assert send_once(store, item, relay) == "relay: queued as 1"


def test_a_stage_whose_message_is_being_sent_by_another_run_ends_quietly(
    store: SqlStore, item: Item
) -> None:
    def confirm(item: Item, services: Services) -> StageOutcome:
        raise SendingElsewhere(KEY)

    queued: list[str] = []
    config = SimpleNamespace(pipeline=("confirm", "route"))
    run_stage(
        "confirm",
        item.id,
        services=cast(Services, SimpleNamespace(store=store, config=config)),
        stages={"confirm": confirm},
        enqueue=lambda s, i: queued.append(s),
    )
    assert queued == []
    assert store.stage_result(item.id, "confirm") is None
