"""The reconciler hands on what went idle, once per idle period: an item still waiting in a
long queue is not enqueued again at every sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from poststelle.model import Channel, Envelope
from poststelle.pipeline.reconciler import reconcile
from poststelle.store.backends import SqliteBackend
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PIPELINE = ("stamp", "analyse", "deliver")


def test_an_idle_item_is_handed_on_once_per_idle_period(tmp_path: Path) -> None:
    now = [T0]
    store = SqlStore(SqliteBackend(tmp_path / "db.sqlite3"), clock=lambda: now[0])
    store.migrate()
    item = store.accept(
        channel=Channel.SMTP,
        envelope=Envelope("a@example.org", ("bauamt@amt.example",)),
        blob=BlobStore(tmp_path / "blobs").put(b"x"),
    )
    store.complete_stage(item.id, "stamp", {}, state=None, summary={})
    queued: list[tuple[str, str]] = []

    def sweep(at: timedelta) -> int:
        now[0] = T0 + at
        return reconcile(
            store,
            PIPELINE,
            lambda s, i: queued.append((s, i)),
            idle_since=now[0] - timedelta(seconds=30),
        )

    assert sweep(timedelta(seconds=10)) == 0  # not idle yet
    assert sweep(timedelta(seconds=40)) == 1
    assert sweep(timedelta(seconds=45)) == 0  # just handed on: give the queue time
    assert sweep(timedelta(seconds=75)) == 1  # still nothing happened: again
    assert queued == [("analyse", item.id), ("analyse", item.id)]
