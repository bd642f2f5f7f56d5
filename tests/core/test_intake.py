"""Acceptance: submissions made durable together by the committer thread, each told its own fate."""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from poststelle.intake import GroupCommit, Intake, Reply, Submission
from poststelle.model import Channel, Envelope, Item
from poststelle.store.blobs import BlobStore
from tests.support.acceptance import CountingStore, counting_store, spool_of, temp_files

ENVELOPE = Envelope(sender="a@example.org", recipients=("poststelle@amt.example",))


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return counting_store(tmp_path / "db.sqlite3")


def test_a_spool_is_durable_in_the_blob_store_and_registered_when_acceptance_returns(
    store: CountingStore, blobs: BlobStore
) -> None:
    handed_on: queue.SimpleQueue[Sequence[Item]] = queue.SimpleQueue()
    intake = Intake(store, blobs, handed_on.put)

    item = asyncio.run(intake.accept_spool(spool_of(blobs, b"Hallo"), Channel.SMTP, ENVELOPE))

    assert blobs.read(item.sha256) == b"Hallo"
    assert store.item(item.id) == item
    assert temp_files(blobs) == []
    assert handed_on.get(timeout=10) == [item]  # just after the submitter is told


def test_sessions_that_finish_together_share_one_commit_and_are_handed_on_together(
    store: CountingStore, blobs: BlobStore
) -> None:
    handed_on: queue.SimpleQueue[Sequence[Item]] = queue.SimpleQueue()
    intake = Intake(store, blobs, handed_on.put)
    store.hold_first.clear()  # the first commit waits until the others have queued up

    async def ten_sessions() -> list[Item]:
        first = asyncio.ensure_future(
            intake.accept_spool(spool_of(blobs, b"first"), Channel.SMTP, ENVELOPE)
        )
        await asyncio.to_thread(store.entered.wait, 10)  # the first commit has begun alone
        rest = [
            asyncio.ensure_future(
                intake.accept_spool(spool_of(blobs, b"m%d" % i), Channel.SMTP, ENVELOPE)
            )
            for i in range(9)
        ]
        await asyncio.sleep(0.2)
        store.hold_first.set()
        return await asyncio.gather(first, *rest)

    items = asyncio.run(ten_sessions())

    assert store.batches == [1, 9]
    assert len({item.registry_number for item in items}) == 10
    assert all(blobs.exists(item.sha256) for item in items)
    assert [handed_on.get(timeout=10), handed_on.get(timeout=10)] == [items[:1], items[1:]]


def test_a_spool_that_cannot_be_made_durable_fails_alone(
    store: CountingStore, blobs: BlobStore
) -> None:
    intake = Intake(store, blobs, lambda items: None)
    store.hold_first.clear()
    broken = spool_of(blobs, b"broken")
    os.close(broken.fd)  # its fsync will fail with EBADF
    broken.fd = os.open(os.devnull, os.O_RDONLY)  # a descriptor that cannot be written

    async def two_sessions() -> list[Item | BaseException]:
        good = asyncio.ensure_future(
            intake.accept_spool(spool_of(blobs, b"good"), Channel.SMTP, ENVELOPE)
        )
        bad = asyncio.ensure_future(intake.accept_spool(broken, Channel.SMTP, ENVELOPE))
        await asyncio.sleep(0.2)
        store.hold_first.set()
        return list(await asyncio.gather(good, bad, return_exceptions=True))

    good, bad = asyncio.run(two_sessions())

    assert isinstance(good, Item) and blobs.read(good.sha256) == b"good"
    assert isinstance(bad, OSError)
    assert temp_files(blobs) == []


def test_a_failed_commit_answers_every_submitter_and_leaves_no_temp_file(
    store: CountingStore, blobs: BlobStore
) -> None:
    intake = Intake(store, blobs, lambda items: None)
    store.fail_next = True

    with pytest.raises(OSError, match="database unavailable"):
        asyncio.run(intake.accept_spool(spool_of(blobs, b"lost?"), Channel.SMTP, ENVELOPE))

    assert temp_files(blobs) == []
    assert store.items() == []
    retried = intake.accept_bytes(b"again", Channel.UPLOAD, ENVELOPE)
    assert store.item(retried.id) == retried


