"""Blobs no record refers to are found and moved aside, never deleted; referenced ones stay."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from poststelle.config import load_config
from poststelle.daemon import open_store
from poststelle.model import Channel, Envelope
from poststelle.setup import initialise
from poststelle.store.blobs import BlobStore, StoredBlob
from poststelle.store.orphans import QUARANTINE, find_orphans

DAY = 24 * 3600


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return initialise(
        tmp_path / "dev", domain="amt.example", authority="Stadt Test", smtp_port=1, http_port=2
    )


def aged(blobs: BlobStore, blob: StoredBlob, seconds: float) -> StoredBlob:
    then = time.time() - seconds
    os.utime(blobs.path(blob.sha256), (then, then))
    return blob


def test_only_blobs_that_no_record_names_are_orphans(config_path: Path) -> None:
    config = load_config(config_path)
    store, blobs = open_store(config), BlobStore(config.data_dir / "blobs")
    message = aged(blobs, blobs.put(b"From: a@example.org\r\n\r\nAntrag"), 2 * DAY)
    item = store.accept(
        channel=Channel.SMTP,
        envelope=Envelope("a@example.org", ("bauamt@amt.example",)),
        blob=message,
    )
    document = aged(blobs, blobs.put(b"%PDF-1.7 Bauplan"), 2 * DAY)
    store.complete_stage(
        item.id, "analyse", {"documents": [{"sha256": document.sha256}]}, state=None, summary={}
    )
    receipt = aged(blobs, blobs.put(b"Eingangsbestaetigung"), 2 * DAY)
    store.note(item.id, "confirmation.made", {"key": "receipt/x", "sha256": receipt.sha256})
    lost = aged(blobs, blobs.put(b"a crash between blob and row"), 2 * DAY)
    young = blobs.put(b"an intake still registering this")

    orphans = find_orphans(store, blobs, DAY)

    assert [o.sha256 for o in orphans] == [lost.sha256]
    assert orphans[0].age_seconds >= 2 * DAY - 60
    everything_unnamed = {o.sha256 for o in find_orphans(store, blobs, 0)}
    assert everything_unnamed == {lost.sha256, young.sha256}


def test_the_command_moves_orphans_to_quarantine_and_keeps_the_rest(config_path: Path) -> None:
    config = load_config(config_path)
    store, blobs = open_store(config), BlobStore(config.data_dir / "blobs")
    kept = blobs.put(b"From: a@example.org\r\n\r\nAntrag")
    store.accept(
        channel=Channel.SMTP,
        envelope=Envelope("a@example.org", ("bauamt@amt.example",)),
        blob=aged(blobs, kept, 2 * DAY),
    )
    lost = aged(blobs, blobs.put(b"a crash between blob and row"), 2 * DAY)
    store.close()

    done = subprocess.run(
        [sys.executable, "-m", "poststelle.cli", "--config", str(config_path),
         "blobs", "orphans", "--quarantine"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip

    assert lost.sha256 in done.stdout
    assert "1 blob(s) no record refers to, moved to quarantine" in done.stderr
    assert (blobs.root / QUARANTINE / lost.sha256).read_bytes() == b"a crash between blob and row"
    assert not blobs.exists(lost.sha256)
    assert blobs.exists(kept.sha256)
