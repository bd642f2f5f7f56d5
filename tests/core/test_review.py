"""The clerk's actions: journaled with the clerk's name, refused where they do not apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from poststelle.model import Channel, Envelope, Item, ItemState
from poststelle.review import ActionRefused, ReviewDesk
from poststelle.store.backends import SqliteBackend
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore

Desk = tuple[ReviewDesk, SqlStore, list[tuple[str, str]], Item]


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    store = SqlStore(SqliteBackend(tmp_path / "db.sqlite3"))
    store.migrate()
    item = store.accept(
        channel=Channel.SMTP,
        envelope=Envelope("a@example.org", ("p@amt.example",)),
        blob=BlobStore(tmp_path / "b").put(b"x"),
    )
    for stage in ("stamp", "analyse", "verify", "decide", "confirm"):
        store.complete_stage(item.id, stage, {"v": 1}, state=None, summary={})
    store.complete_stage(item.id, "route", {}, state=ItemState.NEEDS_REVIEW, summary={})
    queued: list[tuple[str, str]] = []
    return (
        ReviewDesk(store, lambda s, i: queued.append((s, i)), {"bauamt", "hauptamt"}),
        store,
        queued,
        item,
    )


def test_assigning_routes_the_item_and_queues_its_delivery(desk: Desk) -> None:
    review, store, queued, item = desk
    review.assign(item.id, "bauamt", "clerk.mueller")
    after = store.item(item.id)
    assert after is not None
    assert (after.state, after.department) == (ItemState.ROUTED, "bauamt")
    assert queued == [("deliver", item.id)]
    entry = list(store.journal(item_id=item.id))[-1]
    assert entry.event == "clerk.assigned" and entry.data["clerk"] == "clerk.mueller"


def test_reassigning_a_delivered_item_allows_a_delivery_to_the_new_department(desk: Desk) -> None:
    review, store, _, item = desk
    review.assign(item.id, "bauamt", "clerk")
    store.complete_stage(item.id, "deliver", {}, state=ItemState.DELIVERED, summary={})
    review.assign(item.id, "hauptamt", "clerk")
    assert store.stage_result(item.id, "deliver") is None
    assert store.item(item.id).department == "hauptamt"  # type: ignore[union-attr]


def test_an_unknown_department_is_refused(desk: Desk) -> None:
    review, _, queued, item = desk
    with pytest.raises(ActionRefused, match="unknown department"):
        review.assign(item.id, "geheimdienst", "clerk")
    assert queued == []


def test_reverifying_keeps_the_old_report_and_runs_verification_again(desk: Desk) -> None:
    review, store, queued, item = desk
    review.reverify(item.id, "clerk")
    assert store.stage_result(item.id, "verify") is None
    assert store.stage_result(item.id, "stamp") is not None
    assert queued == [("verify", item.id)]
    with store.backend.read() as tx:
        kept = tx.execute("SELECT stage FROM superseded_results WHERE item_id = ?", (item.id,))
    assert sorted(r[0] for r in kept) == ["decide", "route", "verify"]


def test_rejecting_closes_the_item_and_cannot_happen_twice(desk: Desk) -> None:
    review, store, _, item = desk
    review.reject(item.id, "clerk", "Dateiformat nicht lesbar")
    assert store.item(item.id).state is ItemState.REJECTED  # type: ignore[union-attr]
    with pytest.raises(ActionRefused):
        review.mark_not_an_application(item.id, "clerk")
