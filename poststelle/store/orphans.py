"""Blobs no record refers to (a crash between storing the bytes and registering them), found
and moved aside for the administrator, never deleted."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore

QUARANTINE = "orphans"  # under the blob store's root; fan-out directories are two hex digits


@dataclass(frozen=True, slots=True)
class Orphan:
    sha256: str
    path: Path
    age_seconds: float


def stored_blobs(blobs: BlobStore) -> Iterator[tuple[str, Path]]:
    """(SHA-256, path) of every blob in its final place."""
    for directory in sorted(blobs.root.iterdir()):
        if len(directory.name) != 2 or not directory.is_dir():
            continue  # tmp/, orphans/
        for path in directory.iterdir():
            yield directory.name + path.name, path


def find_orphans(store: SqlStore, blobs: BlobStore, older_than_seconds: float) -> list[Orphan]:
    """Blobs older than `older_than_seconds` that no item, stage result, journal entry or
    envelope names. Younger ones may belong to an intake still registering them."""
    referenced = store.blob_references()
    now = time.time()
    found = []
    for sha256, path in stored_blobs(blobs):
        if sha256 in referenced:
            continue
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age >= older_than_seconds:
            found.append(Orphan(sha256, path, age))
    return found


def quarantine(blobs: BlobStore, orphan: Orphan) -> Path:
    """Move the orphan to `orphans/` under the blob store, where an administrator decides."""
    target = blobs.root / QUARANTINE / orphan.sha256
    target.parent.mkdir(exist_ok=True, mode=0o700)
    os.replace(orphan.path, target)
    return target
