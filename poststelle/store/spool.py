"""A temp file in the blob store filled piece by piece and hashed on the way."""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poststelle.store.blobs import BlobStore, StoredBlob

SPOOL_BUFFER = 64 * 1024


@dataclass
class Spool:
    """Bytes as they arrive, written through a small buffer so memory stays bounded whatever
    the size; `finish` closes the file and names its blob, which `BlobStore.adopt_many` then
    makes durable (together with other spools: one flush for many)."""

    fd: int
    path: Path
    digest: Any
    size: int = 0
    buffer: bytearray = field(default_factory=bytearray)

    def write(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        self.buffer += chunk
        if len(self.buffer) >= SPOOL_BUFFER:
            self.flush()

    def flush(self) -> None:
        view = memoryview(self.buffer)
        while view:
            view = view[os.write(self.fd, view) :]
        view.release()
        self.buffer.clear()

    def finish(self) -> StoredBlob:
        self.flush()
        self._close()
        return StoredBlob(self.digest.hexdigest(), self.size)

    def discard(self) -> None:
        """Remove the file, also after `finish` (the descriptor is closed once only: its number
        may by then belong to another file)."""
        with contextlib.suppress(OSError):
            self._close()
        self.path.unlink(missing_ok=True)

    def _close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    @classmethod
    def open(cls, blobs: BlobStore) -> Spool:
        fd, path = blobs.temp_file()
        return cls(fd, path, hashlib.sha256())


@dataclass(frozen=True, slots=True)
class SpooledFile:
    """A finished spool, closed and named, waiting to be adopted: by the process that wrote
    it, or by serve's committer for an intake process."""

    path: Path
    blob: StoredBlob

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
