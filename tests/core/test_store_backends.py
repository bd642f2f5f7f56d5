"""The same store behaviour on both backends: SQLite (embedded) and PostgreSQL (scaled out)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from poststelle.journal import verify_chain
from poststelle.model import Channel, Envelope, ItemState
from poststelle.store.backends import PostgresBackend, SqliteBackend
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
ENVELOPE = Envelope(sender="a@example.org", recipients=("p@amt.example",))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        s = SqlStore(SqliteBackend(tmp_path / "db.sqlite3"))
        s.migrate()
        yield s
        s.close()
        return
    name = f"poststelle_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    s = SqlStore(PostgresBackend(f"postgresql://postgres@127.0.0.1:5432/{name}"))
    s.migrate()
    yield s
    s.close()
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_parallel_writers_share_one_gap_free_counter_and_one_chain(
    store: SqlStore, tmp_path: Path
) -> None:
    blob = BlobStore(tmp_path / "blobs").put(b"x")
    numbers: list[str] = []

    def work() -> None:
        for _ in range(15):
            item = store.accept(channel=Channel.SMTP, envelope=ENVELOPE, blob=blob)
            store.complete_stage(item.id, "stamp", {}, state=ItemState.STAMPED, summary={})
            numbers.append(item.registry_number)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(int(n.split("-")[1]) for n in numbers) == list(range(1, 61))
    verdict = verify_chain(store.journal(), expected_head=store.journal_head())
    assert verdict.intact
    assert verdict.entries == 120


def test_a_stage_completes_once_on_every_backend(store: SqlStore, tmp_path: Path) -> None:
    blob = BlobStore(tmp_path / "blobs").put(b"x")
    item = store.accept(channel=Channel.SMTP, envelope=ENVELOPE, blob=blob)
    outcomes = [
        store.complete_stage(item.id, "route", {"n": n}, state=None, summary={}) for n in (1, 2)
    ]
    assert outcomes == [True, False]
    assert store.items_awaiting_pipeline()[0].id == item.id


def test_a_batch_larger_than_one_statement_takes_consecutive_numbers_and_chains_its_entries(
    store: SqlStore, tmp_path: Path
) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    before = store.accept(channel=Channel.SMTP, envelope=ENVELOPE, blob=blobs.put(b"first"))
    envelopes = [
        Envelope(sender=f"s{n}@example.org", recipients=("p@amt.example",)) for n in range(1201)
    ]
    batch = [
        (Channel.UPLOAD, envelope, blobs.put(b"%d" % n)) for n, envelope in enumerate(envelopes)
    ]

    items = store.accept_many(batch)

    year = before.registry_number.split("-")[0]
    assert [item.registry_number for item in items] == [f"{year}-{n:06d}" for n in range(2, 1203)]
    assert [store.item(item.id) for item in items] == items
    verdict = verify_chain(store.journal(), expected_head=store.journal_head())
    assert verdict.intact and verdict.entries == 1202
    received = [entry for entry in store.journal() if entry.event == "item.received"]
    assert [entry.item_id for entry in received] == [before.id, *(item.id for item in items)]
    assert received[-1].data["sender"] == "s1200@example.org"
