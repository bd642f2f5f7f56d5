"""The store: durable acceptance, gap-free registry numbers, idempotent stage results."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from poststelle.journal import verify_chain
from poststelle.model import Channel, Envelope, ItemState
from poststelle.store.backends import SqliteBackend
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore

ENVELOPE = Envelope(sender="a@example.org", recipients=("poststelle@amt.example",))


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    s = SqlStore(SqliteBackend(tmp_path / "db.sqlite3"))
    s.migrate()
    return s


def test_registry_numbers_count_up_per_year_without_gaps(store: SqlStore, blobs: BlobStore) -> None:
    numbers = [
        store.accept(
            channel=Channel.SMTP, envelope=ENVELOPE, blob=blobs.put(b"x%d" % i)
        ).registry_number
        for i in range(3)
    ]
    year = datetime.now(UTC).year
    assert numbers == [f"{year}-000001", f"{year}-000002", f"{year}-000003"]


def test_registry_numbers_restart_with_a_new_year(tmp_path: Path, blobs: BlobStore) -> None:
    moments = iter(
        [datetime(2026, 12, 31, 23, 59, tzinfo=UTC), datetime(2027, 1, 1, 0, 1, tzinfo=UTC)]
    )
    store = SqlStore(SqliteBackend(tmp_path / "y.sqlite3"), clock=lambda: next(moments))
    store.migrate()
    first = store.accept(channel=Channel.SMTP, envelope=ENVELOPE, blob=blobs.put(b"a"))
    second = store.accept(channel=Channel.SMTP, envelope=ENVELOPE, blob=blobs.put(b"b"))
    assert (first.registry_number, second.registry_number) == ("2026-000001", "2027-000001")


def test_concurrent_acceptance_gives_distinct_gap_free_numbers(
    store: SqlStore, blobs: BlobStore
) -> None:
    blob = blobs.put(b"same")
    numbers: list[str] = []

    def accept() -> None:
        for _ in range(10):
            item = store.accept(channel=Channel.SMTP, envelope=ENVELOPE, blob=blob)
            numbers.append(item.registry_number)

    threads = [threading.Thread(target=accept) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(int(n.split("-")[1]) for n in numbers) == list(range(1, 41))


def test_accepted_item_is_readable_with_its_envelope(store: SqlStore, blobs: BlobStore) -> None:
    item = store.accept(channel=Channel.SMTP, envelope=ENVELOPE, blob=blobs.put(b"hello"))
    again = store.item_by_registry_number(item.registry_number)
    assert again == item
    assert again.envelope.recipients == ("poststelle@amt.example",)
    assert again.state is ItemState.RECEIVED


def test_a_stage_result_is_stored_once(store: SqlStore, blobs: BlobStore) -> None:
    item = store.accept(channel=Channel.SMTP, envelope=ENVELOPE, blob=blobs.put(b"m"))
    first = store.complete_stage(
        item.id, "stamp", {"n": 1}, state=ItemState.STAMPED, summary={"n": 1}
    )
    second = store.complete_stage(
        item.id, "stamp", {"n": 2}, state=ItemState.STAMPED, summary={"n": 2}
    )
    assert (first, second) == (True, False)
    stored = store.stage_result(item.id, "stamp")
    assert stored is not None and stored.data == {"n": 1}
    assert [e.event for e in store.journal(item_id=item.id)] == ["item.received", "stage.stamp"]


def test_every_change_is_journaled_in_a_verifiable_chain(store: SqlStore, blobs: BlobStore) -> None:
    item = store.accept(channel=Channel.SMTP, envelope=ENVELOPE, blob=blobs.put(b"m"))
    store.complete_stage(item.id, "route", {}, state=ItemState.ROUTED, summary={}, department="a")
    store.record_delivery(item.id, "a", "/inbox/a/new/x")
    store.record_outbound("receipt/x", item.id, "/outbox/new/y")
    verdict = verify_chain(store.journal(), expected_head=store.journal_head())
    assert verdict.intact and verdict.entries == 4


def test_a_delivery_is_recorded_once_per_item_and_department(
    store: SqlStore, blobs: BlobStore
) -> None:
    item = store.accept(channel=Channel.SMTP, envelope=ENVELOPE, blob=blobs.put(b"m"))
    assert store.record_delivery(item.id, "bauamt", "loc1") is True
    assert store.record_delivery(item.id, "bauamt", "loc2") is False
    delivery = store.delivery(item.id, "bauamt")
    assert delivery is not None and delivery.location == "loc1"


def test_items_awaiting_the_pipeline_exclude_terminal_and_waiting_ones(
    store: SqlStore, blobs: BlobStore
) -> None:
    items = [
        store.accept(channel=Channel.SMTP, envelope=ENVELOPE, blob=blobs.put(b"%d" % i))
        for i in range(3)
    ]
    store.change_state(items[0].id, ItemState.DELIVERED, "test", {})
    store.change_state(items[1].id, ItemState.NEEDS_REVIEW, "test", {})
    assert [i.id for i in store.items_awaiting_pipeline()] == [items[2].id]


def test_migrating_twice_changes_nothing(store: SqlStore) -> None:
    assert store.migrate() == store.migrate()