def test_a_session_that_goes_away_still_has_its_item_accepted(
    store: CountingStore, blobs: BlobStore
) -> None:
    handed_on = threading.Event()
    intake = Intake(store, blobs, lambda items: handed_on.set())
    store.hold_first.clear()

    async def hang_up() -> None:
        session = asyncio.ensure_future(
            intake.accept_spool(spool_of(blobs, b"bye"), Channel.SMTP, ENVELOPE)
        )
        await asyncio.sleep(0.1)
        session.cancel()
        store.hold_first.set()

    asyncio.run(hang_up())

    assert handed_on.wait(10)
    (item,) = store.items()
    assert blobs.read(item.sha256) == b"bye"


def test_a_broker_that_refuses_does_not_undo_acceptance(
    store: CountingStore, blobs: BlobStore
) -> None:
    def broker_down(items: Sequence[Item]) -> None:
        raise ConnectionError("redis is down")

    intake = Intake(store, blobs, broker_down)

    item = intake.accept_bytes(b"still here", Channel.UPLOAD, ENVELOPE)

    assert store.item(item.id) == item


def test_discarding_a_finished_spool_leaves_a_reused_descriptor_alone(blobs: BlobStore) -> None:
    spool = spool_of(blobs, b"x")
    spool.finish()
    reused = os.open(os.devnull, os.O_RDONLY)  # likely the number the spool had

    spool.discard()

    assert os.fstat(reused)  # still open
    os.close(reused)
    assert not spool.path.exists()


def test_acceptance_and_handing_on_go_on_after_handing_on_broke(
    store: CountingStore, blobs: BlobStore
) -> None:
    handed_on: queue.Queue[Sequence[Item]] = queue.Queue()

    def accept(batch: Sequence[Submission]) -> list[Item | Exception]:
        return list(store.accept_many([(s.channel, s.envelope, blobs.put(b"x")) for s in batch]))

    failures = [RuntimeError("the log is gone")]  # for the first batch only

    def hand_on(items: Sequence[Item]) -> None:
        if failures:
            raise failures.pop()
        handed_on.put(items)

    group = GroupCommit(accept, hand_on)
    first = group.submit(Submission(blobs.put(b"1"), Channel.SMTP, ENVELOPE)).result(10)
    second = group.submit(Submission(blobs.put(b"2"), Channel.SMTP, ENVELOPE)).result(10)

    assert [store.item(first.id), store.item(second.id)] == [first, second]
    assert handed_on.get(timeout=10) == [second]


def test_one_committer_thread_serves_every_batch_however_long_the_pauses(
    store: CountingStore, blobs: BlobStore
) -> None:
    """The store keeps a connection per thread: a thread per idle spell would leak one each."""
    committers: set[threading.Thread] = set()

    def accept(batch: Sequence[Submission]) -> list[Item | Exception]:
        committers.add(threading.current_thread())
        return list(store.accept_many([(s.channel, s.envelope, blobs.put(b"x")) for s in batch]))

    group = GroupCommit(accept, lambda items: None)
    for n in range(2):
        group.submit(Submission(blobs.put(b"%d" % n), Channel.SMTP, ENVELOPE)).result(10)
        time.sleep(2.5)  # an idle spell (an earlier version ended its thread after 2 s)

    assert len(committers) == 1


class _BrokenLink:
    """A link whose reading fails in a way no one foresaw."""

    def __init__(self) -> None:
        self.ours, self.theirs = socket.socketpair()
        self.closed = threading.Event()

    def fileno(self) -> int:
        return self.ours.fileno()

    def receive(self) -> list[tuple[Submission, Reply]] | None:
        raise RuntimeError("a bug in reading the link")

    def send(self) -> bool:
        return True

    @property
    def sending(self) -> bool:
        return False

    def close(self) -> None:
        self.closed.set()
        self.ours.close()


def test_a_link_that_fails_to_be_read_is_closed_and_the_committer_goes_on(
    store: CountingStore, blobs: BlobStore
) -> None:
    intake = Intake(store, blobs, lambda items: None)
    link = _BrokenLink()
    intake.attach(link)

    link.theirs.sendall(b"anything\n")
    assert link.closed.wait(10)
    item = intake.accept_bytes(b"after the broken link", Channel.UPLOAD, ENVELOPE)

    assert store.item(item.id) == item
