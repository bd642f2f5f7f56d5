"""The blob store: content-addressed, whole or absent."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from poststelle.store import blobs as blobs_module
from poststelle.store.blobs import BlobStore, StoredBlob
from poststelle.store.sync import can_sync_filesystem, sync_filesystem


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


def written_temp_file(blobs: BlobStore, data: bytes) -> tuple[Path, StoredBlob]:
    fd, path = blobs.temp_file()
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path, StoredBlob(hashlib.sha256(data).hexdigest(), len(data))


def record_flushes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What reaches the disk in which order: real calls, each noted as it is made."""
    events: list[str] = []

    def noting(name: str, real: Callable[..., None]) -> Callable[..., None]:
        def call(*args: object) -> None:
            events.append(name)
            real(*args)

        return call

    monkeypatch.setattr(os, "fsync", noting("fsync", os.fsync))
    monkeypatch.setattr(os, "replace", noting("rename", os.replace))
    monkeypatch.setattr(blobs_module, "sync_filesystem", noting("syncfs", sync_filesystem))
    return events


def test_one_file_is_named_then_flushed_with_its_directory(
    blobs: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, blob = written_temp_file(blobs, b"Antrag")
    events = record_flushes(monkeypatch)

    blobs.adopt_many([(tmp, blob)])

    assert events == ["rename", "fsync", "fsync"]  # its name, the file, its directory
    assert blobs.read(blob.sha256) == b"Antrag"


@pytest.mark.skipif(not can_sync_filesystem(), reason="syncfs(2) is Linux's")
def test_several_files_are_named_then_flushed_together(
    blobs: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [written_temp_file(blobs, b"Antrag %d" % n) for n in range(3)]
    events = record_flushes(monkeypatch)

    blobs.adopt_many(files)

    assert events == ["rename", "rename", "rename", "syncfs"]
    assert [blobs.read(blob.sha256) for _, blob in files] == [b"Antrag %d" % n for n in range(3)]
    assert list((blobs.root / "tmp").iterdir()) == []


def test_a_blob_already_stored_is_not_replaced(blobs: BlobStore) -> None:
    first = blobs.put(b"Antrag")
    before = blobs.path(first.sha256).stat().st_ino
    tmp, again = written_temp_file(blobs, b"Antrag")

    blobs.adopt_many([(tmp, again), written_temp_file(blobs, b"other")])

    assert blobs.path(first.sha256).stat().st_ino == before
    assert not tmp.exists()


@pytest.mark.parametrize("left_by_a_crash", [b"", b"Antr", b"\0\0\0\0\0\0"])
def test_a_torn_file_under_a_blobs_name_is_replaced_by_the_whole_blob(
    blobs: BlobStore, left_by_a_crash: bytes
) -> None:
    tmp, blob = written_temp_file(blobs, b"Antrag")
    final = blobs.path(blob.sha256)
    final.parent.mkdir()
    final.write_bytes(left_by_a_crash)  # named before a crash, its content never flushed

    blobs.adopt_many([(tmp, blob)])

    assert blobs.read(blob.sha256) == b"Antrag"


@pytest.mark.parametrize("name", ["../in-x", "in-x/../../etc", "in-missing", "other", ""])
def test_a_temp_path_is_only_an_existing_temp_file_of_the_store(
    blobs: BlobStore, name: str
) -> None:
    with pytest.raises(ValueError, match="no temp file"):
        blobs.temp_path(name)


def test_a_temp_path_names_a_spool_another_process_wrote(blobs: BlobStore) -> None:
    fd, path = blobs.temp_file()
    os.close(fd)

    assert blobs.temp_path(path.name) == path
