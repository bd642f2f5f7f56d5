"""Acceptance: make a submission durable as a new item before anyone is told it arrived."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import structlog

from poststelle.model import Channel, Envelope, Item
from poststelle.store.blobs import BlobStore, StoredBlob
from poststelle.store.sql import SqlStore

log = structlog.get_logger("poststelle.intake")


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

    def accept_file(
        self, tmp: Path, blob: StoredBlob, channel: Channel, envelope: Envelope
    ) -> Item:
        """Adopt an fsynced temp file from the blob store's tmp dir as a new item."""
        self.blobs.adopt(tmp, blob)
        return self._register(blob, channel, envelope)

    def accept_bytes(self, data: bytes, channel: Channel, envelope: Envelope) -> Item:
        return self._register(self.blobs.put(data), channel, envelope)

    def _register(self, blob: StoredBlob, channel: Channel, envelope: Envelope) -> Item:
        item = self.store.accept(channel=channel, envelope=envelope, blob=blob)
        log.info(
            "item.accepted",
            registry_number=item.registry_number,
            channel=channel.value,
            size=blob.size,
            sha256=blob.sha256,
        )
        try:
            self._on_accepted(item)
        except Exception as exc:  # the reconciler re-drives it
            log.warning("item.enqueue_failed", registry_number=item.registry_number, error=str(exc))
        return item
