"""An item whose verification said TRY_LATER goes back to the verify stage by itself, after
the configured wait, for a day; other undetermined items wait for the clerk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from poststelle.model import Channel, Envelope, Item, ItemState
from poststelle.pipeline.retry import reverify_due
from poststelle.store.backends import SqliteBackend
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore
from poststelle.verification.model import (
    DocumentReport,
    Indication,
    ItemVerdict,
    SignatureFormat,
    SignatureReport,
    SubIndication,
    VerificationReport,
)

RECEIVED = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = RECEIVED

    def __call__(self) -> datetime:
        return self.now


def _report(sub: SubIndication) -> VerificationReport:
    signature = SignatureReport(
        SignatureFormat.CADES_DETACHED, Indication.INDETERMINATE, sub, checks=()
    )
    return VerificationReport(
        "1",
        RECEIVED,
        RECEIVED,
        ItemVerdict.INDETERMINATE,
        (DocumentReport("antrag.pdf.p7s", "0" * 64, "application/pkcs7-signature", (signature,)),),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> SqlStore:
    opened = SqlStore(SqliteBackend(tmp_path / "db.sqlite3"), clock=clock)
    opened.migrate()
    return opened


def held(store: SqlStore, tmp_path: Path, sub: SubIndication) -> Item:
    item = store.accept(
        channel=Channel.SMTP,
        envelope=Envelope("a@example.org", ("bauamt@amt.example",)),
        blob=BlobStore(tmp_path / "blobs").put(sub.value.encode()),
    )
    store.complete_stage(item.id, "verify", _report(sub), state=None, summary={})
    store.complete_stage(item.id, "route", {}, state=ItemState.NEEDS_REVIEW, summary={})
    return item


def test_try_later_is_verified_again_after_the_wait(
    store: SqlStore, clock: Clock, tmp_path: Path
) -> None:
    item = held(store, tmp_path, SubIndication.TRY_LATER)
    queued: list[tuple[str, str]] = []

    def due(minutes: int) -> int:
        clock.now = RECEIVED + timedelta(minutes=minutes)
        return reverify_due(
            store,
            lambda s, i: queued.append((s, i)),
            retry_after=timedelta(minutes=15),
            now=clock.now,
        )

    assert due(10) == 0
    assert due(16) == 1
    assert queued == [("verify", item.id)]
    after = store.item(item.id)
    assert after is not None and after.state is ItemState.ANALYSED
    assert store.stage_result(item.id, "verify") is None
    assert [e.event for e in store.journal(item_id=item.id)][-1] == "verify.retry"
    assert due(40) == 0  # not held any more: nothing to do


def test_other_undetermined_results_wait_for_the_clerk(
    store: SqlStore, clock: Clock, tmp_path: Path
) -> None:
    held(store, tmp_path, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    clock.now = RECEIVED + timedelta(hours=1)
    assert (
        reverify_due(store, lambda s, i: None, retry_after=timedelta(minutes=15), now=clock.now)
        == 0
    )


def test_after_a_day_the_clerk_decides(store: SqlStore, clock: Clock, tmp_path: Path) -> None:
    held(store, tmp_path, SubIndication.TRY_LATER)
    clock.now = RECEIVED + timedelta(hours=25)
    assert (
        reverify_due(store, lambda s, i: None, retry_after=timedelta(minutes=15), now=clock.now)
        == 0
    )
