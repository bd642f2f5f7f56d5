"""An item records the process that last completed one of its stages; when that process is
gone before handing the item on, the reconciler hands it on at once, not after the idle wait."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from poststelle.model import Channel, Envelope, Item
from poststelle.pipeline.reconciler import reconcile
from poststelle.processes import host_tag, this_process
from poststelle.store.backends import SqliteBackend
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PIPELINE = ("stamp", "analyse", "deliver")


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    store = SqlStore(SqliteBackend(tmp_path / "db.sqlite3"), clock=lambda: T0)
    store.migrate()
    return store


def accepted(store: SqlStore, tmp_path: Path) -> Item:
    return store.accept(
        channel=Channel.SMTP,
        envelope=Envelope("a@example.org", ("bauamt@amt.example",)),
        blob=BlobStore(tmp_path / "blobs").put(b"x"),
    )


def gone_process() -> str:
    """A process of this host that has exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return f"{host_tag()}:{child.pid}"


def sweep(store: SqlStore, queued: list[tuple[str, str]]) -> int:
    """A sweep for which nothing is idle yet: only gone holders' items count."""
    return reconcile(
        store, PIPELINE, lambda s, i: queued.append((s, i)), idle_since=T0 - timedelta(hours=1)
    )


def test_an_item_whose_holder_died_before_handing_it_on_is_handed_on_at_once_and_once(
    store: SqlStore, tmp_path: Path
) -> None:
    """Killed after storing the stage's result and before enqueueing the next stage: no queue
    holds the item, and it is not idle long enough for the idle sweep."""
    item = accepted(store, tmp_path)
    store.complete_stage(item.id, "stamp", {}, state=None, summary={}, holder=gone_process())
    queued: list[tuple[str, str]] = []
    assert sweep(store, queued) == 1
    assert sweep(store, queued) == 0
    assert queued == [("analyse", item.id)]


def test_an_item_a_running_process_completed_a_stage_of_is_left_to_it(
    store: SqlStore, tmp_path: Path
) -> None:
    item = accepted(store, tmp_path)
    store.complete_stage(item.id, "stamp", {}, state=None, summary={}, holder=this_process())
    queued: list[tuple[str, str]] = []
    assert sweep(store, queued) == 0
    assert queued == []


def test_a_process_of_another_host_is_never_taken_for_gone(store: SqlStore, tmp_path: Path) -> None:
    """Its liveness cannot be seen from here: its items wait for the idle sweep."""
    item = accepted(store, tmp_path)
    elsewhere = f"{'0' * 8}:{gone_process().split(':')[1]}"
    store.complete_stage(item.id, "stamp", {}, state=None, summary={}, holder=elsewhere)
    queued: list[tuple[str, str]] = []
    assert sweep(store, queued) == 0
    assert store.holders() == {elsewhere}
