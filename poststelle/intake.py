"""Acceptance: make a submission durable as a new item before anyone is told it arrived."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import structlog

from poststelle.model import Channel, Envelope, Item
from poststelle.store.blobs import BlobStore, StoredBlob
from poststelle.store.sql import SqlStore

log = structlog.get_logger("poststelle.intake")


@dataclass(frozen=True, slots=True)
class Submission:
    tmp: Path | None  # an fsynced temp file in the blob store's tmp dir, or None if stored
    blob: StoredBlob
    channel: Channel
    envelope: Envelope


class GroupCommit:
    """Concurrent submissions share one database commit and one sync per directory.

    The first caller becomes the leader and commits everything pending, batch after batch, until
    nothing is left; the others wait for their result. One session still pays one commit per
    message; ten sessions share them.
    """

    def __init__(self, commit: Callable[[Sequence[Submission]], list[Item]]) -> None:
        self._commit = commit
        self._lock = threading.Lock()
        self._pending: list[tuple[Submission, Future[Item]]] = []
        self._leading = False

    def submit(self, submission: Submission) -> Item:
        future: Future[Item] = Future()
        with self._lock:
            self._pending.append((submission, future))
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        return future.result()

    def _lead(self) -> None:
        while True:
            with self._lock:
                batch, self._pending = self._pending, []
                if not batch:
                    self._leading = False
                    return
            try:
                items = self._commit([s for s, _ in batch])
            except BaseException as exc:
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), item in zip(batch, items, strict=True):
                future.set_result(item)


class Intake:
    """Store the bytes, register the item, then hand it to the pipeline.

    When `accept_*` returns, bytes and item are on disk. Handing on may fail (a broker that is
    down); the item is then re-driven by the reconciler, so acceptance still succeeds.
    """

    def __init__(
        self, store: SqlStore, blobs: BlobStore, on_accepted: Callable[[Item], None]
    ) -> None:
        self.store = store
        self.blobs = blobs
        self._on_accepted = on_accepted
        self._group = GroupCommit(self._commit)

    def accept_file(
        self, tmp: Path, blob: StoredBlob, channel: Channel, envelope: Envelope
    ) -> Item:
        """Adopt an fsynced temp file from the blob store's tmp dir as a new item."""
        return self._hand_on(self._group.submit(Submission(tmp, blob, channel, envelope)))

    def accept_bytes(self, data: bytes, channel: Channel, envelope: Envelope) -> Item:
        submission = Submission(None, self.blobs.put(data), channel, envelope)
        return self._hand_on(self._group.submit(submission))

    def _commit(self, batch: Sequence[Submission]) -> list[Item]:
        self.blobs.adopt_many([(s.tmp, s.blob) for s in batch if s.tmp is not None])
        return self.store.accept_many([(s.channel, s.envelope, s.blob) for s in batch])

    def _hand_on(self, item: Item) -> Item:
        log.info(
            "item.accepted",
            registry_number=item.registry_number,
            channel=item.channel.value,
            size=item.size,
            sha256=item.sha256,
        )
        try:
            self._on_accepted(item)
        except Exception as exc:  # the reconciler re-drives it
            log.warning("item.enqueue_failed", registry_number=item.registry_number, error=str(exc))
        return item
