"""The blob store: content-addressed, whole or absent."""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path

import pytest

from poststelle.store.blobs import BlobStore


def test_a_blob_is_named_by_its_sha256(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    stored = blobs.put(b"Antrag")
    assert stored.sha256 == hashlib.sha256(b"Antrag").hexdigest()
    assert blobs.read(stored.sha256) == b"Antrag"
    assert stored.size == 6


def test_streaming_gives_the_same_blob_as_bytes(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    data = os.urandom(3 * 1024 * 1024 + 17)
    assert blobs.put_stream(io.BytesIO(data)) == blobs.put(data)


def test_blob_files_are_private(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    path = blobs.path(blobs.put(b"secret").sha256)
    assert path.stat().st_mode & 0o777 == 0o600


def test_no_temp_file_remains_after_a_write(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    blobs.put(b"x")
    assert list((tmp_path / "tmp").iterdir()) == []


def test_sweep_removes_only_old_leftovers(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    _, old = blobs.temp_file()
    _, fresh = blobs.temp_file()
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert blobs.sweep_tmp(older_than_seconds=3600) == 1
    assert not old.exists() and fresh.exists()


def test_a_name_that_is_not_a_digest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        BlobStore(tmp_path).path("../../etc/passwd")
