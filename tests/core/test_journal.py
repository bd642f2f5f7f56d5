"""The journal fails loudly, naming the first bad entry, when anything in it was changed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from poststelle.journal import JournalVerdict, verify_chain
from poststelle.model import Channel, Envelope
from poststelle.store.backends import SqliteBackend
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore


@pytest.fixture
def journaled(tmp_path: Path) -> tuple[SqlStore, Path]:
    db = tmp_path / "db.sqlite3"
    store = SqlStore(SqliteBackend(db))
    store.migrate()
    blobs = BlobStore(tmp_path / "blobs")
    for i in range(5):
        store.accept(
            channel=Channel.SMTP,
            envelope=Envelope(f"s{i}@example.org", ("p@amt.example",)),
            blob=blobs.put(b"%d" % i),
        )
    store.close()
    return store, db


def _verdict(store: SqlStore) -> JournalVerdict:
    return verify_chain(store.journal(), expected_head=store.journal_head())


def _tamper(db: Path, *statements: str) -> None:
    with sqlite3.connect(db) as conn:
        for statement in statements:
            conn.execute(statement)


def test_an_untouched_journal_verifies(journaled: tuple[SqlStore, Path]) -> None:
    store, _ = journaled
    verdict = _verdict(store)
    assert verdict.intact and verdict.entries == 5


def test_a_changed_byte_is_found_at_its_entry(journaled: tuple[SqlStore, Path]) -> None:
    store, db = journaled
    _tamper(db, "UPDATE journal SET data = replace(data, 's2@', 't2@') WHERE seq = 3")
    problem = _verdict(store).problem
    assert problem is not None and problem.seq == 3 and "changed" in problem.reason


def test_a_changed_time_is_found(journaled: tuple[SqlStore, Path]) -> None:
    store, db = journaled
    _tamper(db, "UPDATE journal SET at = replace(at, '+00:00', '+01:00') WHERE seq = 2")
    problem = _verdict(store).problem
    assert problem is not None and problem.seq == 2


def test_an_entry_that_no_longer_parses_is_named(journaled: tuple[SqlStore, Path]) -> None:
    store, db = journaled
    _tamper(db, "UPDATE journal SET data = '{broken' WHERE seq = 4")
    problem = _verdict(store).problem
    assert problem is not None and problem.seq == 4 and "changed" in problem.reason


def test_a_removed_entry_is_named(journaled: tuple[SqlStore, Path]) -> None:
    store, db = journaled
    _tamper(db, "DELETE FROM journal WHERE seq = 2")
    problem = _verdict(store).problem
    assert problem is not None and problem.seq == 2 and "missing" in problem.reason


def test_a_removed_last_entry_is_noticed_through_the_head(
    journaled: tuple[SqlStore, Path],
) -> None:
    store, db = journaled
    _tamper(db, "DELETE FROM journal WHERE seq = 5")
    problem = _verdict(store).problem
    assert problem is not None and problem.seq == 5


def test_reordered_entries_are_found(journaled: tuple[SqlStore, Path]) -> None:
    store, db = journaled
    _tamper(
        db,
        "UPDATE journal SET seq = -1 WHERE seq = 3",
        "UPDATE journal SET seq = 3 WHERE seq = 4",
        "UPDATE journal SET seq = 4 WHERE seq = -1",
    )
    problem = _verdict(store).problem
    assert problem is not None and problem.seq == 3 and "link" in problem.reason


def test_a_rewritten_chain_still_fails_against_the_recorded_head(
    journaled: tuple[SqlStore, Path],
) -> None:
    store, db = journaled
    _tamper(db, "DELETE FROM journal WHERE seq >= 4")
    assert _verdict(store).problem is not None
