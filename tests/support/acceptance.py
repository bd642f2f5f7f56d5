"""For tests of acceptance: a store whose commits can be counted, held open or failed, and
spools to hand in."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from poststelle.model import Channel, Envelope, Item
from poststelle.store.backends import SqliteBackend
from poststelle.store.blobs import BlobStore, StoredBlob
from poststelle.store.spool import Spool
from poststelle.store.sql import SqlStore


class CountingStore(SqlStore):
    """The real store, counting its acceptance transactions; the first can be held open
    (`hold_first.clear()`), the next made to fail (`fail_next`)."""

    def __init__(self, path: Path) -> None:
        super().__init__(SqliteBackend(path))
        self.batches: list[int] = []
        self.hold_first = threading.Event()
        self.hold_first.set()
        self.entered = threading.Event()  # a commit has begun
        self.fail_next = False

    def accept_many(
        self, submissions: Sequence[tuple[Channel, Envelope, StoredBlob]]
    ) -> list[Item]:
        self.entered.set()
        self.hold_first.wait(10)
        if self.fail_next:
            self.fail_next = False
            raise OSError("database unavailable")
        self.batches.append(len(submissions))
        return super().accept_many(submissions)


def counting_store(path: Path) -> CountingStore:
    store = CountingStore(path)
    store.migrate()
    return store


def spool_of(blobs: BlobStore, data: bytes) -> Spool:
    spool = Spool.open(blobs)
    spool.write(data)
    return spool


def temp_files(blobs: BlobStore) -> list[Path]:
    return list((blobs.root / "tmp").iterdir())
